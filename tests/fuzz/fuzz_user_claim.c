/* Fuzz target: the REMOTE_USER choice from a verified token's payload (a claim name or a dotted
 * path). Input: '\n'-separated claim path, JSON payload. */
#include <string.h>
#include <jansson.h>
#include "claims.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *f[2];
    fuzz_fields(p, data, size, f, 2);
    json_t *payload = f[1] ? json_loads(f[1], JSON_DECODE_ANY, NULL) : NULL;
    const char *claim = f[0] ? f[0] : "sub";
    char buf[24];
    const char *user = "unset";
    clerk_user_claim_result why = clerk_claims_user(payload, claim, buf, sizeof buf, &user);
    if ((why == CLERK_USER_CLAIM_OK) != (user != NULL))
        __builtin_trap(); /* a user exactly when the choice says OK */
    (void)clerk_user_claim_problem(why);
    if (user != NULL) {
        /* a user name is non-empty and has no control byte (logs, X-Remote-User) */
        if (!*user)
            __builtin_trap();
        for (const unsigned char *c = (const unsigned char *)user; *c; c++)
            if (*c < 0x20 || *c == 0x7f)
                __builtin_trap();
        if (strchr(claim, '.') == NULL) {
            const json_t *v = json_object_get(payload, claim);
            if (v == NULL || (!json_is_string(v) && !json_is_integer(v)))
                __builtin_trap(); /* a plain name needs a string or integer member */
            if (json_is_integer(v) && strchr(user, '%') != NULL)
                __builtin_trap(); /* an integer is written as digits */
        }
    }
    json_decref(payload);
    apr_pool_destroy(p);
    return 0;
}
