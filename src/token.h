/* A session token: decoded once, verified (Clerk's verifyToken), shared by reference. */
#ifndef CLERK_TOKEN_H
#define CLERK_TOKEN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "claims.h"
#include "jwk.h"
#include "jwt.h"
#include "reason.h"

/* Where verification finds keys. lookup returns the key for kid (kid may be NULL) or NULL with
 * err set (jwk-kid-mismatch, jwk-remote-failed-to-load, ...). The key must stay valid until
 * the request that asked for it ends (the caller keeps its key set referenced). */
typedef struct clerk_key_source {
    const clerk_key *(*lookup)(void *ctx, const char *kid, clerk_error *err);
    void *ctx;
} clerk_key_source;

/* A decoded token. Once verified and shared (e.g. through the token cache) it is immutable. */
typedef struct clerk_token {
    clerk_jwt *jwt;
    clerk_claims claims;
    /* Identity (clerk_key.id) of the key whose signature check passed, when verified. */
    unsigned char verified_id[CLERK_KEY_ID_LEN];
    int verified;
    int wrong_type; /* clerk_token_is_wrong_type's answer, made at decode */
    atomic_int refs;
    /* CLERK_CLAIMS text (malloc'd), made by the first request that exports it and then shared:
     * a cached token is serialised once, not on every hit. Set only through
     * clerk_token_claims_json. */
    _Atomic(char *) claims_json;
    /* One malloc'd block derived from the token by a later stage (export.c's variables), made by
     * the first request that needs it and then shared. Set only through clerk_token_memo_set. */
    _Atomic(void *) memo;
} clerk_token;

/* Decodes without verifying (see clerk_jwt_decode); *out has one reference. */
int clerk_token_decode(const char *tok, size_t len, size_t max_len, clerk_token **out,
                       clerk_error *err);

/* clerk_token_decode asking known for header segments decoded before (see
 * clerk_jwt_decode_with). */
int clerk_token_decode_with(const char *tok, size_t len, size_t max_len,
                            clerk_jwt_header_lookup known, void *known_ctx, clerk_token **out,
                            clerk_error *err);

/* 1 when the token is a machine token (typ at+jwt / application/at+jwt, or sub "mch_...") or
 * its cat is present and not a session category (@clerk/backend tokens/request.ts
 * authenticateRequestWithTokenInHeader), else 0. */
int clerk_token_is_wrong_type(const clerk_token *t);

/* Clerk's verifyToken on a decoded token, in Clerk's order: M2M cat, key lookup, typ, alg
 * (allowed and fitting the key; crit refused), signature (skipped only when t was verified
 * with this very key: clerk_key_same on the full identity), then clerk_claims_check. On a passing
 * signature of an unshared token it sets verified/verified_id. keys NULL (or without lookup) is
 * jwk-failed-to-resolve. Returns 0 or -1 with err. */
int clerk_token_verify(clerk_token *t, const clerk_verify_opts *o, const clerk_key_source *keys,
                       clerk_error *err);

/* The token's payload as exported in CLERK_CLAIMS: its JSON text as signed when that has no
 * control byte or DEL (Clerk's compact tokens), else compact JSON made on first use with DEL
 * escaped as \u007f and kept with the token; NULL when it cannot be made. Thread-safe; the
 * string lives as long as the token. */
const char *clerk_token_claims_json(clerk_token *t);

/* The block attached with clerk_token_memo_set, or NULL. Thread-safe. */
void *clerk_token_memo(clerk_token *t);

/* Attaches block (malloc'd, freed with the token) unless one is attached already, and returns the
 * one attached: block itself, or the earlier one (block is then freed). Thread-safe. */
void *clerk_token_memo_set(clerk_token *t, void *block);

/* Takes another reference; returns t. Thread-safe. */
clerk_token *clerk_token_ref(clerk_token *t);

/* Drops a reference; the last frees the token. NULL is ignored. Thread-safe. */
void clerk_token_release(clerk_token *t);

#endif
