/* The variables an application sees (docs/design.md#exported-variables) and the header names that
 * must never come in from the client. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include "export.h"
#include "js_number.h"

/* Values reach CGI environments and, through glue, request headers to back ends. A value with a
 * control byte (CR, LF, NUL's neighbours, DEL) could split or forge a header there, so such a
 * variable is not exported at all rather than altered: the application sees it missing, never
 * a value that differs from the signed claim. */
static int has_control(const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            return 1;
    return 0;
}

static void emit(clerk_export_fn fn, void *ctx, const char *name, const char *value)
{
    if (value != NULL && !has_control(value))
        fn(ctx, name, value);
}

static const char *status_str(clerk_status s)
{
    switch (s) {
    case CLERK_SIGNED_IN:
        return "signed-in";
    case CLERK_HANDSHAKE:
        return "handshake";
    default:
        return "signed-out";
    }
}

/* "CLERK_CLAIM_" + name upper-cased, every byte that is not an ASCII letter or digit as '_'. */
static const char *claim_var_name(apr_pool_t *p, const char *claim)
{
    static const char prefix[] = "CLERK_CLAIM_";
    size_t n = strlen(claim);
    char *out = apr_palloc(p, sizeof prefix + n);
    memcpy(out, prefix, sizeof prefix - 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)claim[i];
        out[sizeof prefix - 1 + i] = (c < 0x80 && isalnum(c)) ? (char)toupper(c) : '_';
    }
    out[sizeof prefix - 1 + n] = '\0';
    return out;
}

/* A scalar claim's value: strings as they are, numbers and booleans as their JSON text; NULL
 * for null, objects and arrays. */
static const char *scalar_value(apr_pool_t *p, const json_t *v)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_true(v))
        return "true";
    if (json_is_false(v))
        return "false";
    if (json_is_integer(v)) {
        char buf[32];
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return apr_pstrdup(p, buf);
    }
    if (json_is_real(v)) { /* as the SDK's String(n) prints it: 1e+21, 100000000000000000000 */
        char buf[40];
        clerk_js_number_text(json_real_value(v), buf, sizeof buf);
        return apr_pstrdup(p, buf);
    }
    return NULL;
}

static void export_claims(apr_pool_t *p, clerk_token *t, clerk_export_fn fn, void *ctx)
{
    const json_t *payload = t->jwt->payload;
    if (!json_is_object(payload))
        return;
    emit(fn, ctx, "CLERK_CLAIMS", clerk_token_claims_json(t));
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)payload, key, v)
    {
        if (key[0] == '\0')
            continue;
        const char *value = scalar_value(p, v);
        if (value != NULL)
            emit(fn, ctx, claim_var_name(p, key), value);
    }
}

/* prefix + "_" + key upper-cased, every byte that is not an ASCII letter or digit as '_'. */
static const char *nested_name(apr_pool_t *p, const char *prefix, const char *key)
{
    size_t a = strlen(prefix), n = strlen(key);
    char *out = apr_palloc(p, a + 1 + n + 1);
    memcpy(out, prefix, a);
    out[a] = '_';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        out[a + 1 + i] = (c < 0x80 && isalnum(c)) ? (char)toupper(c) : '_';
    }
    out[a + 1 + n] = '\0';
    return out;
}

/* An array of scalars as one value; NULL when an element is null, an object, an array or a
 * string holding the separator (the joined value would then say something the claim does
 * not). */
static const char *array_value(apr_pool_t *p, const json_t *a)
{
    size_t i, n = json_array_size(a);
    const json_t *el;
    const char **parts = apr_palloc(p, (n ? n : 1) * sizeof *parts);
    json_array_foreach(a, i, el)
    {
        const char *v = scalar_value(p, el);
        if (v == NULL || strstr(v, CLERK_EXPORT_ARRAY_SEP) != NULL)
            return NULL;
        parts[i] = v;
    }
    size_t len = 1;
    for (i = 0; i < n; i++)
        len += strlen(parts[i]) + strlen(CLERK_EXPORT_ARRAY_SEP);
    char *out = apr_palloc(p, len), *at = out;
    for (i = 0; i < n; i++) {
        if (i > 0) {
            memcpy(at, CLERK_EXPORT_ARRAY_SEP, strlen(CLERK_EXPORT_ARRAY_SEP));
            at += strlen(CLERK_EXPORT_ARRAY_SEP);
        }
        memcpy(at, parts[i], strlen(parts[i]));
        at += strlen(parts[i]);
    }
    *at = '\0';
    return out;
}

typedef struct nested_item {
    const char *name, *value;
    int top; /* a top-level array: its name is its own claim's */
} nested_item;

typedef struct nested_walk {
    apr_pool_t *p;
    apr_array_header_t *items; /* nested_item */
    apr_hash_t *counts;        /* name -> int: how many items carry it */
    int full;                  /* CLERK_EXPORT_NESTED_MAX reached: nothing more is collected */
} nested_walk;

static void count_name(apr_pool_t *p, apr_hash_t *h, const char *name)
{
    int *n = apr_hash_get(h, name, APR_HASH_KEY_STRING);
    if (n == NULL) {
        n = apr_pcalloc(p, sizeof *n);
        apr_hash_set(h, name, APR_HASH_KEY_STRING, n);
    }
    ++*n;
}

static int name_count(apr_hash_t *h, const char *name)
{
    const int *n = apr_hash_get(h, name, APR_HASH_KEY_STRING);
    return n ? *n : 0;
}

static void nested_add(nested_walk *w, const char *name, const char *value, int top)
{
    if (value == NULL || has_control(value) || strlen(name) > CLERK_EXPORT_NAME_MAX)
        return;
    if (w->items->nelts >= CLERK_EXPORT_NESTED_MAX) {
        w->full = 1;
        return;
    }
    count_name(w->p, w->counts, name);
    nested_item *it = apr_array_push(w->items);
    it->name = name;
    it->value = value;
    it->top = top;
}

/* The members of object o, whose variable name is prefix, at depth (o itself). */
static void nested_walk_object(nested_walk *w, const json_t *o, const char *prefix, int depth)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        if (w->full)
            return;
        if (key[0] == '\0' || depth + 1 > CLERK_EXPORT_NESTED_DEPTH)
            continue;
        const char *name = nested_name(w->p, prefix, key);
        if (strlen(name) > CLERK_EXPORT_NAME_MAX)
            continue; /* and so is every name below it */
        if (json_is_object(v))
            nested_walk_object(w, v, name, depth + 1);
        else if (json_is_array(v))
            nested_add(w, name, array_value(w->p, v), 0);
        else
            nested_add(w, name, scalar_value(w->p, v), 0);
    }
}

void clerk_export_nested_vars(apr_pool_t *p, const json_t *payload, clerk_export_fn fn, void *ctx)
{
    if (!json_is_object(payload))
        return;
    nested_walk w = {p, apr_array_make(p, 8, sizeof(nested_item)), apr_hash_make(p), 0};
    apr_hash_t *tops = apr_hash_make(p); /* every top-level claim's variable name */
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)payload, key, v)
    {
        if (key[0] == '\0')
            continue;
        const char *name = claim_var_name(p, key);
        count_name(p, tops, name);
        if (w.full)
            continue;
        if (json_is_object(v))
            nested_walk_object(&w, v, name, 1);
        else if (json_is_array(v))
            nested_add(&w, name, array_value(p, v), 1);
    }
    for (int i = 0; i < w.items->nelts; i++) {
        const nested_item *it = &APR_ARRAY_IDX(w.items, i, nested_item);
        /* A top-level array owns its name once; any other name must be nobody else's. */
        if (name_count(w.counts, it->name) == 1 && name_count(tops, it->name) == it->top)
            fn(ctx, it->name, it->value);
    }
}

void clerk_export_state_vars(const clerk_state *st, clerk_export_fn fn, void *ctx)
{
    fn(ctx, "CLERK_AUTH_STATUS", status_str(st->status));
    if (st->status != CLERK_SIGNED_IN && st->reason != CLERK_R_NONE)
        emit(fn, ctx, "CLERK_AUTH_REASON", clerk_reason_str(st->reason));
    if (st->source == CLERK_SRC_HEADER)
        fn(ctx, "CLERK_TOKEN_SOURCE", "header");
    else if (st->source == CLERK_SRC_COOKIE)
        fn(ctx, "CLERK_TOKEN_SOURCE", "cookie");
}

/* The variables that come from the token alone, in the order of docs/design.md#exported-variables.
 */
static void export_token_vars(apr_pool_t *p, clerk_token *t, const clerk_auth *auth,
                              clerk_export_fn fn, void *ctx)
{
    emit(fn, ctx, "CLERK_USER_ID", auth->user_id);
    emit(fn, ctx, "CLERK_SESSION_ID", auth->session_id);
    emit(fn, ctx, "CLERK_SESSION_STATUS", auth->session_status);
    emit(fn, ctx, "CLERK_ORG_ID", auth->org_id);
    emit(fn, ctx, "CLERK_ORG_SLUG", auth->org_slug);
    emit(fn, ctx, "CLERK_ORG_ROLE", auth->org_role);
    if (auth->org_permissions != NULL && auth->org_permissions->nelts > 0)
        emit(fn, ctx, "CLERK_ORG_PERMISSIONS", apr_array_pstrcat(p, auth->org_permissions, ','));
    emit(fn, ctx, "CLERK_ACTOR", auth->actor);
    if (auth->has_fva)
        fn(ctx, "CLERK_FVA", apr_psprintf(p, "%ld,%ld", auth->fva[0], auth->fva[1]));
    if (t != NULL && t->jwt != NULL)
        export_claims(p, t, fn, ctx);
}

void clerk_export_vars(apr_pool_t *p, const clerk_state *st, const clerk_auth *auth,
                       clerk_export_fn fn, void *ctx)
{
    clerk_export_state_vars(st, fn, ctx);
    if (auth != NULL)
        export_token_vars(p, st->token, auth, fn, ctx);
}

typedef struct pending {
    apr_array_header_t *names, *values;
    size_t bytes;
    int n_plain; /* entries before the nested ones */
} pending;

static void keep(void *ctx, const char *name, const char *value)
{
    pending *q = ctx;
    APR_ARRAY_PUSH(q->names, const char *) = name;
    APR_ARRAY_PUSH(q->values, const char *) = value;
    q->bytes += 2 * strlen(name) + 3 + 1 + strlen(value) + 1;
}

/* Copies s into the block at *at; returns the copy. */
static const char *put(char **at, const char *s, size_t n)
{
    char *out = *at;
    memcpy(out, s, n);
    out[n] = '\0';
    *at += n + 1;
    return out;
}

/* Builds the block in one allocation, so the token frees it with one free(). Names come first,
 * together, then header names, then values: a request reads every entry and every name (the
 * table computes a checksum from each name) but no value, so what it reads is a few lines. */
static clerk_token_exports *build(apr_pool_t *p, clerk_token *t)
{
    clerk_auth a;
    pending q = {apr_array_make(p, 24, sizeof(const char *)),
                 apr_array_make(p, 24, sizeof(const char *)), 0, 0};
    int ok = clerk_auth_from_claims(p, t->jwt->payload, &a) == 0;
    if (ok) {
        export_token_vars(p, t, &a, keep, &q);
        q.n_plain = q.names->nelts;
        clerk_export_nested_vars(p, t->jwt->payload, keep, &q);
    }
    size_t seg_len = 0;
    const char *seg = clerk_jwt_payload_segment(t->jwt, &seg_len);
    size_t n = (size_t)q.names->nelts;
    size_t head = sizeof(clerk_token_exports) + n * sizeof(clerk_export_entry);
    clerk_token_exports *x = malloc(head + q.bytes + seg_len + 1);
    if (x == NULL)
        return NULL;
    char *at = (char *)x + head;
    x->ok = ok;
    x->n = n;
    for (size_t i = 0; i < n; i++) {
        const char *name = APR_ARRAY_IDX(q.names, i, const char *);
        x->v[i].name = put(&at, name, strlen(name));
    }
    for (size_t i = 0; i < n; i++) {
        const char *h = clerk_export_header_name(p, x->v[i].name);
        x->v[i].header = put(&at, h, strlen(h));
    }
    x->hot_len = (size_t)(at - (char *)x);
    for (size_t i = 0; i < n; i++) {
        const char *value = APR_ARRAY_IDX(q.values, i, const char *);
        clerk_export_entry *e = &x->v[i];
        e->value = put(&at, value, strlen(value));
        e->header_value = e->value;
        e->nested = i >= (size_t)q.n_plain;
        /* JSON in a header would need escaping rules of its own; base64url needs none. */
        if (strcmp(e->name, "CLERK_CLAIMS") == 0)
            e->header_value = seg != NULL ? put(&at, seg, seg_len) : NULL;
    }
    return x;
}

const clerk_token_exports *clerk_export_token_vars(apr_pool_t *scratch, clerk_token *t)
{
    if (t == NULL || t->jwt == NULL)
        return NULL;
    const clerk_token_exports *have = clerk_token_memo(t);
    if (have != NULL) {
        /* With many tokens cached the block is seldom in a near cache: ask for all of what the
         * request will read at once rather than wait for each line in turn. */
        for (size_t i = 0; i < have->hot_len; i += 64)
            __builtin_prefetch((const char *)have + i);
        return have;
    }
    clerk_token_exports *x = build(scratch, t);
    return x != NULL ? clerk_token_memo_set(t, x) : NULL;
}

const char *clerk_export_header_name(apr_pool_t *p, const char *name)
{
    size_t n = strlen(name);
    char *out = apr_palloc(p, n + 3);
    out[0] = 'X';
    out[1] = '-';
    int word_start = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '_' || c == '-') {
            out[2 + i] = '-';
            word_start = 1;
            continue;
        }
        out[2 + i] = (char)(word_start ? toupper(c) : tolower(c));
        word_start = 0;
    }
    out[2 + n] = '\0';
    return out;
}

/* Compares name (from position i) with an upper-case pattern, '-' and '_' alike. */
static int matches_at(const char *name, const char *pat, int whole)
{
    size_t i = 0;
    for (; pat[i]; i++) {
        char c = name[i];
        if (c == '\0')
            return 0;
        if (c == '-')
            c = '_';
        if (toupper((unsigned char)c) != pat[i])
            return 0;
    }
    return whole ? name[i] == '\0' : 1;
}

int clerk_export_is_reserved_header(const char *name)
{
    if (name == NULL)
        return 0;
    /* Every request's every header comes through here: most are let go on one character. */
    const char *first = name;
    if ((first[0] == 'X' || first[0] == 'x') && (first[1] == '-' || first[1] == '_'))
        first += 2;
    switch (*first) {
    case 'R':
    case 'r':
    case 'A':
    case 'a':
    case 'C':
    case 'c':
        break;
    default:
        return 0;
    }
    const char *forms[2] = {name, NULL};
    if (matches_at(name, "X_", 0))
        forms[1] = name + 2;
    for (int i = 0; i < 2 && forms[i] != NULL; i++)
        if (matches_at(forms[i], "REMOTE_USER", 1) || matches_at(forms[i], "AUTH_TYPE", 1) ||
            matches_at(forms[i], "CLERK_", 0))
            return 1;
    return 0;
}
