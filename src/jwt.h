/* JWT compact serialization: three base64url segments, header and payload JSON objects. */
#ifndef CLERK_JWT_H
#define CLERK_JWT_H

#include <stddef.h>
#include <jansson.h>
#include "reason.h"

typedef struct clerk_jwt {
    json_t *header;       /* owned */
    json_t *payload;      /* owned */
    const char *alg_name; /* borrowed from header; NULL when absent or not a string */
    unsigned alg;         /* CLERK_ALG_* bit, 0 when unknown/none/HS* */
    const char *kid;      /* borrowed; NULL when absent or not a string */
    const char *typ;      /* borrowed; NULL when absent */
    const char *cat;      /* borrowed; NULL when absent */
    int has_crit;         /* header has "crit": refused by verification */
    int header_types_ok;  /* 0 when alg/kid/typ/cat is present but not a string */
    char *signing_input;  /* owned copy of "<header>.<payload>" */
    size_t signing_len;
    unsigned char *sig;   /* owned decoded signature */
    size_t sig_len;
} clerk_jwt;

/* Decodes tok[0..len) (not NUL-terminated necessarily) without verifying it: exactly three
 * non-empty-header/payload segments, strict base64url, JSON objects per clerk_json_parse_object.
 * Tokens longer than max_len are refused. On success *out owns everything; on failure returns
 * -1 with err->reason CLERK_R_TOKEN_INVALID and Clerk's message. */
int clerk_jwt_decode(const char *tok, size_t len, size_t max_len, clerk_jwt **out,
                     clerk_error *err);

/* Frees a decoded JWT; NULL is ignored. */
void clerk_jwt_free(clerk_jwt *jwt);

#endif
