/* JWT-format machine tokens verified with the instance's keys (@clerk/backend
 * jwt/verifyMachineJwt.ts, tokens/verify.ts verifyMachineAuthToken; machine_jwt.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "jws.h"
#include "machine_jwt.h"

#define CAT_M2M            "cl_B7d4PD333AAA"
#define M2M_SUBJECT_PREFIX "mch_"

static int is_oauth_typ(const char *typ)
{
    return typ != NULL && (strcmp(typ, "at+jwt") == 0 || strcmp(typ, "application/at+jwt") == 0);
}

/* The answer of verifyMachineJwt's errors: every failure after decoding is a
 * MachineTokenVerificationError with code token-verification-failed and the message kept. */
static int failed(clerk_error *err)
{
    err->reason = CLERK_R_TOKEN_VERIFICATION_FAILED;
    return -1;
}

/* "a b  c" -> ["a","b","c"] (String.split(' ') keeps empty parts; they are dropped here, as an
 * empty scope can never be granted). */
static json_t *split_scopes(const char *s)
{
    json_t *a = json_array();
    while (a != NULL && *s) {
        size_t n = strcspn(s, " ");
        if (n > 0)
            json_array_append_new(a, json_stringn(s, n));
        s += n;
        s += strspn(s, " ");
    }
    return a;
}

/* The resource JSON the Backend API would answer for this token (M2MToken.fromJwtPayload,
 * IdPOAuthAccessToken.fromJwtPayload), for clerk_machine_from_json. */
static char *resource_of(unsigned type, const json_t *payload)
{
    json_t *r = json_object();
    const json_t *jti = json_object_get(payload, "jti");
    json_object_set_new(r, "id", json_string(json_is_string(jti) ? json_string_value(jti) : ""));
    json_object_set(r, "subject", json_object_get(payload, "sub"));
    json_object_set_new(r, "revoked", json_false());
    json_object_set_new(r, "expired", json_false());
    const json_t *exp = json_object_get(payload, "exp");
    if (json_is_integer(exp))
        json_object_set_new(r, "expiration", json_integer(json_integer_value(exp) * 1000));
    json_t *scopes = NULL;
    if (type == CLERK_TT_M2M) {
        const json_t *sc = json_object_get(payload, "scopes"),
                     *aud = json_object_get(payload, "aud");
        scopes = json_is_string(sc)   ? split_scopes(json_string_value(sc))
                 : json_is_array(aud) ? json_deep_copy(aud)
                                      : json_array();
        json_t *claims = json_object();
        const char *k;
        json_t *v;
        static const char *const reserved[] = {"iss", "sub", "exp", "nbf", "iat", "jti"};
        json_object_foreach((json_t *)payload, k, v)
        {
            int skip = 0;
            for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
                skip |= strcmp(k, reserved[i]) == 0;
            if (!skip)
                json_object_set(claims, k, v);
        }
        if (json_object_size(claims) > 0)
            json_object_set_new(r, "claims", claims);
        else
            json_decref(claims);
    } else {
        const json_t *scp = json_object_get(payload, "scp"),
                     *scope = json_object_get(payload, "scope");
        scopes = json_is_array(scp)      ? json_deep_copy(scp)
                 : json_is_string(scope) ? split_scopes(json_string_value(scope))
                                         : json_array();
        const json_t *client = json_object_get(payload, "client_id");
        json_object_set_new(r, "client_id",
                            json_string(json_is_string(client) ? json_string_value(client) : ""));
    }
    json_object_set_new(r, "scopes", scopes);
    char *s = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    return s;
}

/* assertOAuthAudienceClaim. */
static int oauth_audience_ok(const json_t *aud, const char *const *want, size_t n_want,
                             clerk_error *err)
{
    if (n_want == 0)
        return 0;
    json_t *list = json_is_string(aud) ? json_pack("[O]", aud) : json_incref((json_t *)aud);
    int ok = json_is_array(list) && json_array_size(list) > 0, hit = 0;
    for (size_t i = 0; ok && i < json_array_size(list); i++) {
        const char *a = json_string_value(json_array_get(list, i));
        if (a == NULL || *a == '\0') {
            ok = 0;
            break;
        }
        for (size_t j = 0; j < n_want; j++)
            hit |= strcmp(a, want[j]) == 0;
    }
    json_decref(list);
    if (!ok)
        return clerk_error_set(err, CLERK_R_TOKEN_VERIFICATION_FAILED,
                               "Invalid OAuth audience claim (aud). Expected a non-empty string or "
                               "a non-empty array of non-empty strings.");
    if (!hit)
        return clerk_error_set(err, CLERK_R_TOKEN_VERIFICATION_FAILED, "OAuth audience mismatch.");
    return 0;
}

int clerk_machine_jwt_verify(apr_pool_t *p, const char *tok, size_t len, const clerk_verify_opts *o,
                             const clerk_key_source *keys, clerk_machine *m, unsigned *type,
                             clerk_error *err)
{
    clerk_token *t = NULL;
    *type = CLERK_TT_M2M;
    if (clerk_token_decode(tok, len, o->max_token_size, &t, err) != 0) {
        err->reason = CLERK_R_TOKEN_INVALID;
        return -1;
    }
    const clerk_jwt *jwt = t->jwt;
    int rc = -1;
    const char *sub = t->claims.sub;
    if (sub != NULL && strncmp(sub, M2M_SUBJECT_PREFIX, strlen(M2M_SUBJECT_PREFIX)) == 0) {
        *type = CLERK_TT_M2M;
        /* An absent cat is still accepted while Clerk rolls it out (verifyMachineJwt.ts). */
        if (json_object_get(jwt->header, "cat") != NULL &&
            (jwt->cat == NULL || strcmp(jwt->cat, CAT_M2M) != 0)) {
            clerk_error_set(err, CLERK_R_TOKEN_INVALID, "Invalid M2M JWT category.");
            goto out;
        }
    } else if (is_oauth_typ(jwt->typ)) {
        *type = CLERK_TT_OAUTH;
    } else {
        *type = CLERK_TT_OAUTH;
        clerk_error_set(err, CLERK_R_TOKEN_VERIFICATION_FAILED,
                        "Invalid JWT type: %.40s. Expected one of: at+jwt, application/at+jwt for "
                        "OAuth, or sub starting with 'mch_' for M2M",
                        jwt->typ ? jwt->typ : "missing");
        goto out;
    }

    if (keys == NULL || keys->lookup == NULL) {
        clerk_error_set(err, CLERK_R_TOKEN_VERIFICATION_FAILED,
                        "Failed to resolve JWK during verification.");
        goto out;
    }
    const clerk_key *key = keys->lookup(keys->ctx, jwt->kid, err);
    if (key == NULL) {
        failed(err);
        goto out;
    }
    /* assertHeaderType: M2M tokens take the session rule ("JWT" or none), OAuth ones RFC 9068's. */
    if (*type == CLERK_TT_OAUTH ? !is_oauth_typ(jwt->typ)
                                : (json_object_get(jwt->header, "typ") != NULL &&
                                   (jwt->typ == NULL || strcmp(jwt->typ, "JWT") != 0))) {
        clerk_error_set(err, CLERK_R_TOKEN_VERIFICATION_FAILED,
                        "Invalid JWT type. Expected \"%s\".",
                        *type == CLERK_TT_OAUTH ? "at+jwt, application/at+jwt" : "JWT");
        goto out;
    }
    /* Ours (stricter), as for session tokens: no crit, header members of the expected types. */
    if (jwt->has_crit || !jwt->header_types_ok) {
        clerk_error_set(err, CLERK_R_TOKEN_VERIFICATION_FAILED,
                        "Invalid JWT header: crit, or alg, kid, typ or cat not a string.");
        goto out;
    }
    unsigned allowed = o->algs != 0 ? o->algs : CLERK_ALGS_DEFAULT;
    if (jwt->alg == 0 || !(jwt->alg & allowed) || !clerk_alg_fits_key(jwt->alg, key)) {
        clerk_error_set(err, CLERK_R_TOKEN_VERIFICATION_FAILED, "Invalid JWT algorithm.");
        goto out;
    }
    int ok = clerk_jws_verify(jwt->alg, key, (const unsigned char *)jwt->signing_input,
                              jwt->signing_len, jwt->sig, jwt->sig_len);
    if (ok != 1) {
        clerk_error_set(err, CLERK_R_TOKEN_VERIFICATION_FAILED, "JWT signature is invalid.");
        goto out;
    }
    /* verifyJwt without authorized parties or issuer; the OAuth audience is checked apart. */
    clerk_verify_opts mo = *o;
    mo.n_azp = 0;
    mo.azp = NULL;
    mo.issuer = NULL;
    if (*type == CLERK_TT_OAUTH) {
        mo.n_aud = 0;
        mo.aud = NULL;
    }
    if (clerk_claims_check(&t->claims, &mo, err) != 0) {
        failed(err);
        goto out;
    }
    if (*type == CLERK_TT_OAUTH && oauth_audience_ok(t->claims.aud, o->aud, o->n_aud, err) != 0)
        goto out;
    char *res = resource_of(*type, jwt->payload);
    if (res == NULL) {
        clerk_error_set(err, CLERK_R_UNEXPECTED_ERROR, "Unexpected error: out of memory.");
        goto out;
    }
    /* The expiry was checked with the clock skew above; the mapping must not refuse it again. */
    rc = clerk_machine_from_json(p, *type, res, strlen(res), o->now_ms - o->skew_ms, m, err);
    free(res);
    if (rc != 0)
        failed(err);
out:
    clerk_token_release(t);
    return rc;
}

int clerk_machine_oauth_audience(const clerk_machine *m, const char *const *aud, size_t n_aud,
                                 clerk_error *err)
{
    if (n_aud == 0)
        return 0;
    json_t *have = m->aud != NULL ? json_loads(m->aud, JSON_DECODE_ANY, NULL) : NULL;
    int rc = oauth_audience_ok(have, aud, n_aud, err);
    json_decref(have);
    return rc;
}
