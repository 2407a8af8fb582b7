/* The signed-in auth object of Clerk's jwtPayloadParser (@clerk/shared): v1 org claims, or the
 * compact v2 encoding (o.id/o.slg/o.rol, fea + o.per + o.fpm bitmasks). */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include "auth.h"

/* Most comma-separated items read from fea / o.per / o.fpm: bounded work on a hostile token. */
#define LIST_MAX 256

static const char *pstr(apr_pool_t *p, const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    return json_is_string(v) ? apr_pstrdup(p, json_string_value(v)) : NULL;
}

/* A piece of a comma list with JS String.prototype.trim's ASCII whitespace removed. */
typedef struct piece {
    const char *s;
    size_t len;
} piece;

static int is_js_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r';
}

static piece trim(const char *s, size_t len)
{
    while (len > 0 && is_js_space(*s)) {
        s++;
        len--;
    }
    while (len > 0 && is_js_space(s[len - 1]))
        len--;
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

/* Clerk's org features: entries whose scope (text before the first ':') contains 'o', named by
 * the text between the first and the second ':'. An entry without ':' still takes a feature
 * slot (Clerk keeps it as `undefined`) so later bitmasks stay aligned; its name is NULL. */
static size_t org_features(apr_pool_t *p, const char *fea, const char **names, size_t max)
{
    piece items[LIST_MAX];
    size_t n = split_commas(fea, items, LIST_MAX), k = 0;
    for (size_t i = 0; i < n && k < max; i++) {
        const char *colon = memchr(items[i].s, ':', items[i].len);
        size_t scope_len = colon != NULL ? (size_t)(colon - items[i].s) : items[i].len;
        if (memchr(items[i].s, 'o', scope_len) == NULL)
            continue;
        if (colon == NULL) {
            names[k++] = NULL;
            continue;
        }
        const char *name = colon + 1;
        size_t rest = items[i].len - scope_len - 1;
        const char *colon2 = memchr(name, ':', rest);
        names[k++] = apr_pstrmemdup(p, name, colon2 != NULL ? (size_t)(colon2 - name) : rest);
    }
    return k;
}

/* JS parseInt(s, 10) as a double: leading whitespace, optional sign, the longest run of
 * decimal digits; NaN when there is none. */
static double js_parse_int(piece pc)
{
    const char *s = pc.s, *end = pc.s + pc.len;
    while (s < end && is_js_space(*s))
        s++;
    int neg = 0;
    if (s < end && (*s == '+' || *s == '-'))
        neg = *s++ == '-';
    const char *digits = s;
    while (s < end && isdigit((unsigned char)*s))
        s++;
    if (s == digits)
        return NAN;
    /* Correctly rounded like V8, and bounded: a digit run is at most the token's size. */
    char *buf = strndup(digits, (size_t)(s - digits));
    double v = buf != NULL ? strtod(buf, NULL) : NAN;
    free(buf);
    return neg ? -v : v;
}

/* Bit i (LSB first) of the binary digits of |v|, as Clerk reads Number#toString(2) reversed:
 * the sign character and NaN/Infinity never read as a set bit. Exact for every double. */
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
        double bits = js_parse_int(masks[j]);
        for (size_t i = 0; i < nperm; i++)
            if (js_bit(bits, i))
                APR_ARRAY_PUSH(out, const char *) =
                    apr_psprintf(p, "org:%s:%.*s", features[j], (int)perms[i].len, perms[i].s);
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
    if (json_is_array(fva) && json_array_size(fva) == 2 && json_is_number(json_array_get(fva, 0)) &&
        json_is_number(json_array_get(fva, 1))) {
        a->has_fva = 1;
        a->fva[0] = (long)json_number_value(json_array_get(fva, 0));
        a->fva[1] = (long)json_number_value(json_array_get(fva, 1));
    }

    const json_t *v = json_object_get(payload, "v");
    if (json_is_number(v) && json_number_value(v) == 2.0) {
        a->version = 2;
        const json_t *o = json_object_get(payload, "o");
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
