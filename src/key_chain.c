/* Clerk's key order and its messages (@clerk/backend tokens/verify.ts verifyToken: jwtKey through
 * tokens/keys.ts loadClerkJwkFromPem, else loadClerkJWKFromRemote, else "Failed to resolve JWK
 * during verification."). The local JWKS file sits between the two as a local copy of the
 * remote set (docs/design.md#key-sources). */
#include <stddef.h>
#include "key_chain.h"

/* The local file's kid-mismatch text: loadClerkJWKFromRemote's, followed by the kids the file
 * holds, as earlier @clerk/backend releases listed a set's kids (the operator wrote the file);
 * the remote set's text is 3.25's own, without the list (jwks_remote.c). */
#define LOCAL_KID_MISMATCH_FMT                                                                     \
    "Unable to find a signing key in JWKS that matches the kid='%.100s' of the provided session "  \
    "token. Please make sure that the __session cookie or the HTTP authorization header contain "  \
    "a Clerk-generated session JWT. The following kid is available: %s"

const clerk_key *clerk_key_chain_lookup(void *ctx, const char *kid, clerk_error *err)
{
    const clerk_key_chain *kc = ctx;

    if (kc->pem) /* a PEM key matches any kid, as the SDK's jwtKey does */
        return clerk_keyset_find(kc->pem, kid);
    if (kc->jwks && kid) {
        const clerk_key *k = clerk_keyset_find(kc->jwks, kid);
        if (k)
            return k;
    }
    if (kc->remote.lookup)
        return kc->remote.lookup(kc->remote.ctx, kid, err);
    if (kc->jwks && !kc->remote_configured) {
        char kids[CLERK_ERROR_MESSAGE_MAX];
        clerk_error_set(err, CLERK_R_JWK_KID_MISMATCH, LOCAL_KID_MISMATCH_FMT,
                        kid ? kid : "undefined", clerk_keyset_kids(kc->jwks, kids, sizeof kids));
        return NULL;
    }
    /* No source at all, or a configured remote one that could not be set up: fail closed. */
    clerk_error_set(err, CLERK_R_JWK_FAILED_TO_RESOLVE,
                    "Failed to resolve JWK during verification.");
    return NULL;
}

int clerk_key_chain_needs_remote(const clerk_key_chain *kc)
{
    return kc->remote_configured && !kc->pem;
}

clerk_key_source clerk_key_chain_source(clerk_key_chain *kc)
{
    clerk_key_source s = {clerk_key_chain_lookup, kc};
    return s;
}
