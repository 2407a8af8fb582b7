/* Signed hand-off to back ends (ClerkSignedHeadersKeyFile): an HMAC over the headers the module
 * exported, so a back end that can also be reached without httpd can check what httpd decided.
 * The format, and how a back end verifies it, is in README.md ("Signed hand-off"). */
#ifndef CLERK_HANDOFF_H
#define CLERK_HANDOFF_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>

/* The request header carrying the signature. */
#define CLERK_HANDOFF_HEADER "X-Clerk-Signature"
/* Fewest key bytes accepted (HMAC-SHA256: 32 bytes of entropy and more). */
#define CLERK_HANDOFF_KEY_MIN 32
/* Most headers signed at once. */
#define CLERK_HANDOFF_MAX_HEADERS 256

/* The canonical text that is signed: "clerk-handoff-v1\n" <t> "\n" <method> "\n", then for each
 * header in order of its lower-cased name, "<lower-cased name>:<value less surrounding spaces and
 * tabs>\n". names and values are
 * n parallel arrays; names are distinct ignoring case. Pool copy; NULL when n is too large. */
const char *clerk_handoff_canonical(apr_pool_t *p, int64_t t, const char *method,
                                    const char *const *names, const char *const *values, size_t n);

/* The header value "v1;t=<t>;h=<names, lower-cased, sorted, ','-joined>;s=<base64url HMAC-SHA256
 * of clerk_handoff_canonical under key>". NULL when it cannot be made (too many headers, a name
 * holding ',' or ';', a name twice, out of memory): the caller then sends no signature and the back
 * end refuses the request. */
const char *clerk_handoff_sign(apr_pool_t *p, const unsigned char *key, size_t keylen, int64_t t,
                               const char *method, const char *const *names,
                               const char *const *values, size_t n);

#endif
