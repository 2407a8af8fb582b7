/* Strict base64url (RFC 4648 §5) decoding and encoding, on top of OpenSSL's base64. */
#ifndef CLERK_B64URL_H
#define CLERK_B64URL_H

#include <stddef.h>

/* Largest number of bytes clerk_b64url_decode can produce from inlen characters. */
#define CLERK_B64URL_DECODED_MAX(inlen) (((inlen) / 4) * 3 + 3)

/* Decodes in[0..inlen) strictly: URL alphabet only (no '+', '/', '=', whitespace), no length of
 * 1 mod 4, and unused trailing bits zero. Writes at most outcap bytes to out and the count to
 * *outlen. Returns 0 on success, -1 on any malformed input or when outcap is too small. */
int clerk_b64url_decode(const char *in, size_t inlen, unsigned char *out, size_t outcap,
                        size_t *outlen);

/* Encodes in[0..inlen) as unpadded base64url into a NUL-terminated malloc'd string the caller
 * frees; NULL on allocation failure. */
char *clerk_b64url_encode(const unsigned char *in, size_t inlen);

#endif
