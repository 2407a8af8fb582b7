/* clerk-claim matching. The walk is a plain tree descent, so each JSON value is reached at most
 * once per test; the visit and depth caps only bound payloads far larger than Clerk mints. */
#include "claim_match.h"
#include "js_number.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>

struct clerk_claim_matcher {
    const char *text;
    const char *segs[CLERK_CLAIM_MAX_DEPTH];
    int nsegs;
    int has_value;
    const char *value;
    size_t value_len;
};

const clerk_claim_matcher *clerk_claim_matcher_parse(apr_pool_t *p, const char *arg,
                                                     clerk_error *err)
{
    if (arg == NULL || arg[0] == '\0' || arg[0] == '=') {
        clerk_error_set(err, CLERK_R_NONE, CLERK_CLAIM_ERR_EMPTY_PATH " in \"%s\"", arg ? arg : "");
        return NULL;
    }
    clerk_claim_matcher *m = apr_pcalloc(p, sizeof(*m));
    m->text = apr_pstrdup(p, arg);
    const char *eq = strchr(arg, '=');
    size_t path_len = eq ? (size_t)(eq - arg) : strlen(arg);
    if (eq != NULL) {
        m->has_value = 1;
        m->value = apr_pstrdup(p, eq + 1);
        m->value_len = strlen(m->value);
    }

    const char *s = arg, *end = arg + path_len;
    for (;;) {
        const char *dot = memchr(s, '.', (size_t)(end - s));
        const char *seg_end = dot ? dot : end;
        if (seg_end == s) {
            clerk_error_set(err, CLERK_R_NONE, CLERK_CLAIM_ERR_EMPTY_SEGMENT " \"%.*s\"",
                            (int)path_len, arg);
            return NULL;
        }
        if (m->nsegs == CLERK_CLAIM_MAX_DEPTH) {
            clerk_error_set(err, CLERK_R_NONE, CLERK_CLAIM_ERR_TOO_DEEP " (\"%.*s\")",
                            (int)path_len, arg);
            return NULL;
        }
        m->segs[m->nsegs++] = apr_pstrmemdup(p, s, (size_t)(seg_end - s));
        if (dot == NULL)
            break;
        s = dot + 1;
    }
    return m;
}

const char *clerk_claim_matcher_text(const clerk_claim_matcher *m)
{
    return m ? m->text : "";
}

/* A string, number or boolean equal to the matcher's value; never an object, array or null. */
static int scalar_equals(const clerk_claim_matcher *m, const json_t *v)
{
    char buf[64];
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_string_length(v) == m->value_len &&
               memcmp(json_string_value(v), m->value, m->value_len) == 0;
    case JSON_INTEGER:
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return strcmp(buf, m->value) == 0;
    case JSON_REAL:
        clerk_js_number_text(json_real_value(v), buf, sizeof(buf));
        return strcmp(buf, m->value) == 0;
    case JSON_TRUE:
        return strcmp(m->value, "true") == 0;
    case JSON_FALSE:
        return strcmp(m->value, "false") == 0;
    default:
        return 0;
    }
}

typedef struct walk {
    const clerk_claim_matcher *m;
    int visits;
    int overflow;
} walk;

static int visit(walk *w)
{
    if (++w->visits > CLERK_CLAIM_MAX_VISITS) {
        w->overflow = 1;
        return 0;
    }
    return 1;
}

static int at_end(walk *w, const json_t *v)
{
    const clerk_claim_matcher *m = w->m;
    if (!m->has_value)
        return !json_is_null(v) && !json_is_false(v);
    if (scalar_equals(m, v))
        return 1;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (!visit(w))
                return 0;
            if (scalar_equals(m, json_array_get(v, i)))
                return 1;
        }
    }
    return 0;
}

/* depth = containers entered above v. */
static int walk_at(walk *w, const json_t *v, int seg, int depth)
{
    if (!visit(w))
        return 0;
    if (seg == w->m->nsegs)
        return at_end(w, v);
    if (!json_is_object(v) && !json_is_array(v))
        return 0;
    if (depth + 1 > CLERK_CLAIM_MAX_DEPTH) {
        w->overflow = 1;
        return 0;
    }
    if (json_is_object(v)) {
        const json_t *child = json_object_get(v, w->m->segs[seg]);
        return child != NULL && walk_at(w, child, seg + 1, depth + 1);
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        if (walk_at(w, json_array_get(v, i), seg, depth + 1))
            return 1;
        if (w->overflow)
            return 0;
    }
    return 0;
}

int clerk_claim_match(const clerk_claim_matcher *m, const json_t *payload)
{
    if (m == NULL || payload == NULL || !json_is_object(payload))
        return 0;
    walk w = {m, 0, 0};
    int hit = walk_at(&w, payload, 0, 0);
    if (hit)
        return 1;
    return w.overflow ? -1 : 0;
}
