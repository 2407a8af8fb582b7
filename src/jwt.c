/* JWT compact serialization. Decoding checks form only; signature and claims are verified
 * elsewhere, so every field here is untrusted until then. */
#include "jwt.h"

#include <stdlib.h>
#include <string.h>

#include "b64url.h"
#include "json_strict.h"
#include "jws.h"

/* Decodes one base64url segment into a malloc'd buffer (NULL, 0 for an empty segment). */
static int decode_segment(const char *s, size_t len, unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (len == 0)
        return 0;
    size_t cap = CLERK_B64URL_DECODED_MAX(len);
    unsigned char *buf = malloc(cap);
    if (buf == NULL)
        return -1;
    if (clerk_b64url_decode(s, len, buf, cap, outlen) != 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}

/* A header or payload segment as a JSON object, or NULL. With text, the decoded JSON text is
 * kept there (malloc'd, NUL-terminated) when the object parses. differences.h:
 * payload-not-an-object */
static json_t *decode_json_segment(const char *s, size_t len, char **text, size_t *text_len)
{
    unsigned char *raw = NULL;
    size_t rawlen = 0;
    if (len == 0 || decode_segment(s, len, &raw, &rawlen) != 0)
        return NULL;
    json_t *v = clerk_json_parse_object((const char *)raw, rawlen, CLERK_JSON_MAX_DEPTH, NULL);
    if (v != NULL && text != NULL) {
        /* CLERK_B64URL_DECODED_MAX leaves room: 3 bytes per 4 characters, rounded up. */
        raw[rawlen] = '\0';
        *text = (char *)raw;
        *text_len = rawlen;
        return v;
    }
    free(raw);
    return v;
}

/* The string member name of the header: *out borrowed, or NULL when absent. Returns 0 when the
 * member is absent or a string, -1 when it is present with another type. */
static int header_string(const json_t *header, const char *name, const char **out)
{
    const json_t *v = json_object_get(header, name);
    *out = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = json_string_value(v);
    return 0;
}

int clerk_jwt_decode(const char *tok, size_t len, size_t max_len, clerk_jwt **out, clerk_error *err)
{
    return clerk_jwt_decode_with(tok, len, max_len, NULL, NULL, out, err);
}

int clerk_jwt_decode_with(const char *tok, size_t len, size_t max_len,
                          clerk_jwt_header_lookup known, void *known_ctx, clerk_jwt **out,
                          clerk_error *err)
{
    *out = NULL;
    if (max_len == 0)
        max_len = CLERK_JWT_DEFAULT_MAX_LEN;
    /* differences.h: over-max-token-size */
    if (len > max_len)
        return clerk_error_set(err, CLERK_R_TOKEN_INVALID, CLERK_JWT_MSG_TOO_LARGE_FMT, max_len);
    if (tok == NULL)
        return clerk_error_set(err, CLERK_R_TOKEN_INVALID, "%s", CLERK_JWT_MSG_FORM);

    const char *dot1 = memchr(tok, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - tok)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - tok)) != NULL)
        return clerk_error_set(err, CLERK_R_TOKEN_INVALID, "%s", CLERK_JWT_MSG_FORM);

    size_t hlen = (size_t)(dot1 - tok);
    size_t plen = (size_t)(dot2 - dot1 - 1);
    size_t slen = len - (size_t)(dot2 + 1 - tok);

    clerk_jwt *jwt = calloc(1, sizeof *jwt);
    if (jwt == NULL)
        return clerk_error_set(err, CLERK_R_TOKEN_INVALID, "Out of memory decoding the JWT.");

    jwt->header = known != NULL && hlen > 0 ? known(known_ctx, tok, hlen) : NULL;
    if (jwt->header == NULL)
        jwt->header = decode_json_segment(tok, hlen, NULL, NULL);
    if (jwt->header == NULL) {
        clerk_jwt_free(jwt);
        return clerk_error_set(err, CLERK_R_TOKEN_INVALID, "%s", CLERK_JWT_MSG_HEADER);
    }
    jwt->payload = decode_json_segment(dot1 + 1, plen, &jwt->payload_json, &jwt->payload_json_len);
    if (jwt->payload == NULL) {
        clerk_jwt_free(jwt);
        return clerk_error_set(err, CLERK_R_TOKEN_INVALID, "%s", CLERK_JWT_MSG_PAYLOAD);
    }
    if (decode_segment(dot2 + 1, slen, &jwt->sig, &jwt->sig_len) != 0) {
        clerk_jwt_free(jwt);
        return clerk_error_set(err, CLERK_R_TOKEN_INVALID, "%s", CLERK_JWT_MSG_SIGNATURE);
    }

    jwt->signing_len = (size_t)(dot2 - tok);
    jwt->text_len = len;
    jwt->signing_input = malloc(len + 1);
    if (jwt->signing_input == NULL) {
        clerk_jwt_free(jwt);
        return clerk_error_set(err, CLERK_R_TOKEN_INVALID, "Out of memory decoding the JWT.");
    }
    memcpy(jwt->signing_input, tok, len);
    jwt->signing_input[len] = '\0';

    int types_ok = 1;
    types_ok &= header_string(jwt->header, "alg", &jwt->alg_name) == 0;
    types_ok &= header_string(jwt->header, "kid", &jwt->kid) == 0;
    types_ok &= header_string(jwt->header, "typ", &jwt->typ) == 0;
    types_ok &= header_string(jwt->header, "cat", &jwt->cat) == 0;
    jwt->header_types_ok = types_ok;
    jwt->alg = jwt->alg_name ? clerk_alg_from_name(jwt->alg_name) : 0;
    jwt->has_crit = json_object_get(jwt->header, "crit") != NULL;

    *out = jwt;
    return 0;
}

const char *clerk_jwt_payload_segment(const clerk_jwt *jwt, size_t *n)
{
    const char *in = jwt != NULL ? jwt->signing_input : NULL;
    const char *dot = in != NULL ? memchr(in, '.', jwt->signing_len) : NULL;
    *n = dot != NULL ? jwt->signing_len - (size_t)(dot + 1 - in) : 0;
    return dot != NULL ? dot + 1 : NULL;
}

void clerk_jwt_free(clerk_jwt *jwt)
{
    if (jwt == NULL)
        return;
    json_decref(jwt->header);
    json_decref(jwt->payload);
    free(jwt->signing_input);
    free(jwt->payload_json);
    free(jwt->sig);
    free(jwt);
}
