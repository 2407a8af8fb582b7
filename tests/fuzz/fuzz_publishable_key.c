/* Fuzz target: a publishable key through clerk_publishable_key_parse and clerk_cookie_suffix,
 * and the same text as a secret key through clerk_secret_key_check. */
#include <string.h>
#include "fuzz_common.h"
#include "publishable_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char suffix[9];
    clerk_error err = {0};
    apr_pool_t *p = fuzz_pool();
    const char *s = fuzz_cstr(p, data, size);
    clerk_publishable_key *pk = NULL;
    if (clerk_publishable_key_parse(p, s, &pk, &err) == 0) {
        if (pk == NULL || pk->fapi_host == NULL || strlen(pk->suffix) != 8)
            __builtin_trap();
    }
    clerk_cookie_suffix(s, suffix);
    if (strlen(suffix) != 8)
        __builtin_trap();
    /* The error never quotes the key (the fixed messages hold no digit, so a key with one
     * cannot match them by chance). */
    if (clerk_secret_key_check(s, &err) != 0 && strlen(s) > 8 && strpbrk(s, "0123456789") != NULL &&
        strstr(err.message, s) != NULL)
        __builtin_trap();
    apr_pool_destroy(p);
    return 0;
}
