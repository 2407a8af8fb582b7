/* JWT compact serialization: three base64url segments, header and payload JSON objects. */
#ifndef CLERK_JWT_H
#define CLERK_JWT_H

#include <stddef.h>
#include <jansson.h>
#include "reason.h"

/* Messages of decode failures (reason token-invalid). The first is Clerk's, byte for byte.
 * Clerk's SDK has no message for an undecodable header or payload (JSON.parse throws and the
 * request ends as unexpected-error); these are ours and stable. */
#define CLERK_JWT_MSG_FORM          "Invalid JWT form. A JWT consists of three parts separated by dots."
#define CLERK_JWT_MSG_HEADER        "Invalid JWT form. The header could not be decoded."
#define CLERK_JWT_MSG_PAYLOAD       "Invalid JWT form. The payload could not be decoded."
#define CLERK_JWT_MSG_SIGNATURE     "Invalid JWT form. The signature could not be decoded."
#define CLERK_JWT_MSG_TOO_LARGE_FMT "Invalid JWT form. The token is longer than %zu bytes."
#define CLERK_JWT_DEFAULT_MAX_LEN   16384

typedef struct clerk_jwt {
    json_t *header;       /* owned */
    json_t *payload;      /* owned */
    const char *alg_name; /* borrowed from header; NULL when absent or not a string */
    unsigned alg;         /* CLERK_ALG_* bit, 0 when unknown/none/HS* */
    const char *kid;      /* borrowed; NULL when absent or not a string */
    const char *typ;      /* borrowed; NULL when absent or not a string */
    const char *cat;      /* borrowed; NULL when absent or not a string */
    int has_crit;         /* header has "crit": refused by verification */
    int header_types_ok;  /* 0 when alg/kid/typ/cat is present but not a string */
    /* Owned copy of the whole token text, NUL-terminated; its first signing_len bytes are
     * "<header>.<payload>", what the signature covers. One copy serves both the signature check
     * and the token cache's exact comparison. */
    char *signing_input;
    size_t signing_len;
    size_t text_len;    /* length of the whole token text at signing_input */
    char *payload_json; /* owned: the payload's JSON text as signed, NUL-terminated */
    size_t payload_json_len;
    unsigned char *sig; /* owned decoded signature */
    size_t sig_len;
} clerk_jwt;

/* Decodes tok[0..len) (not NUL-terminated necessarily) without verifying it: exactly three
 * non-empty-header/payload segments, strict base64url, JSON objects per clerk_json_parse_object.
 * Tokens longer than max_len (0: CLERK_JWT_DEFAULT_MAX_LEN) are refused before any work. An empty
 * signature segment (alg none) decodes to sig NULL, sig_len 0. On success *out owns everything; on
 * failure returns -1 with err->reason CLERK_R_TOKEN_INVALID and Clerk's message. */
int clerk_jwt_decode(const char *tok, size_t len, size_t max_len, clerk_jwt **out,
                     clerk_error *err);

/* A header segment already decoded and trusted (the token cache remembers those of verified
 * tokens): a new reference to its JSON object, or NULL to decode it. */
typedef json_t *(*clerk_jwt_header_lookup)(void *ctx, const char *seg, size_t len);

/* clerk_jwt_decode that first asks known (when non-NULL) for the header segment, so the few
 * headers an instance signs with are not decoded again for every new token. Same answers. */
int clerk_jwt_decode_with(const char *tok, size_t len, size_t max_len,
                          clerk_jwt_header_lookup known, void *known_ctx, clerk_jwt **out,
                          clerk_error *err);

/* The payload segment as received (base64url of exactly the signed payload), *n its length; not
 * NUL-terminated; NULL when jwt has no signing input. */
const char *clerk_jwt_payload_segment(const clerk_jwt *jwt, size_t *n);

/* Frees a decoded JWT; NULL is ignored. */
void clerk_jwt_free(clerk_jwt *jwt);

#endif
