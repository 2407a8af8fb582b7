/* `Require clerk-org|clerk-role|clerk-permission|clerk-plan|clerk-feature|clerk-reverified|
 * clerk-claim` (docs/design.md#authorization): thin providers over the core's has() and claim
 * matcher. Arguments are checked when the Require line is read, so a typo stops httpd instead of
 * denying everyone. Each returns AUTHZ_DENIED_NO_USER without a user, which makes httpd
 * authenticate first. */
#include <string.h>

#include <apr_strings.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"
#include "ap_provider.h"
#include "mod_auth.h"

#include "claim_match.h"
#include "has.h"
#include "httpd_authz.h"
#include "httpd_logno.h"
#include "httpd_request.h"
#include "httpd_status.h"

APLOG_USE_MODULE(clerk_auth);

/* Set on a request whose 403 body is Clerk's reverification hint. */
#define HINT_NOTE   "clerk-reverification-hint"
#define HINT_FILTER "CLERK_JSON_ERROR"

typedef int (*has_fn)(const clerk_auth *a, const char *arg);

/* ---- 403 for a signed-in user who is denied
 * (docs/design.md#authorization)----------------------------------- mod_authz_core answers a denied
 * authenticated user with 401 unless the section says `AuthzSendForbiddenOnFailure On`. A Bearer
 * 401 tells Clerk's clients the session is gone, so every section holding a Require clerk-* line
 * gets that directive applied, through httpd's own directive (same effect as writing it after the
 * Require line), unless the section sets it itself. Only per-directory sections and .htaccess: an
 * <AuthzProviderAlias> is server-wide. */

static int is_transparent_container(const ap_directive_t *d)
{
    static const char *const names[] = {"<RequireAll",    "<RequireAny", "<RequireNone",
                                        "<RequireNotAll", "<Limit",      "<LimitExcept"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(d->directive, names[i]) == 0)
            return 1;
    return 0;
}

static int sets_forbidden_on_failure(const ap_directive_t *d)
{
    for (; d; d = d->next) {
        if (strcasecmp(d->directive, "AuthzSendForbiddenOnFailure") == 0)
            return 1;
        if (d->first_child && is_transparent_container(d) &&
            sets_forbidden_on_failure(d->first_child))
            return 1;
    }
    return 0;
}

const char *clerk_authz_forbid_on_failure(cmd_parms *cmd)
{
    const ap_directive_t *at = cmd->directive, *section;
    if (!cmd->path || !at || strcasecmp(at->directive, "Require") != 0)
        return NULL;
    for (section = at->parent; section && is_transparent_container(section);
         section = section->parent)
        ;
    /* In .htaccess (no parent) only what follows is visible; a later directive wins anyway. */
    if (sets_forbidden_on_failure(section ? section->first_child : at))
        return NULL;

    ap_directive_t d = {0};
    d.directive = "AuthzSendForbiddenOnFailure";
    d.args = "On";
    d.parent = at->parent;
    d.filename = at->filename;
    d.line_num = at->line_num;
    cmd_parms saved = *cmd; /* ap_walk_config repoints directive, cmd, info, context */
    cmd->limited = -1;
    const char *err = ap_walk_config(&d, cmd, cmd->context);
    *cmd = saved;
    return err ? apr_psprintf(cmd->pool, "cannot apply AuthzSendForbiddenOnFailure On: %s", err)
               : NULL;
}
typedef const char *(*arg_check_fn)(apr_pool_t *p, const char *arg);

/* The require line's words (Require lines are read once, at configuration time). */
static apr_array_header_t *require_words(apr_pool_t *p, const char *line)
{
    apr_array_header_t *words = apr_array_make(p, 2, sizeof(const char *));
    const char *w;
    while (*(w = ap_getword_conf(p, &line)))
        APR_ARRAY_PUSH(words, const char *) = w;
    return words;
}

static const char *parse_list(cmd_parms *cmd, const char *line, const void **parsed,
                              const char *name, arg_check_fn check)
{
    apr_array_header_t *words = require_words(cmd->pool, line);
    if (words->nelts == 0)
        return apr_psprintf(cmd->pool, "Require %s needs at least one argument", name);
    for (int i = 0; i < words->nelts; i++) {
        const char *e = check(cmd->pool, APR_ARRAY_IDX(words, i, const char *));
        if (e)
            return apr_psprintf(cmd->pool, "Require %s: %s", name, e);
    }
    *parsed = words;
    return clerk_authz_forbid_on_failure(cmd);
}

/* Every result a provider reaches with a user is counted for the status page. */
static authz_status counted(authz_status st)
{
    clerk_status_count_authz(st == AUTHZ_GRANTED  ? CLERK_AUTHZ_GRANTED
                             : st == AUTHZ_DENIED ? CLERK_AUTHZ_DENIED
                                                  : CLERK_AUTHZ_ERROR);
    return st;
}

/* AUTHZ_GRANTED/DENIED for an identity, or the status that ends the check early. */
static int identity_or_status(request_rec *r, clerk_identity *id, authz_status *early)
{
    if (!r->user) {
        *early = AUTHZ_DENIED_NO_USER;
        return 0;
    }
    switch (clerk_request_identity(r, id)) {
    case CLERK_IDENTITY_SIGNED_IN:
        return 1;
    case CLERK_IDENTITY_PREFLIGHT: /* carries no credentials by design (docs/design.md#preflight) */
        *early = AUTHZ_GRANTED;
        return 0;
    default: /* a user from another AuthType has no Clerk claims */
        *early = counted(AUTHZ_DENIED);
        return 0;
    }
}

static authz_status check_list(request_rec *r, const void *parsed, const char *name, has_fn has)
{
    const apr_array_header_t *words = parsed;
    clerk_identity id;
    authz_status early;

    if (!identity_or_status(r, &id, &early))
        return early;
    for (int i = 0; i < words->nelts; i++)
        if (has(id.auth, APR_ARRAY_IDX(words, i, const char *))) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                          CLERK_LOGNO(0101) "Require %s granted to %s by '%s'", name, r->user,
                          APR_ARRAY_IDX(words, i, const char *));
            return counted(AUTHZ_GRANTED);
        }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, CLERK_LOGNO(0102) "Require %s denied to %s", name,
                  r->user);
    return counted(AUTHZ_DENIED);
}

#define LIST_PROVIDER(ident, name, arg_check, has)                                                 \
    static const char *parse_##ident(cmd_parms *cmd, const char *line, const void **parsed)        \
    {                                                                                              \
        return parse_list(cmd, line, parsed, name, arg_check);                                     \
    }                                                                                              \
    static authz_status check_##ident(request_rec *r, const char *line, const void *parsed)        \
    {                                                                                              \
        return check_list(r, parsed, name, has);                                                   \
    }                                                                                              \
    static const authz_provider ident##_provider = {check_##ident, parse_##ident};

LIST_PROVIDER(org, "clerk-org", clerk_has_check_org_arg, clerk_has_org)
LIST_PROVIDER(role, "clerk-role", clerk_has_check_role_arg, clerk_has_role)
LIST_PROVIDER(permission, "clerk-permission", clerk_has_check_permission_arg, clerk_has_permission)
LIST_PROVIDER(plan, "clerk-plan", clerk_has_check_billing_arg, clerk_has_plan)
LIST_PROVIDER(feature, "clerk-feature", clerk_has_check_billing_arg, clerk_has_feature)

/* ---- clerk-reverified <minutes> [level] | <preset> ---------------------------------------- */

static const char *parse_reverified(cmd_parms *cmd, const char *line, const void **parsed)
{
    apr_array_header_t *words = require_words(cmd->pool, line);
    clerk_reverification *rv = apr_pcalloc(cmd->pool, sizeof(*rv));
    const char *err = NULL;

    if (clerk_reverification_parse(cmd->pool, words->nelts, (const char *const *)words->elts, rv,
                                   &err) != 0)
        return apr_psprintf(cmd->pool, "Require clerk-reverified: %s", err);
    *parsed = rv;
    return clerk_authz_forbid_on_failure(cmd);
}

static authz_status check_reverified(request_rec *r, const char *line, const void *parsed)
{
    const clerk_reverification *rv = parsed;
    clerk_identity id;
    authz_status early;

    if (!identity_or_status(r, &id, &early))
        return early;
    if (clerk_has_reverification(id.auth, id.now_ms, rv->after_minutes, rv->level))
        return counted(AUTHZ_GRANTED);
    /* Clerk's hint, so clerk-js can prompt for reverification: the body of the 403, sent as
     * JSON (json_error_type below), unless the section turned AuthzSendForbiddenOnFailure Off. */
    ap_custom_response(r, HTTP_FORBIDDEN, clerk_reverification_hint_json(r->pool, rv));
    apr_table_setn(r->notes, HINT_NOTE, "1");
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  CLERK_LOGNO(0103) "Require clerk-reverified denied to %s", r->user);
    return counted(AUTHZ_DENIED);
}

static const authz_provider reverified_provider = {check_reverified, parse_reverified};

/* ---- clerk-claim <path>[=<value>]... ----------------------------------------------------- */

static const char *parse_claim(cmd_parms *cmd, const char *line, const void **parsed)
{
    apr_array_header_t *words = require_words(cmd->pool, line);
    apr_array_header_t *matchers = apr_array_make(cmd->pool, words->nelts, sizeof(void *));

    if (words->nelts == 0)
        return "Require clerk-claim needs at least one <path>[=<value>]";
    for (int i = 0; i < words->nelts; i++) {
        const char *err = NULL;
        const clerk_claim_matcher *m =
            clerk_claim_matcher_parse(cmd->pool, APR_ARRAY_IDX(words, i, const char *), &err);
        if (!m)
            return apr_psprintf(cmd->pool, "Require clerk-claim: %s", err);
        APR_ARRAY_PUSH(matchers, const clerk_claim_matcher *) = m;
    }
    *parsed = matchers;
    return clerk_authz_forbid_on_failure(cmd);
}

static authz_status check_claim(request_rec *r, const char *line, const void *parsed)
{
    const apr_array_header_t *matchers = parsed;
    clerk_identity id;
    authz_status early;

    if (!identity_or_status(r, &id, &early))
        return early;
    for (int i = 0; i < matchers->nelts; i++) {
        const clerk_claim_matcher *m = APR_ARRAY_IDX(matchers, i, const clerk_claim_matcher *);
        int hit = clerk_claim_match(m, id.payload);
        if (hit < 0) {
            /* Not "no match": under <RequireNone> that would grant. */
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          CLERK_LOGNO(0104) "Require clerk-claim %s: the token's claims are too "
                                            "deep or too large to evaluate",
                          clerk_claim_matcher_text(m));
            return counted(AUTHZ_GENERAL_ERROR);
        }
        if (hit)
            return counted(AUTHZ_GRANTED);
    }
    return counted(AUTHZ_DENIED);
}

static const authz_provider claim_provider = {check_claim, parse_claim};

/* httpd sends a custom error text as text/html; the reverification hint is JSON. */
static apr_status_t json_error_type(ap_filter_t *f, apr_bucket_brigade *bb)
{
    ap_set_content_type(f->r, "application/json");
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

static void insert_json_error_type(request_rec *r)
{
    if (r->status == HTTP_FORBIDDEN && apr_table_get(r->notes, HINT_NOTE))
        ap_add_output_filter(HINT_FILTER, NULL, r, r->connection);
}

void clerk_register_authz_providers(apr_pool_t *p)
{
    ap_register_output_filter(HINT_FILTER, json_error_type, NULL, AP_FTYPE_CONTENT_SET);
    ap_hook_insert_error_filter(insert_json_error_type, NULL, NULL, APR_HOOK_MIDDLE);
    static const struct {
        const char *name;
        const authz_provider *provider;
    } providers[] = {{"clerk-org", &org_provider},
                     {"clerk-role", &role_provider},
                     {"clerk-permission", &permission_provider},
                     {"clerk-plan", &plan_provider},
                     {"clerk-feature", &feature_provider},
                     {"clerk-reverified", &reverified_provider},
                     {"clerk-claim", &claim_provider}};
    for (size_t i = 0; i < sizeof(providers) / sizeof(providers[0]); i++)
        ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, providers[i].name,
                                  AUTHZ_PROVIDER_VERSION, providers[i].provider,
                                  AP_AUTH_INTERNAL_PER_CONF);
}
