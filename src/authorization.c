/* The Authorization header as Clerk's parseAuthorizationHeader reads it (@clerk/backend
 * tokens/authenticateContext.ts). */
#include <string.h>
#include <apr_strings.h>
#include "authorization.h"

const char *clerk_authorization_token(apr_pool_t *p, const char *header)
{
    if (!header || !*header)
        return NULL;
    /* Clerk splits on single spaces and keeps the first two pieces. */
    const char *sp = strchr(header, ' ');
    if (!sp)
        return header;
    const char *second = sp + 1;
    const char *end = strchr(second, ' ');
    size_t second_len = end ? (size_t)(end - second) : strlen(second);
    if (second_len == 0) {
        /* An empty second piece ("x " or "Bearer  y") counts as no token at all, so the first
         * piece is taken as the raw token, whatever it is (even "Bearer"). */
        return apr_pstrmemdup(p, header, (size_t)(sp - header));
    }
    if ((size_t)(sp - header) == 6 && memcmp(header, "Bearer", 6) == 0)
        /* The usual case, a token running to the end, is returned in place: no 1 KiB copy. */
        return end ? apr_pstrmemdup(p, second, second_len) : second;
    return NULL;
}
