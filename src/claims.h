/* Claim rules of Clerk's verifyToken (reference §3 step 7, spec §2), with an injectable now. */
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

#endif
