/* Test-only minter (see mint.h). It signs whatever it is given, including hostile JSON, so the
 * verifier can be tested against tokens a real issuer would never produce. */
#include "mint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

EVP_PKEY *mint_keygen(const char *type)
{
    if (type == NULL)
        return NULL;
    if (strcmp(type, "rsa2048") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    if (strcmp(type, "rsa3072") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
    if (strcmp(type, "rsa1024") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    if (strcmp(type, "ec256") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (strcmp(type, "ec384") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    if (strcmp(type, "ed25519") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    return NULL;
}

EVP_PKEY *mint_load_private(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return k;
}

/* Drains a memory BIO into a NUL-terminated malloc'd string. */
static char *bio_to_string(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    return s;
}

char *mint_public_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s = NULL;
    if (b != NULL && PEM_write_bio_PUBKEY(b, k) == 1)
        s = bio_to_string(b);
    BIO_free(b);
    return s;
}

char *mint_private_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s = NULL;
    if (b != NULL && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1)
        s = bio_to_string(b);
    BIO_free(b);
    return s;
}

char *mint_b64url(const unsigned char *data, size_t len)
{
    size_t cap = 4 * ((len + 2) / 3) + 1;
    unsigned char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    int n = len > 0 ? EVP_EncodeBlock(out, data, (int)len) : 0;
    out[n] = '\0';
    while (n > 0 && out[n - 1] == '=')
        out[--n] = '\0';
    for (int i = 0; i < n; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    return (char *)out;
}

/* base64url of a big number, left-padded with zeros to width bytes (0: minimal length). */
static char *bn_b64url(const BIGNUM *bn, int width)
{
    int n = width > 0 ? width : BN_num_bytes(bn);
    if (n <= 0)
        n = 1;
    unsigned char *buf = malloc((size_t)n);
    if (buf == NULL)
        return NULL;
    char *s = NULL;
    if (BN_bn2binpad(bn, buf, n) == n)
        s = mint_b64url(buf, (size_t)n);
    free(buf);
    return s;
}

static char *get_bn_b64url(EVP_PKEY *k, const char *param, int width)
{
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(k, param, &bn) != 1)
        return NULL;
    char *s = bn_b64url(bn, width);
    BN_free(bn);
    return s;
}

/* The key-specific members of a JWK ("kty":...,...), malloc'd, without braces. */
static char *jwk_members(EVP_PKEY *k)
{
    char buf[4096];
    char *a = NULL, *b = NULL, *out = NULL;
    if (EVP_PKEY_is_a(k, "RSA")) {
        a = get_bn_b64url(k, OSSL_PKEY_PARAM_RSA_N, 0);
        b = get_bn_b64url(k, OSSL_PKEY_PARAM_RSA_E, 0);
        if (a != NULL && b != NULL &&
            snprintf(buf, sizeof buf, "\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"", a, b) <
                (int)sizeof buf)
            out = strdup(buf);
    } else if (EVP_PKEY_is_a(k, "EC")) {
        char group[64];
        if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                           NULL) != 1)
            return NULL;
        const char *crv = NULL;
        int width = 0;
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
            crv = "P-256";
            width = 32;
        } else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
            crv = "P-384";
            width = 48;
        } else {
            return NULL;
        }
        a = get_bn_b64url(k, OSSL_PKEY_PARAM_EC_PUB_X, width);
        b = get_bn_b64url(k, OSSL_PKEY_PARAM_EC_PUB_Y, width);
        if (a != NULL && b != NULL &&
            snprintf(buf, sizeof buf, "\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"",
                     crv, a, b) < (int)sizeof buf)
            out = strdup(buf);
    } else if (EVP_PKEY_is_a(k, "ED25519")) {
        unsigned char raw[32];
        size_t rawlen = sizeof raw;
        if (EVP_PKEY_get_raw_public_key(k, raw, &rawlen) != 1)
            return NULL;
        a = mint_b64url(raw, rawlen);
        if (a != NULL &&
            snprintf(buf, sizeof buf, "\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"", a) <
                (int)sizeof buf)
            out = strdup(buf);
    }
    free(a);
    free(b);
    return out;
}

char *mint_public_jwk(EVP_PKEY *k, const char *kid, const char *alg)
{
    char *members = jwk_members(k);
    if (members == NULL)
        return NULL;
    size_t cap = strlen(members) + (kid ? strlen(kid) : 0) + (alg ? strlen(alg) : 0) + 64;
    char *out = malloc(cap);
    if (out != NULL) {
        int n = snprintf(out, cap, "{%s,\"use\":\"sig\"", members);
        if (kid != NULL)
            n += snprintf(out + n, cap - (size_t)n, ",\"kid\":\"%s\"", kid);
        if (alg != NULL)
            n += snprintf(out + n, cap - (size_t)n, ",\"alg\":\"%s\"", alg);
        snprintf(out + n, cap - (size_t)n, "}");
    }
    free(members);
    return out;
}

/* "<b64url(header)>.<b64url(payload)>", malloc'd. */
static char *signing_input(const char *header_json, const char *payload_json)
{
    char *h = mint_b64url((const unsigned char *)header_json, strlen(header_json));
    char *p = mint_b64url((const unsigned char *)payload_json, strlen(payload_json));
    char *out = NULL;
    if (h != NULL && p != NULL) {
        size_t cap = strlen(h) + strlen(p) + 2;
        out = malloc(cap);
        if (out != NULL)
            snprintf(out, cap, "%s.%s", h, p);
    }
    free(h);
    free(p);
    return out;
}

/* input + "." + b64url(sig), malloc'd; frees input. */
static char *finish_token(char *input, const unsigned char *sig, size_t siglen)
{
    char *s = mint_b64url(sig, siglen);
    char *out = NULL;
    if (s != NULL) {
        size_t cap = strlen(input) + strlen(s) + 2;
        out = malloc(cap);
        if (out != NULL)
            snprintf(out, cap, "%s.%s", input, s);
    }
    free(s);
    free(input);
    return out;
}

static int ec_field_bytes(EVP_PKEY *k)
{
    char group[64];
    if (!EVP_PKEY_is_a(k, "EC") || EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME,
                                                                  group, sizeof group, NULL) != 1)
        return 0;
    if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
        return 32;
    if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
        return 48;
    return 0;
}

/* DER ECDSA-Sig-Value -> JWS raw r||s of 2*width bytes; returns the length or 0. */
static size_t der_to_raw(const unsigned char *der, size_t derlen, int width, unsigned char *out)
{
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    if (es == NULL)
        return 0;
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG_get0(es, &r, &s);
    size_t n = 0;
    if (BN_bn2binpad(r, out, width) == width && BN_bn2binpad(s, out + width, width) == width)
        n = (size_t)width * 2;
    ECDSA_SIG_free(es);
    return n;
}

char *mint_sign(EVP_PKEY *k, const char *alg, const char *header_json, const char *payload_json)
{
    if (alg == NULL || header_json == NULL || payload_json == NULL)
        return NULL;
    if (strcmp(alg, "none") == 0) {
        char *in = signing_input(header_json, payload_json);
        return in ? finish_token(in, NULL, 0) : NULL;
    }
    if (k == NULL)
        return NULL;

    const EVP_MD *md = NULL;
    int pss = 0, ec_width = 0;
    if (strcmp(alg, "RS256") == 0 || strcmp(alg, "PS256") == 0)
        md = EVP_sha256();
    else if (strcmp(alg, "RS384") == 0)
        md = EVP_sha384();
    else if (strcmp(alg, "RS512") == 0)
        md = EVP_sha512();
    else if (strcmp(alg, "ES256") == 0)
        md = EVP_sha256(), ec_width = 32;
    else if (strcmp(alg, "ES384") == 0)
        md = EVP_sha384(), ec_width = 48;
    else if (strcmp(alg, "EdDSA") != 0)
        return NULL;
    pss = strcmp(alg, "PS256") == 0;

    /* The key must fit alg: a test that wants a mismatch mints with one key, verifies with
     * another. */
    if (alg[0] == 'R' || alg[0] == 'P') {
        if (!EVP_PKEY_is_a(k, "RSA"))
            return NULL;
    } else if (alg[0] == 'E' && alg[1] == 'S') {
        if (ec_field_bytes(k) != ec_width)
            return NULL;
    } else if (!EVP_PKEY_is_a(k, "ED25519")) {
        return NULL;
    }

    char *input = signing_input(header_json, payload_json);
    if (input == NULL)
        return NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0;
    char *tok = NULL;
    if (ctx == NULL || EVP_DigestSignInit(ctx, &pctx, md, NULL, k) != 1)
        goto out;
    if (pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
                EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1))
        goto out;
    if (EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)input, strlen(input)) != 1)
        goto out;
    sig = malloc(siglen);
    if (sig == NULL ||
        EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1)
        goto out;
    if (ec_width > 0) {
        unsigned char raw[96];
        size_t rawlen = der_to_raw(sig, siglen, ec_width, raw);
        if (rawlen == 0)
            goto out;
        tok = finish_token(input, raw, rawlen);
    } else {
        tok = finish_token(input, sig, siglen);
    }
    input = NULL;
out:
    if (tok == NULL)
        ERR_clear_error();
    free(input);
    free(sig);
    EVP_MD_CTX_free(ctx);
    return tok;
}

char *mint_sign_hs256(const unsigned char *key, size_t keylen, const char *header_json,
                      const char *payload_json)
{
    char *input = signing_input(header_json, payload_json);
    if (input == NULL)
        return NULL;
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t maclen = 0;
    static const unsigned char empty = 0;
    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, keylen > 0 ? key : &empty, keylen,
                  (const unsigned char *)input, strlen(input), mac, sizeof mac, &maclen) == NULL) {
        ERR_clear_error();
        free(input);
        return NULL;
    }
    return finish_token(input, mac, maclen);
}
