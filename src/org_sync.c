/* Organization sync from the URL (@clerk/backend tokens/organizationMatcher.ts). The SDK hands
 * its patterns to path-to-regexp 6 (@clerk/shared pathToRegexp: match([...]) with the default
 * options: case-insensitive, anchored, an optional trailing delimiter). The syntax Clerk
 * documents for organizationSyncOptions ("/orgs/:slug", "/orgs/:slug/(.*)", "/me") is compiled
 * here into a small program for a Pike VM, which follows every alternative at once: the
 * parameters it reports are those the regular expression's backtracking would report (the
 * first alternative in priority order that matches), and the cost is the path's length times
 * the program's (bounded) size. */
#include <stdio.h>
#include <string.h>
#include <apr_strings.h>
#include "js_number.h"
#include "org_sync.h"

enum op { OP_CHAR, OP_SEG, OP_ANY, OP_DELIM, OP_SPLIT, OP_JMP, OP_SAVE, OP_MATCH };

typedef struct inst {
    enum op op;
    int x; /* OP_CHAR: the lower-cased byte; OP_SPLIT/OP_JMP: preferred target; OP_SAVE: slot */
    int y; /* OP_SPLIT: the other target */
} inst;

/* Capture slots: :id start/end, :slug start/end. */
#define NCAPS 4

typedef struct prog {
    inst *code;
    int n;
} prog;

struct clerk_path_patterns {
    prog *progs;
    size_t n;
    int max_len; /* the longest program, for the thread lists */
};

/* At most: per pattern byte 6 instructions (a one-byte "(.*)" group compiles to 7 for its 4
 * bytes), plus the end. */
#define MAX_INSTS (CLERK_PATH_PATTERN_MAX_LEN * 6 + 8)

typedef struct compiler {
    inst code[MAX_INSTS];
    int n;
    const char *pat;
    size_t pos;
    int has_id, has_slug;
} compiler;

static int emit(compiler *c, enum op op, int x, int y)
{
    if (c->n >= MAX_INSTS)
        return -1;
    c->code[c->n] = (inst){op, x, y};
    return c->n++;
}

static int lower(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}

static int is_name_char(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
           ch == '_';
}

/* One parameter: [SPLIT body, end] body: [prefix CHAR] SAVE, class loop, SAVE; end. seg: the
 * lazy one-or-more [^/#?] of a :name; else the greedy .* of "(.*)". */
static int emit_param(compiler *c, char prefix, int seg, int slot, int optional)
{
    int split = -1;
    if (optional && (split = emit(c, OP_SPLIT, 0, 0)) < 0)
        return -1;
    int body = c->n;
    if (prefix && emit(c, OP_CHAR, lower((unsigned char)prefix), 0) < 0)
        return -1;
    if (slot >= 0 && emit(c, OP_SAVE, slot, 0) < 0)
        return -1;
    if (seg) {
        /* L: SEG; SPLIT next, L (lazy: leaving the loop first) */
        int l = emit(c, OP_SEG, 0, 0);
        if (l < 0 || emit(c, OP_SPLIT, c->n + 1, l) < 0)
            return -1;
    } else {
        /* L: SPLIT body, next (greedy); body: ANY; JMP L */
        int l = emit(c, OP_SPLIT, 0, 0);
        if (l < 0 || emit(c, OP_ANY, 0, 0) < 0 || emit(c, OP_JMP, l, 0) < 0)
            return -1;
        c->code[l].x = l + 1;
        c->code[l].y = c->n;
    }
    if (slot >= 0 && emit(c, OP_SAVE, slot + 1, 0) < 0)
        return -1;
    if (optional) {
        c->code[split].x = body;
        c->code[split].y = c->n;
    }
    return 0;
}

/* Compiles one pattern into c; NULL, or what is refused. */
static const char *compile_one(compiler *c)
{
    const char *r = c->pat;
    size_t len = strlen(r);
    /* The literal text since the last parameter: path-to-regexp gives a ":name" that follows
     * text without a delimiter a look-ahead pattern, one that follows a parameter an error. */
    int text_since_param = 0, text_has_delim = 0, after_param = 0;
    c->n = 0;
    c->has_id = c->has_slug = 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)r[i] < 0x21 || (unsigned char)r[i] > 0x7e)
            return c->pos = i, "a byte that is not printable ASCII";
    size_t i = 0;
    while (i < len) {
        c->pos = i;
        char ch = r[i];
        /* A prefix: the one character before a parameter, when it is '/' or '.'. */
        char prefix = 0;
        size_t at = i;
        if ((ch == '/' || ch == '.') && i + 1 < len && (r[i + 1] == ':' || r[i + 1] == '(')) {
            prefix = ch;
            at = i + 1;
        }
        if (r[at] == ':') {
            size_t s = at + 1, e = s;
            while (e < len && is_name_char(r[e]))
                e++;
            if (e == s)
                return c->pos = at, "a ':' without a parameter name";
            if (e < len && r[e] == '(')
                return c->pos = e, "a parameter with its own pattern";
            if (prefix == '.')
                return c->pos = i, "a parameter after '.'";
            if (!prefix && after_param && !text_since_param)
                return c->pos = at, "a parameter right after another parameter";
            if (!prefix && text_since_param && !text_has_delim)
                return c->pos = at, "a parameter after text without '/'";
            int optional = 0;
            if (e < len && (r[e] == '*' || r[e] == '+'))
                return c->pos = e, "a '*' or '+' modifier";
            if (e < len && r[e] == '?')
                optional = 1;
            int slot = -1;
            if (e - s == 2 && strncmp(r + s, "id", 2) == 0) {
                if (c->has_id++)
                    return c->pos = at, "':id' used twice";
                slot = 0;
            } else if (e - s == 4 && strncmp(r + s, "slug", 4) == 0) {
                if (c->has_slug++)
                    return c->pos = at, "':slug' used twice";
                slot = 2;
            }
            if (emit_param(c, prefix, 1, slot, optional) < 0)
                return "too long";
            i = e + (size_t)optional;
            after_param = 1;
            text_since_param = text_has_delim = 0;
            continue;
        }
        if (r[at] == '(') {
            if (strncmp(r + at, "(.*)", 4) != 0)
                return c->pos = at, "a group other than (.*)";
            size_t e = at + 4;
            if (e < len && (r[e] == '*' || r[e] == '+'))
                return c->pos = e, "a '*' or '+' modifier";
            int optional = e < len && r[e] == '?';
            if (emit_param(c, prefix, 0, -1, optional) < 0)
                return "too long";
            i = e + (size_t)optional;
            after_param = 1;
            text_since_param = text_has_delim = 0;
            continue;
        }
        if (ch == '{' || ch == '}')
            return "a '{...}' group";
        if (ch == '*' || ch == '+' || ch == '?')
            return "a '*', '+' or '?' that follows no parameter";
        if (ch == '\\') {
            if (i + 1 >= len)
                return "a '\\' at the end";
            ch = r[++i];
        }
        if (emit(c, OP_CHAR, lower((unsigned char)ch), 0) < 0)
            return "too long";
        text_since_param = 1;
        text_has_delim |= ch == '/' || ch == '#' || ch == '?';
        i++;
    }
    c->pos = len;
    /* [/#?]?$ */
    int split = emit(c, OP_SPLIT, 0, 0);
    if (split < 0 || emit(c, OP_DELIM, 0, 0) < 0)
        return "too long";
    c->code[split].x = split + 1;
    c->code[split].y = c->n;
    if (emit(c, OP_MATCH, 0, 0) < 0)
        return "too long";
    return NULL;
}

clerk_path_patterns *clerk_path_patterns_compile(apr_pool_t *p, const char *const *patterns,
                                                 size_t n, char *err, size_t errlen)
{
    if (n == 0 || n > CLERK_PATH_PATTERNS_MAX) {
        snprintf(err, errlen, "between 1 and %d patterns, not %zu", CLERK_PATH_PATTERNS_MAX, n);
        return NULL;
    }
    clerk_path_patterns *pp = apr_pcalloc(p, sizeof(*pp));
    pp->progs = apr_pcalloc(p, n * sizeof(prog));
    pp->n = n;
    compiler *c = apr_palloc(p, sizeof(*c));
    for (size_t k = 0; k < n; k++) {
        if (strlen(patterns[k]) > CLERK_PATH_PATTERN_MAX_LEN) {
            snprintf(err, errlen, "pattern %zu is longer than %d bytes", k + 1,
                     CLERK_PATH_PATTERN_MAX_LEN);
            return NULL;
        }
        c->pat = patterns[k];
        c->pos = 0;
        const char *why = compile_one(c);
        if (why) {
            snprintf(err, errlen, "pattern %zu ('%s'): %s at offset %zu", k + 1, patterns[k], why,
                     c->pos);
            return NULL;
        }
        pp->progs[k].code = apr_pmemdup(p, c->code, (apr_size_t)c->n * sizeof(inst));
        pp->progs[k].n = c->n;
        if (c->n > pp->max_len)
            pp->max_len = c->n;
    }
    return pp;
}

/* ---- the Pike VM ------------------------------------------------------------------------- */

typedef struct thread {
    int pc;
    int caps[NCAPS];
} thread;

typedef struct tlist {
    int n;
    thread *t;
} tlist;

/* Adds pc's thread (and what it reaches without reading a byte) to l in priority order; each pc
 * once per step (mark). */
static void add_thread(const prog *pr, tlist *l, unsigned *mark, unsigned gen, int pc,
                       const int *caps, int pos)
{
    if (mark[pc] == gen)
        return;
    mark[pc] = gen;
    const inst *in = &pr->code[pc];
    switch (in->op) {
    case OP_JMP:
        add_thread(pr, l, mark, gen, in->x, caps, pos);
        return;
    case OP_SPLIT:
        add_thread(pr, l, mark, gen, in->x, caps, pos);
        add_thread(pr, l, mark, gen, in->y, caps, pos);
        return;
    case OP_SAVE: {
        int c2[NCAPS];
        memcpy(c2, caps, sizeof(c2));
        c2[in->x] = pos;
        add_thread(pr, l, mark, gen, pc + 1, c2, pos);
        return;
    }
    default:
        l->t[l->n].pc = pc;
        memcpy(l->t[l->n].caps, caps, sizeof(l->t[l->n].caps));
        l->n++;
    }
}

static int is_delim(unsigned char ch)
{
    return ch == '/' || ch == '#' || ch == '?';
}

/* 1 when pr matches all of s (len bytes), with the winning thread's captures in caps. */
static int run(const prog *pr, const char *s, size_t len, thread *buf, unsigned *mark,
               int caps[NCAPS])
{
    tlist cl = {0, buf}, nl = {0, buf + pr->n};
    unsigned gen = 1;
    int init[NCAPS] = {-1, -1, -1, -1};
    memset(mark, 0, (size_t)pr->n * sizeof(*mark));
    add_thread(pr, &cl, mark, gen, 0, init, 0);
    for (size_t pos = 0;; pos++) {
        if (pos == len) {
            for (int k = 0; k < cl.n; k++)
                if (pr->code[cl.t[k].pc].op == OP_MATCH) {
                    memcpy(caps, cl.t[k].caps, sizeof(cl.t[k].caps));
                    return 1;
                }
            return 0;
        }
        if (cl.n == 0)
            return 0;
        unsigned char ch = (unsigned char)s[pos];
        nl.n = 0;
        gen++;
        for (int k = 0; k < cl.n; k++) {
            const inst *in = &pr->code[cl.t[k].pc];
            int ok = in->op == OP_CHAR    ? lower(ch) == in->x
                     : in->op == OP_SEG   ? !is_delim(ch)
                     : in->op == OP_ANY   ? ch != '\n' && ch != '\r'
                     : in->op == OP_DELIM ? is_delim(ch)
                                          : 0;
            if (ok)
                add_thread(pr, &nl, mark, gen, cl.t[k].pc + 1, cl.t[k].caps, (int)pos + 1);
        }
        tlist tmp = cl;
        cl = nl;
        nl = tmp;
    }
}

int clerk_path_patterns_match(apr_pool_t *p, const clerk_path_patterns *pp, const char *path,
                              const char **id, const char **slug)
{
    if (id)
        *id = NULL;
    if (slug)
        *slug = NULL;
    if (!pp || !path)
        return -1;
    size_t len = strlen(path);
    if (len > (size_t)1 << 30)
        return -1;
    thread *buf = apr_palloc(p, 2 * (size_t)pp->max_len * sizeof(thread));
    unsigned *mark = apr_palloc(p, (size_t)pp->max_len * sizeof(unsigned));
    for (size_t k = 0; k < pp->n; k++) {
        int caps[NCAPS];
        if (!run(&pp->progs[k], path, len, buf, mark, caps))
            continue;
        if (id && caps[0] >= 0 && caps[1] >= caps[0])
            *id = apr_pstrmemdup(p, path + caps[0], (apr_size_t)(caps[1] - caps[0]));
        if (slug && caps[2] >= 0 && caps[3] >= caps[2])
            *slug = apr_pstrmemdup(p, path + caps[2], (apr_size_t)(caps[3] - caps[2]));
        return (int)k;
    }
    return -1;
}

/* ---- targets ------------------------------------------------------------------------------ */

clerk_org_target clerk_org_sync_target(apr_pool_t *p, const clerk_org_sync *os, const char *path)
{
    clerk_org_target t = {CLERK_ORG_TARGET_NONE, NULL, NULL};
    if (!os || !path)
        return t;
    const char *id = NULL, *slug = NULL;
    if (os->organization && clerk_path_patterns_match(p, os->organization, path, &id, &slug) >= 0) {
        if (id && *id) {
            t.kind = CLERK_ORG_TARGET_ORGANIZATION;
            t.id = id;
            return t;
        }
        if (slug && *slug) {
            t.kind = CLERK_ORG_TARGET_ORGANIZATION;
            t.slug = slug;
            return t;
        }
    }
    if (os->personal && clerk_path_patterns_match(p, os->personal, path, NULL, NULL) >= 0)
        t.kind = CLERK_ORG_TARGET_PERSONAL;
    return t;
}

const char *clerk_org_sync_param(const clerk_org_target *t)
{
    if (!t || t->kind == CLERK_ORG_TARGET_NONE)
        return NULL;
    if (t->kind == CLERK_ORG_TARGET_PERSONAL)
        return "";
    return t->id ? t->id : t->slug;
}

/* value === s for a JSON value and a C string. */
static int js_equals(const json_t *v, const char *s)
{
    return json_is_string(v) && json_string_length(v) == strlen(s) &&
           memcmp(json_string_value(v), s, json_string_length(v)) == 0;
}

int clerk_org_sync_must_activate(const clerk_org_target *t, const json_t *payload)
{
    if (!t || t->kind == CLERK_ORG_TARGET_NONE || !json_is_object(payload))
        return 0;
    const json_t *org_id = NULL, *org_slug = NULL;
    const json_t *v = json_object_get(payload, "v");
    if (json_is_number(v) && json_number_value(v) == 2) {
        /* claims.o?.id: only an object has properties (a string's or an array's are
         * undefined). */
        const json_t *o = json_object_get(payload, "o");
        if (json_is_object(o)) {
            org_id = json_object_get(o, "id");
            org_slug = json_object_get(o, "slg");
        }
    } else {
        org_id = json_object_get(payload, "org_id");
        org_slug = json_object_get(payload, "org_slug");
    }
    if (t->kind == CLERK_ORG_TARGET_PERSONAL)
        return clerk_js_truthy(org_id);
    if (t->slug && !js_equals(org_slug, t->slug))
        return 1;
    if (t->id && !js_equals(org_id, t->id))
        return 1;
    return 0;
}
