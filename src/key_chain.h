/* A location's verification keys in Clerk's order (@clerk/backend tokens/verify.ts verifyToken
 * and tokens/keys.ts; docs/design.md#key-sources): a PEM key (ClerkJWTKey, the SDK's jwtKey) wins
 * for any kid and nothing else is asked; else the local JWKS file by kid; else the remote JWKS.
 * The chain owns the messages a token gets when none of them has its key. */
#ifndef CLERK_KEY_CHAIN_H
#define CLERK_KEY_CHAIN_H

#include "jwk.h"
#include "reason.h"
#include "token.h"

typedef struct clerk_key_chain {
    const clerk_keyset *pem;  /* ClerkJWTKey, or NULL */
    const clerk_keyset *jwks; /* ClerkJWKSFile, or NULL */
    int remote_configured;    /* a remote source (secret key or JWKS URL) is configured */
    clerk_key_source remote;  /* its look-up for this request; lookup NULL when it could not be
                                 set up, which fails closed */
} clerk_key_chain;

/* clerk_key_source.lookup over a clerk_key_chain (ctx): the key for kid (kid may be NULL) from
 * the first source that has one in the order above, or NULL with Clerk's reason and message in
 * err: jwk-kid-mismatch naming the file's kids when only a JWKS file is configured, the remote
 * look-up's own error, else jwk-failed-to-resolve. */
const clerk_key *clerk_key_chain_lookup(void *ctx, const char *kid, clerk_error *err);

/* 1 when a look-up may reach the remote source, so the caller must set kc->remote up for the
 * request: one is configured and no PEM key answers first (nothing is fetched then). */
int clerk_key_chain_needs_remote(const clerk_key_chain *kc);

/* The key source verification reads: clerk_key_chain_lookup over kc (which must outlive it). */
clerk_key_source clerk_key_chain_source(clerk_key_chain *kc);

#endif
