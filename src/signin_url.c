/* The sign-in redirect's Location, built from ClerkSignInURL and the public URL. */
#include <string.h>
#include <apr_strings.h>
#include "signin_url.h"
#include "url.h"

const char *clerk_sign_in_location(apr_pool_t *p, const char *sign_in, const char *back)
{
    if (!sign_in || !back)
        return NULL;
    const char *hash = strchr(sign_in, '#');
    size_t n = hash ? (size_t)(hash - sign_in) : strlen(sign_in);
    const char *base = apr_pstrmemdup(p, sign_in, n);
    const char *q = memchr(base, '?', n);
    const char *sep = !q ? "?" : (base[n - 1] == '?' || base[n - 1] == '&') ? "" : "&";
    return apr_pstrcat(p, base, sep, "redirect_url=", clerk_url_encode(p, back), hash ? hash : "",
                       NULL);
}
