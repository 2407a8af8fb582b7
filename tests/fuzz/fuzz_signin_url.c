/* Fuzz target: the sign-in redirect's Location from ClerkSignInURL and the public URL of the
 * request (client-chosen path and query). Input: '\n'-separated sign-in URL, Host, path,
 * query. */
#include <string.h>
#include "fuzz_common.h"
#include "signin_url.h"
#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *f[4];
    fuzz_fields(p, data, size, f, 4);
    const char *sign_in = f[0] ? f[0] : "https://accounts.example.com/sign-in";
    clerk_url_in in = {"https", f[1], NULL, NULL, NULL, 0, f[2] ? f[2] : "/", f[3]};
    const char *back = clerk_public_url(p, &in);
    const char *loc = clerk_sign_in_location(p, sign_in, back);
    if ((loc == NULL) != (back == NULL))
        __builtin_trap(); /* no Location exactly when the URL is past the bounds */
    if (loc != NULL) {
        /* the sign-in URL up to its fragment comes first, unchanged; the client's URL adds
         * only percent-encoded text, so nothing that could split or bend a header */
        size_t base = strcspn(sign_in, "#");
        if (strncmp(loc, sign_in, base) != 0)
            __builtin_trap();
        const char *r = strstr(loc + base, "redirect_url=");
        if (r == NULL)
            __builtin_trap();
        const char *enc = clerk_url_encode(p, back);
        if (strncmp(r + 13, enc, strlen(enc)) != 0 ||
            strcmp(r + 13 + strlen(enc), sign_in + base) != 0)
            __builtin_trap();
    }
    apr_pool_destroy(p);
    return 0;
}
