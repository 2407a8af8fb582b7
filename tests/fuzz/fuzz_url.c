/* Fuzz target: the URL helpers the decision and the handshake use (public origin and URL from
 * Host and forwarded headers, query lookup, parameter stripping, origins, encoding). Input: the
 * same '\n'-separated form as fuzz_request_state without the flags byte: host, forwarded host,
 * forwarded proto, CloudFront proto, path, query, an absolute URL. */
#include <string.h>
#include <apr_strings.h>
#include "fuzz_common.h"
#include "url.h"

/* The parameter stripping as it was first written (a decoded copy per name and value, the URL
 * re-concatenated per kept pair): slow but plainly URLSearchParams' rules, so the one-pass
 * builder must give the same bytes. Used on queries of few parameters only. A deliberate copy,
 * not shared with src/url.c: an oracle that shared the code under test would share its bugs. */
static char *ref_decode(apr_pool_t *p, const char *s, size_t len)
{
    char *out = apr_palloc(p, len + 1);
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

static const char *ref_strip(apr_pool_t *p, const char *url, const char *const *names)
{
    const char *q = strchr(url, '?');
    if (!q)
        return url;
    const char *hash = strchr(q, '#');
    size_t qlen = hash ? (size_t)(hash - q - 1) : strlen(q + 1);
    const char *out = apr_pstrmemdup(p, url, (apr_size_t)(q - url));
    int kept = 0;
    const char *s = q + 1, *end = q + 1 + qlen;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        size_t len = amp ? (size_t)(amp - s) : (size_t)(end - s);
        if (len > 0) {
            const char *eq = memchr(s, '=', len);
            size_t nlen = eq ? (size_t)(eq - s) : len;
            const char *n = ref_decode(p, s, nlen);
            const char *v = eq ? ref_decode(p, eq + 1, len - nlen - 1) : "";
            int drop = 0;
            for (const char *const *k = names; *k; k++)
                drop |= strcmp(*k, n) == 0;
            if (!drop)
                out = apr_pstrcat(p, out, kept++ ? "&" : "?", clerk_form_encode(p, n), "=",
                                  clerk_form_encode(p, v), NULL);
        }
        if (!amp)
            break;
        s = amp + 1;
    }
    return hash ? apr_pstrcat(p, out, hash, NULL) : out;
}

static void check_strip(apr_pool_t *p, const char *url, const char *const *names)
{
    const char *got = clerk_url_strip_params(p, url, names);
    const char *q = strchr(url, '?');
    if (q && clerk_query_param_count(q + 1) <= 64 && strcmp(got, ref_strip(p, url, names)) != 0)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *f[7];
    fuzz_fields(p, data, size, f, 7);
    static const char *const strip[] = {"__clerk_handshake", "__clerk_db_jwt", "__session", NULL};
    for (int trust = 0; trust < 2; trust++) {
        clerk_url_in in = {"https", f[0], f[1], f[2], f[3], trust, f[4] ? f[4] : "/", f[5]};
        const char *origin = clerk_public_origin(p, &in);
        const char *url = clerk_public_url(p, &in);
        if (origin == NULL)
            __builtin_trap();
        if (url == NULL) {
            /* only past the bounds of url.h */
            size_t pl = *in.path ? strlen(in.path) : 1, ql = in.query ? strlen(in.query) : 0;
            if (strlen(origin) + pl + (ql ? ql + 1 : 0) <= CLERK_URL_MAX_LEN &&
                clerk_query_param_count(in.query) <= CLERK_URL_MAX_PARAMS)
                __builtin_trap();
            continue;
        }
        if (strncmp(url, origin, strlen(origin)) != 0 || strlen(url) > CLERK_URL_MAX_LEN)
            __builtin_trap(); /* the URL starts with its origin */
        check_strip(p, url, strip);
        (void)clerk_url_origin(p, url);
    }
    if (f[5] != NULL) {
        (void)clerk_query_get(p, f[5], "__clerk_handshake");
        (void)clerk_query_get(p, f[5], "__clerk_db_jwt");
    }
    if (f[6] != NULL) {
        (void)clerk_url_origin(p, f[6]);
        check_strip(p, f[6], strip);
        (void)clerk_url_encode(p, f[6]);
    }
    apr_pool_destroy(p);
    return 0;
}
