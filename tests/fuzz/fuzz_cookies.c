/* Fuzz target: a Cookie header through clerk_cookies_parse and clerk_cookie_get. */
#include <string.h>
#include <apr_tables.h>
#include "fuzz_common.h"
#include "cookies.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    apr_table_t *t = clerk_cookies_parse(p, fuzz_cstr(p, data, size), NULL);
    if (t == NULL || apr_table_elts(t)->nelts > CLERK_COOKIES_MAX)
        __builtin_trap();
    static const char *const names[] = {"__session", "__client_uat", "__session_abcdefgh",
                                        "__clerk_db_jwt", "__clerk_redirect_count"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *v = clerk_cookie_get(t, names[i]);
        if (v != NULL)
            (void)strlen(v);
    }
    apr_pool_destroy(p);
    return 0;
}
