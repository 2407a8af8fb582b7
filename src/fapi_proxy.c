/* The Frontend API proxy's rules, as @clerk/backend proxy.ts clerkFrontendApiProxy applies
 * them (docs/design.md#frontend-api-proxy). */
#include "fapi_proxy.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_uri.h>
#include <jansson.h>

#include "url.h"

/* @clerk/shared constants: the Frontend APIs and the host suffixes that select them. */
#define PROD_FAPI_URL    "https://frontend-api.clerk.dev"
#define STAGING_FAPI_URL "https://frontend-api.clerkstage.dev"
#define LOCAL_FAPI_URL   "https://frontend-api.lclclerk.com"

static const char *const legacy_dev_suffixes[] = {".lcl.dev", ".lclstage.dev", ".lclclerk.com",
                                                  NULL};
/* As the SDK spells them: "lclstage.dev" has no leading dot there. */
static const char *const local_env_suffixes[] = {".lcl.dev", "lclstage.dev", ".lclclerk.com",
                                                 ".accounts.lclclerk.com", NULL};
static const char *const staging_env_suffixes[] = {".accountsstage.dev", NULL};

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static int ends_with_any(const char *s, const char *const *suffixes)
{
    for (; *suffixes; suffixes++)
        if (ends_with(s, *suffixes))
            return 1;
    return 0;
}

const char *clerk_fapi_proxy_default_target(const char *fapi_host)
{
    if (!fapi_host)
        return PROD_FAPI_URL;
    if (strncmp(fapi_host, "clerk.", 6) == 0 && ends_with_any(fapi_host, legacy_dev_suffixes))
        return PROD_FAPI_URL;
    if (ends_with_any(fapi_host, local_env_suffixes))
        return LOCAL_FAPI_URL;
    if (ends_with_any(fapi_host, staging_env_suffixes))
        return STAGING_FAPI_URL;
    return PROD_FAPI_URL;
}

/* stripTrailingSlashes, on a pool copy. */
static char *strip_trailing_slashes(apr_pool_t *p, const char *s)
{
    char *c = apr_pstrdup(p, s);
    size_t n = strlen(c);
    while (n > 0 && c[n - 1] == '/')
        c[--n] = '\0';
    return c;
}

static int visible(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

const char *clerk_fapi_proxy_path(apr_pool_t *p, const char *arg, clerk_error *err)
{
    if (arg[0] != '/' || !visible(arg) || strpbrk(arg, "?#")) {
        clerk_error_set(err, CLERK_R_NONE,
                        "'%s' is not an absolute URL path (visible characters, no "
                        "query or fragment), e.g. %s",
                        arg, CLERK_FAPI_PROXY_DEFAULT_PATH);
        return NULL;
    }
    char *path = strip_trailing_slashes(p, arg);
    if (!*path) {
        clerk_error_set(err, CLERK_R_NONE,
                        "'%s' would send the whole site to Clerk's Frontend API; use a path of its "
                        "own, e.g. %s",
                        arg, CLERK_FAPI_PROXY_DEFAULT_PATH);
        return NULL;
    }
    return path;
}

const char *clerk_fapi_proxy_target(apr_pool_t *p, const char *url, clerk_error *err)
{
    apr_uri_t u;
    int web = strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
    if (!web || !visible(url) || apr_uri_parse(p, url, &u) != APR_SUCCESS || !u.hostname ||
        !*u.hostname) {
        clerk_error_set(err, CLERK_R_NONE, "'%s' is not an absolute http(s) URL",
                        clerk_url_redact(p, url));
        return NULL;
    }
    if (u.user || u.password || u.query || u.fragment || strpbrk(url, "?#@")) {
        clerk_error_set(err, CLERK_R_NONE,
                        "FAPI URL must not include credentials, a query string, or a hash: '%s'",
                        clerk_url_redact(p, url));
        return NULL;
    }
    return strip_trailing_slashes(p, url);
}

const char *clerk_fapi_proxy_subpath(const char *prefix, const char *path)
{
    size_t n = strlen(prefix);
    if (!path || strncmp(path, prefix, n) != 0)
        return NULL;
    if (path[n] == '\0')
        return "/";
    return path[n] == '/' ? path + n : NULL;
}

/* proxy.ts HOP_BY_HOP_HEADERS. */
static const char *const hop_by_hop[] = {"connection",          "keep-alive", "proxy-authenticate",
                                         "proxy-authorization", "te",         "trailer",
                                         "transfer-encoding",   "upgrade",    NULL};

int clerk_fapi_proxy_hop_by_hop(const char *name, const char *connection)
{
    for (const char *const *h = hop_by_hop; *h; h++)
        if (strcasecmp(name, *h) == 0)
            return 1;
    /* getDynamicHopByHopHeaders: the comma-separated, trimmed names of Connection. */
    size_t n = strlen(name);
    for (const char *c = connection; c && *c;) {
        size_t len = strcspn(c, ",");
        const char *s = c, *e = c + len;
        while (s < e && apr_isspace(*s))
            s++;
        while (e > s && apr_isspace(e[-1]))
            e--;
        if ((size_t)(e - s) == n && n > 0 && strncasecmp(s, name, n) == 0)
            return 1;
        c += len + (c[len] == ',');
    }
    return 0;
}

/* The first comma-separated value of v, trimmed ("" when it is empty), or NULL for NULL. */
static const char *first_value(apr_pool_t *p, const char *v)
{
    if (!v)
        return NULL;
    size_t len = strcspn(v, ",");
    while (len > 0 && apr_isspace(v[len - 1]))
        len--;
    while (len > 0 && apr_isspace(*v)) {
        v++;
        len--;
    }
    return apr_pstrmemdup(p, v, len);
}

void clerk_fapi_proxy_forwarding(apr_pool_t *p, const clerk_fapi_proxy_in *in,
                                 clerk_fapi_proxy_out *out)
{
    clerk_url_in u = {0};
    u.conn_scheme = in->conn_scheme;
    u.host = in->host;
    u.xf_host = in->xf_host;
    u.xf_proto = in->xf_proto;
    u.trust_forwarded = in->trust_forwarded;
    memset(out, 0, sizeof(*out));
    /* The connection's own origin; without trust, the public one too. */
    u.trust_forwarded = 0;
    const char *own = clerk_public_origin(p, &u);
    out->proxy_url = apr_pstrcat(p, own, in->prefix, NULL);
    /* proxy.ts derivePublicOrigin: both first values, as they are, or neither. */
    const char *fp = first_value(p, in->xf_proto), *fh = first_value(p, in->xf_host);
    if (in->trust_forwarded && fp && *fp && fh && *fh)
        out->proxy_url = apr_pstrcat(p, fp, "://", fh, in->prefix, NULL);

    const char *own_host = strstr(own, "://") + 3;
    const char *own_scheme = apr_pstrmemdup(p, own, (apr_size_t)(own_host - 3 - own));
    if (!in->trust_forwarded) {
        out->xf_host = own_host;
        out->xf_proto = own_scheme;
        out->xff = in->peer_ip && *in->peer_ip ? in->peer_ip : NULL;
        out->drop_client_ip_claims = 1;
        return;
    }
    /* proxy.ts: X-Forwarded-Host/-Proto only when the request has none; getClientIp. */
    out->xf_host = in->xf_host ? NULL : own_host;
    out->xf_proto = in->xf_proto ? NULL : own_scheme;
    if (in->cf_connecting_ip && *in->cf_connecting_ip)
        out->xff = in->cf_connecting_ip;
    else if (in->x_real_ip && *in->x_real_ip)
        out->xff = in->x_real_ip;
    else {
        const char *f = first_value(p, in->xff);
        out->xff = f && *f ? f : NULL;
    }
}

/* ---- Location ------------------------------------------------------------------------------ */

/* RFC 3986 remove_dot_segments, as the WHATWG URL parser applies it to a path. */
static const char *remove_dot_segments(apr_pool_t *p, const char *path)
{
    size_t n = strlen(path);
    char *out = apr_palloc(p, n + 2);
    size_t o = 0;
    const char *s = path;
    while (*s) {
        size_t len = strcspn(s + 1, "/") + 1; /* one "/segment" */
        const char *seg = s + 1;
        size_t sl = len - 1;
        int last = s[len] == '\0';
        if (sl == 1 && seg[0] == '.') {
            if (last)
                out[o++] = '/';
        } else if (sl == 2 && seg[0] == '.' && seg[1] == '.') {
            while (o > 0 && out[--o] != '/')
                ;
            if (last)
                out[o++] = '/';
        } else {
            memcpy(out + o, s, len);
            o += len;
        }
        s += len;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return out;
}

static const char *default_port(const char *scheme)
{
    if (strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "ws") == 0)
        return "80";
    if (strcasecmp(scheme, "https") == 0 || strcasecmp(scheme, "wss") == 0)
        return "443";
    if (strcasecmp(scheme, "ftp") == 0)
        return "21";
    return NULL;
}

/* The WHATWG `host` of a parsed URL: lower-cased, brackets around IPv6, no default port. */
static const char *url_host(apr_pool_t *p, const apr_uri_t *u)
{
    char *h = apr_pstrdup(p, u->hostname ? u->hostname : "");
    for (char *c = h; *c; c++)
        *c = (char)apr_tolower(*c);
    const char *host = strchr(h, ':') ? apr_pstrcat(p, "[", h, "]", NULL) : h;
    const char *dp = u->scheme ? default_port(u->scheme) : NULL;
    if (u->port_str && *u->port_str && !(dp && strcmp(u->port_str, dp) == 0))
        return apr_pstrcat(p, host, ":", u->port_str, NULL);
    return host;
}

static int has_scheme(const char *s)
{
    if (!apr_isalpha(*s))
        return 0;
    const char *c = s + 1;
    while (apr_isalnum(*c) || *c == '+' || *c == '-' || *c == '.')
        c++;
    return *c == ':';
}

const char *clerk_fapi_proxy_location(apr_pool_t *p, const char *location, const char *target,
                                      const char *proxy_url)
{
    apr_uri_t base, loc;
    if (!location || !*location || apr_uri_parse(p, target, &base) != APR_SUCCESS)
        return location;
    const char *path, *query = NULL, *frag = NULL;
    if (has_scheme(location) || strncmp(location, "//", 2) == 0) {
        const char *abs =
            has_scheme(location) ? location : apr_pstrcat(p, base.scheme, ":", location, NULL);
        if (apr_uri_parse(p, abs, &loc) != APR_SUCCESS || !loc.hostname)
            return location;
        if (strcmp(url_host(p, &loc), url_host(p, &base)) != 0)
            return location;
        path = loc.path && *loc.path ? loc.path : "/";
        query = loc.query;
        frag = loc.fragment;
    } else {
        /* A reference relative to target: its path, then "?query", then "#fragment". */
        size_t flen = strcspn(location, "#");
        if (location[flen] == '#')
            frag = location + flen + 1;
        size_t qlen = strcspn(location, "?#");
        if (location[qlen] == '?')
            query = apr_pstrmemdup(p, location + qlen + 1, flen - qlen - 1);
        const char *ref = apr_pstrmemdup(p, location, qlen);
        const char *bpath = base.path && *base.path ? base.path : "/";
        if (*ref == '/')
            path = ref;
        else if (!*ref) {
            path = bpath;
            if (location[0] == '#')
                query = base.query;
        } else {
            const char *slash = strrchr(bpath, '/');
            path = apr_pstrcat(p, apr_pstrmemdup(p, bpath, (apr_size_t)(slash - bpath) + 1), ref,
                               NULL);
        }
    }
    path = remove_dot_segments(p, path);
    return apr_pstrcat(p, proxy_url, path, query && *query ? "?" : "", query ? query : "",
                       frag && *frag ? "#" : "", frag && *frag ? frag : "", NULL);
}

int clerk_fapi_proxy_leaks_secret(const char *value, const char *secret_key)
{
    return value && secret_key && *secret_key && strstr(value, secret_key) != NULL;
}

const char *clerk_fapi_proxy_error_body(apr_pool_t *p, const char *code, const char *message)
{
    json_t *doc = json_pack("{s:[{s:s,s:s}]}", "errors", "code", code, "message", message);
    if (!doc)
        return NULL;
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!s)
        return NULL;
    const char *out = apr_pstrdup(p, s);
    free(s);
    return out;
}
