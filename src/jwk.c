/* Verification keys. Every key, whatever its source, passes the same acceptance rules (key
 * types and sizes the verifier supports), so a key set never holds a key that could only fail
 * later, or a weak one. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "jwk.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "b64url.h"
#include "json_strict.h"
#include "jws.h"

/* Upper bound on keys in one set, across all documents added to it. */
#define KEYSET_MAX_KEYS 256

struct clerk_keyset {
    atomic_int refs;
    size_t n;
    clerk_key *keys[KEYSET_MAX_KEYS]; /* each key allocated once: pointers stay valid */
};

#define SET_ERR(...) clerk_error_set(err, CLERK_R_NONE, __VA_ARGS__)

clerk_keyset *clerk_keyset_new(void)
{
    clerk_keyset *ks = calloc(1, sizeof *ks);
    if (ks != NULL)
        atomic_init(&ks->refs, 1);
    return ks;
}

static void key_free(clerk_key *k)
{
    if (k == NULL)
        return;
    for (int i = 0; i < 3; i++) {
        EVP_PKEY_CTX_free(k->rs_ctx[i]);
        EVP_MD_free(k->rs_md[i]);
    }
    EVP_PKEY_free(k->pkey);
    free(k->kid);
    free(k);
}

/* The RS256/384/512 verification contexts of an RSA key (see clerk_key). A failure only leaves
 * that slot NULL: verification then takes the generic path. */
static void prepare_rsa(clerk_key *k)
{
    static const char *const md_names[3] = {"SHA256", "SHA384", "SHA512"};
    for (int i = 0; i < 3; i++) {
        EVP_MD *md = EVP_MD_fetch(NULL, md_names[i], NULL);
        EVP_PKEY_CTX *c = md ? EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL) : NULL;
        if (c == NULL || EVP_PKEY_verify_init(c) != 1 ||
            EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) != 1 ||
            EVP_PKEY_CTX_set_signature_md(c, md) != 1) {
            EVP_PKEY_CTX_free(c);
            EVP_MD_free(md);
            ERR_clear_error();
            continue;
        }
        k->rs_ctx[i] = c;
        k->rs_md[i] = md;
    }
}

/* Written only while the configuration is read (see clerk_jwk_set_rsa_exponents). */
static uint64_t rsa_extra_e[CLERK_RSA_EXTRA_E_MAX];
static size_t rsa_extra_n;
static int rsa_any_e;

void clerk_jwk_set_rsa_exponents(const uint64_t *extra, size_t n, int any)
{
    if (n > CLERK_RSA_EXTRA_E_MAX)
        n = CLERK_RSA_EXTRA_E_MAX;
    for (size_t i = 0; i < n; i++)
        rsa_extra_e[i] = extra[i];
    rsa_extra_n = n;
    rsa_any_e = any;
}

/* NULL when e passes the policy, else why not. differences.h: rsa-exponent-other-than-65537 */
static const char *rsa_exponent_refused(const BIGNUM *e)
{
    if (e == NULL || !BN_is_odd(e) || BN_is_one(e))
        return "RSA public exponent must be odd and greater than 1";
    if (rsa_any_e || BN_is_word(e, 65537))
        return NULL;
    for (size_t i = 0; i < rsa_extra_n; i++)
        if (BN_num_bits(e) <= 64 && BN_get_word(e) == rsa_extra_e[i])
            return NULL;
    return "RSA public exponent is not 65537, the only one Clerk issues (ClerkAllowRSAExponent "
           "accepts others)";
}

int clerk_key_same(const clerk_key *a, const clerk_key *b)
{
    return a != NULL && b != NULL && CRYPTO_memcmp(a->id, b->id, CLERK_KEY_ID_LEN) == 0;
}

/* Key identity: SHA-256 over the DER SubjectPublicKeyInfo. */
static int key_fingerprint(EVP_PKEY *pkey, unsigned char id[CLERK_KEY_ID_LEN])
{
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(pkey, &der);
    if (len <= 0)
        return -1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int ok = EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) == 1 &&
             mdlen == CLERK_KEY_ID_LEN;
    OPENSSL_free(der);
    if (!ok)
        return -1;
    memcpy(id, md, CLERK_KEY_ID_LEN);
    return 0;
}

/* Applies the acceptance rules to pkey and fills k's type fields. Returns 0 or -1 with err. */
static int classify(EVP_PKEY *pkey, clerk_key *k, clerk_error *err)
{
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits < CLERK_RSA_MIN_BITS) {
            SET_ERR("RSA key has %d bits; at least %d are required", bits, CLERK_RSA_MIN_BITS);
            return -1;
        }
        if (bits > CLERK_RSA_MAX_BITS) {
            SET_ERR("RSA key has %d bits; at most %d are accepted", bits, CLERK_RSA_MAX_BITS);
            return -1;
        }
        BIGNUM *e = NULL;
        const char *why = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) == 1
                              ? rsa_exponent_refused(e)
                              : "RSA public exponent must be odd and greater than 1";
        BN_free(e);
        if (why != NULL) {
            SET_ERR("%s", why);
            return -1;
        }
        k->kty = CLERK_KTY_RSA;
        k->bits = bits;
        k->curve_nid = 0;
        return 0;
    }
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64];
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                           NULL) != 1) {
            SET_ERR("EC key has no named curve");
            return -1;
        }
        int nid = OBJ_sn2nid(group);
        if (nid == NID_undef)
            nid = EC_curve_nist2nid(group);
        if (nid == NID_X9_62_prime256v1) {
            k->bits = 256;
        } else if (nid == NID_secp384r1) {
            k->bits = 384;
        } else {
            SET_ERR("EC key curve is not P-256 or P-384");
            return -1;
        }
        k->kty = CLERK_KTY_EC;
        k->curve_nid = nid;
        return 0;
    }
    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        k->kty = CLERK_KTY_OKP;
        k->bits = EVP_PKEY_get_bits(pkey);
        k->curve_nid = NID_ED25519;
        return 0;
    }
    SET_ERR("unsupported key type (RSA, EC P-256/P-384 and Ed25519 only)");
    return -1;
}

/* Takes ownership of pkey (freed on failure) and appends it to ks. */
static int add_key(clerk_keyset *ks, EVP_PKEY *pkey, const char *kid, int any_kid, unsigned alg,
                   clerk_error *err)
{
    clerk_key *k = NULL;
    if (ks->n >= KEYSET_MAX_KEYS) {
        SET_ERR("key set already holds %d keys", KEYSET_MAX_KEYS);
        goto fail;
    }
    k = calloc(1, sizeof *k);
    if (k == NULL) {
        SET_ERR("out of memory");
        goto fail;
    }
    if (classify(pkey, k, err) != 0)
        goto fail;
    if (key_fingerprint(pkey, k->id) != 0) {
        SET_ERR("cannot encode the public key");
        goto fail;
    }
    if (kid != NULL && (k->kid = strdup(kid)) == NULL) {
        SET_ERR("out of memory");
        goto fail;
    }
    k->pkey = pkey;
    k->any_kid = any_kid;
    k->alg = alg;
    if (k->kty == CLERK_KTY_RSA)
        prepare_rsa(k);
    ks->keys[ks->n++] = k;
    return 0;
fail:
    if (k != NULL)
        k->pkey = NULL;
    key_free(k);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return -1;
}

/* DER SubjectPublicKeyInfo from the base64 body of a PEM whose line structure was lost (one
 * line, or no BEGIN/END lines): whitespace dropped, decoded by OpenSSL. NULL on failure. */
static EVP_PKEY *pem_body_to_key(const char *pem, size_t len)
{
    static const char begin[] = "-----BEGIN PUBLIC KEY-----";
    static const char end[] = "-----END PUBLIC KEY-----";
    const char *p = pem, *stop = pem + len;
    const char *b = memmem(pem, len, begin, sizeof begin - 1);
    if (b != NULL) {
        p = b + sizeof begin - 1;
        const char *e = memmem(p, (size_t)(stop - p), end, sizeof end - 1);
        if (e == NULL)
            return NULL;
        stop = e;
    } else if (memmem(pem, len, "-----", 5) != NULL) {
        return NULL; /* some other PEM type */
    }

    unsigned char *body = malloc((size_t)(stop - p) + 1);
    unsigned char *der = malloc((size_t)(stop - p) + 1);
    EVP_PKEY *pkey = NULL;
    if (body == NULL || der == NULL)
        goto out;
    size_t n = 0;
    for (; p < stop; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            continue;
        body[n++] = (unsigned char)*p;
    }
    size_t pad = 0;
    while (pad < 2 && n > pad && body[n - 1 - pad] == '=')
        pad++;
    if (n == 0 || n % 4 != 0 || n > (size_t)0x7fffffff)
        goto out;
    int dlen = EVP_DecodeBlock(der, body, (int)n);
    if (dlen < 0 || (size_t)dlen < pad)
        goto out;
    const unsigned char *q = der;
    long derlen = (long)((size_t)dlen - pad);
    pkey = d2i_PUBKEY(NULL, &q, derlen);
    if (pkey != NULL && q != der + derlen) { /* trailing bytes after the key */
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
out:
    free(body);
    free(der);
    return pkey;
}

int clerk_keyset_add_pem(clerk_keyset *ks, const char *pem, size_t len, clerk_error *err)
{
    if (ks == NULL || pem == NULL || len == 0) {
        SET_ERR("empty PEM public key");
        return -1;
    }
    if (len > CLERK_PEM_MAX_BYTES) {
        SET_ERR("PEM public key is larger than %d bytes", CLERK_PEM_MAX_BYTES);
        return -1;
    }
    EVP_PKEY *pkey = NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio != NULL)
        pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (pkey == NULL) {
        ERR_clear_error();
        pkey = pem_body_to_key(pem, len);
    }
    if (pkey == NULL) {
        ERR_clear_error();
        SET_ERR("PEM public key does not parse (expected a SubjectPublicKeyInfo, "
                "-----BEGIN PUBLIC KEY-----)");
        return -1;
    }
    return add_key(ks, pkey, NULL, 1, 0, err);
}

/* PEM text that went through a one-line variable (${CLERK_JWT_KEY}) often carries the two
 * characters '\\' 'n' where its newlines were, and '\\' 'r' before them; OpenSSL copes with
 * spaces (pem_body_to_key) but not with those. */
int clerk_keyset_add_pem_text(clerk_keyset *ks, const char *text, size_t len, clerk_error *err)
{
    char *pem = malloc(len + 1), *o = pem;
    if (pem == NULL) {
        SET_ERR("out of memory");
        return -1;
    }
    for (const char *s = text, *end = text + len; s < end; s++) {
        if (s[0] == '\\' && s + 1 < end && s[1] == 'n') {
            *o++ = '\n';
            s++;
        } else if (s[0] == '\\' && s + 1 < end && s[1] == 'r') {
            s++;
        } else {
            *o++ = *s;
        }
    }
    int rc = clerk_keyset_add_pem(ks, pem, (size_t)(o - pem), err);
    free(pem);
    return rc;
}

/* Strictly decodes the base64url string member name of jwk into a malloc'd buffer. */
static unsigned char *jwk_bytes(const json_t *jwk, const char *name, size_t *len)
{
    const json_t *v = json_object_get(jwk, name);
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    size_t slen = json_string_length(v);
    if (slen == 0 || slen > 8192)
        return NULL;
    size_t cap = CLERK_B64URL_DECODED_MAX(slen);
    unsigned char *buf = malloc(cap);
    if (buf != NULL && clerk_b64url_decode(s, slen, buf, cap, len) != 0) {
        free(buf);
        buf = NULL;
    }
    return buf;
}

/* Builds a public key of type from params; NULL on failure. */
static EVP_PKEY *key_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *pkey = NULL;
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static EVP_PKEY *jwk_rsa(const json_t *jwk, clerk_error *err)
{
    size_t nlen = 0, elen = 0;
    unsigned char *n = jwk_bytes(jwk, "n", &nlen);
    unsigned char *e = jwk_bytes(jwk, "e", &elen);
    BIGNUM *bn_n = NULL, *bn_e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY *pkey = NULL;
    if (n == NULL || e == NULL) {
        SET_ERR("JWK RSA key needs base64url \"n\" and \"e\"");
        goto out;
    }
    bn_n = BN_bin2bn(n, (int)nlen, NULL);
    bn_e = BN_bin2bn(e, (int)elen, NULL);
    if (bn_n == NULL || bn_e == NULL)
        goto out;
    if (BN_num_bits(bn_n) < CLERK_RSA_MIN_BITS) {
        SET_ERR("RSA key has %d bits; at least %d are required", BN_num_bits(bn_n),
                CLERK_RSA_MIN_BITS);
        goto out;
    }
    if (BN_num_bits(bn_n) > CLERK_RSA_MAX_BITS) {
        SET_ERR("RSA key has %d bits; at most %d are accepted", BN_num_bits(bn_n),
                CLERK_RSA_MAX_BITS);
        goto out;
    }
    if (elen > 8 || rsa_exponent_refused(bn_e) != NULL) {
        SET_ERR("%s", elen > 8 ? "RSA public exponent must be odd and greater than 1"
                               : rsa_exponent_refused(bn_e));
        goto out;
    }
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) != 1)
        goto out;
    pkey = key_fromdata("RSA", bld);
    if (pkey == NULL)
        SET_ERR("JWK RSA key does not load");
out:
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    free(n);
    free(e);
    return pkey;
}

static EVP_PKEY *jwk_ec(const json_t *jwk, clerk_error *err)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    size_t width;
    if (crv != NULL && strcmp(crv, "P-256") == 0) {
        width = 32;
    } else if (crv != NULL && strcmp(crv, "P-384") == 0) {
        width = 48;
    } else {
        SET_ERR("JWK EC curve is not P-256 or P-384");
        return NULL;
    }
    size_t xlen = 0, ylen = 0;
    unsigned char *x = jwk_bytes(jwk, "x", &xlen);
    unsigned char *y = jwk_bytes(jwk, "y", &ylen);
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY *pkey = NULL;
    unsigned char point[1 + 2 * 48];
    if (x == NULL || y == NULL || xlen != width || ylen != width) {
        SET_ERR("JWK EC key needs base64url \"x\" and \"y\" of %zu bytes each", width);
        goto out;
    }
    /* Uncompressed SEC1 point: OpenSSL refuses one that is not on the curve. */
    point[0] = 0x04;
    memcpy(point + 1, x, width);
    memcpy(point + 1 + width, y, width);
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL ||
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, crv, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * width) != 1)
        goto out;
    pkey = key_fromdata("EC", bld);
    if (pkey != NULL) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        int ok = ctx != NULL && EVP_PKEY_public_check(ctx) == 1;
        EVP_PKEY_CTX_free(ctx);
        if (!ok) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
    }
    if (pkey == NULL)
        SET_ERR("JWK EC point is not on the curve");
out:
    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);
    return pkey;
}

static EVP_PKEY *jwk_okp(const json_t *jwk, clerk_error *err)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    if (crv == NULL || strcmp(crv, "Ed25519") != 0) {
        SET_ERR("JWK OKP curve is not Ed25519");
        return NULL;
    }
    size_t xlen = 0;
    unsigned char *x = jwk_bytes(jwk, "x", &xlen);
    EVP_PKEY *pkey = NULL;
    if (x == NULL || xlen != 32)
        SET_ERR("JWK Ed25519 key needs a base64url \"x\" of 32 bytes");
    else if ((pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, xlen)) == NULL)
        SET_ERR("JWK Ed25519 key does not load");
    free(x);
    return pkey;
}

/* 1 when a JWKS entry is not meant for us (skipped, not an error): another key type, or a
 * "use" other than "sig". */
static int jwk_is_foreign(const json_t *jwk)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const json_t *use = json_object_get(jwk, "use");
    if (kty == NULL || (strcmp(kty, "RSA") != 0 && strcmp(kty, "EC") != 0 && strcmp(kty, "OKP")))
        return 1;
    return use != NULL && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0);
}

int clerk_keyset_add_jwk(clerk_keyset *ks, const json_t *jwk, clerk_error *err)
{
    if (ks == NULL || !json_is_object(jwk)) {
        SET_ERR("JWK is not an object");
        return -1;
    }
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    if (kty == NULL) {
        SET_ERR("JWK \"kty\" is missing or not a string");
        return -1;
    }
    const json_t *use = json_object_get(jwk, "use");
    if (use != NULL && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0)) {
        SET_ERR("JWK \"use\" is not \"sig\"");
        return -1;
    }
    const json_t *kidv = json_object_get(jwk, "kid");
    if (kidv != NULL && !json_is_string(kidv)) {
        SET_ERR("JWK \"kid\" is not a string");
        return -1;
    }
    if (kidv != NULL && strlen(json_string_value(kidv)) != json_string_length(kidv)) {
        SET_ERR("JWK \"kid\" contains a NUL character");
        return -1;
    }
    unsigned alg = 0;
    const json_t *algv = json_object_get(jwk, "alg");
    if (algv != NULL &&
        (!json_is_string(algv) || (alg = clerk_alg_from_name(json_string_value(algv))) == 0)) {
        SET_ERR("JWK \"alg\" is not a supported signature algorithm");
        return -1;
    }

    EVP_PKEY *pkey;
    if (strcmp(kty, "RSA") == 0) {
        pkey = jwk_rsa(jwk, err);
    } else if (strcmp(kty, "EC") == 0) {
        pkey = jwk_ec(jwk, err);
    } else if (strcmp(kty, "OKP") == 0) {
        pkey = jwk_okp(jwk, err);
    } else {
        SET_ERR("JWK key type \"%.16s\" is not supported", kty);
        return -1;
    }
    if (pkey == NULL) {
        ERR_clear_error();
        return -1;
    }
    clerk_key probe = {.pkey = pkey};
    if (alg != 0) {
        /* An "alg" the key cannot serve is a broken JWK, not a restriction to honour. */
        if (classify(pkey, &probe, err) != 0) {
            EVP_PKEY_free(pkey);
            return -1;
        }
        if (!clerk_alg_fits_key(alg, &probe)) {
            SET_ERR("JWK \"alg\" %s does not fit its key", clerk_alg_name(alg));
            EVP_PKEY_free(pkey);
            return -1;
        }
    }
    return add_key(ks, pkey, kidv ? json_string_value(kidv) : NULL, 0, alg, err);
}

int clerk_keyset_add_jwks(clerk_keyset *ks, const char *json, size_t len, clerk_error *err)
{
    if (ks == NULL || json == NULL) {
        SET_ERR("empty JWKS");
        return -1;
    }
    if (len > CLERK_JWKS_MAX_BYTES) {
        SET_ERR("JWKS is larger than %d bytes", CLERK_JWKS_MAX_BYTES);
        return -1;
    }
    clerk_error jerr;
    json_t *doc = clerk_json_parse_object(json, len, CLERK_JSON_MAX_DEPTH, &jerr);
    if (doc == NULL) {
        SET_ERR("JWKS does not parse: %s", jerr.message);
        return -1;
    }
    const json_t *keys = json_object_get(doc, "keys");
    int added = 0;
    if (!json_is_array(keys)) {
        SET_ERR("JWKS has no \"keys\" array");
        goto out;
    }
    if (json_array_size(keys) > CLERK_JWKS_MAX_KEYS) {
        SET_ERR("JWKS has more than %d keys", CLERK_JWKS_MAX_KEYS);
        goto out;
    }
    clerk_error last = {0};
    size_t i;
    const json_t *jwk;
    json_array_foreach(keys, i, jwk)
    {
        if (!json_is_object(jwk) || jwk_is_foreign(jwk))
            continue;
        if (clerk_keyset_add_jwk(ks, jwk, &last) == 0)
            added++;
    }
    if (added == 0) {
        if (last.message[0] != '\0') /* at most 159 bytes of it, as always */
            SET_ERR("JWKS has no usable signing key (%.159s)", last.message);
        else
            SET_ERR("JWKS has no usable signing key");
    }
out:
    json_decref(doc);
    return added > 0 ? added : -1;
}

const clerk_key *clerk_keyset_find(const clerk_keyset *ks, const char *kid)
{
    if (ks == NULL)
        return NULL;
    if (kid == NULL) {
        for (size_t i = 0; i < ks->n; i++)
            if (ks->keys[i]->kid == NULL)
                return ks->keys[i];
        return NULL;
    }
    for (size_t i = 0; i < ks->n; i++)
        if (ks->keys[i]->kid != NULL && strcmp(ks->keys[i]->kid, kid) == 0)
            return ks->keys[i];
    for (size_t i = 0; i < ks->n; i++)
        if (ks->keys[i]->any_kid)
            return ks->keys[i];
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *clerk_keyset_kids(const clerk_keyset *ks, char *buf, size_t buflen)
{
    const char *kids[KEYSET_MAX_KEYS];
    size_t n = 0, used = 0;
    for (size_t i = 0; ks != NULL && i < ks->n; i++)
        if (ks->keys[i]->kid != NULL)
            kids[n++] = ks->keys[i]->kid;
    qsort(kids, n, sizeof kids[0], cmp_str);
    if (buflen > 0)
        buf[0] = '\0';
    for (size_t i = 0; i < n && used < buflen; i++) {
        int w = snprintf(buf + used, buflen - used, "%s%s", i ? ", " : "", kids[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}

size_t clerk_keyset_count(const clerk_keyset *ks)
{
    return ks ? ks->n : 0;
}

clerk_keyset *clerk_keyset_ref(clerk_keyset *ks)
{
    if (ks != NULL)
        atomic_fetch_add_explicit(&ks->refs, 1, memory_order_relaxed);
    return ks;
}

void clerk_keyset_unref(clerk_keyset *ks)
{
    if (ks == NULL)
        return;
    /* acq_rel: the freeing thread must see every write other holders made before dropping. */
    if (atomic_fetch_sub_explicit(&ks->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < ks->n; i++)
        key_free(ks->keys[i]);
    free(ks);
}
