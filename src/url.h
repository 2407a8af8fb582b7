/* Public request URL, query parameters and origins (@clerk/backend tokens/clerkRequest.ts
 * deriveUrlFromHeaders; docs/design.md#public-url). */
#ifndef CLERK_URL_H
#define CLERK_URL_H

#include <apr_pools.h>

/* Inputs for the public URL; forwarded headers are used only when trust_forwarded is set. */
typedef struct clerk_url_in {
    const char *conn_scheme; /* "http" or "https" of the connection */
    const char *host;        /* Host header (may include a port) */
    const char *xf_host;     /* X-Forwarded-Host, or NULL */
    const char *xf_proto;    /* X-Forwarded-Proto, or NULL */
    const char *cf_proto;    /* CloudFront-Forwarded-Proto, or NULL */
    int trust_forwarded;
    const char *path;  /* raw path as received (percent-encoded) */
    const char *query; /* raw query without '?', or NULL */
} clerk_url_in;

/* "<scheme>://<host>" per docs/design.md#public-url (first comma-separated value of forwarded
 * headers). */
const char *clerk_public_origin(apr_pool_t *p, const clerk_url_in *in);

/* The longest public URL (origin, path and query) the module redirects with, and the most query
 * parameters it re-serializes: httpd's default LimitRequestLine (8190) keeps ordinary requests
 * below both, and every URL built from one stays linear in its size. */
#define CLERK_URL_MAX_LEN    8192
#define CLERK_URL_MAX_PARAMS 1024

/* Logged (info) when a redirect is not made because the public URL is past those bounds. */
#define CLERK_URL_TOO_LONG_MSG                                                                     \
    "Clerk: the request URL is longer than 8192 bytes or has more than 1024 query parameters; "    \
    "answered as signed-out without a redirect"

/* Origin + path + ("?" query when non-empty); NULL when the URL would be longer than
 * CLERK_URL_MAX_LEN or its query has more than CLERK_URL_MAX_PARAMS parameters (the caller then
 * answers without a redirect). */
const char *clerk_public_url(apr_pool_t *p, const clerk_url_in *in);

/* Number of non-empty '&'-separated parameters of query (0 for NULL). */
size_t clerk_query_param_count(const char *query);

/* The first value of query parameter name (percent- and '+'-decoded), or NULL. */
const char *clerk_query_get(apr_pool_t *p, const char *query, const char *name);

/* url with every query parameter named in names (NULL-terminated) removed and the rest
 * re-serialized as URLSearchParams does (form encoding; no '?' when nothing is left). */
const char *clerk_url_strip_params(apr_pool_t *p, const char *url, const char *const *names);

/* "<scheme>://<host[:port]>" of an absolute http(s) URL (lower-cased scheme and host), or NULL
 * when url is not one. */
const char *clerk_url_origin(apr_pool_t *p, const char *url);

/* For an absolute URL whose WHATWG origin can never be an http(s) request's (ws:, wss:, ftp:
 * with a host; any other scheme but blob: has the opaque origin "null", e.g. android-app: or
 * file:), its host ("" when it has no authority); NULL for http(s) and blob: URLs and for
 * strings that are no absolute URL. */
const char *clerk_url_foreign_origin_host(apr_pool_t *p, const char *url);

/* Percent-encodes s for use as a query value (RFC 3986 unreserved kept). */
const char *clerk_url_encode(apr_pool_t *p, const char *s);

/* url as safe to show in a log line or on a status page: a user:password before the host
 * becomes "***@", a query "?***", a fragment is dropped; the rest is kept byte for byte. */
const char *clerk_url_redact(apr_pool_t *p, const char *url);

/* The value of one hex digit (either case), or -1. */
int clerk_hex_digit(char c);

/* application/x-www-form-urlencoded value as URLSearchParams writes it: alphanumerics and
 * "*-._" kept, space as '+', every other byte %XX. */
const char *clerk_form_encode(apr_pool_t *p, const char *s);

#endif
