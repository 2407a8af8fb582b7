/* A response that a Clerk section signed in belongs to one user: shared caches (mod_cache, a
 * CDN, a corporate proxy) must not hand it to the next client. Such responses get
 * `Cache-Control: private` unless the application chose its own Cache-Control, and always
 * `Vary` on the header that signed them in. mod_cache's quick handler, on by default, answers
 * from its cache before any authentication runs, so a location with `AuthType Clerk` under it
 * is warned about at startup (README "Caches"). */
#include <string.h>

#include <apr_strings.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "httpd_logno.h"
#include "httpd_private.h"
#include "httpd_request.h"
#include "httpd_startup.h"

APLOG_USE_MODULE(clerk_auth);

#define PRIVATE_FILTER "CLERK_PRIVATE"

/* Set once while hooks are registered (start-up, one thread), only read afterwards. */
static ap_filter_rec_t *private_filter_handle;

static int has_token(apr_pool_t *p, const apr_table_t *t, const char *name, const char *token)
{
    const char *v = apr_table_get(t, name);
    return v && (ap_find_token(p, v, token) || ap_find_token(p, v, "*"));
}

/* Runs when the handler sends its first bytes (or only its end): the application's headers
 * (a CGI's, a back end's) are known then, and nothing has been written yet. */
static apr_status_t private_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    const char *by = f->ctx;

    if (!apr_table_get(r->headers_out, "Cache-Control") &&
        !apr_table_get(r->err_headers_out, "Cache-Control"))
        apr_table_setn(r->headers_out, "Cache-Control", "private");
    if (!has_token(r->pool, r->headers_out, "Vary", by) &&
        !has_token(r->pool, r->err_headers_out, "Vary", by))
        apr_table_mergen(r->headers_out, "Vary", by);
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

/* An internal redirect (ErrorDocument, a CGI's local Location) starts a new request with
 * filters of its own, often for a page outside the Clerk section: the response still answers
 * the signed-in request it was redirected from. */
static void private_insert_filter(request_rec *r)
{
    const char *by = NULL;
    for (request_rec *e = r; e && !by; e = e->prev)
        by = clerk_request_signed_in_by(e);
    if (by)
        ap_add_output_filter_handle(private_filter_handle, (void *)by, r, r->connection);
}

/* ---- startup: mod_cache's quick handler in front of AuthType Clerk ------------------------ */

typedef struct cache_server {
    const ap_directive_t *vhost; /* NULL: the main server */
    int cache_enabled;           /* a CacheEnable line */
    int quick;                   /* CacheQuickHandler: -1 not set, 0 Off, 1 On */
    apr_array_header_t *clerk;   /* const ap_directive_t *: AuthType Clerk lines */
} cache_server;

typedef struct cache_scan {
    apr_pool_t *p;
    cache_server *main_sv;
    apr_array_header_t *vhosts; /* cache_server, in file order */
} cache_scan;

/* The record of the server a directive is in: a <VirtualHost>'s directives come one after
 * another, so its record is the last one made, or a new one. A virtual host with none of the
 * directives below gets no record: it would only repeat the main server's. */
static cache_server *server_of(cache_scan *cs, const ap_directive_t *vhost)
{
    if (!vhost)
        return cs->main_sv;
    cache_server *v =
        cs->vhosts->nelts ? &APR_ARRAY_IDX(cs->vhosts, cs->vhosts->nelts - 1, cache_server) : NULL;
    if (v && v->vhost == vhost)
        return v;
    v = apr_array_push(cs->vhosts);
    v->vhost = vhost;
    v->cache_enabled = 0;
    v->quick = -1;
    v->clerk = apr_array_make(cs->p, 2, sizeof(const ap_directive_t *));
    return v;
}

static void scan(void *ctx, const ap_directive_t *d, const ap_directive_t *vhost)
{
    cache_scan *cs = ctx;
    const char *args = d->args;
    if (strcasecmp(d->directive, "CacheEnable") == 0)
        server_of(cs, vhost)->cache_enabled = 1;
    else if (strcasecmp(d->directive, "CacheQuickHandler") == 0)
        server_of(cs, vhost)->quick = strcasecmp(ap_getword_conf(cs->p, &args), "off") != 0;
    else if (strcasecmp(d->directive, "AuthType") == 0 &&
             strcasecmp(ap_getword_conf(cs->p, &args), "Clerk") == 0)
        APR_ARRAY_PUSH(server_of(cs, vhost)->clerk, const ap_directive_t *) = d;
}

/* Whether a server with these settings (and the main server's, which it inherits) serves
 * cached responses from the quick handler. */
static int quick_serves(const cache_server *v, const cache_server *main_sv)
{
    int quick = v->quick >= 0 ? v->quick : main_sv->quick >= 0 ? main_sv->quick : 1;
    return quick && (v->cache_enabled || main_sv->cache_enabled);
}

static void warn_quick_handler(apr_pool_t *ptemp, server_rec *s)
{
    if (!ap_find_linked_module("mod_cache.c"))
        return;
    cache_server main_sv = {NULL, 0, -1, apr_array_make(ptemp, 2, sizeof(const ap_directive_t *))};
    apr_array_header_t *vhosts = apr_array_make(ptemp, 2, sizeof(cache_server));
    cache_scan cs = {ptemp, &main_sv, vhosts};
    clerk_config_walk(scan, &cs);

    /* The main server's sections apply in every virtual host too. */
    int main_served = quick_serves(&main_sv, &main_sv);
    for (int i = 0; !main_served && i < vhosts->nelts; i++)
        main_served = quick_serves(&APR_ARRAY_IDX(vhosts, i, cache_server), &main_sv);
    for (int i = -1; i < vhosts->nelts; i++) {
        const cache_server *v = i < 0 ? &main_sv : &APR_ARRAY_IDX(vhosts, i, cache_server);
        if (!(i < 0 ? main_served : quick_serves(v, &main_sv)))
            continue;
        for (int k = 0; k < v->clerk->nelts; k++) {
            const ap_directive_t *d = APR_ARRAY_IDX(v->clerk, k, const ap_directive_t *);
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         CLERK_LOGNO(1502) "AuthType Clerk on line %d of %s is behind mod_cache's "
                                           "quick handler (CacheEnable with CacheQuickHandler "
                                           "On, its default), which answers from the cache "
                                           "before any authentication: set CacheQuickHandler "
                                           "Off in this server, or CacheDisable this location",
                         d->line_num, d->filename);
        }
    }
}

/* Logged once per configuration load, into the error log (not on the first of httpd's two
 * start-up passes, whose log would repeat it). */
static int private_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                               server_rec *s)
{
    (void)pconf;
    (void)plog;
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG)
        warn_quick_handler(ptemp, s);
    return OK;
}

/* `apachectl configtest` shows it too. */
static void private_test_config(apr_pool_t *pconf, server_rec *s)
{
    apr_pool_t *p;
    if (apr_pool_create(&p, pconf) != APR_SUCCESS)
        return;
    warn_quick_handler(p, s);
    apr_pool_destroy(p);
}

void clerk_private_register_hooks(apr_pool_t *p)
{
    (void)p;
    /* CONTENT_SET and inserted last: after mod_headers' filter (CONTENT_SET, inserted at LAST),
     * so an operator's `Header set Cache-Control` counts as the application's own, and before
     * mod_cache's CACHE_SAVE (CONTENT_SET+1), so a cache in handler mode sees the result. */
    private_filter_handle =
        ap_register_output_filter(PRIVATE_FILTER, private_filter, NULL, AP_FTYPE_CONTENT_SET);
    ap_hook_insert_filter(private_insert_filter, NULL, NULL, APR_HOOK_REALLY_LAST);
    ap_hook_post_config(private_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_test_config(private_test_config, NULL, NULL, APR_HOOK_MIDDLE);
}
