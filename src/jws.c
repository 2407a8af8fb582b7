/* JWS signature verification with OpenSSL EVP. The algorithm comes from an untrusted header,
 * so it is only ever used after clerk_alg_fits_key agrees with the key we chose: that is what
 * closes the alg-confusion holes (HS256 with a public key, none, RSA alg on an EC key). */
#include "jws.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>

static const struct {
    unsigned bit;
    const char *name;
} algs[] = {
    {CLERK_ALG_RS256, "RS256"}, {CLERK_ALG_RS384, "RS384"}, {CLERK_ALG_RS512, "RS512"},
    {CLERK_ALG_PS256, "PS256"}, {CLERK_ALG_ES256, "ES256"}, {CLERK_ALG_ES384, "ES384"},
    {CLERK_ALG_EDDSA, "EdDSA"},
};

unsigned clerk_alg_from_name(const char *name)
{
    if (name == NULL)
        return 0;
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (strcmp(algs[i].name, name) == 0)
            return algs[i].bit;
    return 0;
}

const char *clerk_alg_name(unsigned alg)
{
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (algs[i].bit == alg)
            return algs[i].name;
    return NULL;
}

int clerk_alg_fits_key(unsigned alg, const clerk_key *k)
{
    if (k == NULL || k->pkey == NULL || clerk_alg_name(alg) == NULL)
        return 0;
    if (k->alg != 0 && k->alg != alg)
        return 0;
    switch (alg) {
    case CLERK_ALG_RS256:
    case CLERK_ALG_RS384:
    case CLERK_ALG_RS512:
    case CLERK_ALG_PS256:
        return k->kty == CLERK_KTY_RSA && k->bits >= 2048;
    case CLERK_ALG_ES256:
        return k->kty == CLERK_KTY_EC && k->curve_nid == NID_X9_62_prime256v1;
    case CLERK_ALG_ES384:
        return k->kty == CLERK_KTY_EC && k->curve_nid == NID_secp384r1;
    case CLERK_ALG_EDDSA:
        return k->kty == CLERK_KTY_OKP && k->curve_nid == NID_ED25519;
    default:
        return 0;
    }
}

/* JWS raw r||s (2 * width bytes) as a DER ECDSA-Sig-Value in a malloc'd buffer (OPENSSL_free),
 * which is what OpenSSL verifies. Returns its length, 0 on failure. */
static size_t raw_to_der(const unsigned char *sig, size_t width, unsigned char **der)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)width, NULL);
    BIGNUM *s = BN_bin2bn(sig + width, (int)width, NULL);
    int len = 0;
    if (es != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL; /* owned by es now */
        *der = NULL;
        len = i2d_ECDSA_SIG(es, der);
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return len > 0 ? (size_t)len : 0;
}

/* Each thread keeps its own copy of the last prepared context it used per RS variant, and one
 * digest context: EVP_PKEY_verify may be repeated on a context with the same parameters, and
 * a copy per call was a measurable part of a cache miss. A copy is bound to the key by its
 * full identity digest (the same key material, whichever key set holds it) and holds its own
 * reference to the key, so a key set freed meanwhile cannot pull it away. Freed when the thread
 * ends. */
typedef struct thread_verify {
    unsigned char id[3][CLERK_KEY_ID_LEN];
    EVP_PKEY_CTX *ctx[3];
    EVP_MD_CTX *md;
} thread_verify;

static pthread_key_t tv_key;
static pthread_once_t tv_once = PTHREAD_ONCE_INIT;
static int tv_key_ok;

static void tv_free(void *p)
{
    thread_verify *tv = p;
    for (int i = 0; i < 3; i++)
        EVP_PKEY_CTX_free(tv->ctx[i]);
    EVP_MD_CTX_free(tv->md);
    free(tv);
}

static void tv_key_init(void)
{
    tv_key_ok = pthread_key_create(&tv_key, tv_free) == 0;
}

static thread_verify *thread_state(void)
{
    pthread_once(&tv_once, tv_key_init);
    if (!tv_key_ok)
        return NULL;
    thread_verify *tv = pthread_getspecific(tv_key);
    if (tv == NULL && (tv = calloc(1, sizeof *tv)) != NULL) {
        if ((tv->md = EVP_MD_CTX_new()) == NULL || pthread_setspecific(tv_key, tv) != 0) {
            tv_free(tv);
            tv = NULL;
        }
    }
    return tv;
}

/* RS256/384/512 with the key's prepared context (clerk_key.rs_ctx): this thread's copy of it,
 * the digest with the fetched md, one EVP_PKEY_verify. Same answers as the generic path. */
static int verify_prepared(const clerk_key *k, int i, const unsigned char *msg, size_t msglen,
                           const unsigned char *sig, size_t siglen)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    int result = -1;
    thread_verify *tv = thread_state();
    EVP_PKEY_CTX *c = NULL, *own = NULL;
    if (tv != NULL && tv->ctx[i] != NULL &&
        CRYPTO_memcmp(tv->id[i], k->id, CLERK_KEY_ID_LEN) == 0) {
        c = tv->ctx[i];
    } else if ((c = own = EVP_PKEY_CTX_dup(k->rs_ctx[i])) != NULL && tv != NULL) {
        EVP_PKEY_CTX_free(tv->ctx[i]);
        tv->ctx[i] = c;
        memcpy(tv->id[i], k->id, CLERK_KEY_ID_LEN);
        own = NULL;
    }
    int digested = tv != NULL ? EVP_DigestInit_ex2(tv->md, k->rs_md[i], NULL) == 1 &&
                                    EVP_DigestUpdate(tv->md, msg, msglen) == 1 &&
                                    EVP_DigestFinal_ex(tv->md, digest, &dlen) == 1
                              : EVP_Digest(msg, msglen, digest, &dlen, k->rs_md[i], NULL) == 1;
    if (c != NULL && digested)
        result = EVP_PKEY_verify(c, sig, siglen, digest, dlen) == 1 ? 1 : 0;
    if (result != 1)
        ERR_clear_error();
    EVP_PKEY_CTX_free(own);
    return result;
}

int clerk_jws_verify(unsigned alg, const clerk_key *k, const unsigned char *msg, size_t msglen,
                     const unsigned char *sig, size_t siglen)
{
    if (!clerk_alg_fits_key(alg, k) || sig == NULL || siglen == 0 || (msg == NULL && msglen))
        return 0;
    int rs = alg == CLERK_ALG_RS256   ? 0
             : alg == CLERK_ALG_RS384 ? 1
             : alg == CLERK_ALG_RS512 ? 2
                                      : -1;
    if (rs >= 0 && k->rs_ctx[rs] != NULL)
        return verify_prepared(k, rs, msg, msglen, sig, siglen);

    const EVP_MD *md = NULL;
    size_t ec_width = 0;
    switch (alg) {
    case CLERK_ALG_RS256:
    case CLERK_ALG_PS256:
        md = EVP_sha256();
        break;
    case CLERK_ALG_RS384:
        md = EVP_sha384();
        break;
    case CLERK_ALG_RS512:
        md = EVP_sha512();
        break;
    case CLERK_ALG_ES256:
        md = EVP_sha256();
        ec_width = 32;
        break;
    case CLERK_ALG_ES384:
        md = EVP_sha384();
        ec_width = 48;
        break;
    case CLERK_ALG_EDDSA:
        md = NULL; /* Ed25519 hashes internally */
        if (siglen != 64)
            return 0;
        break;
    default:
        return 0;
    }

    unsigned char *der = NULL;
    if (ec_width > 0) {
        /* JWS fixes the length; a DER or short signature is simply invalid. */
        if (siglen != 2 * ec_width)
            return 0;
        size_t derlen = raw_to_der(sig, ec_width, &der);
        if (derlen == 0) {
            ERR_clear_error();
            return -1;
        }
        sig = der;
        siglen = derlen;
    }

    int result = -1;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestVerifyInit(ctx, &pctx, md, NULL, k->pkey) != 1)
        goto out;
    if (alg == CLERK_ALG_PS256 &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1))
        goto out;
    /* Anything but 1 from the check itself is a signature that does not verify: OpenSSL
     * reports malformed signatures through the same path. */
    result = EVP_DigestVerify(ctx, sig, siglen, msg, msglen) == 1 ? 1 : 0;
out:
    if (result != 1)
        ERR_clear_error();
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return result;
}
