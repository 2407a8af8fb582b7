/* has() as in the newest @clerk/shared authorization code: each asked dimension must pass, and
 * missing or malformed data fails it (the SDK's "fail closed" rewrite). Where the SDK throws
 * (a pla/fea element without ':', an unknown explicit scope) it catches and fails; so do we.
 * Strings are compared as bytes: the SDK compares UTF-16 strings, which is the same equality
 * for the valid UTF-8 jansson hands us. */
#include "has.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <jansson.h>

static int has_user(const clerk_auth *a)
{
    return a != NULL && !a->no_sdk_auth && a->user_id != NULL && a->user_id[0] != '\0';
}

static int has_active_org(const clerk_auth *a)
{
    return a->org_id != NULL && a->org_id[0] != '\0';
}

/* The SDK's prefixWithOrg replaces every leading "org:" with one; comparing what follows them
 * is the same test. */
static const char *strip_org_prefixes(const char *s)
{
    while (strncmp(s, "org:", 4) == 0)
        s += 4;
    return s;
}

int clerk_has_org(const clerk_auth *a, const char *id_or_slug)
{
    if (!has_user(a) || !has_active_org(a) || id_or_slug == NULL || id_or_slug[0] == '\0')
        return 0;
    if (strcmp(a->org_id, id_or_slug) == 0)
        return 1;
    return a->org_slug != NULL && strcmp(a->org_slug, id_or_slug) == 0;
}

int clerk_has_role(const clerk_auth *a, const char *role)
{
    if (!has_user(a) || role == NULL || !has_active_org(a))
        return 0;
    if (a->org_role == NULL || a->org_role[0] == '\0')
        return 0;
    return strcmp(strip_org_prefixes(a->org_role), strip_org_prefixes(role)) == 0;
}

int clerk_has_permission(const clerk_auth *a, const char *permission)
{
    if (!has_user(a) || permission == NULL || !has_active_org(a))
        return 0;
    if (a->org_permissions == NULL)
        return 0;
    /* The list entries are taken as they are (the SDK normalises only the asked permission):
     * an entry must be exactly "org:" + the asked name without its "org:"s. */
    const char *want = strip_org_prefixes(permission);
    for (int i = 0; i < a->org_permissions->nelts; i++) {
        const char *have = APR_ARRAY_IDX(a->org_permissions, i, const char *);
        if (have != NULL && strncmp(have, "org:", 4) == 0 && strcmp(have + 4, want) == 0)
            return 1;
    }
    return 0;
}

/* --- pla / fea ------------------------------------------------------------------------------ */

enum { SCOPE_ORG = 1, SCOPE_USER = 2 };

/* Byte length of the JavaScript white space (String.prototype.trim's set) starting at s[0..n),
 * or 0. */
static size_t js_space_prefix(const unsigned char *s, size_t n)
{
    if (n >= 1 && (s[0] == ' ' || (s[0] >= 0x09 && s[0] <= 0x0d)))
        return 1;
    if (n >= 2 && s[0] == 0xc2 && s[1] == 0xa0) /* U+00A0 */
        return 2;
    if (n >= 3) {
        if (s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) /* U+1680 */
            return 3;
        if (s[0] == 0xe2 && s[1] == 0x80 &&
            ((s[2] >= 0x80 && s[2] <= 0x8a) || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
            return 3; /* U+2000-U+200A, U+2028, U+2029, U+202F */
        if (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) /* U+205F */
            return 3;
        if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80) /* U+3000 */
            return 3;
        if (s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf) /* U+FEFF */
            return 3;
    }
    return 0;
}

/* Same at the end of s[0..n): UTF-8 continuation bytes are never lead bytes, so a match on
 * the last 1-3 bytes is that character. */
static size_t js_space_suffix(const unsigned char *s, size_t n)
{
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        if (js_space_prefix(s + n - k, k) == k)
            return k;
    }
    return 0;
}

static int is_org_scope(const char *s, size_t n)
{
    return (n == 1 && s[0] == 'o') || (n == 3 && memcmp(s, "org", 3) == 0) ||
           (n == 12 && memcmp(s, "organization", 12) == 0);
}

static int is_user_scope(const char *s, size_t n)
{
    return (n == 1 && s[0] == 'u') || (n == 4 && memcmp(s, "user", 4) == 0);
}

/* The scopes a claim element's prefix grants ("o", "u", "ou", "uo"); others are ignored. */
static int element_scopes(const char *s, size_t n)
{
    if (n == 1 && s[0] == 'o')
        return SCOPE_ORG;
    if (n == 1 && s[0] == 'u')
        return SCOPE_USER;
    if (n == 2 && (memcmp(s, "ou", 2) == 0 || memcmp(s, "uo", 2) == 0))
        return SCOPE_ORG | SCOPE_USER;
    return 0;
}

/* checkForFeatureOrPlan + checkBillingAuthorization for one asked name. The asked name is read
 * as JavaScript's split(':') reads it: the scope is what precedes the first ':', the name what
 * lies between the first and a second ':' (an empty name falls back to the scope text). The
 * whole claim is scanned even after a hit, because one element without ':' makes the SDK throw
 * and deny. */
static int billing_has(const char *claim, const char *asked)
{
    if (claim == NULL || claim[0] == '\0' || asked == NULL)
        return 0;

    int wanted = SCOPE_ORG | SCOPE_USER;
    const char *id = asked;
    size_t idlen = strlen(asked);
    const char *c1 = strchr(asked, ':');
    if (c1 != NULL) {
        size_t scope_len = (size_t)(c1 - asked);
        const char *raw_id = c1 + 1;
        const char *c2 = strchr(raw_id, ':');
        size_t raw_len = c2 ? (size_t)(c2 - raw_id) : strlen(raw_id);
        if (is_org_scope(asked, scope_len))
            wanted = SCOPE_ORG;
        else if (is_user_scope(asked, scope_len))
            wanted = SCOPE_USER;
        else
            return 0; /* the SDK throws "Invalid scope" */
        if (raw_len > 0) {
            id = raw_id;
            idlen = raw_len;
        } else {
            idlen = scope_len;
        }
    }

    int found = 0;
    const char *p = claim;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const unsigned char *s = (const unsigned char *)p;
        size_t k;
        while ((k = js_space_prefix(s, n)) > 0) {
            s += k;
            n -= k;
        }
        while ((k = js_space_suffix(s, n)) > 0)
            n -= k;
        const char *e = (const char *)s;
        const char *colon = memchr(e, ':', n);
        if (colon == NULL)
            return 0; /* the SDK throws "Invalid claim element (missing colon)" */
        size_t scope_len = (size_t)(colon - e);
        size_t value_len = n - scope_len - 1;
        if ((element_scopes(e, scope_len) & wanted) && value_len == idlen &&
            memcmp(colon + 1, id, idlen) == 0)
            found = 1;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return found;
}

int clerk_has_plan(const clerk_auth *a, const char *plan)
{
    return has_user(a) && billing_has(a->plans, plan);
}

int clerk_has_feature(const clerk_auth *a, const char *feature)
{
    return has_user(a) && billing_has(a->features, feature);
}

/* --- reverification ------------------------------------------------------------------------- */

static int valid_factor_age(long age)
{
    return age == -1 || age >= 0;
}

int clerk_has_reverification(const clerk_auth *a, int64_t now_ms, long after_minutes, int level)
{
    /* now_ms is unused: fva is relative to the token's minting; Clerk does not age it */
    if (!has_user(a) || !a->has_fva)
        return 0;
    if (after_minutes < 1 || clerk_reverification_level_name(level) == NULL)
        return 0;
    long f1 = a->fva[0], f2 = a->fva[1];
    if (!valid_factor_age(f1) || !valid_factor_age(f2))
        return 0;
    if (f1 == -1 && f2 == -1)
        return 0;
    int f1_fresh = f1 != -1 && after_minutes > f1;
    int f2_fresh = f2 != -1 && after_minutes > f2;
    switch (level) {
    case CLERK_REVERIFY_FIRST_FACTOR:
        return f1_fresh;
    case CLERK_REVERIFY_SECOND_FACTOR:
        /* No second factor enrolled: the first one stands in (the SDK's graceful downgrade). */
        return f2 == -1 ? f1_fresh : f2_fresh;
    case CLERK_REVERIFY_MULTI_FACTOR:
        if (f2 == -1)
            return f1_fresh;
        if (f1 == -1)
            return 0;
        return f1_fresh && f2_fresh;
    }
    return 0;
}

static const char *const level_names[] = {NULL, "first_factor", "second_factor", "multi_factor"};

int clerk_reverification_level_from_name(const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = CLERK_REVERIFY_FIRST_FACTOR; i <= CLERK_REVERIFY_MULTI_FACTOR; i++) {
        if (strcmp(name, level_names[i]) == 0)
            return i;
    }
    return -1;
}

const char *clerk_reverification_level_name(int level)
{
    if (level < CLERK_REVERIFY_FIRST_FACTOR || level > CLERK_REVERIFY_MULTI_FACTOR)
        return NULL;
    return level_names[level];
}

/* The SDK's TYPES_TO_OBJECTS. */
static const struct {
    const char *name;
    long after_minutes;
    int level;
} presets[] = {
    {"strict_mfa", 10, CLERK_REVERIFY_MULTI_FACTOR},
    {"strict", 10, CLERK_REVERIFY_SECOND_FACTOR},
    {"moderate", 60, CLERK_REVERIFY_SECOND_FACTOR},
    {"lax", 1440, CLERK_REVERIFY_SECOND_FACTOR},
};

/* Strict decimal: digits only, no sign or space, 1..CLERK_REVERIFY_MAX_MINUTES. */
static int parse_minutes(const char *s, long *out)
{
    if (s == NULL || s[0] < '0' || s[0] > '9')
        return -1;
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9')
            return -1;
    }
    errno = 0;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == NULL || *end != '\0' || v < 1 || v > CLERK_REVERIFY_MAX_MINUTES)
        return -1;
    *out = v;
    return 0;
}

int clerk_reverification_parse(apr_pool_t *p, int argc, const char *const *argv,
                               clerk_reverification *out, clerk_error *err)
{
    if (argc < 1 || argv == NULL || argv[0] == NULL || argv[0][0] == '\0') {
        return clerk_error_set(err, CLERK_R_NONE,
                               "missing minutes or preset (strict_mfa, strict, moderate, lax)");
    }
    if (argc > 2) {
        return clerk_error_set(err, CLERK_R_NONE,
                               "too many arguments (expected <minutes> [first_factor|second_factor|"
                               "multi_factor] or a preset)");
    }
    for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
        if (strcmp(argv[0], presets[i].name) == 0) {
            if (argc > 1) {
                return clerk_error_set(err, CLERK_R_NONE, "preset \"%s\" takes no level",
                                       presets[i].name);
            }
            out->after_minutes = presets[i].after_minutes;
            out->level = presets[i].level;
            out->preset = presets[i].name;
            return 0;
        }
    }
    long minutes;
    if (parse_minutes(argv[0], &minutes) != 0) {
        return clerk_error_set(err, CLERK_R_NONE,
                               "minutes must be a whole number from 1 to %ld or a preset "
                               "(strict_mfa, strict, moderate, lax), not \"%s\"",
                               CLERK_REVERIFY_MAX_MINUTES, argv[0]);
    }
    int level = CLERK_REVERIFY_SECOND_FACTOR;
    if (argc == 2) {
        level = clerk_reverification_level_from_name(argv[1]);
        if (level < 0) {
            return clerk_error_set(err, CLERK_R_NONE,
                                   "unknown level \"%s\" (use first_factor, second_factor or "
                                   "multi_factor)",
                                   argv[1]);
        }
    }
    out->after_minutes = minutes;
    out->level = level;
    out->preset = NULL;
    return 0;
}

const char *clerk_reverification_hint_json(apr_pool_t *p, const clerk_reverification *r)
{
    json_t *what;
    if (r->preset != NULL)
        what = json_string(r->preset);
    else
        what = json_pack("{s:s, s:I}", "level", clerk_reverification_level_name(r->level),
                         "afterMinutes", (json_int_t)r->after_minutes);
    json_t *body = json_pack("{s:{s:s, s:s, s:{s:o}}}", "clerk_error", "type", "forbidden",
                             "reason", "reverification-error", "metadata", "reverification", what);
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    if (text == NULL)
        return "{\"clerk_error\":{\"type\":\"forbidden\",\"reason\":\"reverification-error\"}}";
    const char *copy = apr_pstrdup(p, text);
    free(text);
    return copy;
}

/* --- configuration-time argument checks ----------------------------------------------------- */

int clerk_has_check_org_arg(const char *id_or_slug, clerk_error *err)
{
    if (id_or_slug == NULL || id_or_slug[0] == '\0')
        return clerk_error_set(err, CLERK_R_NONE, "empty organization id or slug");
    return 0;
}

int clerk_has_check_role_arg(const char *role, clerk_error *err)
{
    if (role == NULL || role[0] == '\0')
        return clerk_error_set(err, CLERK_R_NONE, "empty role");
    if (strip_org_prefixes(role)[0] == '\0')
        return clerk_error_set(err, CLERK_R_NONE, "role \"%s\" names no role", role);
    return 0;
}

int clerk_has_check_permission_arg(const char *permission, clerk_error *err)
{
    if (permission == NULL || permission[0] == '\0')
        return clerk_error_set(err, CLERK_R_NONE, "empty permission");
    if (strip_org_prefixes(permission)[0] == '\0')
        return clerk_error_set(err, CLERK_R_NONE, "permission \"%s\" names no permission",
                               permission);
    return 0;
}

int clerk_has_check_billing_arg(const char *name, clerk_error *err)
{
    if (name == NULL || name[0] == '\0')
        return clerk_error_set(err, CLERK_R_NONE, "empty plan or feature name");
    const char *c1 = strchr(name, ':');
    if (c1 == NULL)
        return 0;
    /* The SDK reads only up to a second ':', so "org:a:b" would silently mean "org:a". */
    if (strchr(c1 + 1, ':') != NULL)
        return clerk_error_set(err, CLERK_R_NONE, "\"%s\" has more than one ':'", name);
    size_t scope_len = (size_t)(c1 - name);
    if (!is_org_scope(name, scope_len) && !is_user_scope(name, scope_len))
        return clerk_error_set(err, CLERK_R_NONE,
                               "\"%s\" has an unknown scope \"%.*s\" (use org:, o:, organization:, "
                               "user: or u:)",
                               name, (int)scope_len, name);
    /* The SDK would look for the scope word itself ("org:" asks for a plan named "org"). */
    if (c1[1] == '\0')
        return clerk_error_set(err, CLERK_R_NONE, "\"%s\" has no name after its scope", name);
    return 0;
}
