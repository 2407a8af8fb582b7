/* Remote keys in httpd: one clerk_jwks_remote per distinct source, made at startup for every
 * section the configuration names and on first use for the rest, and the hooks that set them
 * up. The directives are in httpd_jwks_config.c, the shared store in httpd_jwks_cache.c.
 *
 * Shape of mod_authn_socache: mutex types registered in pre_config; the socache instances and the
 * global mutexes made in post_config only when some section names a remote source; child_init
 * re-attaches the mutexes and preloads. */
#include <stdint.h>
#include <string.h>

#include <apr_allocator.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <curl/curl.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "util_mutex.h"

#include "httpd_config.h"
#include "httpd_jwks.h"
#include "httpd_jwks_impl.h"
#include "httpd_logno.h"
#include "httpd_startup.h"
#include "httpd_status.h"

#include "http_fetch.h"
#include "jwks_remote.h"
#include "url.h"

APLOG_USE_MODULE(clerk_auth);

extern module AP_MODULE_DECLARE_DATA clerk_auth_module;

#define MUTEX_REFRESH "clerk-jwks-refresh"
#define MUTEX_CACHE   "clerk-jwks-cache"

jwks_generation clerk_jwks_gen;

/* ---- sources ------------------------------------------------------------------------------ */

static void jwks_log(void *ctx, int level, const char *msg)
{
    server_rec *s = ctx;
    ap_log_error(APLOG_MARK, clerk_aplog_level(level), 0, s, CLERK_LOGNO(0401) "%s", msg);
}

/* Where a source's keys come from: ClerkJWKSURL as is (public, no secret sent), else the Backend
 * API of this server with the secret key. */
static void source_of(apr_pool_t *p, const jwks_srv *c, const char *secret, const char *jwks_url,
                      const char **url, const char **send_secret)
{
    *url = jwks_url ? jwks_url : clerk_jwks_bapi_url(p, clerk_jwks_api_url(c));
    *send_secret = jwks_url ? NULL : secret;
}

/* Everything a source is made from: two servers differing in any of it (the cache MAC key of
 * ClerkCacheKeyFile and the proxy credentials by identity: each file is read once per server)
 * never share a source. */
static const char *registry_key(apr_pool_t *p, const jwks_srv *c, const char *url,
                                const char *secret)
{
    return apr_psprintf(p,
                        "%pp|%s|%" APR_INT64_T_FMT "|%" APR_INT64_T_FMT "|%" APR_INT64_T_FMT
                        "|%ld|%ld|%s|%pp|%pp\n%s\n%s",
                        (void *)c->cache, c->ca_file ? c->ca_file : "", c->refresh_s,
                        c->min_refresh_s, c->max_stale_s, c->connect_ms, c->timeout_ms,
                        c->proxy ? c->proxy : "", (const void *)c->proxy_password,
                        (const void *)c->cache_key, url, secret ? secret : "");
}

/* The source for (server settings, secret, JWKS URL), made in pool p when new. Caller holds
 * remotes_mu when threads may run. NULL (logged) when it cannot be made. */
static clerk_jwks_remote *source_get(apr_pool_t *p, apr_pool_t *tmp, server_rec *s,
                                     const char *secret, const char *jwks_url)
{
    const jwks_srv *c = clerk_jwks_srv_conf(s);
    const char *url, *send_secret;
    source_of(tmp, c, secret, jwks_url, &url, &send_secret);
    const char *k = registry_key(tmp, c, url, send_secret);
    clerk_jwks_remote *r = apr_hash_get(clerk_jwks_gen.remotes, k, APR_HASH_KEY_STRING);
    if (r)
        return r;

    jwks_cache *cache = c->cache ? c->cache : clerk_jwks_gen.default_cache;
    const char *shown = clerk_url_redact(tmp, url);
    /* The key the shared record is MAC'd with must be one the cache's other writers lack. On
     * this host (shmcb, dbm): the parent's random key. Across hosts (memcache, redis) every
     * server of the fleet must hold it: ClerkCacheKeyFile, else the secret key the source is
     * fetched with. A ClerkJWKSURL source with neither keeps its keys per process (fail closed;
     * costs one fetch per process). */
    const unsigned char *mac_key = NULL;
    apr_size_t mac_key_len = 0;
    if (cache && cache->on_host && clerk_jwks_gen.host) {
        mac_key = clerk_jwks_host_mac_key(&mac_key_len);
    } else if (cache && !cache->on_host && c->cache_key) {
        mac_key = c->cache_key;
        mac_key_len = c->cache_key_len;
    } else if (cache && !cache->on_host && !send_secret) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     CLERK_LOGNO(0412) "ClerkJWKSURL %s has no secret key and no "
                                       "ClerkCacheKeyFile to sign its shared record, so it is not "
                                       "shared through ClerkCache %s: each process fetches it on "
                                       "its own",
                     shown, cache->spec);
        cache = NULL;
    } else if (cache && cache->on_host) {
        cache = NULL; /* no host state: nothing this host's other writers could not forge */
    }
    clerk_fetch_settings fs;
    clerk_server_fetch_settings(s, &fs);
    clerk_jwks_remote_opts o = {
        .url = url,
        .secret_key = send_secret,
        .ca_file = c->ca_file,
        .proxy = fs.proxy,
        .proxy_user = fs.proxy_user,
        .proxy_password = fs.proxy_password,
        .connect_timeout_ms = fs.connect_timeout_ms,
        .timeout_ms = fs.timeout_ms,
        .refresh_s = c->refresh_s,
        .min_refresh_s = c->min_refresh_s,
        .max_stale_s = c->max_stale_s,
        .store = cache && cache->initialised ? &cache->store : NULL,
        .mac_key = mac_key,
        .mac_key_len = mac_key_len,
        .log = jwks_log,
        .log_ctx = clerk_jwks_gen.main_server,
        .count = clerk_status_count_key_fetch,
        .count_ctx =
            (void *)(intptr_t)(jwks_url ? CLERK_KEY_FETCH_JWKS_URL : CLERK_KEY_FETCH_BACKEND_API),
    };
    clerk_error err;
    r = clerk_jwks_remote_create(p, &o, &err);
    if (!r) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     CLERK_LOGNO(0402) "cannot set up the remote JWKS source %s: %s", shown,
                     err.message);
        return NULL;
    }
    apr_hash_set(clerk_jwks_gen.remotes, apr_pstrdup(p, k), APR_HASH_KEY_STRING, r);
    if (cache && clerk_jwks_gen.source_caches)
        apr_hash_set(clerk_jwks_gen.source_caches, apr_pstrdup(p, clerk_jwks_remote_store_key(r)),
                     APR_HASH_KEY_STRING, cache);
    return r;
}

static apr_status_t request_release(void *rq)
{
    clerk_jwks_request_release(rq);
    return APR_SUCCESS;
}

int clerk_jwks_request_keys(request_rec *r, const char *secret_key, const char *jwks_url,
                            clerk_key_source *out)
{
    clerk_jwks_remote *src = NULL;
    if (!clerk_jwks_gen.remotes)
        return -1;
    if (clerk_jwks_gen.remotes_mu)
        apr_thread_mutex_lock(clerk_jwks_gen.remotes_mu);
    src = source_get(clerk_jwks_gen.pool, r->pool, r->server, secret_key, jwks_url);
    if (clerk_jwks_gen.remotes_mu)
        apr_thread_mutex_unlock(clerk_jwks_gen.remotes_mu);
    if (!src)
        return -1;
    clerk_jwks_request *rq = apr_palloc(r->pool, sizeof(*rq));
    clerk_jwks_request_init(rq, src, (int64_t)apr_time_sec(r->request_time));
    apr_pool_cleanup_register(r->pool, rq, request_release, apr_pool_cleanup_null);
    *out = clerk_jwks_request_source(rq);
    return 0;
}

apr_array_header_t *clerk_jwks_all_stats(apr_pool_t *p)
{
    apr_array_header_t *out = apr_array_make(p, 2, sizeof(clerk_jwks_stats));
    if (!clerk_jwks_gen.remotes)
        return out;
    if (clerk_jwks_gen.remotes_mu)
        apr_thread_mutex_lock(clerk_jwks_gen.remotes_mu);
    for (apr_hash_index_t *hi = apr_hash_first(p, clerk_jwks_gen.remotes); hi;
         hi = apr_hash_next(hi)) {
        clerk_jwks_remote *r = apr_hash_this_val(hi);
        clerk_jwks_remote_stats(r, 0, apr_array_push(out));
    }
    if (clerk_jwks_gen.remotes_mu)
        apr_thread_mutex_unlock(clerk_jwks_gen.remotes_mu);
    return out;
}

/* ---- startup ------------------------------------------------------------------------------ */

static int jwks_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    apr_status_t rv = ap_mutex_register(pconf, MUTEX_REFRESH, NULL, APR_LOCK_DEFAULT, 0);
    if (rv == APR_SUCCESS)
        rv = ap_mutex_register(pconf, MUTEX_CACHE, NULL, APR_LOCK_DEFAULT, 0);
    if (rv != APR_SUCCESS) {
        ap_log_perror(APLOG_MARK, APLOG_CRIT, rv, plog,
                      CLERK_LOGNO(0403) "cannot register the Clerk JWKS mutexes");
        return 500;
    }
    /* The previous generation's pools are gone (its records were carried out before). */
    memset(&clerk_jwks_gen, 0, sizeof clerk_jwks_gen);
    return OK;
}

static apr_status_t curl_cleanup(void *unused)
{
    curl_global_cleanup();
    return APR_SUCCESS;
}

/* The remote sources the configuration names: each server's base and every <Directory>/
 * <Location> section merged over it as a request would see it. Sources only an .htaccess,
 * <Files> or <If> names are made on first use. */
static void collect_sources(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    for (server_rec *sv = s; sv; sv = sv->next) {
        const char *secret, *url;
        if (clerk_dir_remote_source(ap_get_module_config(sv->lookup_defaults, &clerk_auth_module),
                                    &secret, &url))
            source_get(pconf, ptemp, sv, secret, url);
        core_server_config *core = ap_get_core_module_config(sv->module_config);
        apr_array_header_t *secs[2] = {core->sec_dir, core->sec_url};
        for (int a = 0; a < 2; a++) {
            ap_conf_vector_t **v = secs[a] ? (ap_conf_vector_t **)secs[a]->elts : NULL;
            for (int i = 0; v && i < secs[a]->nelts; i++) {
                ap_conf_vector_t *m = ap_merge_per_dir_configs(ptemp, sv->lookup_defaults, v[i]);
                if (clerk_dir_remote_source(ap_get_module_config(m, &clerk_auth_module), &secret,
                                            &url))
                    source_get(pconf, ptemp, sv, secret, url);
            }
        }
    }
}

/* Whether any directive in the tree names a remote source, or machine tokens, whose Backend API
 * answers are shared through the same store (httpd_machine.c) even when the section's keys are
 * local: then the cache is made, even when only an .htaccess-reachable section would use it. */
static void find_cache_user(void *ctx, const ap_directive_t *d, const ap_directive_t *vhost)
{
    static const char *const names[] = {"ClerkSecretKey",        "ClerkSecretKeyFile",
                                        "ClerkJWKSURL",          "ClerkAcceptsToken",
                                        "ClerkMachineSecretKey", "ClerkMachineSecretKeyFile"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(d->directive, names[i]) == 0)
            *(int *)ctx = 1;
}

static int jwks_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    jwks_generation *g = &clerk_jwks_gen;
    apr_status_t rv;

    g->main_server = s;
    g->remotes = apr_hash_make(pconf);
    g->source_caches = apr_hash_make(pconf);
    /* The default cache lived in the previous generation's pconf: make it anew. */
    g->default_cache = NULL;
    g->pool = pconf;
    if (apr_thread_mutex_create(&g->remotes_mu, APR_THREAD_MUTEX_DEFAULT, pconf) != APR_SUCCESS)
        return 500;
    /* Once, before any thread exists (an .htaccess may name a source later). */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     CLERK_LOGNO(0405) "libcurl cannot be initialised");
        return 500;
    }
    apr_pool_cleanup_register(pconf, NULL, curl_cleanup, apr_pool_cleanup_null);
    int needs_cache = 0;
    clerk_config_walk(find_cache_user, &needs_cache);
    if (!needs_cache)
        return OK;
    if ((g->host = clerk_jwks_host_state(s)) == NULL)
        return 500;

    /* One socache instance per ClerkCache line in use; the default shmcb when a server has none. */
    int n = 0, need_data_mutex = 0;
    for (server_rec *sv = s; sv; sv = sv->next) {
        jwks_srv *c = clerk_jwks_srv_conf(sv);
        if (!c->cache && !g->default_cache) {
            int made = clerk_jwks_default_cache(pconf, ptemp, s);
            if (made == DECLINED)
                continue;
            if (made != OK)
                return 500;
        }
        jwks_cache *use = c->cache ? c->cache : g->default_cache;
        if (!use || use->initialised)
            continue;
        if (clerk_jwks_cache_init(pconf, s, use, n++) != OK)
            return 500;
        need_data_mutex |= use->notmpsafe;
    }

    rv = ap_global_mutex_create(&g->refresh_mutex, &g->refresh_mutex_file, MUTEX_REFRESH, NULL, s,
                                pconf, 0);
    if (rv == APR_SUCCESS && need_data_mutex)
        rv = ap_global_mutex_create(&g->data_mutex, &g->data_mutex_file, MUTEX_CACHE, NULL, s,
                                    pconf, 0);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     CLERK_LOGNO(0408) "cannot create the Clerk JWKS mutexes");
        return 500;
    }
    collect_sources(pconf, ptemp, s);
    clerk_jwks_assign_slots(pconf, s);
    clerk_jwks_carry_over(pconf, s);
    return OK;
}

apr_pool_t *clerk_table_pool(apr_pool_t *parent)
{
    apr_allocator_t *a = NULL;
    apr_pool_t *p = NULL;
    if (apr_allocator_create(&a) != APR_SUCCESS)
        return NULL;
    if (apr_pool_create_ex(&p, parent, NULL, a) != APR_SUCCESS) {
        apr_allocator_destroy(a);
        return NULL;
    }
    apr_allocator_owner_set(a, p);
    return p;
}

/* The pool the key-source table allocates from under remotes_mu: its own, not pchild, which
 * other tables (httpd_machine.c) allocate from under other mutexes. */
static apr_pool_t *remotes_pool(apr_pool_t *pchild)
{
    apr_pool_t *p = clerk_table_pool(pchild);
    return p ? p : pchild;
}

static void jwks_child_init(apr_pool_t *pchild, server_rec *s)
{
    jwks_generation *g = &clerk_jwks_gen;
    if (!g->remotes || apr_hash_count(g->remotes) == 0) {
        if (g->remotes)
            g->pool = remotes_pool(pchild);
        return;
    }
    if (g->refresh_mutex && apr_global_mutex_child_init(&g->refresh_mutex, g->refresh_mutex_file,
                                                        pchild) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     CLERK_LOGNO(0409) "cannot re-attach the JWKS refresh mutex: fetches are not "
                                       "coalesced across processes");
        g->refresh_mutex = NULL;
    }
    if (g->data_mutex &&
        apr_global_mutex_child_init(&g->data_mutex, g->data_mutex_file, pchild) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     CLERK_LOGNO(0410) "cannot re-attach the JWKS cache mutex");
    }
    g->pool = remotes_pool(pchild);

    /* Keys before the first request when Clerk is reachable; never a reason not to serve. */
    for (apr_hash_index_t *hi = apr_hash_first(pchild, g->remotes); hi; hi = apr_hash_next(hi)) {
        clerk_jwks_remote *r = apr_hash_this_val(hi);
        clerk_error err = {0};
        if (clerk_jwks_remote_preload(r, 0, &err) == 0)
            continue;
        clerk_jwks_stats st;
        clerk_jwks_remote_stats(r, 0, &st);
        /* Another process fetching is normal at startup; say so only in debug. */
        ap_log_error(APLOG_MARK, st.fetch_failed ? APLOG_WARNING : APLOG_DEBUG, 0, s,
                     CLERK_LOGNO(0411) "no JWKS preloaded from %s: %s", st.url, err.message);
    }
}

/* check_config runs under `apache2 -t` too, after the virtual hosts are merged. */
/* The first ClerkAllowRSAExponent line inside a section other than <VirtualHost> (the <If...>
 * conditionals on modules and defines leave no section), with that section.
 * The exponent rule is process-wide: in a <Location> it would loosen every key of the server. */
typedef struct rsa_scope {
    const ap_directive_t *rsa, *section;
} rsa_scope;

static void find_rsa_in_dir_section(void *ctx, const ap_directive_t *d, const ap_directive_t *vhost)
{
    rsa_scope *f = ctx;
    if (f->rsa || strcasecmp(d->directive, "ClerkAllowRSAExponent") != 0)
        return;
    for (const ap_directive_t *p = d->parent; p; p = p->parent)
        if (strcasecmp(p->directive, "<VirtualHost") != 0) {
            f->rsa = d;
            f->section = p;
            return;
        }
}

static int jwks_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    rsa_scope found = {NULL, NULL};
    clerk_config_walk(find_rsa_in_dir_section, &found);
    const ap_directive_t *rsa = found.rsa, *section = found.section;
    if (rsa) {
        ap_log_perror(APLOG_MARK, APLOG_CRIT, 0, plog,
                      CLERK_LOGNO(1900) "ClerkAllowRSAExponent at %s:%d: not allowed in %s: it "
                                        "holds for the whole server (use it at server or "
                                        "<VirtualHost> level)",
                      rsa->filename, rsa->line_num, section->directive);
        return 500;
    }
    for (server_rec *sv = s; sv; sv = sv->next) {
        const jwks_srv *c = clerk_jwks_srv_conf(sv);
        if (c->proxy_user && !c->proxy) {
            ap_log_perror(APLOG_MARK, APLOG_CRIT, 0, plog,
                          CLERK_LOGNO(1801) "ClerkOutgoingProxyAuthFile at %s: no "
                                            "ClerkOutgoingProxy to send the credentials to",
                          c->proxy_auth_where);
            return 500;
        }
    }
    return OK;
}

void clerk_jwks_register_hooks(apr_pool_t *p)
{
    ap_hook_check_config(jwks_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_pre_config(jwks_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(jwks_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(jwks_child_init, NULL, NULL, APR_HOOK_MIDDLE);
}

/* ---- the store for other records (httpd_machine.c) ----------------------------------------- */

int clerk_jwks_shared_store(server_rec *s, clerk_jwks_store *store, int *on_host,
                            const unsigned char **mac_key, size_t *mac_key_len)
{
    const jwks_srv *c = clerk_jwks_srv_conf(s);
    const jwks_cache *cache = c->cache ? c->cache : clerk_jwks_gen.default_cache;
    if (!cache || !cache->initialised)
        return -1;
    *store = cache->store;
    *on_host = cache->on_host;
    if (cache->on_host) {
        apr_size_t n;
        const unsigned char *k = clerk_jwks_host_mac_key(&n);
        if (!k)
            return -1; /* nothing this host's other writers could not forge */
        *mac_key = k;
        *mac_key_len = n;
    } else {
        *mac_key = c->cache_key;
        *mac_key_len = c->cache_key ? c->cache_key_len : 0;
    }
    return 0;
}
