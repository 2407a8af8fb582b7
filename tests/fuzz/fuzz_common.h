/* Shared set-up of the libFuzzer targets: a fixed clock, fixed key sets built once from the
 * public keys in fuzz_keys.h (regenerated with the seeds by gen-seeds.sh), and small helpers
 * for turning fuzz bytes into C strings. Test-only; never linked into the module. */
#ifndef CLERK_FUZZ_COMMON_H
#define CLERK_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>
#include "jwk.h"
#include "token.h"

/* The seeds are minted around this instant (iat now-5, nbf now-10, exp now+55). */
#define FUZZ_NOW_S  INT64_C(1700000000)
#define FUZZ_NOW_MS (FUZZ_NOW_S * 1000)

/* Key sets every target may use; built on first use, kept for the process. */
typedef struct fuzz_keys {
    clerk_keyset *jwks;     /* RSA "ins_rsa", RSA "ins_rs256" (alg RS256), EC P-256 "ins_ec256"
                               (ES256), EC P-384 "ins_ec384", Ed25519 "ins_ed" */
    clerk_keyset *pem;      /* the RSA key as one PEM (matches any kid, like ClerkJWTKey) */
    clerk_keyset *combined; /* the JWKS plus the Ed25519 PEM */
} fuzz_keys;

/* Initialises APR once and builds the key sets; aborts when the fixed keys do not load. */
const fuzz_keys *fuzz_setup(void);

/* A key source over ks with the kid-mismatch error Clerk's SDK gives. */
clerk_key_source fuzz_source(clerk_keyset *ks);

/* A new pool for one input (child of a process-wide root); destroy it at the end. */
apr_pool_t *fuzz_pool(void);

/* data[0..size) as a NUL-terminated pool string (stops at the first NUL byte, as a C API would
 * see it). */
char *fuzz_cstr(apr_pool_t *p, const uint8_t *data, size_t size);

/* Splits data on '\n' into at most max fields (NUL-terminated pool strings). A missing or empty
 * field is NULL; a field of exactly "\x01" is the empty string. Returns the number of fields
 * present (the rest are NULL). */
size_t fuzz_fields(apr_pool_t *p, const uint8_t *data, size_t size, const char **out, size_t max);

#endif
