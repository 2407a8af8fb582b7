/* Key sets: what keys are accepted from PEM, JWK and JWKS, and how a kid finds one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/obj_mac.h>

#include "b64url.h"
#include "jwk.h"
#include "jws.h"
#include "mint.h"
#include "unit.h"

/* Generated once per test case (RSA generation is slow, more so under valgrind). */
static EVP_PKEY *rsa2048, *rsa2048b, *rsa1024, *ec256, *ec384, *ed25519;

static void keys_setup(void)
{
    rsa2048 = mint_keygen("rsa2048");
    rsa2048b = mint_keygen("rsa2048");
    rsa1024 = mint_keygen("rsa1024");
    ec256 = mint_keygen("ec256");
    ec384 = mint_keygen("ec384");
    ed25519 = mint_keygen("ed25519");
}

static void keys_teardown(void)
{
    EVP_PKEY_free(rsa2048);
    EVP_PKEY_free(rsa2048b);
    EVP_PKEY_free(rsa1024);
    EVP_PKEY_free(ec256);
    EVP_PKEY_free(ec384);
    EVP_PKEY_free(ed25519);
}

static int add_pem_of(clerk_keyset *ks, EVP_PKEY *k, clerk_error *err)
{
    char *pem = mint_public_pem(k);
    int rc = clerk_keyset_add_pem(ks, pem, strlen(pem), err);
    free(pem);
    return rc;
}

static json_t *jwk_of(EVP_PKEY *k, const char *kid, const char *alg)
{
    char *text = mint_public_jwk(k, kid, alg);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    ck_assert_ptr_nonnull(j);
    return j;
}

static int add_jwks_text(clerk_keyset *ks, const char *text, clerk_error *err)
{
    return clerk_keyset_add_jwks(ks, text, strlen(text), err);
}

START_TEST(pem_rsa2048_is_accepted_and_matches_any_kid)
{
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    ck_assert_msg(add_pem_of(ks, rsa2048, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(clerk_keyset_count(ks), 1);
    const clerk_key *k = clerk_keyset_find(ks, "ins_anything");
    ck_assert_ptr_nonnull(k);
    ck_assert_int_eq(k->kty, CLERK_KTY_RSA);
    ck_assert_int_eq(k->bits, 2048);
    ck_assert_ptr_null(k->kid);
    ck_assert_int_eq(k->any_kid, 1);
    ck_assert(!clerk_key_same(k, NULL));
    ck_assert_ptr_eq(clerk_keyset_find(ks, NULL), k);
    clerk_keyset_unref(ks);
}
END_TEST

START_TEST(pem_rsa1024_is_refused)
{
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    ck_assert_int_eq(add_pem_of(ks, rsa1024, &err), -1);
    ck_assert_str_eq(err.message, "RSA key has 1024 bits; at least 2048 are required");
    ck_assert_uint_eq(clerk_keyset_count(ks), 0);
    clerk_keyset_unref(ks);
}
END_TEST

START_TEST(pem_ec_p256_and_p384_are_accepted)
{
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    ck_assert_msg(add_pem_of(ks, ec256, &err) == 0, "%s", err.message);
    const clerk_key *k = clerk_keyset_find(ks, NULL);
    ck_assert_int_eq(k->kty, CLERK_KTY_EC);
    ck_assert_int_eq(k->curve_nid, NID_X9_62_prime256v1);
    ck_assert_int_eq(k->bits, 256);
    clerk_keyset_unref(ks);

    ks = clerk_keyset_new();
    ck_assert_msg(add_pem_of(ks, ec384, &err) == 0, "%s", err.message);
    k = clerk_keyset_find(ks, NULL);
    ck_assert_int_eq(k->curve_nid, NID_secp384r1);
    ck_assert_int_eq(k->bits, 384);
    clerk_keyset_unref(ks);
}
END_TEST

START_TEST(pem_ed25519_is_accepted)
{
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    ck_assert_msg(add_pem_of(ks, ed25519, &err) == 0, "%s", err.message);
    const clerk_key *k = clerk_keyset_find(ks, "x");
    ck_assert_int_eq(k->kty, CLERK_KTY_OKP);
    ck_assert_int_eq(k->curve_nid, NID_ED25519);
    clerk_keyset_unref(ks);
}
END_TEST

START_TEST(garbage_pem_is_refused)
{
    const char *bad[] = {
        "hello", "-----BEGIN PUBLIC KEY-----\nnot base64 at all!\n-----END PUBLIC KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n"
        "-----END PUBLIC KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        clerk_keyset *ks = clerk_keyset_new();
        clerk_error err = {0};
        ck_assert_int_eq(clerk_keyset_add_pem(ks, bad[i], strlen(bad[i]), &err), -1);
        ck_assert_ptr_nonnull(strstr(err.message, "PEM public key does not parse"));
        clerk_keyset_unref(ks);
    }
}
END_TEST

START_TEST(private_key_pem_is_refused)
{
    char *pem = mint_private_pem(ec256);
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    ck_assert_int_eq(clerk_keyset_add_pem(ks, pem, strlen(pem), &err), -1);
    ck_assert_ptr_null(strstr(err.message, "PRIVATE")); /* never echoes key text */
    clerk_keyset_unref(ks);
    free(pem);
}
END_TEST

/* pem with its line breaks removed, and optionally its BEGIN/END lines. */
static char *flatten_pem(const char *pem, int strip_armor)
{
    char *out = malloc(strlen(pem) + 1), *o = out;
    const char *p = pem;
    if (strip_armor)
        p = strchr(pem, '\n') + 1;
    for (; *p; p++) {
        if (strip_armor && strncmp(p, "-----END", 8) == 0)
            break;
        if (*p != '\n')
            *o++ = *p;
    }
    *o = '\0';
    return out;
}

START_TEST(pem_on_one_line_or_without_armor_is_accepted)
{
    char *pem = mint_public_pem(rsa2048);
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    ck_assert_int_eq(clerk_keyset_add_pem(ks, pem, strlen(pem), &err), 0);
    char *one_line = flatten_pem(pem, 0);
    char *bare = flatten_pem(pem, 1);
    ck_assert_msg(clerk_keyset_add_pem(ks, one_line, strlen(one_line), &err) == 0, "%s",
                  err.message);
    ck_assert_msg(clerk_keyset_add_pem(ks, bare, strlen(bare), &err) == 0, "%s", err.message);
    ck_assert_uint_eq(clerk_keyset_count(ks), 3);
    /* All three spellings are the same key. */
    clerk_keyset *a = clerk_keyset_new(), *b = clerk_keyset_new();
    clerk_keyset_add_pem(a, pem, strlen(pem), &err);
    clerk_keyset_add_pem(b, bare, strlen(bare), &err);
    ck_assert(clerk_key_same(clerk_keyset_find(a, NULL), clerk_keyset_find(b, NULL)));
    clerk_keyset_unref(a);
    clerk_keyset_unref(b);
    clerk_keyset_unref(ks);
    free(pem);
    free(one_line);
    free(bare);
}
END_TEST

/* pem with each real newline replaced by sep (the text a one-line variable carries). */
static char *pem_with_newlines_as(const char *pem, const char *sep)
{
    char *out = malloc(strlen(pem) * strlen(sep) + 1), *o = out;
    for (const char *p = pem; *p; p++) {
        if (*p == '\n') {
            strcpy(o, sep);
            o += strlen(sep);
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

/* 1 when text loads through clerk_keyset_add_pem_text as the same key as pem. */
static int pem_text_is_key(const char *text, const char *pem, clerk_error *err)
{
    clerk_keyset *a = clerk_keyset_new(), *b = clerk_keyset_new();
    int ok = clerk_keyset_add_pem_text(a, text, strlen(text), err) == 0 &&
             clerk_keyset_add_pem(b, pem, strlen(pem), err) == 0 &&
             clerk_key_same(clerk_keyset_find(a, NULL), clerk_keyset_find(b, NULL));
    clerk_keyset_unref(a);
    clerk_keyset_unref(b);
    return ok;
}

START_TEST(pem_text_accepts_what_clerk_jwt_key_is_given)
{
    char *pem = mint_public_pem(rsa2048);
    clerk_error err = {0};
    const char *seps[] = {"\n", "\\n", "\\r\\n", " ", "\\n\\n", "\\r\\n \\r\\n"};
    for (size_t i = 0; i < sizeof seps / sizeof seps[0]; i++) {
        char *text = pem_with_newlines_as(pem, seps[i]);
        ck_assert_msg(pem_text_is_key(text, pem, &err), "newline as '%s': %s", seps[i],
                      err.message);
        free(text);
    }
    /* The base64 body alone, on one line, as pasted from a dashboard. */
    char *bare = flatten_pem(pem, 1);
    ck_assert_msg(pem_text_is_key(bare, pem, &err), "%s", err.message);
    free(bare);
    char *ed = mint_public_pem(ed25519);
    char *ed_text = pem_with_newlines_as(ed, "\\n");
    ck_assert_msg(pem_text_is_key(ed_text, ed, &err), "%s", err.message);
    free(ed_text);
    free(ed);
    free(pem);
}
END_TEST

START_TEST(pem_text_translates_only_the_two_escapes)
{
    char *pem = mint_public_pem(rsa2048);
    clerk_error err = {0};
    clerk_keyset *ks = clerk_keyset_new();
    /* Escapes are the text form's alone: clerk_keyset_add_pem (a file) keeps them as they are. */
    char *escaped = pem_with_newlines_as(pem, "\\n");
    ck_assert_int_eq(clerk_keyset_add_pem(ks, escaped, strlen(escaped), &err), -1);
    /* Other escapes, and a backslash of its own, are key text that does not parse. */
    const char *other[] = {"\\t", "\\\\n", "\\", "\\N"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        char *text = pem_with_newlines_as(pem, other[i]);
        ck_assert_msg(clerk_keyset_add_pem_text(ks, text, strlen(text), &err) == -1,
                      "newline as '%s' was accepted", other[i]);
        ck_assert_str_eq(err.message,
                         "PEM public key does not parse (expected a SubjectPublicKeyInfo, "
                         "-----BEGIN PUBLIC KEY-----)");
        free(text);
    }
    /* Nothing but escapes is an empty key. */
    ck_assert_int_eq(clerk_keyset_add_pem_text(ks, "\\r\\r", 4, &err), -1);
    ck_assert_str_eq(err.message, "empty PEM public key");
    /* len bounds the text: an escape cut in half by len is a lone backslash. */
    ck_assert_int_eq(clerk_keyset_add_pem_text(ks, "\\n", 1, &err), -1);
    ck_assert_str_eq(err.message, "PEM public key does not parse (expected a SubjectPublicKeyInfo, "
                                  "-----BEGIN PUBLIC KEY-----)");
    ck_assert_uint_eq(clerk_keyset_count(ks), 0);
    clerk_keyset_unref(ks);
    free(escaped);
    free(pem);
}
END_TEST

/* {"keys":[...]} of the n keys' public JWKs (kid NULL: none, no "alg"), into doc. */
static void jwks_doc_of(char *doc, size_t cap, size_t n, EVP_PKEY *const *keys,
                        const char *const *kids)
{
    size_t used = (size_t)snprintf(doc, cap, "{\"keys\":[");
    for (size_t i = 0; i < n; i++) {
        char *jwk = mint_public_jwk(keys[i], kids[i], NULL);
        used += (size_t)snprintf(doc + used, cap - used, "%s%s", i ? "," : "", jwk);
        free(jwk);
        ck_assert_uint_lt(used, cap);
    }
    snprintf(doc + used, cap - used, "]}");
}

START_TEST(kids_are_listed_sorted_without_kidless_keys)
{
    /* The third entry's key is too short to load: its kid is not one the set can answer. */
    EVP_PKEY *keys[] = {rsa2048, ec256, rsa1024, rsa2048b};
    const char *kids[] = {"ins_b", "ins_a", "ins_c", NULL};
    char doc[8192], buf[64];
    clerk_error err = {0};
    jwks_doc_of(doc, sizeof doc, 4, keys, kids);
    clerk_keyset *ks = clerk_keyset_new();
    ck_assert_msg(add_jwks_text(ks, doc, &err) == 3, "%s", err.message);
    ck_assert_str_eq(clerk_keyset_kids(ks, buf, sizeof buf), "ins_a, ins_b");
    /* A PEM key has no kid either. */
    ck_assert_int_eq(add_pem_of(ks, ec384, &err), 0);
    ck_assert_str_eq(clerk_keyset_kids(ks, buf, sizeof buf), "ins_a, ins_b");
    /* Bounded by the buffer, always terminated. */
    ck_assert_str_eq(clerk_keyset_kids(ks, buf, 9), "ins_a, i");
    ck_assert_str_eq(clerk_keyset_kids(ks, buf, 1), "");
    clerk_keyset *empty = clerk_keyset_new();
    ck_assert_str_eq(clerk_keyset_kids(empty, buf, sizeof buf), "");
    ck_assert_str_eq(clerk_keyset_kids(NULL, buf, sizeof buf), "");
    clerk_keyset_unref(empty);
    clerk_keyset_unref(ks);
}
END_TEST

START_TEST(jwks_with_two_keys_finds_each_by_kid)
{
    char *j1 = mint_public_jwk(rsa2048, "ins_1", "RS256");
    char *j2 = mint_public_jwk(rsa2048b, "ins_2", NULL);
    char doc[8192];
    snprintf(doc, sizeof doc, "{\"keys\":[%s,%s]}", j1, j2);
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    ck_assert_msg(add_jwks_text(ks, doc, &err) == 2, "%s", err.message);
    const clerk_key *k1 = clerk_keyset_find(ks, "ins_1");
    const clerk_key *k2 = clerk_keyset_find(ks, "ins_2");
    ck_assert_ptr_nonnull(k1);
    ck_assert_ptr_nonnull(k2);
    ck_assert_ptr_ne(k1, k2);
    ck_assert_str_eq(k1->kid, "ins_1");
    ck_assert_uint_eq(k1->alg, CLERK_ALG_RS256);
    ck_assert_uint_eq(k2->alg, 0);
    ck_assert_int_eq(k1->any_kid, 0);
    ck_assert(!clerk_key_same(k1, k2));
    /* The JWK and the PEM of one key have the same identity. */
    clerk_keyset *pem = clerk_keyset_new();
    add_pem_of(pem, rsa2048, &err);
    ck_assert(clerk_key_same(clerk_keyset_find(pem, NULL), k1));
    clerk_keyset_unref(pem);
    clerk_keyset_unref(ks);
    free(j1);
    free(j2);
}
END_TEST

START_TEST(unknown_kid_finds_nothing_in_a_jwks)
{
    char *j1 = mint_public_jwk(rsa2048, "ins_1", NULL);
    char doc[4096];
    snprintf(doc, sizeof doc, "{\"keys\":[%s]}", j1);
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    ck_assert_int_eq(add_jwks_text(ks, doc, &err), 1);
    ck_assert_ptr_null(clerk_keyset_find(ks, "ins_2"));
    ck_assert_ptr_null(clerk_keyset_find(ks, "ins_"));
    ck_assert_ptr_null(clerk_keyset_find(ks, NULL));
    clerk_keyset_unref(ks);
    free(j1);
}
END_TEST

START_TEST(kidless_jwk_matches_only_a_kidless_token)
{
    json_t *j = jwk_of(ec256, NULL, NULL);
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    ck_assert_int_eq(clerk_keyset_add_jwk(ks, j, &err), 0);
    ck_assert_ptr_nonnull(clerk_keyset_find(ks, NULL));
    ck_assert_ptr_null(clerk_keyset_find(ks, "ins_1"));
    clerk_keyset_unref(ks);
    json_decref(j);
}
END_TEST

START_TEST(exact_kid_wins_over_pem_key)
{
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    ck_assert_int_eq(add_pem_of(ks, rsa2048, &err), 0);
    json_t *j = jwk_of(rsa2048b, "ins_2", NULL);
    ck_assert_int_eq(clerk_keyset_add_jwk(ks, j, &err), 0);
    ck_assert_str_eq(clerk_keyset_find(ks, "ins_2")->kid, "ins_2");
    ck_assert_int_eq(clerk_keyset_find(ks, "ins_other")->any_kid, 1);
    clerk_keyset_unref(ks);
    json_decref(j);
}
END_TEST

START_TEST(oct_and_encryption_keys_are_skipped)
{
    char *j1 = mint_public_jwk(rsa2048, "ins_1", NULL);
    char *j2 = mint_public_jwk(rsa2048b, "enc_1", NULL);
    /* turn the second into an encryption key */
    char *use = strstr(j2, "\"use\":\"sig\"");
    memcpy(use, "\"use\":\"enc\"", 11);
    char doc[8192];
    snprintf(doc, sizeof doc,
             "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"kid\":\"hs\"},%s,%s]}", j1, j2);
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    ck_assert_int_eq(add_jwks_text(ks, doc, &err), 1);
    ck_assert_ptr_null(clerk_keyset_find(ks, "hs"));
    ck_assert_ptr_null(clerk_keyset_find(ks, "enc_1"));
    ck_assert_ptr_nonnull(clerk_keyset_find(ks, "ins_1"));
    clerk_keyset_unref(ks);

    ks = clerk_keyset_new();
    ck_assert_int_eq(add_jwks_text(ks, "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}", &err),
                     -1);
    ck_assert_str_eq(err.message, "JWKS has no usable signing key");
    clerk_keyset_unref(ks);
    free(j1);
    free(j2);
}
END_TEST

START_TEST(jwks_without_usable_keys_is_refused)
{
    const char *docs[] = {"{\"keys\":[]}",
                          "{}",
                          "{\"keys\":{}}",
                          "[]",
                          "{\"keys\":[1,\"a\"]}",
                          "{\"keys\":[]",
                          "{\"keys\":[],\"keys\":[]}"};
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        clerk_keyset *ks = clerk_keyset_new();
        clerk_error err = {0};
        ck_assert_int_eq(add_jwks_text(ks, docs[i], &err), -1);
        ck_assert_msg(err.message[0] != '\0', "no message for %s", docs[i]);
        ck_assert_uint_eq(clerk_keyset_count(ks), 0);
        clerk_keyset_unref(ks);
    }
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    add_jwks_text(ks, "{\"keys\":[]}", &err);
    ck_assert_str_eq(err.message, "JWKS has no usable signing key");
    add_jwks_text(ks, "{}", &err);
    ck_assert_str_eq(err.message, "JWKS has no \"keys\" array");
    clerk_keyset_unref(ks);
}
END_TEST

START_TEST(jwks_over_bounds_is_refused)
{
    /* 65 entries */
    char *doc = malloc(65 * 20 + 32);
    strcpy(doc, "{\"keys\":[");
    for (int i = 0; i < 65; i++)
        strcat(doc, i ? ",{\"kty\":\"oct\"}" : "{\"kty\":\"oct\"}");
    strcat(doc, "]}");
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    ck_assert_int_eq(add_jwks_text(ks, doc, &err), -1);
    ck_assert_str_eq(err.message, "JWKS has more than 64 keys");
    free(doc);

    size_t big = CLERK_JWKS_MAX_BYTES + 1;
    doc = malloc(big + 1);
    memset(doc, ' ', big);
    memcpy(doc, "{\"keys\":[]}", 11);
    doc[big] = '\0';
    ck_assert_int_eq(clerk_keyset_add_jwks(ks, doc, big, &err), -1);
    ck_assert_str_eq(err.message, "JWKS is larger than 262144 bytes");
    free(doc);
    clerk_keyset_unref(ks);
}
END_TEST

START_TEST(jwk_rsa_with_short_modulus_is_refused)
{
    json_t *j = jwk_of(rsa1024, "k", NULL);
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    ck_assert_int_eq(clerk_keyset_add_jwk(ks, j, &err), -1);
    ck_assert_str_eq(err.message, "RSA key has 1024 bits; at least 2048 are required");
    clerk_keyset_unref(ks);
    json_decref(j);
}
END_TEST

START_TEST(jwk_rsa_with_even_or_unit_exponent_is_refused)
{
    const char *es[] = {"AQAA", "AQ", "Ag"};
    for (size_t i = 0; i < 3; i++) {
        json_t *j = jwk_of(rsa2048, "k", NULL);
        json_object_set_new(j, "e", json_string(es[i]));
        clerk_keyset *ks = clerk_keyset_new();
        clerk_error err = {0};
        ck_assert_int_eq(clerk_keyset_add_jwk(ks, j, &err), -1);
        ck_assert_str_eq(err.message, "RSA public exponent must be odd and greater than 1");
        clerk_keyset_unref(ks);
        json_decref(j);
    }
}
END_TEST

/* Clerk issues e = 65537 only: another exponent (3 here) is refused unless the operator lists it
 * (ClerkAllowRSAExponent), or allows any. */
START_TEST(jwk_rsa_exponent_other_than_65537_needs_the_operator)
{
    json_t *j = jwk_of(rsa2048, "k", NULL);
    json_object_set_new(j, "e", json_string("Aw"));
    clerk_error err = {0};
    clerk_keyset *ks = clerk_keyset_new();
    ck_assert_int_eq(clerk_keyset_add_jwk(ks, j, &err), -1);
    ck_assert_str_eq(err.message, "RSA public exponent is not 65537, the only one Clerk issues "
                                  "(ClerkAllowRSAExponent accepts others)");
    uint64_t three = 3, seventeen = 17;
    clerk_jwk_set_rsa_exponents(&seventeen, 1, 0);
    ck_assert_int_eq(clerk_keyset_add_jwk(ks, j, &err), -1);
    clerk_jwk_set_rsa_exponents(&three, 1, 0);
    ck_assert_msg(clerk_keyset_add_jwk(ks, j, &err) == 0, "%s", err.message);
    clerk_jwk_set_rsa_exponents(NULL, 0, 1);
    ck_assert_msg(clerk_keyset_add_jwk(ks, j, &err) == 0, "%s", err.message);
    clerk_jwk_set_rsa_exponents(NULL, 0, 0);
    ck_assert_int_eq(clerk_keyset_add_jwk(ks, j, &err), -1);
    clerk_keyset_unref(ks);
    json_decref(j);
}
END_TEST

START_TEST(jwk_rsa_with_padded_modulus_is_refused)
{
    json_t *j = jwk_of(rsa2048, "k", NULL);
    char n[1024];
    snprintf(n, sizeof n, "%s=", json_string_value(json_object_get(j, "n")));
    json_object_set_new(j, "n", json_string(n));
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    ck_assert_int_eq(clerk_keyset_add_jwk(ks, j, &err), -1);
    ck_assert_str_eq(err.message, "JWK RSA key needs base64url \"n\" and \"e\"");
    clerk_keyset_unref(ks);
    json_decref(j);
}
END_TEST

START_TEST(jwk_ec_p256_p384_and_ed25519_are_accepted)
{
    EVP_PKEY *keys[] = {ec256, ec384, ed25519};
    int nids[] = {NID_X9_62_prime256v1, NID_secp384r1, NID_ED25519};
    for (int i = 0; i < 3; i++) {
        json_t *j = jwk_of(keys[i], "k", NULL);
        clerk_keyset *ks = clerk_keyset_new();
        clerk_error err = {0};
        ck_assert_msg(clerk_keyset_add_jwk(ks, j, &err) == 0, "%s", err.message);
        const clerk_key *k = clerk_keyset_find(ks, "k");
        ck_assert_int_eq(k->curve_nid, nids[i]);
        /* same identity as the PEM of the key */
        clerk_keyset *p = clerk_keyset_new();
        add_pem_of(p, keys[i], &err);
        ck_assert(clerk_key_same(clerk_keyset_find(p, NULL), k));
        clerk_keyset_unref(p);
        clerk_keyset_unref(ks);
        json_decref(j);
    }
}
END_TEST

START_TEST(jwk_ec_point_not_on_curve_is_refused)
{
    json_t *j = jwk_of(ec256, "k", NULL);
    const char *y = json_string_value(json_object_get(j, "y"));
    unsigned char raw[64];
    size_t n = 0;
    ck_assert_int_eq(clerk_b64url_decode(y, strlen(y), raw, sizeof raw, &n), 0);
    ck_assert_uint_eq(n, 32);
    raw[31] ^= 1;
    char *bad = mint_b64url(raw, n);
    json_object_set_new(j, "y", json_string(bad));
    free(bad);
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    ck_assert_int_eq(clerk_keyset_add_jwk(ks, j, &err), -1);
    ck_assert_str_eq(err.message, "JWK EC point is not on the curve");
    clerk_keyset_unref(ks);
    json_decref(j);
}
END_TEST

START_TEST(jwk_ec_coordinate_of_wrong_length_is_refused)
{
    json_t *j = jwk_of(ec256, "k", NULL);
    char x[64], shorter[64];
    snprintf(x, sizeof x, "%s", json_string_value(json_object_get(j, "x")));
    snprintf(shorter, sizeof shorter, "%.40s", x); /* 30 bytes */
    json_object_set_new(j, "x", json_string(shorter));
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    ck_assert_int_eq(clerk_keyset_add_jwk(ks, j, &err), -1);
    ck_assert_str_eq(err.message, "JWK EC key needs base64url \"x\" and \"y\" of 32 bytes each");
    json_object_set_new(j, "x", json_string(x));
    json_object_set_new(j, "crv", json_string("P-521"));
    ck_assert_int_eq(clerk_keyset_add_jwk(ks, j, &err), -1);
    ck_assert_str_eq(err.message, "JWK EC curve is not P-256 or P-384");
    clerk_keyset_unref(ks);
    json_decref(j);
}
END_TEST

START_TEST(jwk_alg_that_does_not_fit_its_key_is_refused)
{
    json_t *j = jwk_of(rsa2048, "k", "ES256");
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    ck_assert_int_eq(clerk_keyset_add_jwk(ks, j, &err), -1);
    ck_assert_str_eq(err.message, "JWK \"alg\" ES256 does not fit its key");
    json_decref(j);
    j = jwk_of(rsa2048, "k", "HS256");
    ck_assert_int_eq(clerk_keyset_add_jwk(ks, j, &err), -1);
    ck_assert_str_eq(err.message, "JWK \"alg\" is not a supported signature algorithm");
    json_decref(j);
    clerk_keyset_unref(ks);
}
END_TEST

START_TEST(jwk_with_non_string_kid_or_enc_use_is_refused)
{
    json_t *j = jwk_of(ec256, "k", NULL);
    json_object_set_new(j, "kid", json_integer(7));
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    ck_assert_int_eq(clerk_keyset_add_jwk(ks, j, &err), -1);
    ck_assert_str_eq(err.message, "JWK \"kid\" is not a string");
    json_object_set_new(j, "kid", json_string("k"));
    json_object_set_new(j, "use", json_string("enc"));
    ck_assert_int_eq(clerk_keyset_add_jwk(ks, j, &err), -1);
    ck_assert_str_eq(err.message, "JWK \"use\" is not \"sig\"");
    json_object_set_new(j, "kty", json_string("oct"));
    json_object_del(j, "use");
    ck_assert_int_eq(clerk_keyset_add_jwk(ks, j, &err), -1);
    ck_assert_str_eq(err.message, "JWK key type \"oct\" is not supported");
    clerk_keyset_unref(ks);
    json_decref(j);
}
END_TEST

START_TEST(refcount_frees_on_last_unref)
{
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    ck_assert_int_eq(add_pem_of(ks, rsa2048, &err), 0);
    ck_assert_ptr_eq(clerk_keyset_ref(ks), ks);
    ck_assert_ptr_eq(clerk_keyset_ref(ks), ks);
    clerk_keyset_unref(ks);
    clerk_keyset_unref(ks);
    /* still alive: one reference left */
    ck_assert_ptr_nonnull(clerk_keyset_find(ks, "x"));
    clerk_keyset_unref(ks); /* frees; valgrind would report a leak or a double free */
    clerk_keyset_unref(NULL);
}
END_TEST

Suite *jwk_suite(void)
{
    Suite *s = suite_create("jwk");
    TCase *tc = tcase_create("jwk");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
    tcase_add_test(tc, pem_rsa2048_is_accepted_and_matches_any_kid);
    tcase_add_test(tc, pem_rsa1024_is_refused);
    tcase_add_test(tc, pem_ec_p256_and_p384_are_accepted);
    tcase_add_test(tc, pem_ed25519_is_accepted);
    tcase_add_test(tc, garbage_pem_is_refused);
    tcase_add_test(tc, private_key_pem_is_refused);
    tcase_add_test(tc, pem_on_one_line_or_without_armor_is_accepted);
    tcase_add_test(tc, pem_text_accepts_what_clerk_jwt_key_is_given);
    tcase_add_test(tc, pem_text_translates_only_the_two_escapes);
    tcase_add_test(tc, kids_are_listed_sorted_without_kidless_keys);
    tcase_add_test(tc, jwks_with_two_keys_finds_each_by_kid);
    tcase_add_test(tc, unknown_kid_finds_nothing_in_a_jwks);
    tcase_add_test(tc, kidless_jwk_matches_only_a_kidless_token);
    tcase_add_test(tc, exact_kid_wins_over_pem_key);
    tcase_add_test(tc, oct_and_encryption_keys_are_skipped);
    tcase_add_test(tc, jwks_without_usable_keys_is_refused);
    tcase_add_test(tc, jwks_over_bounds_is_refused);
    tcase_add_test(tc, jwk_rsa_with_short_modulus_is_refused);
    tcase_add_test(tc, jwk_rsa_with_even_or_unit_exponent_is_refused);
    tcase_add_test(tc, jwk_rsa_exponent_other_than_65537_needs_the_operator);
    tcase_add_test(tc, jwk_rsa_with_padded_modulus_is_refused);
    tcase_add_test(tc, jwk_ec_p256_p384_and_ed25519_are_accepted);
    tcase_add_test(tc, jwk_ec_point_not_on_curve_is_refused);
    tcase_add_test(tc, jwk_ec_coordinate_of_wrong_length_is_refused);
    tcase_add_test(tc, jwk_alg_that_does_not_fit_its_key_is_refused);
    tcase_add_test(tc, jwk_with_non_string_kid_or_enc_use_is_refused);
    tcase_add_test(tc, refcount_frees_on_last_unref);
    suite_add_tcase(s, tc);
    return s;
}
