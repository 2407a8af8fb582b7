/* Test-only token minter: makes keys and signs arbitrary (even hostile) JWTs with OpenSSL.
 * Never linked into the module. Every returned string is malloc'd; the caller frees it. */
#ifndef CLERK_MINT_H
#define CLERK_MINT_H

#include <stddef.h>
#include <openssl/evp.h>

/* A fresh private key: "rsa2048", "rsa3072", "rsa1024", "ec256", "ec384", "ed25519". NULL on
 * an unknown type. Free with EVP_PKEY_free. */
EVP_PKEY *mint_keygen(const char *type);

/* Private key from a PEM file (NULL on error). */
EVP_PKEY *mint_load_private(const char *path);

/* The PEM SubjectPublicKeyInfo of k's public half. */
char *mint_public_pem(EVP_PKEY *k);

/* The PEM PKCS#8 private key of k. */
char *mint_private_pem(EVP_PKEY *k);

/* The public JWK object of k as JSON text, with "kid" when kid is non-NULL and "alg" when alg
 * is non-NULL ("use":"sig" always). */
char *mint_public_jwk(EVP_PKEY *k, const char *kid, const char *alg);

/* base64url (no padding) of data. */
char *mint_b64url(const unsigned char *data, size_t len);

/* Signs "<b64url(header_json)>.<b64url(payload_json)>" with k under alg (RS256/384/512, PS256,
 * ES256/384 as raw r||s, EdDSA) and returns the compact JWT. The JSON texts are encoded
 * byte-for-byte as given, so tests can mint duplicate keys or non-objects. alg "none" gives an
 * empty signature. NULL when alg does not fit k. */
char *mint_sign(EVP_PKEY *k, const char *alg, const char *header_json, const char *payload_json);

/* The same with an HMAC-SHA256 signature keyed by key[0..keylen) (alg-confusion tests). */
char *mint_sign_hs256(const unsigned char *key, size_t keylen, const char *header_json,
                      const char *payload_json);

#endif
