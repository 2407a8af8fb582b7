/* Clerk's handshake pieces (@clerk/backend tokens/handshake.ts verifyHandshakeToken,
 * buildRedirectToHandshake, getCookiesFromHandshake, resolveHandshake). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "handshake.h"
#include "js_number.h"
#include "http_fetch.h"
#include "json_strict.h"
#include "jws.h"
#include "jwt.h"
#include "url.h"

/* JOSE "cat" values a handshake JWT may carry (Clerk's jwtCategories.ts). */
#define CAT_SESSION "cl_B7d4PD111AAA"
#define CAT_IGNORE  "cl_I7d4PD111III"

#define HANDSHAKE_ALGS (CLERK_ALG_RS256 | CLERK_ALG_RS384 | CLERK_ALG_RS512)

int clerk_handshake_http_get(void *ctx, apr_pool_t *p, const char *url, const char *const *headers,
                             long *status, const char **body, clerk_error *err)
{
    clerk_http_request req = {0};
    if (ctx)
        req = *(const clerk_http_request *)ctx;
    req.url = url;
    req.headers = headers;
    /* Exchanges come in bursts after an outage: one kept-alive connection to the Backend API
     * instead of a TCP and TLS handshake each. */
    req.reuse_connections = 1;
    clerk_http_response resp = {0};
    int rc = clerk_http_get(&req, &resp, err);
    *status = resp.status;
    *body = resp.body ? apr_pstrmemdup(p, resp.body, resp.body_len) : "";
    clerk_http_response_free(&resp);
    return rc;
}

const char *clerk_handshake_endpoint(apr_pool_t *p, const char *frontend_api)
{
    const char *base = frontend_api ? frontend_api : "";
    if (strncmp(base, "http", 4) != 0)
        base = apr_pstrcat(p, "https://", base, NULL);
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    return apr_pstrcat(p, apr_pstrmemdup(p, base, n), "/v1/client/handshake", NULL);
}

/* The URL is written in one apr_pstrcatv over its pieces: appending parameter by parameter
 * would copy the (long) redirect_url once per parameter. */
#define HS_MAX_PARAMS 7

static void add_param(apr_pool_t *p, struct iovec *v, int *n, const char *name, const char *value)
{
    const char *enc = clerk_form_encode(p, value);
    const char *sep = *n == 1 ? "?" : "&";
    v[(*n)++] = (struct iovec){(void *)sep, 1};
    v[(*n)++] = (struct iovec){(void *)name, strlen(name)};
    v[(*n)++] = (struct iovec){(void *)"=", 1};
    v[(*n)++] = (struct iovec){(void *)enc, strlen(enc)};
}

const char *clerk_handshake_url(apr_pool_t *p, const char *frontend_api, const char *public_url,
                                int suffixed_cookies, const char *reason, int nonce,
                                const char *session_token, const char *dev_browser)
{
    static const char *const dev_params[] = {"__clerk_db_jwt", "__dev_session", NULL};
    const char *endpoint = clerk_handshake_endpoint(p, frontend_api);
    const char *back = clerk_url_strip_params(p, public_url ? public_url : "", dev_params);
    /* Every parameter the URL can carry, in order; a NULL name leaves it out. Its size is what
     * v is sized by: a parameter added here and not counted in HS_MAX_PARAMS does not compile. */
    const char *const params[][2] = {
        {"redirect_url", back ? back : ""},
        {"__clerk_api_version", CLERK_HANDSHAKE_API_VERSION},
        {"suffixed_cookies", suffixed_cookies ? "true" : "false"},
        {"__clerk_hs_reason", reason ? reason : ""},
        {nonce ? "format" : NULL, "nonce"},
        {session_token && *session_token ? "__session" : NULL, session_token},
        {dev_browser && *dev_browser ? "__clerk_db_jwt" : NULL, dev_browser},
    };
    _Static_assert(sizeof params / sizeof params[0] <= HS_MAX_PARAMS,
                   "HS_MAX_PARAMS counts every handshake URL parameter");
    struct iovec v[1 + 4 * HS_MAX_PARAMS];
    int n = 0;
    v[n++] = (struct iovec){(void *)endpoint, strlen(endpoint)};
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        if (params[i][0] != NULL)
            add_param(p, v, &n, params[i][0], params[i][1]);
    return apr_pstrcatv(p, v, (apr_size_t)n, NULL);
}

const char *clerk_handshake_counter_cookie(apr_pool_t *p, double count)
{
    char n[40];
    clerk_js_number_text(count + 1, n, sizeof n);
    return apr_pstrcat(p, "__clerk_redirect_count=", n, "; SameSite=Lax; HttpOnly; Max-Age=2",
                       NULL);
}

const char *clerk_handshake_clean_url(apr_pool_t *p, const char *url)
{
    static const char *const names[] = {"__clerk_handshake", "__clerk_help", "__clerk_db_jwt",
                                        "__clerk_handshake_nonce", NULL};
    return clerk_url_strip_params(p, url, names);
}

int clerk_handshake_directive_ok(const char *d)
{
    if (!d || !*d)
        return 0;
    for (const unsigned char *c = (const unsigned char *)d; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            return 0;
    return 1;
}

/* The directive array of a payload: at most MAX_DIRECTIVES strings, each bounded and free of
 * NULs and control bytes (they become response headers). */
static int directives_from_json(apr_pool_t *p, const json_t *arr, apr_array_header_t **out)
{
    if (!json_is_array(arr) || json_array_size(arr) > CLERK_HANDSHAKE_MAX_DIRECTIVES)
        return -1;
    apr_array_header_t *a = apr_array_make(p, (int)json_array_size(arr) + 1, sizeof(const char *));
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v))
            return -1;
        size_t n = json_string_length(v);
        const char *s = json_string_value(v);
        if (n > CLERK_HANDSHAKE_MAX_DIRECTIVE_LEN || strlen(s) != n ||
            !clerk_handshake_directive_ok(s))
            return -1;
        APR_ARRAY_PUSH(a, const char *) = apr_pstrmemdup(p, s, n);
    }
    *out = a;
    return 0;
}

int clerk_handshake_verify_jwt(apr_pool_t *p, const char *tok, unsigned algs,
                               const clerk_key_source *keys, apr_array_header_t **out,
                               clerk_error *err)
{
    clerk_jwt *jwt = NULL;
    int rc = -1;
    *out = NULL;
    if (!tok || clerk_jwt_decode(tok, strlen(tok), CLERK_HANDSHAKE_MAX_JWT, &jwt, err) != 0)
        return tok ? -1 : clerk_error_set(err, CLERK_R_TOKEN_INVALID, CLERK_JWT_MSG_FORM);

    if (!keys || !keys->lookup) {
        clerk_error_set(err, CLERK_R_JWK_FAILED_TO_RESOLVE,
                        "Failed to resolve JWK during handshake verification.");
        goto done;
    }
    const clerk_key *key = keys->lookup(keys->ctx, jwt->kid, err);
    if (!key)
        goto done;

    const json_t *typ = json_object_get(jwt->header, "typ");
    if (typ && !(json_is_string(typ) && strcmp(json_string_value(typ), "JWT") == 0)) {
        clerk_error_set(err, CLERK_R_TOKEN_INVALID, "Invalid JWT type. Expected \"JWT\".");
        goto done;
    }
    if (jwt->has_crit || !jwt->header_types_ok) {
        clerk_error_set(err, CLERK_R_TOKEN_INVALID,
                        "Invalid JWT header: crit is not supported; alg, kid, typ and cat must "
                        "be strings.");
        goto done;
    }
    unsigned allowed = (algs ? algs : CLERK_ALGS_DEFAULT) & HANDSHAKE_ALGS;
    if (!allowed)
        allowed = CLERK_ALG_RS256;
    if (!(jwt->alg & allowed) || !clerk_alg_fits_key(jwt->alg, key)) {
        clerk_error_set(err, CLERK_R_TOKEN_INVALID_ALGORITHM,
                        "Invalid JWT algorithm %.20s for a handshake token.",
                        jwt->alg_name ? jwt->alg_name : "undefined");
        goto done;
    }
    if (jwt->cat && strcmp(jwt->cat, CAT_SESSION) != 0 && strcmp(jwt->cat, CAT_IGNORE) != 0) {
        clerk_error_set(err, CLERK_R_TOKEN_INVALID, CLERK_HS_MSG_BAD_CATEGORY);
        goto done;
    }
    int ok = clerk_jws_verify(jwt->alg, key, (const unsigned char *)jwt->signing_input,
                              jwt->signing_len, jwt->sig, jwt->sig_len);
    if (ok < 0) {
        clerk_error_set(err, CLERK_R_TOKEN_VERIFICATION_FAILED,
                        "Error verifying handshake token. The signature could not be checked "
                        "with this key.");
        goto done;
    }
    if (ok == 0) {
        clerk_error_set(err, CLERK_R_TOKEN_INVALID_SIGNATURE, CLERK_HS_MSG_BAD_SIGNATURE);
        goto done;
    }
    if (directives_from_json(p, json_object_get(jwt->payload, "handshake"), out) != 0) {
        clerk_error_set(err, CLERK_R_UNEXPECTED_ERROR, CLERK_HS_MSG_BAD_PAYLOAD);
        goto done;
    }
    rc = 0;
done:
    clerk_jwt_free(jwt);
    return rc;
}

int clerk_handshake_parse_payload(apr_pool_t *p, const char *json, size_t len,
                                  apr_array_header_t **out, clerk_error *err)
{
    clerk_error jerr;
    *out = NULL;
    json_t *doc = json ? clerk_json_parse_object(json, len, CLERK_JSON_MAX_DEPTH, &jerr) : NULL;
    if (!doc) {
        clerk_error_set(err, CLERK_R_NONE, "handshake payload is not a JSON object: %s",
                        json ? jerr.message : "empty");
        return -1;
    }
    int rc = directives_from_json(p, json_object_get(doc, "directives"), out);
    json_decref(doc);
    if (rc != 0)
        clerk_error_set(err, CLERK_R_NONE, "%s", CLERK_HS_MSG_BAD_PAYLOAD);
    return rc;
}

int clerk_handshake_fetch_payload(apr_pool_t *p, clerk_handshake_get_fn get, void *get_ctx,
                                  const char *api_url, const char *secret_key, const char *nonce,
                                  apr_array_header_t **out, clerk_error *err)
{
    *out = NULL;
    if (!get || !secret_key || !*secret_key) {
        clerk_error_set(err, CLERK_R_NONE, "no secret key to exchange the handshake nonce with");
        return -1;
    }
    const char *base = api_url && *api_url ? api_url : CLERK_HANDSHAKE_DEFAULT_API_URL;
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    const char *url = apr_pstrcat(
        p, apr_pstrmemdup(p, base, n),
        "/v1/clients/handshake_payload?nonce=", clerk_form_encode(p, nonce ? nonce : ""), NULL);
    const char *headers[] = {apr_pstrcat(p, "Authorization: Bearer ", secret_key, NULL),
                             "Clerk-API-Version: " CLERK_HANDSHAKE_API_VERSION,
                             "Accept: application/json", NULL};
    long status = 0;
    const char *body = NULL;
    clerk_error ferr = {0};
    if (get(get_ctx, p, url, headers, &status, &body, &ferr) != 0) {
        /* At most 255 bytes of the transport's message, as always. */
        clerk_error_set(err, CLERK_R_NONE, "handshake payload fetch failed: %.255s", ferr.message);
        return -1;
    }
    if (status < 200 || status > 299) {
        clerk_error_set(err, CLERK_R_NONE, "handshake payload fetch answered HTTP %ld", status);
        return -1;
    }
    return clerk_handshake_parse_payload(p, body, body ? strlen(body) : 0, out, err);
}

const char *clerk_handshake_session_token(apr_pool_t *p, const apr_array_header_t *directives)
{
    const char *tok = NULL;
    for (int i = 0; directives && i < directives->nelts; i++) {
        const char *d = APR_ARRAY_IDX(directives, i, const char *);
        size_t seg = strcspn(d, ";");
        const char *eq = memchr(d, '=', seg);
        size_t name_len = eq ? (size_t)(eq - d) : seg;
        if (name_len < 9 || strncmp(d, "__session", 9) != 0)
            continue;
        if (!eq) {
            tok = "";
            continue;
        }
        const char *v = eq + 1;
        size_t vlen = strcspn(v, "=;");
        if (vlen > (size_t)(d + seg - v))
            vlen = (size_t)(d + seg - v);
        tok = apr_pstrmemdup(p, v, vlen);
    }
    return tok;
}
