/* verifyToken in Clerk's order (category, key, typ, alg, signature, claims), the wrong-type
 * rules, references, and the verified-token cache. Tokens are minted per test with mint.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "jws.h"
#include "mint.h"
#include "token.h"
#include "token_cache.h"
#include "unit.h"

#define NOW_S  INT64_C(1700000000)
#define NOW_MS (NOW_S * 1000)

/* Made once per test case in the parent (unchecked fixture): RSA keygen is slow. */
static EVP_PKEY *rsa_key, *other_rsa_key, *ec_key;
static clerk_keyset *pem_set;  /* rsa_key's PEM: kid-less, matches any kid */
static clerk_keyset *jwks_set; /* rsa_key as a JWK with kid "ins_1" */
static char *rsa_pem;

static void keys_setup(void)
{
    rsa_key = mint_keygen("rsa2048");
    other_rsa_key = mint_keygen("rsa2048");
    ec_key = mint_keygen("ec256");
    ck_assert_ptr_nonnull(rsa_key);
    ck_assert_ptr_nonnull(other_rsa_key);
    ck_assert_ptr_nonnull(ec_key);
    clerk_error err = {0};
    rsa_pem = mint_public_pem(rsa_key);
    pem_set = clerk_keyset_new();
    ck_assert_int_eq(clerk_keyset_add_pem(pem_set, rsa_pem, strlen(rsa_pem), &err), 0);
    char *jwk = mint_public_jwk(rsa_key, "ins_1", "RS256");
    char doc[4096];
    snprintf(doc, sizeof doc, "{\"keys\":[%s]}", jwk);
    free(jwk);
    jwks_set = clerk_keyset_new();
    ck_assert_int_eq(clerk_keyset_add_jwks(jwks_set, doc, strlen(doc), &err), 1);
}

static void keys_teardown(void)
{
    clerk_keyset_unref(pem_set);
    clerk_keyset_unref(jwks_set);
    EVP_PKEY_free(rsa_key);
    EVP_PKEY_free(other_rsa_key);
    EVP_PKEY_free(ec_key);
    free(rsa_pem);
}

/* A key source over a key set, as the module's JWKS sources behave on an unknown kid. */
typedef struct source_ctx {
    clerk_keyset *ks;
    int lookups;
} source_ctx;

static const clerk_key *set_lookup(void *ctx, const char *kid, clerk_error *err)
{
    source_ctx *s = ctx;
    s->lookups++;
    const clerk_key *k = clerk_keyset_find(s->ks, kid);
    if (k == NULL)
        clerk_error_set(err, CLERK_R_JWK_KID_MISMATCH,
                        "Unable to find a signing key in JWKS that matches the kid='%s'.",
                        kid != NULL ? kid : "undefined");
    return k;
}

static clerk_verify_opts opts(void)
{
    clerk_verify_opts o = {0};
    o.now_ms = NOW_MS;
    o.skew_ms = 5000;
    o.algs = CLERK_ALGS_DEFAULT;
    return o;
}

#define HDR_RS256   "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"ins_1\"}"
#define GOOD_CLAIMS "{\"sub\":\"user_1\",\"sid\":\"sess_1\",\"exp\":1700000060,\"iat\":1700000000}"

static clerk_token *decode(char *jwt)
{
    ck_assert_ptr_nonnull(jwt);
    clerk_token *t = NULL;
    clerk_error err = {0};
    int rc = clerk_token_decode(jwt, strlen(jwt), 0, &t, &err);
    ck_assert_msg(rc == 0, "decode failed: %s", err.message);
    free(jwt);
    return t;
}

static clerk_token *mint_token(EVP_PKEY *k, const char *alg, const char *hdr, const char *claims)
{
    return decode(mint_sign(k, alg, hdr, claims));
}

/* Verifies t against the PEM set; returns the reason (CLERK_R_NONE on success). */
static clerk_reason verify_with(clerk_token *t, clerk_keyset *ks, const clerk_verify_opts *o,
                                clerk_error *err)
{
    source_ctx ctx = {ks, 0};
    clerk_key_source src = {set_lookup, &ctx};
    memset(err, 0, sizeof *err);
    int rc = clerk_token_verify(t, o, &src, err);
    ck_assert_int_eq(rc, err->reason == CLERK_R_NONE ? 0 : -1);
    return err->reason;
}

START_TEST(valid_rs256_token_verifies_and_records_key)
{
    clerk_token *t = mint_token(rsa_key, "RS256", HDR_RS256, GOOD_CLAIMS);
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_NONE);
    ck_assert(t->verified &&
              memcmp(t->verified_id, clerk_keyset_find(pem_set, NULL)->id, CLERK_KEY_ID_LEN) == 0);
    ck_assert_str_eq(t->claims.sub, "user_1");
    clerk_token_release(t);
}
END_TEST

START_TEST(token_signed_by_another_key_is_invalid_signature)
{
    clerk_token *t = mint_token(other_rsa_key, "RS256", HDR_RS256, GOOD_CLAIMS);
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_TOKEN_INVALID_SIGNATURE);
    ck_assert_str_eq(err.message, "JWT signature is invalid.");
    ck_assert(!t->verified);
    clerk_token_release(t);
}
END_TEST

/* The signature check is skipped only for the very key a token was verified with: a different
 * key sharing the first 8 bytes of its identity digest (what the key identity used to be) must
 * still check the signature. */
START_TEST(verified_token_is_checked_again_under_a_key_sharing_an_id_prefix)
{
    clerk_token *t = mint_token(rsa_key, "RS256", HDR_RS256, GOOD_CLAIMS);
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_NONE);
    ck_assert(t->verified);

    clerk_keyset *other = clerk_keyset_new();
    char *pem = mint_public_pem(other_rsa_key);
    clerk_error e;
    ck_assert_int_eq(clerk_keyset_add_pem(other, pem, strlen(pem), &e), 0);
    clerk_key *k = (clerk_key *)clerk_keyset_find(other, NULL);
    memcpy(k->id, t->verified_id, 8);
    ck_assert(!clerk_key_same(k, clerk_keyset_find(pem_set, NULL)));
    ck_assert_int_eq(verify_with(t, other, &o, &err), CLERK_R_TOKEN_INVALID_SIGNATURE);
    /* The same key material in another set still skips nothing it should not. */
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_NONE);
    clerk_keyset_unref(other);
    free(pem);
    clerk_token_release(t);
}
END_TEST

START_TEST(signature_is_checked_before_claims)
{
    clerk_token *t =
        mint_token(other_rsa_key, "RS256", HDR_RS256, "{\"sub\":\"user_1\",\"exp\":1600000000}");
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_TOKEN_INVALID_SIGNATURE);
    clerk_token_release(t);
}
END_TEST

START_TEST(claims_are_checked_after_a_good_signature)
{
    clerk_token *t =
        mint_token(rsa_key, "RS256", HDR_RS256, "{\"sub\":\"user_1\",\"exp\":1600000000}");
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_TOKEN_EXPIRED);
    clerk_token_release(t);
}
END_TEST

START_TEST(hs256_keyed_with_rsa_public_pem_is_invalid_algorithm)
{
    char *jwt = mint_sign_hs256((const unsigned char *)rsa_pem, strlen(rsa_pem),
                                "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", GOOD_CLAIMS);
    clerk_token *t = decode(jwt);
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_TOKEN_INVALID_ALGORITHM);
    ck_assert_str_eq(err.message, "Invalid JWT algorithm \"HS256\". Supported: RS256.");
    clerk_token_release(t);
}
END_TEST

START_TEST(alg_none_is_invalid_algorithm)
{
    clerk_token *t = mint_token(rsa_key, "none", "{\"alg\":\"none\"}", GOOD_CLAIMS);
    clerk_verify_opts o = opts();
    o.algs = CLERK_ALGS_ALL;
    clerk_error err;
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_TOKEN_INVALID_ALGORITHM);
    clerk_token_release(t);
}
END_TEST

START_TEST(missing_alg_is_invalid_algorithm_naming_undefined)
{
    clerk_token *t = mint_token(rsa_key, "RS256", "{\"typ\":\"JWT\"}", GOOD_CLAIMS);
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_TOKEN_INVALID_ALGORITHM);
    ck_assert_str_eq(err.message, "Invalid JWT algorithm undefined. Supported: RS256.");
    clerk_token_release(t);
}
END_TEST

START_TEST(rs384_is_refused_when_only_rs256_is_allowed)
{
    clerk_token *t = mint_token(rsa_key, "RS384", "{\"alg\":\"RS384\"}", GOOD_CLAIMS);
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_TOKEN_INVALID_ALGORITHM);
    ck_assert_str_eq(err.message, "Invalid JWT algorithm \"RS384\". Supported: RS256.");
    o.algs = CLERK_ALG_RS256 | CLERK_ALG_RS384;
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_NONE);
    clerk_token_release(t);
}
END_TEST

START_TEST(zero_alg_mask_means_rs256_only)
{
    clerk_token *t = mint_token(rsa_key, "RS512", "{\"alg\":\"RS512\"}", GOOD_CLAIMS);
    clerk_verify_opts o = opts();
    o.algs = 0;
    clerk_error err;
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_TOKEN_INVALID_ALGORITHM);
    clerk_token_release(t);
}
END_TEST

START_TEST(es256_header_with_rsa_key_is_invalid_algorithm)
{
    clerk_token *t = mint_token(ec_key, "ES256", "{\"alg\":\"ES256\"}", GOOD_CLAIMS);
    clerk_verify_opts o = opts();
    o.algs = CLERK_ALG_RS256 | CLERK_ALG_ES256;
    clerk_error err;
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_TOKEN_INVALID_ALGORITHM);
    /* Only what this key could verify is listed. */
    ck_assert_str_eq(err.message, "Invalid JWT algorithm \"ES256\". Supported: RS256.");
    clerk_token_release(t);
}
END_TEST

START_TEST(unknown_kid_with_jwks_source_is_kid_mismatch)
{
    clerk_token *t =
        mint_token(rsa_key, "RS256", "{\"alg\":\"RS256\",\"kid\":\"ins_other\"}", GOOD_CLAIMS);
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(verify_with(t, jwks_set, &o, &err), CLERK_R_JWK_KID_MISMATCH);
    ck_assert_ptr_nonnull(strstr(err.message, "kid='ins_other'"));
    clerk_token_release(t);
}
END_TEST

START_TEST(known_kid_with_jwks_source_verifies)
{
    clerk_token *t = mint_token(rsa_key, "RS256", HDR_RS256, GOOD_CLAIMS);
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(verify_with(t, jwks_set, &o, &err), CLERK_R_NONE);
    clerk_token_release(t);
}
END_TEST

START_TEST(no_key_source_is_jwk_failed_to_resolve)
{
    clerk_token *t = mint_token(rsa_key, "RS256", HDR_RS256, GOOD_CLAIMS);
    clerk_verify_opts o = opts();
    clerk_error err = {0};
    ck_assert_int_eq(clerk_token_verify(t, &o, NULL, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_JWK_FAILED_TO_RESOLVE);
    ck_assert_str_eq(err.message, "Failed to resolve JWK during verification.");
    clerk_token_release(t);
}
END_TEST

START_TEST(m2m_category_is_refused_before_key_lookup)
{
    clerk_token *t = mint_token(rsa_key, "RS256", "{\"alg\":\"RS256\",\"cat\":\"cl_B7d4PD333AAA\"}",
                                GOOD_CLAIMS);
    clerk_verify_opts o = opts();
    source_ctx ctx = {pem_set, 0};
    clerk_key_source src = {set_lookup, &ctx};
    clerk_error err = {0};
    ck_assert_int_eq(clerk_token_verify(t, &o, &src, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_INVALID);
    ck_assert_str_eq(err.message, "Invalid session token category.");
    ck_assert_int_eq(ctx.lookups, 0);
    clerk_token_release(t);
}
END_TEST

START_TEST(typ_other_than_jwt_is_token_invalid)
{
    clerk_token *t =
        mint_token(rsa_key, "RS256", "{\"alg\":\"RS256\",\"typ\":\"at+jwt\"}", GOOD_CLAIMS);
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_TOKEN_INVALID);
    ck_assert_str_eq(err.message, "Invalid JWT type \"at+jwt\". Expected \"JWT\".");
    clerk_token_release(t);
}
END_TEST

START_TEST(non_string_typ_is_token_invalid_with_its_json)
{
    clerk_token *t = mint_token(rsa_key, "RS256", "{\"alg\":\"RS256\",\"typ\":5}", GOOD_CLAIMS);
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_TOKEN_INVALID);
    ck_assert_str_eq(err.message, "Invalid JWT type 5. Expected \"JWT\".");
    clerk_token_release(t);
}
END_TEST

/* Absent typ with another member of the wrong type: typ passes, the header type rule refuses. */
START_TEST(absent_typ_with_non_string_kid_is_refused_by_the_types_rule)
{
    clerk_token *t = mint_token(rsa_key, "RS256", "{\"alg\":\"RS256\",\"kid\":[]}", GOOD_CLAIMS);
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_TOKEN_INVALID);
    ck_assert_str_eq(err.message, "Invalid JWT header: alg, kid, typ and cat must be strings.");
    clerk_token_release(t);
}
END_TEST

START_TEST(absent_typ_is_accepted)
{
    clerk_token *t = mint_token(rsa_key, "RS256", "{\"alg\":\"RS256\"}", GOOD_CLAIMS);
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_NONE);
    clerk_token_release(t);
}
END_TEST

START_TEST(crit_header_is_token_invalid_our_stricter_rule)
{
    clerk_token *t =
        mint_token(rsa_key, "RS256", "{\"alg\":\"RS256\",\"crit\":[\"exp\"]}", GOOD_CLAIMS);
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_TOKEN_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "crit"));
    clerk_token_release(t);
}
END_TEST

START_TEST(non_string_kid_is_token_invalid)
{
    clerk_token *t = mint_token(rsa_key, "RS256", "{\"alg\":\"RS256\",\"kid\":7}", GOOD_CLAIMS);
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_TOKEN_INVALID);
    clerk_token_release(t);
}
END_TEST

START_TEST(empty_sub_after_good_signature_is_verification_failed)
{
    clerk_token *t = mint_token(rsa_key, "RS256", HDR_RS256, "{\"sub\":\"\",\"exp\":1700000060}");
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_TOKEN_VERIFICATION_FAILED);
    clerk_token_release(t);
}
END_TEST

START_TEST(verified_token_skips_signature_for_the_same_key_only)
{
    clerk_token *t = mint_token(rsa_key, "RS256", HDR_RS256, GOOD_CLAIMS);
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_NONE);
    t->jwt->sig[0] ^= 0x01; /* would fail if checked again */
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_NONE);
    /* A different key (rotation) means a fresh check. */
    clerk_keyset *other = clerk_keyset_new();
    char *pem = mint_public_pem(other_rsa_key);
    clerk_error e;
    ck_assert_int_eq(clerk_keyset_add_pem(other, pem, strlen(pem), &e), 0);
    ck_assert_int_eq(verify_with(t, other, &o, &err), CLERK_R_TOKEN_INVALID_SIGNATURE);
    free(pem);
    clerk_keyset_unref(other);
    clerk_token_release(t);
}
END_TEST

/* --- wrong-type rules (tokens/request.ts authenticateRequestWithTokenInHeader)
 * --------------------------------------------- */

static int wrong_type(const char *hdr, const char *claims)
{
    clerk_token *t = mint_token(rsa_key, "RS256", hdr, claims);
    int r = clerk_token_is_wrong_type(t);
    clerk_token_release(t);
    return r;
}

START_TEST(oauth_access_token_typ_is_wrong_type)
{
    ck_assert_int_eq(wrong_type("{\"alg\":\"RS256\",\"typ\":\"at+jwt\"}", GOOD_CLAIMS), 1);
    ck_assert_int_eq(wrong_type("{\"alg\":\"RS256\",\"typ\":\"application/at+jwt\"}", GOOD_CLAIMS),
                     1);
    ck_assert_int_eq(wrong_type("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", GOOD_CLAIMS), 0);
}
END_TEST

START_TEST(machine_subject_is_wrong_type)
{
    ck_assert_int_eq(wrong_type(HDR_RS256, "{\"sub\":\"mch_123\",\"exp\":1700000060}"), 1);
    ck_assert_int_eq(wrong_type(HDR_RS256, "{\"sub\":\"user_mch_\",\"exp\":1700000060}"), 0);
}
END_TEST

START_TEST(non_session_category_is_wrong_type)
{
    ck_assert_int_eq(wrong_type("{\"alg\":\"RS256\",\"cat\":\"cl_B7d4PD222AAA\"}", GOOD_CLAIMS), 1);
    ck_assert_int_eq(wrong_type("{\"alg\":\"RS256\",\"cat\":\"cl_B7d4PD333AAA\"}", GOOD_CLAIMS), 1);
    ck_assert_int_eq(wrong_type("{\"alg\":\"RS256\",\"cat\":\"something\"}", GOOD_CLAIMS), 1);
    ck_assert_int_eq(wrong_type("{\"alg\":\"RS256\",\"cat\":5}", GOOD_CLAIMS), 1);
}
END_TEST

START_TEST(session_ignore_or_absent_category_is_session)
{
    ck_assert_int_eq(wrong_type("{\"alg\":\"RS256\",\"cat\":\"cl_B7d4PD111AAA\"}", GOOD_CLAIMS), 0);
    ck_assert_int_eq(wrong_type("{\"alg\":\"RS256\",\"cat\":\"cl_I7d4PD111III\"}", GOOD_CLAIMS), 0);
    ck_assert_int_eq(wrong_type("{\"alg\":\"RS256\"}", GOOD_CLAIMS), 0);
}
END_TEST

START_TEST(decode_failure_returns_jwt_error)
{
    clerk_token *t = (clerk_token *)0x1;
    clerk_error err = {0};
    ck_assert_int_eq(clerk_token_decode("a.b", 3, 0, &t, &err), -1);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_INVALID);
}
END_TEST

START_TEST(references_keep_token_alive_until_last_release)
{
    clerk_token *t = mint_token(rsa_key, "RS256", HDR_RS256, GOOD_CLAIMS);
    ck_assert_ptr_eq(clerk_token_ref(t), t);
    ck_assert_int_eq(atomic_load(&t->refs), 2);
    clerk_token_release(t);
    ck_assert_int_eq(atomic_load(&t->refs), 1);
    ck_assert_str_eq(t->claims.sub, "user_1");
    clerk_token_release(t);
    clerk_token_release(NULL);
}
END_TEST

/* A cached token is exported on every hit: its CLERK_CLAIMS text is made once and kept. */
START_TEST(claims_json_is_made_once_and_kept_with_the_token)
{
    clerk_token *t = mint_token(rsa_key, "RS256", HDR_RS256,
                                "{\"sub\":\"user_1\",\"n\":\"a\x7f\",\"exp\":1700000600}");
    const char *first = clerk_token_claims_json(t);
    ck_assert_ptr_nonnull(first);
    ck_assert_str_eq(first, "{\"sub\":\"user_1\",\"n\":\"a\\u007f\",\"exp\":1700000600}");
    ck_assert_ptr_eq(clerk_token_claims_json(t), first);
    clerk_token_release(t);
    ck_assert_ptr_null(clerk_token_claims_json(NULL));
    /* Whitespace between members is re-serialised away too. */
    t = mint_token(rsa_key, "RS256", HDR_RS256, "{\"sub\":\"user_1\",\n \"exp\":1700000600}");
    ck_assert_str_eq(clerk_token_claims_json(t), "{\"sub\":\"user_1\",\"exp\":1700000600}");
    clerk_token_release(t);
    /* A compact payload is exported as signed, byte for byte (escapes kept), without a copy. */
    t = mint_token(rsa_key, "RS256", HDR_RS256, "{\"sub\":\"user_1\",\"n\":\"\\u00e9\\/\"}");
    ck_assert_str_eq(clerk_token_claims_json(t), "{\"sub\":\"user_1\",\"n\":\"\\u00e9\\/\"}");
    ck_assert_ptr_eq(clerk_token_claims_json(t), t->jwt->payload_json);
    clerk_token_release(t);
}
END_TEST

/* --- verified-token cache -------------------------------------------------------------- */

/* A verified token for claims, and its text in *text (caller frees). */
static clerk_token *verified(const char *claims, char **text)
{
    *text = mint_sign(rsa_key, "RS256", HDR_RS256, claims);
    ck_assert_ptr_nonnull(*text);
    clerk_token *t = NULL;
    clerk_error err = {0};
    ck_assert_int_eq(clerk_token_decode(*text, strlen(*text), 0, &t, &err), 0);
    clerk_verify_opts o = opts();
    ck_assert_int_eq(verify_with(t, pem_set, &o, &err), CLERK_R_NONE);
    return t;
}

START_TEST(cache_returns_the_stored_token_and_counts_hits)
{
    clerk_token_cache *c = clerk_token_cache_create(64);
    char *text;
    clerk_token *t = verified(GOOD_CLAIMS, &text);
    ck_assert_ptr_null(clerk_token_cache_get(c, text, strlen(text), NOW_MS, 5000));
    clerk_token_cache_put(c, text, strlen(text), t);
    clerk_token *hit = clerk_token_cache_get(c, text, strlen(text), NOW_MS, 5000);
    ck_assert_ptr_eq(hit, t);
    ck_assert_int_eq(atomic_load(&t->refs), 3); /* ours, the cache's, the hit's */
    uint64_t hits, misses;
    size_t entries;
    clerk_token_cache_stats(c, &hits, &misses, &entries);
    ck_assert_uint_eq(hits, 1);
    ck_assert_uint_eq(misses, 1);
    ck_assert_uint_eq(entries, 1);
    clerk_token_release(hit);
    clerk_token_release(t);
    clerk_token_cache_destroy(c);
    free(text);
}
END_TEST

START_TEST(cache_ignores_unverified_tokens)
{
    clerk_token_cache *c = clerk_token_cache_create(64);
    char *text = mint_sign(rsa_key, "RS256", HDR_RS256, GOOD_CLAIMS);
    clerk_token *t = decode(strdup(text));
    clerk_token_cache_put(c, text, strlen(text), t);
    ck_assert_ptr_null(clerk_token_cache_get(c, text, strlen(text), NOW_MS, 5000));
    clerk_token_release(t);
    clerk_token_cache_destroy(c);
    free(text);
}
END_TEST

START_TEST(cache_key_is_the_whole_token_text)
{
    clerk_token_cache *c = clerk_token_cache_create(64);
    char *text;
    clerk_token *t = verified(GOOD_CLAIMS, &text);
    clerk_token_cache_put(c, text, strlen(text), t);
    ck_assert_ptr_null(clerk_token_cache_get(c, text, strlen(text) - 1, NOW_MS, 5000));
    /* Only the tail picks the set: a text that differs before it (same signature characters,
     * another payload) is still a different token. */
    char *dot = strchr(text, '.');
    char was = dot[3];
    dot[3] = was == 'A' ? 'B' : 'A';
    ck_assert_ptr_null(clerk_token_cache_get(c, text, strlen(text), NOW_MS, 5000));
    dot[3] = was;
    clerk_token *hit = clerk_token_cache_get(c, text, strlen(text), NOW_MS, 5000);
    ck_assert_ptr_eq(hit, t);
    clerk_token_release(hit);
    text[strlen(text) - 1] ^= 0x01;
    ck_assert_ptr_null(clerk_token_cache_get(c, text, strlen(text), NOW_MS, 5000));
    clerk_token_release(t);
    clerk_token_cache_destroy(c);
    free(text);
}
END_TEST

/* Headers of stored (verified) tokens are remembered, so a new token with the same header
 * segment is not decoded twice; anything else is decoded as usual. */
START_TEST(cache_remembers_headers_of_stored_tokens_only)
{
    clerk_token_cache *c = clerk_token_cache_create(64);
    char *unverified = mint_sign(rsa_key, "RS256", HDR_RS256, GOOD_CLAIMS);
    clerk_token *u = decode(strdup(unverified));
    size_t hlen = (size_t)(strchr(unverified, '.') - unverified);
    clerk_token_cache_put(c, unverified, strlen(unverified), u);
    ck_assert_ptr_null(clerk_token_cache_known_header(c, unverified, hlen));

    char *text;
    clerk_token *t = verified(GOOD_CLAIMS, &text);
    clerk_token_cache_put(c, text, strlen(text), t);
    json_t *h = clerk_token_cache_known_header(c, text, hlen);
    ck_assert_ptr_eq(h, t->jwt->header);
    json_decref(h);
    ck_assert_ptr_null(clerk_token_cache_known_header(c, text, hlen - 1));

    /* Another token with that header shares the object; its payload is its own. */
    clerk_token *n = NULL;
    clerk_error err = {0};
    char *other = mint_sign(rsa_key, "RS256", HDR_RS256, "{\"sub\":\"user_2\"}");
    ck_assert_int_eq(clerk_token_decode_with(other, strlen(other), 0,
                                             clerk_token_cache_known_header, c, &n, &err),
                     0);
    ck_assert_ptr_eq(n->jwt->header, t->jwt->header);
    ck_assert_str_eq(n->jwt->alg_name, "RS256");
    ck_assert_str_eq(n->claims.sub, "user_2");
    clerk_token_release(n);
    /* A different header segment is decoded, not matched. */
    char *hs384 = mint_sign(rsa_key, "RS384", "{\"alg\":\"RS384\"}", GOOD_CLAIMS);
    ck_assert_int_eq(clerk_token_decode_with(hs384, strlen(hs384), 0,
                                             clerk_token_cache_known_header, c, &n, &err),
                     0);
    ck_assert_ptr_ne(n->jwt->header, t->jwt->header);
    ck_assert_str_eq(n->jwt->alg_name, "RS384");
    clerk_token_release(n);
    clerk_token_release(t);
    clerk_token_release(u);
    clerk_token_cache_destroy(c);
    free(text);
    free(other);
    free(hs384);
    free(unverified);
}
END_TEST

START_TEST(cache_hit_skips_signature_but_reapplies_claims)
{
    clerk_token_cache *c = clerk_token_cache_create(64);
    char *text;
    clerk_token *t = verified(GOOD_CLAIMS, &text);
    clerk_token_cache_put(c, text, strlen(text), t);
    clerk_token_release(t);

    clerk_token *hit = clerk_token_cache_get(c, text, strlen(text), NOW_MS, 5000);
    ck_assert_ptr_nonnull(hit);
    hit->jwt->sig[0] ^= 0x01; /* proves the signature is not checked again */
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(verify_with(hit, pem_set, &o, &err), CLERK_R_NONE);
    clerk_token_release(hit);

    /* Time moves past exp + skew: the cache (with a wider retention) still returns the entry,
     * and the claim rules refuse it. */
    int64_t later = (NOW_S + 66) * 1000;
    hit = clerk_token_cache_get(c, text, strlen(text), later, 60000);
    ck_assert_ptr_nonnull(hit);
    o.now_ms = later;
    ck_assert_int_eq(verify_with(hit, pem_set, &o, &err), CLERK_R_TOKEN_EXPIRED);
    clerk_token_release(hit);
    clerk_token_cache_destroy(c);
    free(text);
}
END_TEST

START_TEST(cache_drops_entries_past_exp_and_skew)
{
    clerk_token_cache *c = clerk_token_cache_create(64);
    char *text;
    clerk_token *t = verified(GOOD_CLAIMS, &text);
    clerk_token_cache_put(c, text, strlen(text), t);
    clerk_token_release(t);
    /* exp 1700000060, skew 5 s: at 1700000065 the token is expired and the entry goes. */
    ck_assert_ptr_null(clerk_token_cache_get(c, text, strlen(text), (NOW_S + 65) * 1000, 5000));
    size_t entries;
    clerk_token_cache_stats(c, NULL, NULL, &entries);
    ck_assert_uint_eq(entries, 0);
    ck_assert_ptr_null(clerk_token_cache_get(c, text, strlen(text), NOW_MS, 5000));
    clerk_token_cache_destroy(c);
    free(text);
}
END_TEST

START_TEST(cache_is_bounded_and_evicts_the_oldest)
{
    clerk_token_cache *c = clerk_token_cache_create(8);
    char *texts[20];
    for (int i = 0; i < 20; i++) {
        char claims[128];
        snprintf(claims, sizeof claims, "{\"sub\":\"user_%d\",\"exp\":1700000060}", i);
        clerk_token *t = verified(claims, &texts[i]);
        clerk_token_cache_put(c, texts[i], strlen(texts[i]), t);
        clerk_token_release(t);
    }
    size_t entries;
    clerk_token_cache_stats(c, NULL, NULL, &entries);
    ck_assert_uint_le(entries, 8);
    clerk_token *newest = clerk_token_cache_get(c, texts[19], strlen(texts[19]), NOW_MS, 5000);
    ck_assert_ptr_nonnull(newest);
    ck_assert_str_eq(newest->claims.sub, "user_19");
    clerk_token_release(newest);
    ck_assert_ptr_null(clerk_token_cache_get(c, texts[0], strlen(texts[0]), NOW_MS, 5000));
    for (int i = 0; i < 20; i++)
        free(texts[i]);
    clerk_token_cache_destroy(c);
}
END_TEST

START_TEST(cache_stores_one_copy_of_a_token)
{
    clerk_token_cache *c = clerk_token_cache_create(64);
    char *text;
    clerk_token *t = verified(GOOD_CLAIMS, &text);
    clerk_token_cache_put(c, text, strlen(text), t);
    clerk_token_cache_put(c, text, strlen(text), t);
    size_t entries;
    clerk_token_cache_stats(c, NULL, NULL, &entries);
    ck_assert_uint_eq(entries, 1);
    ck_assert_int_eq(atomic_load(&t->refs), 2);
    clerk_token_release(t);
    clerk_token_cache_destroy(c);
    free(text);
}
END_TEST

typedef struct race_arg {
    clerk_token_cache *c;
    char **texts;
    clerk_token **tokens;
    int n;
} race_arg;

static void *race(void *p)
{
    race_arg *a = p;
    for (int round = 0; round < 200; round++) {
        int i = round % a->n;
        clerk_token_cache_put(a->c, a->texts[i], strlen(a->texts[i]), a->tokens[i]);
        clerk_token *hit = clerk_token_cache_get(a->c, a->texts[(i + 1) % a->n],
                                                 strlen(a->texts[(i + 1) % a->n]), NOW_MS, 5000);
        clerk_token_release(hit);
    }
    return NULL;
}

START_TEST(cache_survives_concurrent_use)
{
    enum { N = 12, THREADS = 4 };
    clerk_token_cache *c = clerk_token_cache_create(8);
    char *texts[N];
    clerk_token *tokens[N];
    for (int i = 0; i < N; i++) {
        char claims[128];
        snprintf(claims, sizeof claims, "{\"sub\":\"user_%d\",\"exp\":1700000060}", i);
        tokens[i] = verified(claims, &texts[i]);
    }
    race_arg arg = {c, texts, tokens, N};
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, race, &arg), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    size_t entries;
    clerk_token_cache_stats(c, NULL, NULL, &entries);
    ck_assert_uint_le(entries, 8);
    clerk_token_cache_destroy(c);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(atomic_load(&tokens[i]->refs), 1); /* the cache let go of everything */
        clerk_token_release(tokens[i]);
        free(texts[i]);
    }
}
END_TEST

Suite *token_suite(void)
{
    Suite *s = suite_create("token");
    TCase *t = tcase_create("verify");
    tcase_add_unchecked_fixture(t, keys_setup, keys_teardown);
    tcase_add_test(t, valid_rs256_token_verifies_and_records_key);
    tcase_add_test(t, token_signed_by_another_key_is_invalid_signature);
    tcase_add_test(t, verified_token_is_checked_again_under_a_key_sharing_an_id_prefix);
    tcase_add_test(t, signature_is_checked_before_claims);
    tcase_add_test(t, claims_are_checked_after_a_good_signature);
    tcase_add_test(t, hs256_keyed_with_rsa_public_pem_is_invalid_algorithm);
    tcase_add_test(t, alg_none_is_invalid_algorithm);
    tcase_add_test(t, missing_alg_is_invalid_algorithm_naming_undefined);
    tcase_add_test(t, rs384_is_refused_when_only_rs256_is_allowed);
    tcase_add_test(t, zero_alg_mask_means_rs256_only);
    tcase_add_test(t, es256_header_with_rsa_key_is_invalid_algorithm);
    tcase_add_test(t, unknown_kid_with_jwks_source_is_kid_mismatch);
    tcase_add_test(t, known_kid_with_jwks_source_verifies);
    tcase_add_test(t, no_key_source_is_jwk_failed_to_resolve);
    tcase_add_test(t, m2m_category_is_refused_before_key_lookup);
    tcase_add_test(t, typ_other_than_jwt_is_token_invalid);
    tcase_add_test(t, non_string_typ_is_token_invalid_with_its_json);
    tcase_add_test(t, absent_typ_with_non_string_kid_is_refused_by_the_types_rule);
    tcase_add_test(t, absent_typ_is_accepted);
    tcase_add_test(t, crit_header_is_token_invalid_our_stricter_rule);
    tcase_add_test(t, non_string_kid_is_token_invalid);
    tcase_add_test(t, empty_sub_after_good_signature_is_verification_failed);
    tcase_add_test(t, verified_token_skips_signature_for_the_same_key_only);
    tcase_add_test(t, oauth_access_token_typ_is_wrong_type);
    tcase_add_test(t, machine_subject_is_wrong_type);
    tcase_add_test(t, non_session_category_is_wrong_type);
    tcase_add_test(t, session_ignore_or_absent_category_is_session);
    tcase_add_test(t, decode_failure_returns_jwt_error);
    tcase_add_test(t, references_keep_token_alive_until_last_release);
    tcase_add_test(t, claims_json_is_made_once_and_kept_with_the_token);
    suite_add_tcase(s, t);

    t = tcase_create("cache");
    tcase_add_unchecked_fixture(t, keys_setup, keys_teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, cache_returns_the_stored_token_and_counts_hits);
    tcase_add_test(t, cache_ignores_unverified_tokens);
    tcase_add_test(t, cache_key_is_the_whole_token_text);
    tcase_add_test(t, cache_remembers_headers_of_stored_tokens_only);
    tcase_add_test(t, cache_hit_skips_signature_but_reapplies_claims);
    tcase_add_test(t, cache_drops_entries_past_exp_and_skew);
    tcase_add_test(t, cache_is_bounded_and_evicts_the_oldest);
    tcase_add_test(t, cache_stores_one_copy_of_a_token);
    tcase_add_test(t, cache_survives_concurrent_use);
    suite_add_tcase(s, t);
    return s;
}
