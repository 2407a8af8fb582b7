/* JWS algorithms and signature verification with OpenSSL EVP. */
#ifndef CLERK_JWS_H
#define CLERK_JWS_H

#include <stddef.h>
#include "jwk.h"

/* Algorithms as bits, so an allow-list is a mask. none and HS* have no bit: never allowed. */
enum {
    CLERK_ALG_RS256 = 1u << 0,
    CLERK_ALG_RS384 = 1u << 1,
    CLERK_ALG_RS512 = 1u << 2,
    CLERK_ALG_PS256 = 1u << 3,
    CLERK_ALG_ES256 = 1u << 4,
    CLERK_ALG_ES384 = 1u << 5,
    CLERK_ALG_EDDSA = 1u << 6,
};
#define CLERK_ALGS_DEFAULT CLERK_ALG_RS256
#define CLERK_ALGS_ALL     0x7fu

/* The bit for a JOSE alg name ("RS256", ...; case-sensitive), or 0 for unknown, none and HS*. */
unsigned clerk_alg_from_name(const char *name);

/* The JOSE name of a single alg bit, or NULL. */
const char *clerk_alg_name(unsigned alg);

/* 1 when alg can be used with key k (RSA for RS/PS with >= 2048 bits, EC P-256 for ES256,
 * P-384 for ES384, Ed25519 for EdDSA), else 0. */
int clerk_alg_fits_key(unsigned alg, const clerk_key *k);

/* Verifies sig over msg with key k under alg. ES signatures are raw r||s (JWS form). Returns 1
 * valid, 0 invalid (including a wrong-length signature), -1 OpenSSL failure. */
int clerk_jws_verify(unsigned alg, const clerk_key *k, const unsigned char *msg, size_t msglen,
                     const unsigned char *sig, size_t siglen);

#endif
