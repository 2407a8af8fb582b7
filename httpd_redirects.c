/* Sub-request and redirect adoption: a request that httpd derives from another (an internal
 * redirect, a sub-request, a fast redirect that hands a sub-request's configuration to its main
 * request) takes that request's decision instead of making one again, so a token is verified,
 * and a handshake nonce exchanged, once per client request.
 *
 * A request's way through the hooks the module registers (mod_clerk_auth.c, and the
 * clerk_*_register_hooks of the other glue files), in the order httpd runs them:
 *
 *   post_read_request   REALLY_FIRST  ClerkScrubHeaders On: the client's look-alikes of our
 *          |                          exports are removed from every request of the server
 *          v                          (httpd_request.c)
 *   [httpd maps the URL and merges the per-directory configuration: httpd_config.c]
 *          |
 *   post_perdir_config  FIRST         AuthType Clerk: adopt the record of the request httpd will
 *          |                          take the user from (inherited_record, below), else create
 *          |                          this request's record and scrub its headers, before any
 *          v                          header_parser (a per-directory SetEnvIf) reads them
 *   check_access        FIRST         another instance's key source: 500; ClerkUnauthAction
 *          |                          pass decides here (with `Require all granted` check_authn
 *          |                          never runs); a preflight is let through after
 *          v                          mod_authz_core (httpd_preflight.c)
 *   check_authn         MIDDLE        clerk_decide: the core's decision becomes r->user, the
 *          |                          x-clerk-auth-* headers, the log line and the EXPORTS
 *          |                          (variables and/or headers, httpd_export.c); a signed-out
 *          |                          request gets its redirect, challenge or status
 *          v                          (httpd_request.c)
 *   check_authz                       `Require clerk-*` read the decision (httpd_authz.c);
 *   note_auth_failure                 a 401 there gets our Bearer challenge
 *          |
 *   fixups              REALLY_FIRST  MultiViews switched the configuration: clerk_fixups_switched
 *   fixups              MIDDLE        after an internal redirect to the same configuration the
 *          |                          variables are exported again under their own names
 *   fixups              REALLY_LAST   mod_dir / FallbackResource switched the configuration
 *          v                          (ap_internal_fast_redirect): clerk_fixups_switched
 *   handler                           a preflight's 204 (httpd_preflight.c), clerk-status
 *                                     (httpd_status.c); the CLERK_PRIVATE output filter marks
 *                                     signed-in responses private (httpd_private.c)
 *
 * Startup runs check_config, post_config and child_init (httpd_startup.c, httpd_jwks.c).
 *
 * httpd skips authentication for an internal redirect (r->prev) or a sub-request (r->main) whose
 * configuration is the very one of the request it came from, and copies that request's user:
 * such a request adopts its origin's record in post_perdir_config (inherited_record), and after
 * a redirect, which renames the variables to REDIRECT_*, exports them again in fixups. Every
 * sub-request's own record is also kept on its main request's pool (clerk_keep_for_main), because
 * ap_internal_fast_redirect hands the sub-request's configuration and environment to the main
 * request but not its record, user or scrubbed headers: clerk_fixups_switched adopts it there
 * (fast_redirected_record), or decides the main request afresh when none is at hand. */
#include <string.h>

#include <apr_pools.h>
#include <apr_tables.h>

#include "httpd.h"
#include "http_config.h"
#include "http_request.h"

#include "httpd_config.h"
#include "httpd_export.h"
#include "httpd_handshake.h"
#include "httpd_preflight.h"
#include "httpd_redirects.h"
#include "httpd_request.h"

APLOG_USE_MODULE(clerk_auth);

/* A sub-request's record, kept on its main request's pool for ap_internal_fast_redirect, which
 * hands the sub-request's configuration to the main request but not its record, user or
 * scrubbed headers. A sub-request that is destroyed takes its record out again. */
#define SUBREQ_RECORD_KEY "clerk_auth_subreq_record"

typedef struct subreq_slot {
    clerk_req *rq;
} subreq_slot;

typedef struct subreq_keep {
    subreq_slot *slot;
    clerk_req *rq;
} subreq_keep;

static apr_status_t forget_subreq_record(void *data)
{
    subreq_keep *k = data;
    if (k->slot->rq == k->rq)
        k->slot->rq = NULL;
    return APR_SUCCESS;
}

void clerk_keep_for_main(request_rec *r, clerk_req *rq)
{
    apr_pool_t *mp = r->main->pool;
    subreq_slot *slot = NULL;
    apr_pool_userdata_get((void **)&slot, SUBREQ_RECORD_KEY, mp);
    if (!slot) {
        slot = apr_pcalloc(mp, sizeof(*slot));
        apr_pool_userdata_setn(slot, SUBREQ_RECORD_KEY, NULL, mp);
    }
    slot->rq = rq;
    subreq_keep *k = apr_palloc(r->pool, sizeof(*k));
    k->slot = slot;
    k->rq = rq;
    apr_pool_cleanup_register(r->pool, k, forget_subreq_record, apr_pool_cleanup_null);
}

/* The record of the sub-request whose configuration r was handed (fast redirect), or NULL. */
static clerk_req *fast_redirected_record(const request_rec *r)
{
    subreq_slot *slot = NULL;
    apr_pool_userdata_get((void **)&slot, SUBREQ_RECORD_KEY, r->pool);
    return slot && slot->rq && slot->rq->conf == r->per_dir_config ? slot->rq : NULL;
}

/* The record of the request httpd takes this one's authentication from (the request it was
 * redirected from, else the one it is a sub-request of, with the very same configuration:
 * httpd's own test for skipping authentication), or NULL. That request's headers were scrubbed
 * and carry its exports. */
static clerk_req *inherited_record(const request_rec *r)
{
    /* Followed back while the configuration stays the same: a link that never reached our
     * hooks (it failed early) has no record of its own. */
    for (const request_rec *e = r;;) {
        e = e->prev && e->prev->per_dir_config == e->per_dir_config   ? e->prev
            : e->main && e->main->per_dir_config == e->per_dir_config ? e->main
                                                                      : NULL;
        if (!e)
            return NULL;
        clerk_req *rq = ap_get_module_config(e->request_config, &clerk_auth_module);
        if (rq)
            return rq;
    }
}

/* Scrubs a Clerk request's headers as soon as its per-directory configuration is known, before
 * any header_parser (a per-directory SetEnvIf) reads them, or adopts the record of the request
 * httpd will take the user from. */
int clerk_post_perdir_config(request_rec *r)
{
    if (!clerk_is_auth_type(r))
        return DECLINED;
    clerk_req *rq = inherited_record(r); /* httpd will skip authentication: adopt its decision */
    if (rq)
        ap_set_module_config(r->request_config, &clerk_auth_module, rq);
    else
        clerk_request_record(r);
    return DECLINED;
}

/* httpd skips authentication after an internal redirect to the same configuration (a
 * per-directory RewriteRule to a front controller, ErrorDocument) and renames the variables to
 * REDIRECT_*: the decision already made is exported again under its own names. Headers need
 * nothing: the redirected request shares the original's (a sub-request copies them). */
int clerk_fixups(request_rec *r)
{
    if (!r->prev || !clerk_is_auth_type(r))
        return DECLINED;
    clerk_req *rq = ap_get_module_config(r->request_config, &clerk_auth_module);
    if (!rq || rq != inherited_record(r))
        return DECLINED;
    const clerk_resolved *rs = clerk_request_conf(r);
    if (rq->decided && (rs->pass_as & PASS_ENV)) {
        clerk_resolved env_only = *rs;
        env_only.pass_as = PASS_ENV;
        clerk_export_decision(r, &env_only, rq);
    }
    return DECLINED;
}

/* Removes every CLERK_* variable from env. */
static void drop_clerk_vars(apr_pool_t *p, apr_table_t *env)
{
    const apr_array_header_t *h = apr_table_elts(env);
    const apr_table_entry_t *e = (const apr_table_entry_t *)h->elts;
    apr_array_header_t *drop = apr_array_make(p, 8, sizeof(const char *));
    for (int i = 0; i < h->nelts; i++)
        if (e[i].key && strncasecmp(e[i].key, "CLERK_", 6) == 0)
            APR_ARRAY_PUSH(drop, const char *) = e[i].key;
    for (int i = 0; i < drop->nelts; i++)
        apr_table_unset(env, APR_ARRAY_IDX(drop, i, const char *));
}

/* A request whose configuration changed to a Clerk one after its record was made (or without
 * one): ap_internal_fast_redirect (DirectoryIndex, FallbackResource, MultiViews) hands a
 * sub-request's configuration to the main request but not its user, its record or its scrubbed
 * headers. The sub-request's record is adopted when it is at hand; otherwise the request is
 * decided here as any other would be (the sub-request was authorized with the same headers). */
int clerk_fixups_switched(request_rec *r)
{
    if (!clerk_is_auth_type(r))
        return DECLINED;
    clerk_req *rq = ap_get_module_config(r->request_config, &clerk_auth_module);
    if (rq && rq->conf == r->per_dir_config)
        return DECLINED;
    const clerk_resolved *rs = clerk_request_conf(r);
    if (clerk_preflight_mode(r) == CLERK_PREFLIGHT_RESPOND ||
        clerk_preflight_mode(r) == CLERK_PREFLIGHT_HANDLER) {
        /* The look-up sub-request was a GET and may have been signed in by a token the
         * client added: the preflight itself is decided as one, with no user, and the
         * sub-request's variables (handed over with its environment) are dropped. */
        ap_set_module_config(r->request_config, &clerk_auth_module, NULL);
        r->user = NULL;
        r->ap_auth_type = NULL;
        drop_clerk_vars(r->pool, r->subprocess_env);
        clerk_decide(r, rs);
        return OK;
    }
    if ((rq = fast_redirected_record(r)) != NULL) {
        /* The sub-request's decision, made under this very configuration: adopted, not made
         * again (a handshake nonce is exchanged once). Its exports went into its own copy of
         * the headers, so they are made again into the main request's, scrubbed first. */
        ap_set_module_config(r->request_config, &clerk_auth_module, rq);
        clerk_scrub_reserved_headers(r);
        if (rq->decided && !rq->preflight && rq->st.status == CLERK_SIGNED_IN) {
            r->user = (char *)rq->user;
            r->ap_auth_type = (char *)CLERK_AUTH_TYPE;
        }
        if (rq->decided)
            clerk_export_decision(r, rs, rq);
        return OK;
    }
    ap_set_module_config(r->request_config, &clerk_auth_module, NULL);
    if (rs->action == ACTION_PASS) { /* as clerk_check_access */
        int rc = clerk_handshake_response(r, &clerk_decide(r, rs)->st);
        return rc == DECLINED ? OK : rc;
    }
    /* This runs the access checkers (clerk_check_access records and scrubs); when the rules
     * need no user, that is all a request here gets. */
    if (!ap_some_authn_required(r)) {
        clerk_request_record(r);
        return OK;
    }
    int rc = clerk_check_authn(r);
    return rc == DECLINED ? OK : rc;
}
