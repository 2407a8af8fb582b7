/* Fuzz target: the REMOTE_USER choice from a verified token's payload. Input: '\n'-separated
 * claim name, JSON payload. */
#include <string.h>
#include <jansson.h>
#include "fuzz_common.h"
#include "user_claim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *f[2];
    fuzz_fields(p, data, size, f, 2);
    json_t *payload = f[1] ? json_loads(f[1], JSON_DECODE_ANY, NULL) : NULL;
    const char *claim = f[0] ? f[0] : "sub";
    const char *user = clerk_user_from_claims(p, payload, "user_1", claim);
    if (user != NULL) {
        /* a user name is non-empty and has no control byte (logs, X-Remote-User) */
        if (!*user)
            __builtin_trap();
        for (const unsigned char *c = (const unsigned char *)user; *c; c++)
            if (*c < 0x20 || *c == 0x7f)
                __builtin_trap();
        const json_t *v = strcmp(claim, "sub") == 0 ? NULL : json_object_get(payload, claim);
        if (v == NULL && strcmp(claim, "sub") != 0)
            __builtin_trap(); /* a missing claim gives no user */
        if (v != NULL && !json_is_string(v) && !json_is_integer(v))
            __builtin_trap();
        if (v != NULL && json_is_integer(v) && strchr(user, '%') != NULL)
            __builtin_trap(); /* an integer is written as digits */
    }
    json_decref(payload);
    apr_pool_destroy(p);
    return 0;
}
