/* The signed-in auth object of Clerk's jwtPayloadParser (@clerk/shared): v1 org claims, or the
 * compact v2 encoding (o.id/o.slg/o.rol, fea + o.per + o.fpm bitmasks). */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "auth.h"
#include "js_number.h"

/* Most comma-separated items read from fea / o.per / o.fpm: bounded work on a hostile token. */
#define LIST_MAX 256

static const char *pstr(apr_pool_t *p, const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    return json_is_string(v) ? apr_pstrdup(p, json_string_value(v)) : NULL;
}

/* A piece of a comma list with JS String.prototype.trim's whitespace removed. */
typedef struct piece {
    const char *s;
    size_t len;
} piece;

/* UTF-8 encodings of the non-ASCII code points JS trim() removes: NBSP, BOM, Ogham space,
 * U+2000..U+200A, line and paragraph separators, narrow NBSP, medium math space, ideographic
 * space. */
static const char *const js_wide_spaces[] = {
    "\xc2\xa0",     "\xef\xbb\xbf", "\xe1\x9a\x80", "\xe2\x80\x80", "\xe2\x80\x81",
    "\xe2\x80\x82", "\xe2\x80\x83", "\xe2\x80\x84", "\xe2\x80\x85", "\xe2\x80\x86",
    "\xe2\x80\x87", "\xe2\x80\x88", "\xe2\x80\x89", "\xe2\x80\x8a", "\xe2\x80\xa8",
    "\xe2\x80\xa9", "\xe2\x80\xaf", "\xe2\x81\x9f", "\xe3\x80\x80"};

static int is_js_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r';
}

/* Bytes of the JS whitespace character that s[0..len) starts (at_end: ends) with, or 0. */
static size_t js_space_len(const char *s, size_t len, int at_end)
{
    if (len == 0)
        return 0;
    if (is_js_space(at_end ? s[len - 1] : s[0]))
        return 1;
    for (size_t i = 0; i < sizeof(js_wide_spaces) / sizeof(js_wide_spaces[0]); i++) {
        size_t n = strlen(js_wide_spaces[i]);
        if (n <= len && memcmp(at_end ? s + len - n : s, js_wide_spaces[i], n) == 0)
            return n;
    }
    return 0;
}

static piece trim(const char *s, size_t len)
{
    size_t n;
    while ((n = js_space_len(s, len, 0)) > 0) {
        s += n;
        len -= n;
    }
    while ((n = js_space_len(s, len, 1)) > 0)
        len -= n;
    return (piece){s, len};
}

/* Splits s on ',' (as JS split: "" gives one empty item) into at most max trimmed pieces. */
static size_t split_commas(const char *s, piece *out, size_t max)
{
    size_t n = 0;
    const char *start = s;
    for (;;) {
        const char *comma = strchr(start, ',');
        size_t len = comma != NULL ? (size_t)(comma - start) : strlen(start);
        if (n == max)
            break;
        out[n++] = trim(start, len);
        if (comma == NULL)
            break;
        start = comma + 1;
    }
    return n;
}

/* differences.h: fea-scope-without-o-names-no-feature, fpm-mask-digits-only */
/* The org features of fea. Clerk counts every entry whose scope (text before the first ':')
 * contains 'o' as an org feature slot, so the j-th fpm mask belongs to the j-th such entry; the
 * slot count is kept exactly for that alignment. A slot is named (text between the first and
 * second ':') only when its scope is one Clerk issues, "o", "ou" or "uo", and the name is not
 * empty; any other slot (no ':', "foo:x", "o:") grants nothing, where Clerk would grant
 * "org:undefined:<perm>" or "org:x:<perm>" for a token it never mints. */
static size_t org_features(apr_pool_t *p, const char *fea, const char **names, size_t max)
{
    piece items[LIST_MAX];
    size_t n = split_commas(fea, items, LIST_MAX), k = 0;
    for (size_t i = 0; i < n && k < max; i++) {
        const char *colon = memchr(items[i].s, ':', items[i].len);
        size_t scope_len = colon != NULL ? (size_t)(colon - items[i].s) : items[i].len;
        if (memchr(items[i].s, 'o', scope_len) == NULL)
            continue;
        names[k] = NULL;
        int issued = colon != NULL && ((scope_len == 1 && items[i].s[0] == 'o') ||
                                       (scope_len == 2 && (memcmp(items[i].s, "ou", 2) == 0 ||
                                                           memcmp(items[i].s, "uo", 2) == 0)));
        if (issued) {
            const char *name = colon + 1;
            size_t rest = items[i].len - scope_len - 1;
            const char *colon2 = memchr(name, ':', rest);
            size_t name_len = colon2 != NULL ? (size_t)(colon2 - name) : rest;
            if (name_len > 0)
                names[k] = apr_pstrmemdup(p, name, name_len);
        }
        k++;
    }
    return k;
}

/* An fpm mask as the number JS parseInt(s, 10) gives, read only when the trimmed piece is all
 * decimal digits: a sign or trailing text (which parseInt would skip over, and a '-' Clerk would
 * read as a bit) makes the mask grant nothing. NaN for those. */
static double mask_value(piece pc)
{
    if (pc.len == 0)
        return NAN;
    for (size_t i = 0; i < pc.len; i++)
        if (!isdigit((unsigned char)pc.s[i]))
            return NAN;
    /* Correctly rounded like V8, and bounded: the run is at most the token's size. */
    char *buf = strndup(pc.s, pc.len);
    double v = buf != NULL ? strtod(buf, NULL) : NAN;
    free(buf);
    return v;
}

/* Bit i (LSB first) of the binary digits of v, as Clerk reads Number#toString(2) reversed;
 * NaN and Infinity have none. Exact for every double. */
static int js_bit(double v, size_t i)
{
    if (!isfinite(v))
        return 0;
    v = fabs(v);
    if (i > 1100)
        return 0;
    double shifted = floor(ldexp(v, -(int)i));
    return fmod(shifted, 2.0) == 1.0;
}

/* v2 permissions: for the j-th org feature, bit i of the j-th fpm value grants permission i of
 * o.per as "org:<feature>:<perm>". Clerk needs both per and fpm non-empty. Bits past the end of
 * o.per are skipped (Clerk would emit "org:<feature>:undefined", which no real permission is). */
static void v2_permissions(apr_pool_t *p, const char *fea, const char *per, const char *fpm,
                           apr_array_header_t *out)
{
    if (fea == NULL || per == NULL || fpm == NULL || per[0] == '\0' || fpm[0] == '\0')
        return;
    const char *features[LIST_MAX];
    size_t nfeat = org_features(p, fea, features, LIST_MAX);
    piece perms[LIST_MAX], masks[LIST_MAX];
    size_t nperm = split_commas(per, perms, LIST_MAX);
    size_t nmask = split_commas(fpm, masks, LIST_MAX);
    for (size_t j = 0; j < nfeat && j < nmask; j++) {
        if (features[j] == NULL)
            continue;
        double bits = mask_value(masks[j]);
        for (size_t i = 0; i < nperm; i++)
            if (js_bit(bits, i))
                APR_ARRAY_PUSH(out, const char *) =
                    apr_psprintf(p, "org:%s:%.*s", features[j], (int)perms[i].len, perms[i].s);
    }
}

/* differences.h: fva-integers-only */
/* One fva age: an integral number that is -1 (factor not enrolled) or >= 0, ages past LONG_MAX
 * clamped (never fresh either way). Anything else (fractions, other negatives, non-numbers)
 * makes the whole fva absent, so has({reverification}) is denied where Clerk's comparisons on
 * such values could grant. */
static int fva_age(const json_t *v, long *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < -1)
            return 0;
        *out = i > LONG_MAX ? LONG_MAX : (long)i;
        return 1;
    }
    if (!json_is_real(v))
        return 0;
    double d = json_real_value(v);
    if (!isfinite(d) || d != floor(d) || d < -1.0)
        return 0;
    *out = d >= (double)LONG_MAX ? LONG_MAX : (long)d;
    return 1;
}

/* Whether @clerk/shared's splitByScope(fea) throws, as toAuth() calls it for v2 claims with an
 * organization (jwtPayloadParser.ts): a truthy fea that is not a string, or a comma-separated
 * element without ':' (an empty one included). */
static int fea_throws(const json_t *fea)
{
    if (!clerk_js_truthy(fea))
        return 0;
    if (!json_is_string(fea))
        return 1;
    const char *s = json_string_value(fea);
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        if (memchr(s, ':', n) == NULL)
            return 1;
        if (!comma)
            return 0;
        s = comma + 1;
    }
}

int clerk_auth_from_claims(apr_pool_t *p, const json_t *payload, clerk_auth *a)
{
    memset(a, 0, sizeof *a);
    a->org_permissions = apr_array_make(p, 4, sizeof(const char *));
    a->version = 1;
    if (!json_is_object(payload))
        return -1;
    const json_t *sub = json_object_get(payload, "sub");
    if (!json_is_string(sub) || json_string_length(sub) == 0)
        return -1;
    a->user_id = apr_pstrdup(p, json_string_value(sub));
    a->session_id = pstr(p, payload, "sid");
    a->session_status = pstr(p, payload, "sts");
    const json_t *act = json_object_get(payload, "act");
    if (json_is_object(act))
        a->actor = pstr(p, act, "sub");
    a->plans = pstr(p, payload, "pla");
    a->features = pstr(p, payload, "fea");

    const json_t *fva = json_object_get(payload, "fva");
    long ages[2];
    if (json_is_array(fva) && json_array_size(fva) == 2 &&
        fva_age(json_array_get(fva, 0), &ages[0]) && fva_age(json_array_get(fva, 1), &ages[1])) {
        a->has_fva = 1;
        a->fva[0] = ages[0];
        a->fva[1] = ages[1];
    }

    const json_t *v = json_object_get(payload, "v");
    if (json_is_number(v) && json_number_value(v) == 2.0) {
        a->version = 2;
        const json_t *o = json_object_get(payload, "o");
        if (clerk_js_truthy(o) && fea_throws(json_object_get(payload, "fea")))
            a->no_sdk_auth = 1;
        if (json_is_object(o)) {
            a->org_id = pstr(p, o, "id");
            a->org_slug = pstr(p, o, "slg");
            const json_t *rol = json_object_get(o, "rol");
            if (json_is_string(rol) && json_string_length(rol) > 0)
                a->org_role = apr_pstrcat(p, "org:", json_string_value(rol), NULL);
            const json_t *per = json_object_get(o, "per"), *fpm = json_object_get(o, "fpm");
            v2_permissions(p, a->features, json_is_string(per) ? json_string_value(per) : NULL,
                           json_is_string(fpm) ? json_string_value(fpm) : NULL, a->org_permissions);
        }
    } else {
        a->org_id = pstr(p, payload, "org_id");
        a->org_slug = pstr(p, payload, "org_slug");
        a->org_role = pstr(p, payload, "org_role");
        const json_t *perms = json_object_get(payload, "org_permissions");
        size_t i;
        const json_t *e;
        json_array_foreach(perms, i, e)
        {
            if (json_is_string(e) && i < LIST_MAX)
                APR_ARRAY_PUSH(a->org_permissions, const char *) =
                    apr_pstrdup(p, json_string_value(e));
        }
    }
    return 0;
}
