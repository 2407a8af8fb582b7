/* The Frontend API proxy's rules (@clerk/backend proxy.ts clerkFrontendApiProxy;
 * docs/design.md#frontend-api-proxy): which requests it serves, where they go, which headers
 * are dropped or set on the way up, how Location comes back, and its error body. The transport
 * itself is httpd's mod_proxy; nothing here speaks HTTP. */
#ifndef CLERK_FAPI_PROXY_H
#define CLERK_FAPI_PROXY_H

#include <stddef.h>
#include <apr_pools.h>
#include "reason.h"

/* @clerk/shared constants DEFAULT_PROXY_PATH. */
#define CLERK_FAPI_PROXY_DEFAULT_PATH "/__clerk"

/* The error codes of proxy.ts ProxyErrorCode. */
#define CLERK_FAPI_PROXY_REQUEST_FAILED "proxy_request_failed"
#define CLERK_FAPI_PROXY_CONFIG_ERROR   "proxy_configuration_error"

/* The Frontend API origin proxy.ts fapiUrlFromPublishableKey picks for an instance whose
 * publishable key decodes to fapi_host: Clerk's local, staging or production Frontend API
 * (a static string, never NULL). */
const char *clerk_fapi_proxy_default_target(const char *fapi_host);

/* A configured proxy path as proxy.ts uses it (trailing slashes stripped), or NULL with a
 * message in err when it is not an absolute path of visible characters, has a query or
 * fragment, or is "/" itself (which would take the whole site). */
const char *clerk_fapi_proxy_path(apr_pool_t *p, const char *arg, clerk_error *err);

/* A configured Frontend API URL as proxy.ts normalizeFapiUrl takes it (http or https, no
 * credentials, query or fragment, trailing slashes stripped), or NULL with a message in err. */
const char *clerk_fapi_proxy_target(apr_pool_t *p, const char *url, clerk_error *err);

/* The path sent upstream for request path `path` under proxy path `prefix` (what follows the
 * prefix, "/" for the prefix itself), or NULL when path is neither prefix nor below it. */
const char *clerk_fapi_proxy_subpath(const char *prefix, const char *path);

/* 1 when request header `name` is not forwarded: proxy.ts HOP_BY_HOP_HEADERS, or a name listed
 * in the request's Connection header (connection, may be NULL). Case-insensitive. */
int clerk_fapi_proxy_hop_by_hop(const char *name, const char *connection);

/* What the proxy sets on the way up, from the request's own headers. */
typedef struct clerk_fapi_proxy_in {
    const char *conn_scheme; /* "http" or "https" of the connection */
    const char *host;        /* Host header */
    const char *xf_host, *xf_proto;
    const char *cf_connecting_ip, *x_real_ip, *xff; /* as the client sent them, or NULL */
    const char *peer_ip;                            /* the connection's (or mod_remoteip's) */
    int trust_forwarded; /* ClerkTrustForwardedHeaders: the client's forwarded headers count */
    const char *prefix;  /* the proxy path */
} clerk_fapi_proxy_in;

typedef struct clerk_fapi_proxy_out {
    const char *proxy_url;     /* Clerk-Proxy-Url: public origin + proxy path */
    const char *xf_host;       /* X-Forwarded-Host to set, or NULL to keep the client's */
    const char *xf_proto;      /* X-Forwarded-Proto to set, or NULL to keep the client's */
    const char *xff;           /* X-Forwarded-For: the client IP, or NULL to send none */
    int drop_client_ip_claims; /* 1: CF-Connecting-IP and X-Real-IP are not forwarded */
} clerk_fapi_proxy_out;

/* Fills out as proxy.ts does (derivePublicOrigin: X-Forwarded-Proto and -Host only when both
 * are there; getClientIp; the X-Forwarded-* defaults) when trust_forwarded is set; otherwise the
 * client's forwarded headers count for nothing: the public origin is the connection's,
 * X-Forwarded-Host/-Proto are overwritten, and the client IP is peer_ip
 * (docs/design.md#frontend-api-proxy). */
void clerk_fapi_proxy_forwarding(apr_pool_t *p, const clerk_fapi_proxy_in *in,
                                 clerk_fapi_proxy_out *out);

/* The Location the client gets for an upstream Location (proxy.ts): resolved against target,
 * a URL on target's host becomes proxy_url + its path, query and fragment; anything else (or
 * anything that is no URL) is returned unchanged. */
const char *clerk_fapi_proxy_location(apr_pool_t *p, const char *location, const char *target,
                                      const char *proxy_url);

/* 1 when a response header value carries the secret key (such a header is never passed to the
 * client). */
int clerk_fapi_proxy_leaks_secret(const char *value, const char *secret_key);

/* proxy.ts createErrorResponse's body: {"errors":[{"code":..,"message":..}]} (pool-allocated;
 * NULL only when JSON cannot be made). */
const char *clerk_fapi_proxy_error_body(apr_pool_t *p, const char *code, const char *message);

#endif
