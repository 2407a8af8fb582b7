/* Clerk's handshake (@clerk/backend tokens/handshake.ts; docs/design.md#handshake): the redirect
 * that sends a browser to the Frontend API for fresh cookies, and the pieces that resolve the
 * request it comes back with (a handshake JWT or a nonce exchanged through the Backend API). The
 * decision itself lives in request_state.c. */
#ifndef CLERK_HANDSHAKE_H
#define CLERK_HANDSHAKE_H

#include <stddef.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include "reason.h"
#include "token.h"

/* Clerk's SUPPORTED_BAPI_VERSION: the __clerk_api_version parameter and the Clerk-API-Version
 * header of the nonce exchange. */
#define CLERK_HANDSHAKE_API_VERSION "2026-05-12"
/* Where the nonce exchange goes when no API URL is configured. */
#define CLERK_HANDSHAKE_DEFAULT_API_URL "https://api.clerk.com"
/* Bounds on a handshake payload from the network (a real one holds a handful of cookies). */
#define CLERK_HANDSHAKE_MAX_DIRECTIVES    32
#define CLERK_HANDSHAKE_MAX_DIRECTIVE_LEN 8192
#define CLERK_HANDSHAKE_MAX_JWT           65536

/* Stable messages (tests and logs match them). */
#define CLERK_HS_MSG_BAD_SIGNATURE "Handshake signature is invalid."
#define CLERK_HS_MSG_BAD_CATEGORY  "Invalid handshake token category."
#define CLERK_HS_MSG_BAD_PAYLOAD                                                                   \
    "The handshake payload is not a bounded array of Set-Cookie strings."
#define CLERK_HS_MSG_DEV_SIGNATURE                                                                 \
    "Clerk: Handshake token verification failed due to an invalid signature. If you have "         \
    "switched Clerk keys locally, clear your cookies and try again."

/* One GET for the nonce exchange: 0 with the HTTP status and a NUL-terminated pool-allocated
 * body, or -1 with err (never quoting a header value). headers are "Name: value" lines,
 * NULL-terminated. Unit tests script it; the module uses clerk_handshake_http_get. */
typedef int (*clerk_handshake_get_fn)(void *ctx, apr_pool_t *p, const char *url,
                                      const char *const *headers, long *status, const char **body,
                                      clerk_error *err);

/* clerk_handshake_get_fn over clerk_http_get; ctx is a const clerk_http_request * whose ca_file
 * and timeouts are used (its url and headers are ignored), or NULL for the defaults. */
int clerk_handshake_http_get(void *ctx, apr_pool_t *p, const char *url, const char *const *headers,
                             long *status, const char **body, clerk_error *err);

/* s encoded as URLSearchParams serialises a value (application/x-www-form-urlencoded: ASCII
 * alphanumerics and *-._ kept, space as '+', every other byte %XX upper-case). */

/* "https://<frontend_api>/v1/client/handshake" (the value kept as is when it starts with
 * "http"; trailing slashes trimmed). */
const char *clerk_handshake_endpoint(apr_pool_t *p, const char *frontend_api);

/* The handshake redirect of @clerk/backend tokens/handshake.ts buildRedirectToHandshake, parameters
 * in Clerk's order: redirect_url (public_url without __clerk_db_jwt and __dev_session),
 * __clerk_api_version, suffixed_cookies,
 * __clerk_hs_reason, format=nonce (when nonce is set), __session (when session_token is
 * non-empty), __clerk_db_jwt (when dev_browser is non-empty; pass NULL for production). */
const char *clerk_handshake_url(apr_pool_t *p, const char *frontend_api, const char *public_url,
                                int suffixed_cookies, const char *reason, int nonce,
                                const char *session_token, const char *dev_browser);

/* "__clerk_redirect_count=<count+1>; SameSite=Lax; HttpOnly; Max-Age=2", count + 1 printed as
 * JavaScript prints it (the SDK writes 1.5 after 0.5 and 0 after -1). count must be finite. */
const char *clerk_handshake_counter_cookie(apr_pool_t *p, double count);

/* url without __clerk_handshake, __clerk_help, __clerk_db_jwt and __clerk_handshake_nonce: where
 * a development handshake sends the browser back to (tokens/handshake.ts resolveHandshake). */
const char *clerk_handshake_clean_url(apr_pool_t *p, const char *url);

/* Verifies a handshake JWT with the lighter rules of tokens/handshake.ts verifyHandshakeToken
 * (decode, typ absent or "JWT", alg RS256/RS384/RS512 within algs, cat absent or a session/ignore
 * category, signature; no claim checks) and returns its `handshake` claim as a pool array of const
 * char * in *out. Returns 0, or -1 with err: a token-* / jwk-* reason for a token that fails
 * verification, unexpected-error for a verified token whose claim is not an array of at most
 * CLERK_HANDSHAKE_MAX_DIRECTIVES strings of at most CLERK_HANDSHAKE_MAX_DIRECTIVE_LEN bytes. */
int clerk_handshake_verify_jwt(apr_pool_t *p, const char *tok, unsigned algs,
                               const clerk_key_source *keys, apr_array_header_t **out,
                               clerk_error *err);

/* Parses the Backend API's {"directives":[...]} with the same bounds. 0, or -1 with err. */
int clerk_handshake_parse_payload(apr_pool_t *p, const char *json, size_t len,
                                  apr_array_header_t **out, clerk_error *err);

/* Exchanges nonce: GET <api_url>/v1/clients/handshake_payload?nonce=<nonce> with
 * "Authorization: Bearer <secret_key>" and "Clerk-API-Version", a 2xx answer parsed as above.
 * api_url NULL: CLERK_HANDSHAKE_DEFAULT_API_URL. 0, or -1 with err (never the key). */
int clerk_handshake_fetch_payload(apr_pool_t *p, clerk_handshake_get_fn get, void *get_ctx,
                                  const char *api_url, const char *secret_key, const char *nonce,
                                  apr_array_header_t **out, clerk_error *err);

/* The session token a directive list carries: the value of the last directive whose cookie
 * name starts with "__session" (the text after the first '=' up to the next '=' or ';'; a
 * directive without '=' gives ""). NULL when no directive names a session cookie. */
const char *clerk_handshake_session_token(apr_pool_t *p, const apr_array_header_t *directives);

/* 1 when a directive can be sent as a Set-Cookie value: non-empty, no control bytes. */
int clerk_handshake_directive_ok(const char *d);

#endif
