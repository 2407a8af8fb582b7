/* The Authorization request header as Clerk reads it (@clerk/backend tokens/authenticateContext.ts
 * parseAuthorizationHeader). */
#ifndef CLERK_AUTHORIZATION_H
#define CLERK_AUTHORIZATION_H

#include <apr_pools.h>

/* The token in an Authorization value: the second space-separated piece when the scheme is
 * exactly "Bearer", the whole value when it has no space, NULL for any other scheme or a NULL
 * header. The result points into header when the token runs to its end, else is a copy in p
 * (may be empty): either way it lives as long as both. */
const char *clerk_authorization_token(apr_pool_t *p, const char *header);

#endif
