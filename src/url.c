/* Public URL reconstruction, query parameters and origins (@clerk/backend tokens/clerkRequest.ts
 * deriveUrlFromHeaders; docs/design.md#public-url). */
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include "url.h"

/* Longest host[:port] taken from a header; longer values are ignored as malformed. */
#define HOST_MAX 300

int clerk_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The first comma-separated value of a header, trimmed of spaces and tabs; NULL when empty. */
static const char *first_value(apr_pool_t *p, const char *v)
{
    if (!v)
        return NULL;
    const char *comma = strchr(v, ',');
    size_t len = comma ? (size_t)(comma - v) : strlen(v);
    while (len > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    return len ? apr_pstrmemdup(p, v, len) : NULL;
}

/* "http" or "https" for a case-insensitive match, else NULL. */
static const char *norm_scheme(const char *s)
{
    if (!s)
        return NULL;
    if (strcasecmp(s, "https") == 0)
        return "https";
    if (strcasecmp(s, "http") == 0)
        return "http";
    return NULL;
}

/* Characters a host[:port] may hold; anything else (spaces, '/', '@', CR/LF...) could bend a
 * URL we build, so such a value is not used. */
static int host_ok(const char *h)
{
    if (!h || !*h || strlen(h) > HOST_MAX)
        return 0;
    for (const char *c = h; *c; c++)
        if (!apr_isalnum(*c) && !strchr(".-_:[]", *c))
            return 0;
    return 1;
}

/* Lower-cases host and drops the scheme's default port, as a WHATWG origin does. */
static const char *norm_host(apr_pool_t *p, const char *scheme, const char *host, size_t len)
{
    char *h = apr_pstrmemdup(p, host, len);
    for (char *c = h; *c; c++)
        *c = (char)apr_tolower(*c);
    const char *def = strcmp(scheme, "https") == 0 ? ":443" : ":80";
    size_t dl = strlen(def);
    size_t hl = strlen(h);
    if (hl > dl && strcmp(h + hl - dl, def) == 0 && h[hl - dl - 1] != ':')
        h[hl - dl] = '\0';
    return h;
}

const char *clerk_public_origin(apr_pool_t *p, const clerk_url_in *in)
{
    const char *scheme = norm_scheme(in->conn_scheme);
    if (!scheme)
        scheme = "http";
    const char *host = in->host;
    if (in->trust_forwarded) {
        const char *fwd = norm_scheme(first_value(p, in->cf_proto));
        if (!fwd)
            fwd = norm_scheme(first_value(p, in->xf_proto));
        if (fwd)
            scheme = fwd;
        const char *xfh = first_value(p, in->xf_host);
        if (host_ok(xfh))
            host = xfh;
    }
    if (!host_ok(host))
        host = "localhost";
    return apr_pstrcat(p, scheme, "://", norm_host(p, scheme, host, strlen(host)), NULL);
}

size_t clerk_query_param_count(const char *query)
{
    size_t n = 0;
    for (const char *s = query; s && *s;) {
        size_t len = strcspn(s, "&");
        n += len > 0;
        s += len + (s[len] == '&');
    }
    return n;
}

const char *clerk_public_url(apr_pool_t *p, const clerk_url_in *in)
{
    const char *path = in->path && *in->path ? in->path : "/";
    int has_query = in->query && *in->query;
    /* Checked before anything is built: past the bounds no URL is made at all. */
    size_t plen = strlen(path), qlen = has_query ? strlen(in->query) : 0;
    if (plen + qlen > CLERK_URL_MAX_LEN ||
        (has_query && clerk_query_param_count(in->query) > CLERK_URL_MAX_PARAMS))
        return NULL;
    const char *url = apr_pstrcat(p, clerk_public_origin(p, in), path, has_query ? "?" : "",
                                  has_query ? in->query : "", NULL);
    return strlen(url) > CLERK_URL_MAX_LEN ? NULL : url;
}

/* application/x-www-form-urlencoded decoding of s[0..len) into out (len + 1 bytes): '+' is a
 * space, a valid %XX a byte, any other '%' kept as is (as URLSearchParams does). */
static char *form_decode_into(char *out, const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < len && (hi = clerk_hex_digit(s[i + 1])) >= 0 &&
                   (lo = clerk_hex_digit(s[i + 2])) >= 0) {
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static char *form_decode(apr_pool_t *p, const char *s, size_t len)
{
    return form_decode_into(apr_palloc(p, len + 1), s, len);
}

/* Splits one "name=value" pair at [s, s+len): decoded name, and the raw value span. */
static const char *pair_name(apr_pool_t *p, const char *s, size_t len, const char **val,
                             size_t *vlen)
{
    const char *eq = memchr(s, '=', len);
    size_t nlen = eq ? (size_t)(eq - s) : len;
    *val = eq ? eq + 1 : s + len;
    *vlen = eq ? len - nlen - 1 : 0;
    return form_decode(p, s, nlen);
}

const char *clerk_query_get(apr_pool_t *p, const char *query, const char *name)
{
    if (!query || !name)
        return NULL;
    const char *s = query;
    while (*s) {
        const char *amp = strchr(s, '&');
        size_t len = amp ? (size_t)(amp - s) : strlen(s);
        if (len > 0) {
            const char *val;
            size_t vlen;
            if (strcmp(pair_name(p, s, len, &val, &vlen), name) == 0)
                return form_decode(p, val, vlen);
        }
        if (!amp)
            break;
        s = amp + 1;
    }
    return NULL;
}

static int form_keeps(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '*' ||
           c == '-' || c == '.' || c == '_';
}

/* Writes c as URLSearchParams serializes it; returns the next free byte (at most 3 written). */
static char *form_put(char *o, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    if (form_keeps(c)) {
        *o++ = (char)c;
    } else if (c == ' ') {
        *o++ = '+';
    } else {
        *o++ = '%';
        *o++ = hex[c >> 4];
        *o++ = hex[c & 15];
    }
    return o;
}

const char *clerk_form_encode(apr_pool_t *p, const char *s)
{
    size_t n = strlen(s);
    char *out = apr_palloc(p, n * 3 + 1), *o = out;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        o = form_put(o, *c);
    *o = '\0';
    return out;
}

/* Form-decodes s[0..len) and writes it form-encoded at o, stopping at a decoded NUL byte (the
 * C string the value becomes ends there); returns the next free byte (at most 3 * len
 * written). */
static char *form_recode(char *o, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        unsigned char c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < len && (hi = clerk_hex_digit(s[i + 1])) >= 0 &&
                   (lo = clerk_hex_digit(s[i + 2])) >= 0) {
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0')
            break;
        o = form_put(o, c);
    }
    return o;
}

const char *clerk_url_strip_params(apr_pool_t *p, const char *url, const char *const *names)
{
    if (!url)
        return NULL;
    const char *q = strchr(url, '?');
    if (!q || !names)
        return url;
    /* Clerk edits URLs through URLSearchParams, which re-serializes the whole query as form
     * data (space as '+', '/' as %2F ...) and drops an empty '?': do the same, so the URLs we
     * send match the SDK's byte for byte. One pass into one buffer: a kept pair of k bytes
     * takes at most 3k + 2 ('&' and an added '='), so 5 bytes per query byte always suffice
     * and the cost stays linear however many pairs there are. */
    const char *hash = strchr(q, '#');
    size_t blen = (size_t)(q - url);
    size_t qlen = hash ? (size_t)(hash - q - 1) : strlen(q + 1);
    size_t hlen = hash ? strlen(hash) : 0;
    char *out = apr_palloc(p, blen + 5 * qlen + hlen + 2);
    char *name = apr_palloc(p, qlen + 1); /* the decoded name of one pair, reused */
    memcpy(out, url, blen);
    char *o = out + blen;
    int kept = 0;
    const char *s = q + 1, *end = q + 1 + qlen;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        size_t len = amp ? (size_t)(amp - s) : (size_t)(end - s);
        if (len > 0) {
            const char *eq = memchr(s, '=', len);
            size_t nlen = eq ? (size_t)(eq - s) : len;
            const char *val = eq ? eq + 1 : s + len;
            size_t vlen = eq ? len - nlen - 1 : 0;
            const char *n = form_decode_into(name, s, nlen);
            int drop = 0;
            for (const char *const *k = names; *k && !drop; k++)
                drop = strcmp(*k, n) == 0;
            if (!drop) {
                *o++ = kept++ ? '&' : '?';
                o = form_recode(o, s, nlen);
                *o++ = '=';
                o = form_recode(o, val, vlen);
            }
        }
        if (!amp)
            break;
        s = amp + 1;
    }
    memcpy(o, hash ? hash : "", hlen + 1);
    return out;
}

const char *clerk_url_origin(apr_pool_t *p, const char *url)
{
    if (!url)
        return NULL;
    const char *colon = strstr(url, "://");
    if (!colon || colon - url > 5)
        return NULL;
    char sch[6];
    memcpy(sch, url, (size_t)(colon - url));
    sch[colon - url] = '\0';
    const char *scheme = norm_scheme(sch);
    if (!scheme)
        return NULL;
    const char *auth = colon + 3;
    size_t alen = strcspn(auth, "/?#\\");
    /* userinfo is not part of an origin */
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (auth[i] == '@')
            at = auth + i;
    if (at) {
        alen -= (size_t)(at + 1 - auth);
        auth = at + 1;
    }
    if (alen == 0 || alen > HOST_MAX)
        return NULL;
    char *hp = apr_pstrmemdup(p, auth, alen);
    if (!host_ok(hp))
        return NULL;
    /* a port, when present, must be 1-5 digits up to 65535 */
    char *pc = strrchr(hp, ':');
    char *rb = strrchr(hp, ']');
    if (pc && (!rb || pc > rb)) {
        const char *d = pc + 1;
        if (*d == '\0') {
            *pc = '\0';
        } else {
            size_t dl = strlen(d);
            if (dl > 5 || strspn(d, "0123456789") != dl || atoi(d) > 65535)
                return NULL;
            /* numeric form, so ":0443" and ":443" compare equal */
            hp = apr_psprintf(p, "%.*s:%d", (int)(pc - hp), hp, atoi(d));
        }
    }
    if (hp[0] == ':' || hp[0] == '\0')
        return NULL;
    return apr_pstrcat(p, scheme, "://", norm_host(p, scheme, hp, strlen(hp)), NULL);
}

const char *clerk_url_foreign_origin_host(apr_pool_t *p, const char *url)
{
    static const char *const own[] = {"http", "https", "blob"};
    static const char *const special[] = {"ws", "wss", "ftp"};
    if (!url || !apr_isalpha(*url))
        return NULL;
    size_t n = strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
    if (url[n] != ':')
        return NULL;
    int is_special = 0;
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (strlen(own[i]) == n && strncasecmp(url, own[i], n) == 0)
            return NULL;
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
        is_special |= strlen(special[i]) == n && strncasecmp(url, special[i], n) == 0;
    const char *rest = url + n + 1;
    if (is_special) /* any number of slashes (or backslashes) before the host, even none */
        rest += strspn(rest, "/\\");
    else if (strncmp(rest, "//", 2) == 0)
        rest += 2;
    else
        return ""; /* no authority: an opaque path */
    size_t alen = strcspn(rest, is_special ? "/?#\\" : "/?#");
    const char *at = memchr(rest, '@', alen);
    while (at) { /* the host follows the last '@' of the authority */
        alen -= (size_t)(at + 1 - rest);
        rest = at + 1;
        at = memchr(rest, '@', alen);
    }
    size_t hlen = alen;
    const char *colon = memchr(rest, ':', alen);
    if (colon && rest[0] != '[')
        hlen = (size_t)(colon - rest);
    if (is_special && hlen == 0)
        return NULL; /* a special scheme's URL needs a host (new URL throws) */
    return apr_pstrmemdup(p, rest, hlen);
}

const char *clerk_url_encode(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!s)
        return "";
    size_t len = strlen(s);
    char *out = apr_palloc(p, len * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

const char *clerk_url_redact(apr_pool_t *p, const char *url)
{
    if (url == NULL)
        return NULL;
    const char *sep = strstr(url, "://");
    const char *auth = sep != NULL ? sep + 3 : url;
    size_t authlen = strcspn(auth, "/?#");
    /* The last '@' of the authority ends the user information (RFC 3986 3.2.1). */
    const char *at = NULL;
    for (const char *c = auth; c < auth + authlen; c++)
        if (*c == '@')
            at = c;
    const char *rest = at != NULL ? at + 1 : auth;
    size_t keep = strcspn(rest, "?#");
    return apr_pstrcat(p, apr_pstrmemdup(p, url, (apr_size_t)(auth - url)),
                       at != NULL ? "***@" : "", apr_pstrmemdup(p, rest, keep),
                       rest[keep] == '?' ? "?***" : "", NULL);
}
