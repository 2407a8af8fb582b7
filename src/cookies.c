/* Cookie header parsing with the npm `cookie` package's rules (as bundled in @clerk/backend;
 * docs/design.md#token-sources). */
#include <string.h>
#include <apr_strings.h>
#include "cookies.h"
#include "url.h"

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* 1 when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
static int valid_utf8(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + n >= len)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

/* decodeURIComponent: NULL when a '%' is not followed by two hex digits, when the bytes are
 * not UTF-8 (JS throws URIError, and the cookie package then keeps the raw value), or when
 * the result would hold a NUL (which C strings cannot carry). */
static char *percent_decode(apr_pool_t *p, const char *s, size_t len)
{
    char *out = apr_palloc(p, len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            if (i + 2 >= len)
                return NULL;
            int hi = clerk_hex_digit(s[i + 1]), lo = clerk_hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return NULL;
            char c = (char)(hi * 16 + lo);
            if (c == '\0')
                return NULL;
            out[o++] = c;
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    if (!valid_utf8((const unsigned char *)out, o))
        return NULL;
    return out;
}

const char *clerk_cookie_get(const apr_table_t *cookies, const char *name)
{
    if (!cookies || !name)
        return NULL;
    const apr_array_header_t *arr = apr_table_elts(cookies);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    for (int i = 0; i < arr->nelts; i++)
        if (e[i].key && strcmp(e[i].key, name) == 0)
            return e[i].val;
    return NULL;
}

static int wanted(const char *name, size_t len, const char *const *prefixes)
{
    if (!prefixes)
        return 1;
    for (; *prefixes; prefixes++) {
        size_t n = strlen(*prefixes);
        if (len >= n && memcmp(name, *prefixes, n) == 0)
            return 1;
    }
    return 0;
}

apr_table_t *clerk_cookies_parse(apr_pool_t *p, const char *header, const char *const *prefixes)
{
    apr_table_t *t = apr_table_make(p, 8);
    if (!header)
        return t;
    size_t len = strnlen(header, CLERK_COOKIES_MAX_HEADER);
    if (len < 2)
        return t;
    const char *s = header;
    size_t idx = 0;
    int stored = 0;
    /* The header's length bounds the scan; the stored count bounds the look-ups, so thousands of
     * cookies cost one pass. A cookie after many others (a site's own) is still found. */
    while (idx < len) {
        const char *eq = memchr(s + idx, '=', len - idx);
        if (!eq)
            break;
        size_t eq_idx = (size_t)(eq - s);
        const char *semi = memchr(s + idx, ';', len - idx);
        size_t end_idx = semi ? (size_t)(semi - s) : len;
        if (eq_idx > end_idx) {
            /* This segment has no '='; resume at the segment that holds the next '='. */
            size_t k = eq_idx;
            while (k > idx && s[k - 1] != ';')
                k--;
            idx = k;
            continue;
        }
        size_t ks = idx, ke = eq_idx;
        while (ks < ke && is_ows(s[ks]))
            ks++;
        while (ke > ks && is_ows(s[ke - 1]))
            ke--;
        size_t vs = eq_idx + 1, ve = end_idx;
        while (vs < ve && is_ows(s[vs]))
            vs++;
        while (ve > vs && is_ows(s[ve - 1]))
            ve--;
        idx = end_idx + 1;
        if (stored >= CLERK_COOKIES_MAX || !wanted(s + ks, ke - ks, prefixes))
            continue;
        char *name = apr_pstrmemdup(p, s + ks, ke - ks);
        if (!clerk_cookie_get(t, name)) {
            const char *val = NULL;
            if (memchr(s + vs, '%', ve - vs))
                val = percent_decode(p, s + vs, ve - vs);
            if (!val)
                val = apr_pstrmemdup(p, s + vs, ve - vs);
            apr_table_addn(t, name, val);
            stored++;
        }
    }
    return t;
}
