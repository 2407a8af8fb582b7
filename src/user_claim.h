/* REMOTE_USER from the claim ClerkUserClaim names. */
#ifndef CLERK_USER_CLAIM_H
#define CLERK_USER_CLAIM_H

#include <apr_pools.h>
#include <jansson.h>

/* The user name for a verified token's payload: the claim named claim when it is a non-empty
 * string or an integer (decimal), sub for "sub" (verification already required it); NULL when
 * the claim is missing, of another type, empty or holds a control byte (the name reaches logs
 * and X-Remote-User). */
const char *clerk_user_from_claims(apr_pool_t *p, const json_t *payload, const char *sub,
                                   const char *claim);

#endif
