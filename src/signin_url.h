/* The sign-in redirect's Location (ClerkSignInURL with the page to come back to). */
#ifndef CLERK_SIGNIN_URL_H
#define CLERK_SIGNIN_URL_H

#include <apr_pools.h>

/* sign_in with "redirect_url=" + percent-encoded back added to its query (before any fragment,
 * no extra '&' after a trailing '?' or '&'), built in one pass; NULL when sign_in or back is
 * NULL (a public URL past the bounds of url.h: the caller answers 401 instead). */
const char *clerk_sign_in_location(apr_pool_t *p, const char *sign_in, const char *back);

#endif
