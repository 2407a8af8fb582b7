/* Claim rules of Clerk's verifyToken (@clerk/backend tokens/verify.ts verifyToken,
 * jwt/assertions.ts; docs/design.md#token-verification), with an injectable now. */
#ifndef CLERK_CLAIMS_H
#define CLERK_CLAIMS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "jws.h"
#include "reason.h"

/* Per-location verification settings; "now" comes from the caller so tests can fix it. */
typedef struct clerk_verify_opts {
    int64_t now_ms;
    int64_t skew_ms;        /* applied both ways; default 5000 */
    unsigned algs;          /* allowed CLERK_ALG_* bits; 0 means CLERK_ALGS_DEFAULT */
    const char *const *azp; /* authorized parties; n_azp == 0: no azp check */
    size_t n_azp;
    const char *const *aud; /* audiences; n_aud == 0: no aud check */
    size_t n_aud;
    const char *issuer;    /* exact iss required when non-NULL */
    size_t max_token_size; /* bytes; 0 means the default 16 KiB */
} clerk_verify_opts;

/* Typed view of the claims verification reads; strings borrowed from the payload. */
typedef struct clerk_claims {
    const char *sub; /* NULL unless a string */
    int sub_present; /* key present (any type) */
    const char *sid, *azp, *iss, *sts;
    const json_t *aud; /* string or array, or NULL */
    int has_exp, has_nbf, has_iat;
    int64_t exp, nbf, iat;         /* seconds */
    int bad_exp, bad_nbf, bad_iat; /* present but not an integer in range */
    const json_t *payload;         /* borrowed: the object the fields came from (for messages) */
} clerk_claims;

/* Fills c from a payload object; never fails (type problems are recorded for the checks). */
void clerk_claims_extract(const json_t *payload, clerk_claims *c);

/* Applies the claim rules in Clerk's order: sub, aud, azp, exp, nbf, iat, then our iss. Returns
 * 0 when all pass, else -1 with Clerk's reason and message in err. Stricter than Clerk: sub must
 * be non-empty; exp/nbf/iat must be integers in [0, 253402300799]; aud of another type than a
 * string or an array of strings fails when audiences are configured. */
int clerk_claims_check(const clerk_claims *c, const clerk_verify_opts *o, clerk_error *err);

/* Most parts of a ClerkUserClaim path (public_metadata.username has 2). */
#define CLERK_USER_CLAIM_MAX_PARTS 8

/* Why clerk_claims_user found no user. */
typedef enum clerk_user_claim_result {
    CLERK_USER_CLAIM_OK = 0,
    CLERK_USER_CLAIM_MISSING,    /* no such claim (or a parent is not an object) */
    CLERK_USER_CLAIM_WRONG_TYPE, /* neither a string nor an integer */
    CLERK_USER_CLAIM_EMPTY,      /* "" */
    CLERK_USER_CLAIM_CONTROL     /* holds a control byte (it would reach logs and headers) */
} clerk_user_claim_result;

/* 1 when path is a usable ClerkUserClaim: a claim name, or names joined by '.', no part empty,
 * at most CLERK_USER_CLAIM_MAX_PARTS parts, no control byte or space. */
int clerk_claims_user_path_ok(const char *path);

/* The REMOTE_USER value of payload under path: the claim of that exact name when the payload has
 * one (a name may hold dots), else path's parts looked up through nested objects
 * (public_metadata.username). A non-empty string without control bytes, or an integer written
 * in decimal into buf (at least 24 bytes). Sets *user (borrowed from payload or buf) and returns
 * CLERK_USER_CLAIM_OK, or another result with *user NULL. */
clerk_user_claim_result clerk_claims_user(const json_t *payload, const char *path, char *buf,
                                          size_t buflen, const char **user);

/* A phrase for a result other than OK, for the sign-out message: "is missing", ... */
const char *clerk_user_claim_problem(clerk_user_claim_result r);

#endif
