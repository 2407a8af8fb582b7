/* Fuzz target: an Authorization header through clerk_authorization_token. */
#include <string.h>
#include "fuzz_common.h"
#include "authorization.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *h = fuzz_cstr(p, data, size);
    const char *tok = clerk_authorization_token(p, h);
    if (tok != NULL && strlen(tok) > strlen(h))
        __builtin_trap(); /* the token is a piece of the header */
    apr_pool_destroy(p);
    return 0;
}
