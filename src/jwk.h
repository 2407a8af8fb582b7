/* Verification keys: PEM SubjectPublicKeyInfo, JWK and JWKS, collected in a key set. */
#ifndef CLERK_JWK_H
#define CLERK_JWK_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <jansson.h>
#include "reason.h"

#define CLERK_KEY_ID_LEN 32

typedef enum clerk_kty { CLERK_KTY_RSA = 1, CLERK_KTY_EC = 2, CLERK_KTY_OKP = 3 } clerk_kty;

/* One public key. Immutable once in a set. */
typedef struct clerk_key {
    EVP_PKEY *pkey;
    char *kid; /* NULL for a PEM key: it matches any kid, as Clerk's jwtKey does */
    clerk_kty kty;
    int bits;      /* RSA modulus bits, EC field bits */
    int curve_nid; /* EC: NID_X9_62_prime256v1 or NID_secp384r1; OKP: NID_ED25519; else 0 */
    /* SHA-256 of the DER SubjectPublicKeyInfo: the key's identity wherever a check is skipped
     * because a key was seen before (all 32 bytes are compared, see clerk_key_same). */
    unsigned char id[CLERK_KEY_ID_LEN];
    int any_kid;  /* 1 for a PEM key (matches any kid); a kid-less JWK matches only kid-less */
    unsigned alg; /* CLERK_ALG_* bit named by the JWK's "alg", 0 when unrestricted */
    /* RSA only: contexts set up once to verify RS256/RS384/RS512 and their digests. A check
     * duplicates one rather than repeating OpenSSL's provider look-ups, which cost half an RSA
     * verify under httpd's threads. NULL: the generic path is used. */
    EVP_PKEY_CTX *rs_ctx[3];
    EVP_MD *rs_md[3];
} clerk_key;

/* Bounds on what a key set accepts from one document. */
#define CLERK_JWKS_MAX_KEYS  64
#define CLERK_JWKS_MAX_BYTES (256 * 1024)
#define CLERK_PEM_MAX_BYTES  (64 * 1024)
#define CLERK_RSA_MIN_BITS   2048
#define CLERK_RSA_MAX_BITS   8192

/* 1 when a and b are the same public key (their full identity digests agree); NULL is no key. */
int clerk_key_same(const clerk_key *a, const clerk_key *b);

/* The process-wide RSA public exponent policy. Clerk issues e = 65537 only, and a small exponent
 * has a history of signature-forgery bugs, so by default every other exponent is refused. The
 * list (odd values > 1, up to CLERK_RSA_EXTRA_E_MAX) is accepted in addition; any != 0 accepts
 * every odd exponent > 1. Set only while the configuration is read (one thread), before any key
 * is loaded; read-only afterwards, so no lock is needed. */
#define CLERK_RSA_EXTRA_E_MAX 8
void clerk_jwk_set_rsa_exponents(const uint64_t *extra, size_t n, int any);

/* A reference-counted, append-then-freeze collection of keys. */
typedef struct clerk_keyset clerk_keyset;

/* A new empty set with one reference; NULL on allocation failure. */
clerk_keyset *clerk_keyset_new(void);

/* Adds one PEM public key (RSA 2048..8192 bits, EC P-256/P-384, Ed25519) as a kid-less key that
 * matches any kid. Also accepts the base64 body alone, or all on one line, as operators paste it.
 * Returns 0, or -1 with a message in err naming what is wrong (never the key text). */
int clerk_keyset_add_pem(clerk_keyset *ks, const char *pem, size_t len, clerk_error *err);

/* As clerk_keyset_add_pem, for PEM text written inline in the configuration: each two-character
 * escape "\\n" becomes a newline and each "\\r" is dropped first (a one-line variable's form). */
int clerk_keyset_add_pem_text(clerk_keyset *ks, const char *text, size_t len, clerk_error *err);

/* Adds one JWK object (RSA n/e, EC crv/x/y on the curve, OKP Ed25519 x; "use" absent or "sig";
 * "alg", when present, restricts the key to that algorithm). Returns 0, or -1 with err. */
int clerk_keyset_add_jwk(clerk_keyset *ks, const json_t *jwk, clerk_error *err);

/* Adds every usable key of a JWKS document {"keys":[...]} (at most CLERK_JWKS_MAX_KEYS entries,
 * CLERK_JWKS_MAX_BYTES); entries of other key types, with "use" other than "sig", or that do not
 * load are skipped. Returns the number of keys added (>= 1), or -1 with err when the document
 * does not parse, is not bounded, or has no usable key (err then says why the last one failed). */
int clerk_keyset_add_jwks(clerk_keyset *ks, const char *json, size_t len, clerk_error *err);

/* The key for kid: an exact kid match first, else a PEM key; for a NULL kid, the first kid-less
 * key. NULL when none. The pointer lives as long as the set. */
const clerk_key *clerk_keyset_find(const clerk_keyset *ks, const char *kid);

/* The kids of the set's keys that have one, sorted and joined with ", " as Clerk's kid-mismatch
 * message lists them, written into buf (truncated to buflen); returns buf. */
char *clerk_keyset_kids(const clerk_keyset *ks, char *buf, size_t buflen);

/* Number of keys in the set. */
size_t clerk_keyset_count(const clerk_keyset *ks);

/* Takes another reference; returns ks. Thread-safe. */
clerk_keyset *clerk_keyset_ref(clerk_keyset *ks);

/* Drops a reference; the last one frees the set and its keys. NULL is ignored. Thread-safe. */
void clerk_keyset_unref(clerk_keyset *ks);

#endif
