/* Signature verification: every supported alg verifies its own signatures and nothing else. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwk.h"
#include "jws.h"
#include "jwt.h"
#include "mint.h"
#include "unit.h"

static EVP_PKEY *rsa2048, *rsa2048b, *ec256, *ec384, *ed25519;
static clerk_keyset *ks_rsa, *ks_rsa_b, *ks_ec256, *ks_ec384, *ks_ed25519;

static clerk_keyset *pem_set(EVP_PKEY *k)
{
    clerk_keyset *ks = clerk_keyset_new();
    char *pem = mint_public_pem(k);
    clerk_error err = {0};
    ck_assert_msg(clerk_keyset_add_pem(ks, pem, strlen(pem), &err) == 0, "%s", err.message);
    free(pem);
    return ks;
}

static void keys_setup(void)
{
    rsa2048 = mint_keygen("rsa2048");
    rsa2048b = mint_keygen("rsa2048");
    ec256 = mint_keygen("ec256");
    ec384 = mint_keygen("ec384");
    ed25519 = mint_keygen("ed25519");
    ks_rsa = pem_set(rsa2048);
    ks_rsa_b = pem_set(rsa2048b);
    ks_ec256 = pem_set(ec256);
    ks_ec384 = pem_set(ec384);
    ks_ed25519 = pem_set(ed25519);
}

static void keys_teardown(void)
{
    clerk_keyset_unref(ks_rsa);
    clerk_keyset_unref(ks_rsa_b);
    clerk_keyset_unref(ks_ec256);
    clerk_keyset_unref(ks_ec384);
    clerk_keyset_unref(ks_ed25519);
    EVP_PKEY_free(rsa2048);
    EVP_PKEY_free(rsa2048b);
    EVP_PKEY_free(ec256);
    EVP_PKEY_free(ec384);
    EVP_PKEY_free(ed25519);
}

static const clerk_key *key_of(clerk_keyset *ks)
{
    return clerk_keyset_find(ks, NULL);
}

static clerk_jwt *decode(const char *tok)
{
    clerk_jwt *jwt = NULL;
    clerk_error err;
    ck_assert_ptr_nonnull(tok);
    ck_assert_msg(clerk_jwt_decode(tok, strlen(tok), 0, &jwt, &err) == 0, "%s", err.message);
    return jwt;
}

/* Verifies tok under alg with key k, as a caller would after decoding. */
static int verify_tok(unsigned alg, const clerk_key *k, const char *tok)
{
    clerk_jwt *jwt = decode(tok);
    int rc = clerk_jws_verify(alg, k, (const unsigned char *)jwt->signing_input, jwt->signing_len,
                              jwt->sig, jwt->sig_len);
    clerk_jwt_free(jwt);
    return rc;
}

static const struct {
    const char *alg;
    EVP_PKEY **priv;
    clerk_keyset **ks;
} cases[] = {
    {"RS256", &rsa2048, &ks_rsa},     {"RS384", &rsa2048, &ks_rsa}, {"RS512", &rsa2048, &ks_rsa},
    {"PS256", &rsa2048, &ks_rsa},     {"ES256", &ec256, &ks_ec256}, {"ES384", &ec384, &ks_ec384},
    {"EdDSA", &ed25519, &ks_ed25519},
};

static char *mint_for(int i, const char *payload)
{
    char header[64];
    strcpy(header, "{\"alg\":\"");
    strcat(header, cases[i].alg);
    strcat(header, "\",\"typ\":\"JWT\"}");
    return mint_sign(*cases[i].priv, cases[i].alg, header, payload);
}

START_TEST(valid_signature_verifies)
{
    char *tok = mint_for(_i, "{\"sub\":\"user_1\"}");
    unsigned alg = clerk_alg_from_name(cases[_i].alg);
    ck_assert_uint_ne(alg, 0);
    ck_assert_int_eq(verify_tok(alg, key_of(*cases[_i].ks), tok), 1);
    free(tok);
}
END_TEST

START_TEST(tampered_payload_does_not_verify)
{
    char *tok = mint_for(_i, "{\"sub\":\"user_1\"}");
    char *other = mint_for(_i, "{\"sub\":\"user_2\"}");
    /* Signature of user_1 on the payload of user_2. */
    char *sig = strrchr(tok, '.');
    char *osig = strrchr(other, '.');
    size_t prefix = (size_t)(osig - other);
    char *spliced = malloc(prefix + strlen(sig) + 1);
    memcpy(spliced, other, prefix);
    strcpy(spliced + prefix, sig);
    unsigned alg = clerk_alg_from_name(cases[_i].alg);
    ck_assert_int_eq(verify_tok(alg, key_of(*cases[_i].ks), spliced), 0);
    free(spliced);
    free(other);
    free(tok);
}
END_TEST

START_TEST(tampered_signature_does_not_verify)
{
    char *tok = mint_for(_i, "{\"sub\":\"user_1\"}");
    clerk_jwt *jwt = decode(tok);
    unsigned alg = clerk_alg_from_name(cases[_i].alg);
    jwt->sig[jwt->sig_len / 2] ^= 0x01;
    ck_assert_int_eq(clerk_jws_verify(alg, key_of(*cases[_i].ks),
                                      (const unsigned char *)jwt->signing_input, jwt->signing_len,
                                      jwt->sig, jwt->sig_len),
                     0);
    /* A truncated signature is invalid too, not an error. */
    ck_assert_int_eq(clerk_jws_verify(alg, key_of(*cases[_i].ks),
                                      (const unsigned char *)jwt->signing_input, jwt->signing_len,
                                      jwt->sig, jwt->sig_len - 1),
                     0);
    ck_assert_int_eq(clerk_jws_verify(alg, key_of(*cases[_i].ks),
                                      (const unsigned char *)jwt->signing_input, jwt->signing_len,
                                      jwt->sig, 0),
                     0);
    clerk_jwt_free(jwt);
    free(tok);
}
END_TEST

/* RSA keys carry prepared RS256/384/512 contexts; a key without them (generic path) must give
 * the same answers for good, tampered and truncated signatures. */
START_TEST(rsa_prepared_and_generic_paths_agree)
{
    static const char *const algs[] = {"RS256", "RS384", "RS512"};
    const clerk_key *k = key_of(ks_rsa);
    clerk_key generic = *k;
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_nonnull(k->rs_ctx[i]);
        generic.rs_ctx[i] = NULL;
    }
    for (int i = 0; i < 3; i++) {
        unsigned alg = clerk_alg_from_name(algs[i]);
        char hdr[64];
        snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", algs[i]);
        char *tok = mint_sign(rsa2048, algs[i], hdr, "{\"sub\":\"user_1\"}");
        clerk_jwt *jwt = decode(tok);
        const unsigned char *m = (const unsigned char *)jwt->signing_input;
        ck_assert_int_eq(clerk_jws_verify(alg, k, m, jwt->signing_len, jwt->sig, jwt->sig_len), 1);
        ck_assert_int_eq(
            clerk_jws_verify(alg, &generic, m, jwt->signing_len, jwt->sig, jwt->sig_len), 1);
        /* a digest of another size under the same key is refused by both */
        unsigned other = clerk_alg_from_name(algs[(i + 1) % 3]);
        ck_assert_int_eq(clerk_jws_verify(other, k, m, jwt->signing_len, jwt->sig, jwt->sig_len),
                         0);
        ck_assert_int_eq(
            clerk_jws_verify(other, &generic, m, jwt->signing_len, jwt->sig, jwt->sig_len), 0);
        jwt->sig[3] ^= 0x40;
        ck_assert_int_eq(clerk_jws_verify(alg, k, m, jwt->signing_len, jwt->sig, jwt->sig_len), 0);
        ck_assert_int_eq(
            clerk_jws_verify(alg, &generic, m, jwt->signing_len, jwt->sig, jwt->sig_len), 0);
        ck_assert_int_eq(clerk_jws_verify(alg, k, m, jwt->signing_len, jwt->sig, jwt->sig_len - 1),
                         0);
        clerk_jwt_free(jwt);
        free(tok);
    }
}
END_TEST

START_TEST(signature_by_another_key_does_not_verify)
{
    char *tok = mint_sign(rsa2048b, "RS256", "{\"alg\":\"RS256\"}", "{\"sub\":\"u\"}");
    ck_assert_int_eq(verify_tok(CLERK_ALG_RS256, key_of(ks_rsa), tok), 0);
    ck_assert_int_eq(verify_tok(CLERK_ALG_RS256, key_of(ks_rsa_b), tok), 1);
    free(tok);
}
END_TEST

START_TEST(alg_that_does_not_fit_the_key_is_refused)
{
    ck_assert_int_eq(clerk_alg_fits_key(CLERK_ALG_RS256, key_of(ks_ec256)), 0);
    ck_assert_int_eq(clerk_alg_fits_key(CLERK_ALG_ES256, key_of(ks_rsa)), 0);
    ck_assert_int_eq(clerk_alg_fits_key(CLERK_ALG_ES256, key_of(ks_ec384)), 0);
    ck_assert_int_eq(clerk_alg_fits_key(CLERK_ALG_ES384, key_of(ks_ec256)), 0);
    ck_assert_int_eq(clerk_alg_fits_key(CLERK_ALG_EDDSA, key_of(ks_ec256)), 0);
    ck_assert_int_eq(clerk_alg_fits_key(CLERK_ALG_RS256 | CLERK_ALG_RS384, key_of(ks_rsa)), 0);
    ck_assert_int_eq(clerk_alg_fits_key(CLERK_ALG_PS256, key_of(ks_rsa)), 1);
    ck_assert_int_eq(clerk_alg_fits_key(CLERK_ALG_RS256, NULL), 0);

    /* A valid ES256 signature presented with an RSA key, and vice versa, is not checked. */
    char *es = mint_sign(ec256, "ES256", "{\"alg\":\"ES256\"}", "{}");
    ck_assert_int_eq(verify_tok(CLERK_ALG_ES256, key_of(ks_rsa), es), 0);
    ck_assert_int_eq(verify_tok(CLERK_ALG_ES384, key_of(ks_ec256), es), 0);
    free(es);
    char *rs = mint_sign(rsa2048, "RS256", "{\"alg\":\"RS256\"}", "{}");
    ck_assert_int_eq(verify_tok(CLERK_ALG_RS256, key_of(ks_ec256), rs), 0);
    /* PKCS#1 v1.5 and PSS are not interchangeable, nor are the hashes. */
    ck_assert_int_eq(verify_tok(CLERK_ALG_PS256, key_of(ks_rsa), rs), 0);
    ck_assert_int_eq(verify_tok(CLERK_ALG_RS384, key_of(ks_rsa), rs), 0);
    free(rs);
}
END_TEST

START_TEST(jwk_alg_restricts_its_key)
{
    char *text = mint_public_jwk(rsa2048, "k", "RS256");
    json_t *j = json_loads(text, 0, NULL);
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    ck_assert_int_eq(clerk_keyset_add_jwk(ks, j, &err), 0);
    const clerk_key *k = clerk_keyset_find(ks, "k");
    ck_assert_int_eq(clerk_alg_fits_key(CLERK_ALG_RS256, k), 1);
    ck_assert_int_eq(clerk_alg_fits_key(CLERK_ALG_RS384, k), 0);
    char *tok = mint_sign(rsa2048, "RS384", "{\"alg\":\"RS384\"}", "{}");
    ck_assert_int_eq(verify_tok(CLERK_ALG_RS384, k, tok), 0);
    free(tok);
    clerk_keyset_unref(ks);
    json_decref(j);
    free(text);
}
END_TEST

START_TEST(es_signature_of_wrong_length_is_invalid)
{
    char *tok = mint_sign(ec256, "ES256", "{\"alg\":\"ES256\"}", "{}");
    clerk_jwt *jwt = decode(tok);
    ck_assert_uint_eq(jwt->sig_len, 64);
    const clerk_key *k = key_of(ks_ec256);
    const unsigned char *msg = (const unsigned char *)jwt->signing_input;
    unsigned char longer[65];
    memcpy(longer, jwt->sig, 64);
    longer[64] = 0;
    ck_assert_int_eq(clerk_jws_verify(CLERK_ALG_ES256, k, msg, jwt->signing_len, longer, 65), 0);
    ck_assert_int_eq(clerk_jws_verify(CLERK_ALG_ES256, k, msg, jwt->signing_len, jwt->sig, 63), 0);
    ck_assert_int_eq(clerk_jws_verify(CLERK_ALG_ES256, k, msg, jwt->signing_len, jwt->sig, 64), 1);
    /* An all-zero r||s is not a signature. */
    unsigned char zeros[64] = {0};
    ck_assert_int_eq(clerk_jws_verify(CLERK_ALG_ES256, k, msg, jwt->signing_len, zeros, 64), 0);
    clerk_jwt_free(jwt);
    free(tok);

    /* An ES384 signature cut to the ES256 length is invalid. */
    tok = mint_sign(ec384, "ES384", "{\"alg\":\"ES384\"}", "{}");
    jwt = decode(tok);
    ck_assert_uint_eq(jwt->sig_len, 96);
    ck_assert_int_eq(clerk_jws_verify(CLERK_ALG_ES384, key_of(ks_ec384),
                                      (const unsigned char *)jwt->signing_input, jwt->signing_len,
                                      jwt->sig, 64),
                     0);
    clerk_jwt_free(jwt);
    free(tok);
}
END_TEST

START_TEST(hs256_keyed_with_the_public_pem_never_verifies)
{
    char *pem = mint_public_pem(rsa2048);
    char *tok = mint_sign_hs256((const unsigned char *)pem, strlen(pem),
                                "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"sub\":\"admin\"}");
    clerk_jwt *jwt = decode(tok);
    ck_assert_str_eq(jwt->alg_name, "HS256");
    ck_assert_uint_eq(jwt->alg, 0);
    const clerk_key *k = key_of(ks_rsa);
    ck_assert_int_eq(clerk_jws_verify(jwt->alg, k, (const unsigned char *)jwt->signing_input,
                                      jwt->signing_len, jwt->sig, jwt->sig_len),
                     0);
    /* Not under any bit either. */
    for (unsigned bit = 1; bit <= CLERK_ALGS_ALL; bit <<= 1)
        ck_assert_int_eq(clerk_jws_verify(bit, k, (const unsigned char *)jwt->signing_input,
                                          jwt->signing_len, jwt->sig, jwt->sig_len),
                         0);
    clerk_jwt_free(jwt);
    free(tok);
    free(pem);
}
END_TEST

START_TEST(alg_none_never_verifies)
{
    char *tok = mint_sign(NULL, "none", "{\"alg\":\"none\"}", "{\"sub\":\"admin\"}");
    clerk_jwt *jwt = decode(tok);
    for (unsigned bit = 0; bit <= CLERK_ALGS_ALL; bit = bit ? bit << 1 : 1)
        ck_assert_int_eq(clerk_jws_verify(bit, key_of(ks_rsa),
                                          (const unsigned char *)jwt->signing_input,
                                          jwt->signing_len, jwt->sig, jwt->sig_len),
                         0);
    clerk_jwt_free(jwt);
    free(tok);
}
END_TEST

START_TEST(alg_names_map_to_bits_case_sensitively)
{
    ck_assert_uint_eq(clerk_alg_from_name("none"), 0);
    ck_assert_uint_eq(clerk_alg_from_name("HS256"), 0);
    ck_assert_uint_eq(clerk_alg_from_name("rs256"), 0);
    ck_assert_uint_eq(clerk_alg_from_name(""), 0);
    ck_assert_uint_eq(clerk_alg_from_name("RS256 "), 0);
    ck_assert_uint_eq(clerk_alg_from_name("ES512"), 0);
    ck_assert_uint_eq(clerk_alg_from_name(NULL), 0);
    ck_assert_uint_eq(clerk_alg_from_name("EdDSA"), CLERK_ALG_EDDSA);
    unsigned all = 0;
    for (unsigned bit = 1; bit <= CLERK_ALGS_ALL; bit <<= 1) {
        const char *name = clerk_alg_name(bit);
        ck_assert_ptr_nonnull(name);
        ck_assert_uint_eq(clerk_alg_from_name(name), bit);
        all |= bit;
    }
    ck_assert_uint_eq(all, CLERK_ALGS_ALL);
    ck_assert_ptr_null(clerk_alg_name(0));
    ck_assert_ptr_null(clerk_alg_name(CLERK_ALG_RS256 | CLERK_ALG_RS384));
}
END_TEST

Suite *jws_suite(void)
{
    Suite *s = suite_create("jws");
    TCase *tc = tcase_create("jws");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
    int n = (int)(sizeof cases / sizeof cases[0]);
    tcase_add_loop_test(tc, valid_signature_verifies, 0, n);
    tcase_add_loop_test(tc, tampered_payload_does_not_verify, 0, n);
    tcase_add_loop_test(tc, tampered_signature_does_not_verify, 0, n);
    tcase_add_test(tc, signature_by_another_key_does_not_verify);
    tcase_add_test(tc, rsa_prepared_and_generic_paths_agree);
    tcase_add_test(tc, alg_that_does_not_fit_the_key_is_refused);
    tcase_add_test(tc, jwk_alg_restricts_its_key);
    tcase_add_test(tc, es_signature_of_wrong_length_is_invalid);
    tcase_add_test(tc, hs256_keyed_with_the_public_pem_never_verifies);
    tcase_add_test(tc, alg_none_never_verifies);
    tcase_add_test(tc, alg_names_map_to_bits_case_sensitively);
    suite_add_tcase(s, tc);
    return s;
}
