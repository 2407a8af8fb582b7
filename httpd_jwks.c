/* Remote keys in httpd: the server-wide fetch/cache directives, one clerk_jwks_remote per
 * distinct source, and their shared store on httpd's socache (docs/design.md#socache-records).
 *
 * Shape of mod_authn_socache: mutex types registered in pre_config; the socache instances and the
 * global mutexes made in post_config only when some section names a remote source; child_init
 * re-attaches the mutexes and preloads. Two global mutexes: a short one around socache calls for
 * providers that are not multi-process safe (shmcb), and the refresh lock, only ever try-locked
 * and held for one whole fetch, so a request never waits on it. */
#include <stdint.h>
#include <string.h>

#include <apr_atomic.h>
#include <apr_file_io.h>
#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_shm.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <curl/curl.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "ap_provider.h"
#include "ap_socache.h"
#include "util_mutex.h"

#include "httpd_config.h"
#include "httpd_jwks.h"
#include "httpd_logno.h"
#include "httpd_status.h"

#include "http_fetch.h"
#include "jwk.h"
#include "jwks_remote.h"
#include "outgoing_proxy.h"
#include "url.h"

APLOG_USE_MODULE(clerk_auth);

extern module AP_MODULE_DECLARE_DATA clerk_auth_module;

#define DEFAULT_API_URL     "https://api.clerk.com"
#define DEFAULT_CACHE       "shmcb"
#define MUTEX_REFRESH       "clerk-jwks-refresh"
#define MUTEX_CACHE         "clerk-jwks-cache"
#define MAX_INTERVAL_S      (7 * 86400)
#define MAX_TIMEOUT_S       120
#define DEFAULT_CONNECT_S   3
#define DEFAULT_TIMEOUT_S   10
#define SOCACHE_NAME_PREFIX "clerk-jwks"

/* One socache instance: made by a ClerkCache line (or the default in post_config). */
typedef struct jwks_cache {
    const char *spec; /* as written, for messages */
    const ap_socache_provider_t *provider;
    ap_socache_instance_t *inst;
    int notmpsafe; /* provider needs the data mutex (shmcb) */
    int on_host;   /* the data never leaves this machine (shmcb, dbm): see source_get */
    int initialised;
    server_rec *s; /* for the provider's logging */
    clerk_jwks_store store;
} jwks_cache;

/* Server-wide settings; 0/NULL is "unset" so a virtual host inherits the main server's. */
typedef struct jwks_srv {
    const char *api_url;
    const char *ca_file;
    const char *proxy;                       /* ClerkOutgoingProxy, normalised */
    const char *proxy_user, *proxy_password; /* ClerkOutgoingProxyAuthFile's content */
    const char *proxy_auth_where;            /* "file:line" of that directive, for messages */
    jwks_cache *cache;
    apr_int64_t refresh_s, min_refresh_s, max_stale_s;
    long connect_ms, timeout_ms;
    const unsigned char *cache_key; /* ClerkCacheKeyFile's bytes: MACs records in a network cache */
    apr_size_t cache_key_len;
    int show_paths; /* ClerkStatusShowPaths: 0 unset, 1 off, 2 on */
} jwks_srv;

/* Per generation (reset in post_config, inherited by the children). */
static apr_global_mutex_t *data_mutex;    /* around socache calls of non-MP-safe providers */
static apr_global_mutex_t *refresh_mutex; /* try-locked for one whole fetch */
static const char *data_mutex_file, *refresh_mutex_file;
static apr_hash_t *remotes;            /* "<settings>\n<url>\n<secret>" -> clerk_jwks_remote * */
static apr_thread_mutex_t *remotes_mu; /* guards remotes in a threaded child */
static apr_pool_t *remotes_pool;       /* where late sources (.htaccess, <Files>) are made */
static server_rec *main_server;
static jwks_cache *default_cache; /* the default shmcb, when some source needs it */

/* Each source's shared-record key -> the cache it lives in (for the graceful hand-over). */
static apr_hash_t *source_caches;

/* What the cache's other writers cannot reach (SECURITY.md, "Caches that trust nobody else").
 * Made once per httpd parent, in its process pool, so it survives graceful restarts, and
 * inherited by every child through fork: a random key for the records of on-host caches (shmcb,
 * dbm), and an anonymous shared mapping with one slot per source. A CGI or PHP-FPM process
 * running as the httpd user can open the shmcb segment or the dbm file, but it is exec'd, so it
 * has neither the key nor the mapping. Slots are claimed by the parent in post_config only (one
 * thread); children read a slot's key and update its numbers with atomics, never a lock. */
#define HOST_STATE_KEY "clerk_auth:jwks-host-state"
#define SLOTS_MAX      128
#define LEASE_EXTRA_S  5
typedef struct source_slot {
    char key[96];                      /* the source's store key; "" when free */
    volatile apr_uint64_t newest;      /* fetch time (s) of the newest set installed on this host */
    volatile apr_uint64_t lease_until; /* apr_time_t until which one fetch holds the slot; 0 free */
    volatile apr_uint64_t lease_len;   /* the source's fetch timeout and some, in apr_time_t;
                                          only ever raised, by the parent while children of the
                                          previous generation read it: atomics both sides */
} source_slot;
typedef struct host_state {
    unsigned char mac_key[32];
    source_slot *slots; /* SLOTS_MAX of them; NULL when the mapping could not be made */
} host_state;
static host_state *host;
static apr_hash_t *slot_of; /* store key -> source_slot *, filled in post_config, then read-only */

/* Records handed from one generation to the next (see carry_records). Only the parent touches
 * them, in post_config and in a pconf cleanup, both single-threaded: no mutex needed. httpd
 * unloads and reloads this module between generations, so the list's head is kept as process
 * pool userdata (CARRIED_KEY), not only in a static. */
#define CARRIED_KEY "clerk_auth:jwks-carried"
static apr_pool_t *process_pool;
typedef struct carried_record {
    char *key;
    unsigned char *val;
    size_t len;
    int64_t expires;
    struct carried_record *next;
} carried_record;
static carried_record *carried;

/* ---- server configuration -------------------------------------------------------------- */

void *clerk_create_server_conf(apr_pool_t *p, server_rec *s)
{
    (void)s;
    return apr_pcalloc(p, sizeof(jwks_srv));
}

#define INHERIT(f) m->f = add->f ? add->f : base->f

void *clerk_merge_server_conf(apr_pool_t *p, void *basev, void *addv)
{
    const jwks_srv *base = basev, *add = addv;
    jwks_srv *m = apr_pcalloc(p, sizeof(*m));
    INHERIT(api_url);
    INHERIT(ca_file);
    INHERIT(proxy);
    /* Credentials go with the proxy they were written for: a virtual host naming its own
     * proxy never sends the main server's credentials to it. */
    const jwks_srv *cred = add->proxy_user || add->proxy ? add : base;
    m->proxy_user = cred->proxy_user;
    m->proxy_password = cred->proxy_password;
    m->proxy_auth_where = cred->proxy_auth_where;
    INHERIT(cache);
    INHERIT(refresh_s);
    INHERIT(min_refresh_s);
    INHERIT(max_stale_s);
    INHERIT(connect_ms);
    INHERIT(timeout_ms);
    INHERIT(cache_key);
    INHERIT(cache_key_len);
    INHERIT(show_paths);
    return m;
}

#undef INHERIT

static jwks_srv *srv_conf(server_rec *s)
{
    return ap_get_module_config(s->module_config, &clerk_auth_module);
}

static const char *api_url_of(const jwks_srv *c)
{
    return c->api_url ? c->api_url : DEFAULT_API_URL;
}

void clerk_server_fetch_settings(server_rec *s, clerk_fetch_settings *out)
{
    const jwks_srv *c = srv_conf(s);
    out->api_url = api_url_of(c);
    out->ca_file = c->ca_file;
    out->proxy = c->proxy;
    out->proxy_user = c->proxy ? c->proxy_user : NULL;
    out->proxy_password = c->proxy ? c->proxy_password : NULL;
    out->connect_timeout_ms = c->connect_ms ? c->connect_ms : DEFAULT_CONNECT_S * 1000L;
    out->timeout_ms = c->timeout_ms ? c->timeout_ms : DEFAULT_TIMEOUT_S * 1000L;
}

/* ---- directives ------------------------------------------------------------------------ */

static const char *dir_error(cmd_parms *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *dir_error(cmd_parms *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *msg = apr_pvsprintf(cmd->pool, fmt, ap);
    va_end(ap);
    return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", msg, NULL);
}

/* Server-wide only: the main server or a <VirtualHost>, never a directory section. */
static const char *server_only(cmd_parms *cmd)
{
    const char *e = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    return e;
}

const char *clerk_jwks_set_api_url(cmd_parms *cmd, void *cfg, const char *arg)
{
    const char *e = server_only(cmd);
    apr_uri_t u;
    (void)cfg;
    if (e)
        return e;
    if (apr_uri_parse(cmd->temp_pool, arg, &u) != APR_SUCCESS || !u.scheme || !u.hostname ||
        !*u.hostname || (strcasecmp(u.scheme, "https") != 0 && strcasecmp(u.scheme, "http") != 0))
        return dir_error(cmd, "'%s' is not an absolute http(s) URL", arg);
    if (u.query || u.fragment)
        return dir_error(cmd, "'%s' must not have a query or fragment", arg);
    srv_conf(cmd->server)->api_url = arg;
    return NULL;
}

const char *clerk_jwks_set_ca_bundle(cmd_parms *cmd, void *cfg, const char *arg)
{
    const char *e = server_only(cmd);
    char err[256];
    (void)cfg;
    if (e)
        return e;
    const char *path = ap_server_root_relative(cmd->pool, arg);
    if (!path)
        return dir_error(cmd, "invalid file path '%s'", arg);
    if (clerk_http_ca_file_check(path, err, sizeof(err)) != 0)
        return dir_error(cmd, "%s", err);
    srv_conf(cmd->server)->ca_file = path;
    return NULL;
}

const char *clerk_jwks_set_outgoing_proxy(cmd_parms *cmd, void *cfg, const char *arg)
{
    const char *e = server_only(cmd);
    char url[CLERK_PROXY_URL_MAX + 16], err[256];
    (void)cfg;
    if (e)
        return e;
    if (clerk_proxy_url_parse(arg, url, sizeof url, err, sizeof err) != 0)
        return dir_error(cmd, "the value %s", err);
    srv_conf(cmd->server)->proxy = apr_pstrdup(cmd->pool, url);
    return NULL;
}

/* Read once, here at startup (the parent runs as root, so the file can be root-only); the
 * content is never logged, and a message about it names the file, never a byte of it. */
const char *clerk_jwks_set_outgoing_proxy_auth(cmd_parms *cmd, void *cfg, const char *arg)
{
    const char *e = server_only(cmd);
    char buf[CLERK_PROXY_CREDS_MAX + 1], err[256];
    apr_file_t *f;
    apr_size_t n = sizeof buf;
    apr_status_t rv;
    (void)cfg;
    if (e)
        return e;
    const char *path = ap_server_root_relative(cmd->pool, arg);
    if (!path)
        return dir_error(cmd, "invalid file path '%s'", arg);
    if ((rv = apr_file_open(&f, path, APR_FOPEN_READ, APR_OS_DEFAULT, cmd->temp_pool)) !=
        APR_SUCCESS)
        return dir_error(cmd, "cannot open '%s': %pm", path, &rv);
    rv = apr_file_read_full(f, buf, sizeof buf, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EOF(rv))
        return dir_error(cmd, "cannot read '%s': %pm", path, &rv);
    char *user = apr_palloc(cmd->pool, CLERK_PROXY_CREDS_MAX + 1);
    char *password = apr_palloc(cmd->pool, CLERK_PROXY_CREDS_MAX + 1);
    int bad = clerk_proxy_credentials_parse(buf, n, user, password, err, sizeof err);
    memset(buf, 0, sizeof buf);
    if (bad)
        return dir_error(cmd, "'%s' %s", path, err);
    jwks_srv *c = srv_conf(cmd->server);
    c->proxy_user = user;
    c->proxy_password = password;
    c->proxy_auth_where =
        apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename, cmd->directive->line_num);
    return NULL;
}

static apr_status_t cache_destroy(void *data)
{
    jwks_cache *c = data;
    if (c->inst && c->initialised)
        c->provider->destroy(c->inst, c->s);
    c->initialised = 0;
    return APR_SUCCESS;
}

/* "provider" or "provider:args", as SSLSessionCache and AuthnCacheSOCache take it. */
static const char *make_cache(cmd_parms *cmd, apr_pool_t *p, const char *spec, jwks_cache **out)
{
    const char *colon = ap_strchr_c(spec, ':');
    const char *name =
        colon ? apr_pstrmemdup(cmd->temp_pool, spec, (apr_size_t)(colon - spec)) : spec;
    const char *args = colon ? colon + 1 : NULL;
    jwks_cache *c = apr_pcalloc(p, sizeof(*c));

    c->spec = apr_pstrdup(p, spec);
    c->provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name, AP_SOCACHE_PROVIDER_VERSION);
    if (!c->provider)
        return apr_psprintf(cmd->pool,
                            "socache provider '%s' is not loaded (LoadModule "
                            "socache_%s_module before this line)",
                            name, name);
    const char *err = c->provider->create(&c->inst, args, cmd->temp_pool, p);
    if (err)
        return apr_psprintf(cmd->pool, "%s: %s", spec, err);
    c->notmpsafe = (c->provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE) != 0;
    c->on_host = strcmp(name, "shmcb") == 0 || strcmp(name, "dbm") == 0;
    *out = c;
    return NULL;
}

const char *clerk_jwks_set_cache(cmd_parms *cmd, void *cfg, const char *arg)
{
    const char *e = server_only(cmd);
    jwks_cache *c = NULL;
    (void)cfg;
    if (e)
        return e;
    if ((e = make_cache(cmd, cmd->pool, arg, &c)) != NULL)
        return dir_error(cmd, "%s", e);
    srv_conf(cmd->server)->cache = c;
    return NULL;
}

static const char *parse_seconds(cmd_parms *cmd, const char *arg, apr_int64_t min, apr_int64_t max,
                                 apr_int64_t *out)
{
    char *end;
    apr_int64_t v = apr_strtoi64(arg, &end, 10);
    if (end == arg || *end || v < min || v > max)
        return dir_error(
            cmd, "'%s' is not a number of seconds from %" APR_INT64_T_FMT " to %" APR_INT64_T_FMT,
            arg, min, max);
    *out = v;
    return NULL;
}

/* ClerkJWKSRefresh / ClerkJWKSMinRefresh / ClerkJWKSMaxStale (cmd->info says which). */
const char *clerk_jwks_set_interval(cmd_parms *cmd, void *cfg, const char *arg)
{
    const char *e = server_only(cmd);
    apr_int64_t v;
    (void)cfg;
    if (e)
        return e;
    if ((e = parse_seconds(cmd, arg, 1, MAX_INTERVAL_S, &v)) != NULL)
        return e;
    jwks_srv *c = srv_conf(cmd->server);
    switch ((intptr_t)cmd->info) {
    case CLERK_JWKS_REFRESH:
        c->refresh_s = v;
        break;
    case CLERK_JWKS_MIN_REFRESH:
        c->min_refresh_s = v;
        break;
    default:
        c->max_stale_s = v;
        break;
    }
    return NULL;
}

/* ClerkFetchTimeout <total> | <connect> <total> (seconds). */
const char *clerk_jwks_set_timeout(cmd_parms *cmd, void *cfg, const char *a1, const char *a2)
{
    const char *e = server_only(cmd);
    apr_int64_t connect, total;
    jwks_srv *c = srv_conf(cmd->server);
    (void)cfg;
    if (e)
        return e;
    if ((e = parse_seconds(cmd, a2 ? a2 : a1, 1, MAX_TIMEOUT_S, &total)) != NULL)
        return e;
    if (a2) {
        if ((e = parse_seconds(cmd, a1, 1, MAX_TIMEOUT_S, &connect)) != NULL)
            return e;
        if (connect > total)
            return dir_error(cmd, "the connect timeout (%s) is longer than the total (%s)", a1, a2);
    } else {
        connect = total < DEFAULT_CONNECT_S ? total : DEFAULT_CONNECT_S;
    }
    c->connect_ms = (long)connect * 1000L;
    c->timeout_ms = (long)total * 1000L;
    return NULL;
}

/* ClerkCacheKeyFile <path>: the key records in a network cache (memcache, redis) are MAC'd
 * with; every server of the fleet must read the same bytes. Trailing white space is dropped (a
 * file made by `openssl rand -hex 32 >file` ends in a newline). */
#define CACHE_KEY_FILE_MAX 4096
const char *clerk_jwks_set_cache_key_file(cmd_parms *cmd, void *cfg, const char *arg)
{
    const char *e = server_only(cmd);
    (void)cfg;
    if (e)
        return e;
    const char *path = ap_server_root_relative(cmd->temp_pool, arg);
    apr_file_t *f;
    char buf[CACHE_KEY_FILE_MAX + 1];
    apr_size_t n = sizeof(buf);
    if (!path || apr_file_open(&f, path, APR_FOPEN_READ, 0, cmd->temp_pool) != APR_SUCCESS)
        return dir_error(cmd, "cannot read '%s'", arg);
    apr_status_t rv = apr_file_read_full(f, buf, sizeof(buf), &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EOF(rv))
        return dir_error(cmd, "cannot read '%s'", arg);
    if (n > CACHE_KEY_FILE_MAX)
        return dir_error(cmd, "'%s' is larger than %d bytes", arg, CACHE_KEY_FILE_MAX);
    while (n > 0 && apr_isspace(buf[n - 1]))
        n--;
    if (n < CLERK_JWKS_MAC_KEY_MIN)
        return dir_error(cmd,
                         "'%s' holds %lu bytes; at least %d are needed (e.g. openssl rand -hex 32)",
                         arg, (unsigned long)n, CLERK_JWKS_MAC_KEY_MIN);
    jwks_srv *c = srv_conf(cmd->server);
    c->cache_key = apr_pmemdup(cmd->pool, buf, n);
    c->cache_key_len = n;
    memset(buf, 0, sizeof(buf));
    return NULL;
}

/* ClerkAllowRSAExponent's list: written only while the configuration is read (one thread),
 * emptied with the generation's pconf. */
static uint64_t rsa_extra[CLERK_RSA_EXTRA_E_MAX];
static size_t rsa_n;
static int rsa_any, rsa_reset_registered;

static apr_status_t rsa_exponents_reset(void *unused)
{
    (void)unused;
    rsa_n = 0;
    rsa_any = 0;
    rsa_reset_registered = 0;
    clerk_jwk_set_rsa_exponents(NULL, 0, 0);
    return APR_SUCCESS;
}

/* ClerkAllowRSAExponent any | <odd integer> ...: read as the file is read (EXEC_ON_READ), so it
 * holds for every key whichever line loads it; process-wide, reset when the generation ends. */
const char *clerk_jwks_set_rsa_exponent(cmd_parms *cmd, void *cfg, const char *arg)
{
    /* Read at EXEC_ON_READ time, the line is in no section httpd would tell us about (cmd->path
     * is not set, ap_check_cmd_context passes it), and it is not kept in the tree. cfg is then
     * the sub-tree this line adds to the tree: a copy of the line goes there, below whatever
     * section holds it, and rsa_scope_check refuses it in a directory section. */
    ap_directive_t **sub = cfg;
    if (sub != NULL && *sub == NULL && cmd->err_directive != NULL)
        *sub = apr_pmemdup(cmd->pool, cmd->err_directive, sizeof **sub);
    if (!rsa_reset_registered) {
        rsa_reset_registered = 1;
        apr_pool_cleanup_register(cmd->pool, NULL, rsa_exponents_reset, apr_pool_cleanup_null);
    }
    if (strcasecmp(arg, "any") == 0) {
        rsa_any = 1;
    } else {
        char *end;
        apr_int64_t v = apr_strtoi64(arg, &end, 10);
        if (end == arg || *end || v < 3 || (v & 1) == 0)
            return dir_error(cmd, "'%s' is not 'any' or an odd integer of at least 3", arg);
        if (rsa_n >= CLERK_RSA_EXTRA_E_MAX)
            return dir_error(cmd, "at most %d exponents", CLERK_RSA_EXTRA_E_MAX);
        rsa_extra[rsa_n++] = (uint64_t)v;
    }
    clerk_jwk_set_rsa_exponents(rsa_extra, rsa_n, rsa_any);
    return NULL;
}

/* ClerkStatusShowPaths On|Off: the status page names key files only when On. */
const char *clerk_status_set_show_paths(cmd_parms *cmd, void *cfg, int on)
{
    const char *e = server_only(cmd);
    (void)cfg;
    if (e)
        return e;
    srv_conf(cmd->server)->show_paths = on ? 2 : 1;
    return NULL;
}

int clerk_status_show_paths(server_rec *s)
{
    return srv_conf(s)->show_paths == 2;
}

/* ---- the store on socache ---------------------------------------------------------------- */

static int store_get(void *ctx, const char *key, unsigned char *buf, size_t cap, size_t *len)
{
    jwks_cache *c = ctx;
    apr_pool_t *p;
    unsigned int n = cap > 0xffffffffu ? 0xffffffffu : (unsigned int)cap;
    apr_status_t rv;

    if (apr_pool_create(&p, NULL) != APR_SUCCESS)
        return -1;
    if (c->notmpsafe && data_mutex && apr_global_mutex_lock(data_mutex) != APR_SUCCESS) {
        apr_pool_destroy(p);
        return -1;
    }
    rv = c->provider->retrieve(c->inst, c->s, (const unsigned char *)key, (unsigned int)strlen(key),
                               buf, &n, p);
    if (c->notmpsafe && data_mutex)
        apr_global_mutex_unlock(data_mutex);
    apr_pool_destroy(p);
    if (rv == APR_SUCCESS) {
        *len = n;
        return 0;
    }
    return APR_STATUS_IS_NOTFOUND(rv) || APR_STATUS_IS_ENOSPC(rv) ? 1 : -1;
}

static int store_set(void *ctx, const char *key, const unsigned char *val, size_t len,
                     int64_t expires_at)
{
    jwks_cache *c = ctx;
    apr_pool_t *p;
    apr_status_t rv;

    if (len > 0xffffffffu || apr_pool_create(&p, NULL) != APR_SUCCESS)
        return -1;
    if (c->notmpsafe && data_mutex && apr_global_mutex_lock(data_mutex) != APR_SUCCESS) {
        apr_pool_destroy(p);
        return -1;
    }
    rv = c->provider->store(c->inst, c->s, (const unsigned char *)key, (unsigned int)strlen(key),
                            apr_time_from_sec(expires_at), (unsigned char *)val, (unsigned int)len,
                            p);
    if (c->notmpsafe && data_mutex)
        apr_global_mutex_unlock(data_mutex);
    apr_pool_destroy(p);
    return rv == APR_SUCCESS ? 0 : -1;
}

/* The lease this thread took (a thread runs one fetch at a time): unlock frees only its own,
 * never one another process took after it expired. */
static _Thread_local apr_uint64_t my_lease;

static source_slot *slot_for(const char *key)
{
    return slot_of ? apr_hash_get(slot_of, key, APR_HASH_KEY_STRING) : NULL;
}

/* Each source has its own lock: its slot's lease, taken by compare-and-swap and never waited
 * for, so a fetch that hangs holds up no other source. The lease ends on its own after the
 * source's fetch timeout (and LEASE_EXTRA_S), which also frees it when its holder died. A source
 * first named by an .htaccess has no slot and shares the one global refresh mutex. */
static int store_trylock(void *ctx, const char *key)
{
    (void)ctx;
    source_slot *sl = slot_for(key);
    if (sl) {
        apr_uint64_t now = (apr_uint64_t)apr_time_now();
        apr_uint64_t cur = apr_atomic_read64(&sl->lease_until);
        if (cur > now)
            return 1;
        /* Read once: the unlock's compare-and-swap must see exactly the value taken. */
        apr_uint64_t until = now + apr_atomic_read64(&sl->lease_len);
        if (apr_atomic_cas64(&sl->lease_until, until, cur) != cur)
            return 1;
        my_lease = until;
        return 0;
    }
    if (!refresh_mutex)
        return -1;
    apr_status_t rv = apr_global_mutex_trylock(refresh_mutex);
    return rv == APR_SUCCESS ? 0 : APR_STATUS_IS_EBUSY(rv) ? 1 : -1;
}

static void store_unlock(void *ctx, const char *key)
{
    (void)ctx;
    source_slot *sl = slot_for(key);
    if (sl)
        apr_atomic_cas64(&sl->lease_until, 0, my_lease);
    else
        apr_global_mutex_unlock(refresh_mutex);
}

static int64_t store_newest(void *ctx, const char *key)
{
    (void)ctx;
    source_slot *sl = slot_for(key);
    return sl ? (int64_t)apr_atomic_read64(&sl->newest) : 0;
}

static void store_installed(void *ctx, const char *key, int64_t fetched_at)
{
    (void)ctx;
    source_slot *sl = slot_for(key);
    if (!sl || fetched_at <= 0)
        return;
    for (;;) {
        apr_uint64_t cur = apr_atomic_read64(&sl->newest);
        if ((apr_uint64_t)fetched_at <= cur ||
            apr_atomic_cas64(&sl->newest, (apr_uint64_t)fetched_at, cur) == cur)
            return;
    }
}

static void store_clock_back(void *ctx, const char *key, int64_t t)
{
    (void)ctx;
    source_slot *sl = slot_for(key);
    if (!sl || t <= 0)
        return;
    for (;;) {
        apr_uint64_t cur = apr_atomic_read64(&sl->newest);
        if (cur <= (apr_uint64_t)t || apr_atomic_cas64(&sl->newest, (apr_uint64_t)t, cur) == cur)
            return;
    }
}

/* The host state of this httpd parent, made at its first post_config. */
static host_state *host_state_get(server_rec *s)
{
    apr_pool_t *pp = s->process->pool;
    void *v = NULL;
    apr_pool_userdata_get(&v, HOST_STATE_KEY, pp);
    if (v)
        return v;
    host_state *h = apr_pcalloc(pp, sizeof(*h));
    apr_status_t rv = apr_generate_random_bytes(h->mac_key, sizeof(h->mac_key));
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     CLERK_LOGNO(1400) "no random bytes for the JWKS record key");
        return NULL;
    }
    apr_shm_t *shm = NULL;
    rv = apr_shm_create(&shm, SLOTS_MAX * sizeof(source_slot), NULL, pp); /* anonymous */
    if (rv == APR_SUCCESS) {
        h->slots = apr_shm_baseaddr_get(shm);
        memset(h->slots, 0, SLOTS_MAX * sizeof(source_slot));
    } else {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     CLERK_LOGNO(1401) "no anonymous shared memory: JWKS sources share one "
                                       "refresh lock and a replayed record is not detected");
    }
    apr_pool_userdata_set(h, HOST_STATE_KEY, apr_pool_cleanup_null, pp);
    return h;
}

/* Gives every shared source known now a slot (the parent, in post_config). */
static void assign_slots(apr_pool_t *pconf, server_rec *s)
{
    slot_of = apr_hash_make(pconf);
    if (!host || !host->slots)
        return;
    /* The longest fetch any server here may make: a lease outlives every fetch. */
    apr_uint64_t lease = 0;
    for (server_rec *sv = s; sv; sv = sv->next) {
        clerk_fetch_settings fs;
        clerk_server_fetch_settings(sv, &fs);
        apr_uint64_t len = (apr_uint64_t)apr_time_from_msec(fs.timeout_ms) +
                           (apr_uint64_t)apr_time_from_sec(LEASE_EXTRA_S);
        if (len > lease)
            lease = len;
    }
    int full = 0;
    for (apr_hash_index_t *hi = apr_hash_first(pconf, remotes); hi; hi = apr_hash_next(hi)) {
        clerk_jwks_remote *r = apr_hash_this_val(hi);
        const char *key = clerk_jwks_remote_store_key(r);
        if (!clerk_jwks_remote_shared(r) || strlen(key) >= sizeof(host->slots[0].key))
            continue;
        source_slot *sl = NULL;
        for (int i = 0; i < SLOTS_MAX && !sl; i++)
            if (strcmp(host->slots[i].key, key) == 0)
                sl = &host->slots[i];
        for (int i = 0; i < SLOTS_MAX && !sl; i++)
            if (!host->slots[i].key[0]) {
                sl = &host->slots[i];
                apr_cpystrn(sl->key, key, sizeof(sl->key));
            }
        if (!sl) {
            full = 1;
            continue;
        }
        if (lease > apr_atomic_read64(&sl->lease_len))
            apr_atomic_set64(&sl->lease_len, lease);
        apr_hash_set(slot_of, key, APR_HASH_KEY_STRING, sl);
    }
    if (full)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     CLERK_LOGNO(1402) "more than %d JWKS sources since httpd started: the "
                                       "others share one refresh lock",
                     SLOTS_MAX);
}

/* ---- sources ------------------------------------------------------------------------------ */

static void jwks_log(void *ctx, int level, const char *msg)
{
    server_rec *s = ctx;
    /* clerk_jwks_log_fn levels: 3 err, 4 warn, 6 info, 7 debug. */
    int lvl = level <= 3   ? APLOG_ERR
              : level == 4 ? APLOG_WARNING
              : level <= 6 ? APLOG_INFO
                           : APLOG_DEBUG;
    ap_log_error(APLOG_MARK, lvl, 0, s, CLERK_LOGNO(0401) "%s", msg);
}

/* Where a source's keys come from: ClerkJWKSURL as is (public, no secret sent), else the Backend
 * API of this server with the secret key. */
static void source_of(apr_pool_t *p, const jwks_srv *c, const char *secret, const char *jwks_url,
                      const char **url, const char **send_secret)
{
    *url = jwks_url ? jwks_url : clerk_jwks_bapi_url(p, api_url_of(c));
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
    const jwks_srv *c = srv_conf(s);
    const char *url, *send_secret;
    source_of(tmp, c, secret, jwks_url, &url, &send_secret);
    const char *k = registry_key(tmp, c, url, send_secret);
    clerk_jwks_remote *r = apr_hash_get(remotes, k, APR_HASH_KEY_STRING);
    if (r)
        return r;

    jwks_cache *cache = c->cache ? c->cache : default_cache;
    const char *shown = clerk_url_redact(tmp, url);
    /* The key the shared record is MAC'd with must be one the cache's other writers lack. On
     * this host (shmcb, dbm): the parent's random key. Across hosts (memcache, redis) every
     * server of the fleet must hold it: ClerkCacheKeyFile, else the secret key the source is
     * fetched with. A ClerkJWKSURL source with neither keeps its keys per process (fail closed;
     * costs one fetch per process). */
    const unsigned char *mac_key = NULL;
    apr_size_t mac_key_len = 0;
    if (cache && cache->on_host && host) {
        mac_key = host->mac_key;
        mac_key_len = sizeof(host->mac_key);
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
        .log_ctx = main_server,
        .count = clerk_status_count_key_fetch,
        .count_ctx =
            (void *)(intptr_t)(jwks_url ? CLERK_KEY_FETCH_JWKS_URL : CLERK_KEY_FETCH_BACKEND_API),
    };
    char err[256];
    r = clerk_jwks_remote_create(p, &o, err, sizeof(err));
    if (!r) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     CLERK_LOGNO(0402) "cannot set up the remote JWKS source %s: %s", shown, err);
        return NULL;
    }
    apr_hash_set(remotes, apr_pstrdup(p, k), APR_HASH_KEY_STRING, r);
    if (cache && source_caches)
        apr_hash_set(source_caches, apr_pstrdup(p, clerk_jwks_remote_store_key(r)),
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
    if (!remotes)
        return -1;
    if (remotes_mu)
        apr_thread_mutex_lock(remotes_mu);
    src = source_get(remotes_pool, r->pool, r->server, secret_key, jwks_url);
    if (remotes_mu)
        apr_thread_mutex_unlock(remotes_mu);
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
    if (!remotes)
        return out;
    if (remotes_mu)
        apr_thread_mutex_lock(remotes_mu);
    for (apr_hash_index_t *hi = apr_hash_first(p, remotes); hi; hi = apr_hash_next(hi)) {
        clerk_jwks_remote *r = apr_hash_this_val(hi);
        clerk_jwks_remote_stats(r, 0, apr_array_push(out));
    }
    if (remotes_mu)
        apr_thread_mutex_unlock(remotes_mu);
    return out;
}

/* ---- startup ------------------------------------------------------------------------------ */

static int jwks_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;
    apr_status_t rv = ap_mutex_register(pconf, MUTEX_REFRESH, NULL, APR_LOCK_DEFAULT, 0);
    if (rv == APR_SUCCESS)
        rv = ap_mutex_register(pconf, MUTEX_CACHE, NULL, APR_LOCK_DEFAULT, 0);
    if (rv != APR_SUCCESS) {
        ap_log_perror(APLOG_MARK, APLOG_CRIT, rv, plog,
                      CLERK_LOGNO(0403) "cannot register the Clerk JWKS mutexes");
        return 500;
    }
    data_mutex = refresh_mutex = NULL;
    remotes = NULL;
    host = NULL;
    slot_of = NULL;
    remotes_mu = NULL;
    default_cache = NULL;
    return OK;
}

static apr_status_t curl_cleanup(void *unused)
{
    (void)unused;
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

/* Whether any directive in the tree names a remote source (then the cache is made, even when
 * only an .htaccess-reachable section would use it). */
static int tree_names_remote(const ap_directive_t *d)
{
    for (; d; d = d->next) {
        if (d->first_child && tree_names_remote(d->first_child))
            return 1;
        if (strcasecmp(d->directive, "ClerkSecretKey") == 0 ||
            strcasecmp(d->directive, "ClerkSecretKeyFile") == 0 ||
            strcasecmp(d->directive, "ClerkJWKSURL") == 0)
            return 1;
    }
    return 0;
}

static int init_cache(apr_pool_t *pconf, server_rec *s, jwks_cache *c, int n)
{
    if (c->initialised)
        return OK;
    struct ap_socache_hints hints = {80, 4096, CLERK_JWKS_DEFAULT_REFRESH_S};
    const char *name = n ? apr_psprintf(pconf, SOCACHE_NAME_PREFIX "%d", n) : SOCACHE_NAME_PREFIX;
    c->s = s;
    apr_status_t rv = c->provider->init(c->inst, name, &hints, s, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     CLERK_LOGNO(0404) "ClerkCache %s: cannot initialise the cache", c->spec);
        return 500;
    }
    c->initialised = 1;
    c->store.get = store_get;
    c->store.set = store_set;
    c->store.trylock = store_trylock;
    c->store.unlock = store_unlock;
    c->store.newest = store_newest;
    c->store.installed = store_installed;
    c->store.clock_back = store_clock_back;
    c->store.ctx = c;
    apr_pool_cleanup_register(pconf, c, cache_destroy, apr_pool_cleanup_null);
    return OK;
}

static void free_carried(void)
{
    while (carried) {
        carried_record *next = carried->next;
        free(carried->key);
        free(carried->val);
        free(carried);
        carried = next;
    }
}

/* An on-host cache (shmcb) dies with its generation, so a graceful restart during a Clerk
 * outage would leave every new child without keys, signing everyone out although the last
 * good set is still within ClerkJWKSMaxStale. Before the old cache goes (a pre-cleanup,
 * it runs before every cleanup and sub-pool of pconf), the parent copies each source's record out;
 * the next post_config writes it into the new cache. The record is signed and dated, so the policy
 * still checks it and still enforces max-stale. */
static apr_status_t carry_records(void *unused)
{
    (void)unused;
    void *v = NULL; /* a list no generation took (it had no remote source): drop it */
    if (process_pool)
        apr_pool_userdata_get(&v, CARRIED_KEY, process_pool);
    carried = v;
    free_carried();
    if (!source_caches)
        return APR_SUCCESS;
    apr_pool_t *tmp;
    if (apr_pool_create(&tmp, NULL) != APR_SUCCESS)
        return APR_SUCCESS;
    for (apr_hash_index_t *hi = apr_hash_first(tmp, source_caches); hi; hi = apr_hash_next(hi)) {
        const void *key;
        void *val;
        apr_hash_this(hi, &key, NULL, &val);
        jwks_cache *c = val;
        if (!c->on_host || !c->initialised)
            continue; /* memcached/redis outlive the generation on their own */
        size_t cap = CLERK_JWKS_DEFAULT_MAX_BODY + CLERK_JWKS_RECORD_OVERHEAD, len = 0;
        carried_record *cr = calloc(1, sizeof(*cr));
        unsigned char *buf = malloc(cap);
        char *k = strdup(key);
        if (!cr || !buf || !k || store_get(c, key, buf, cap, &len) != 0) {
            free(cr);
            free(buf);
            free(k);
            continue;
        }
        cr->key = k;
        cr->val = buf;
        cr->len = len;
        cr->expires = (int64_t)apr_time_sec(apr_time_now()) + 86400;
        cr->next = carried;
        carried = cr;
    }
    apr_pool_destroy(tmp);
    source_caches = NULL;
    if (process_pool)
        apr_pool_userdata_set(carried, CARRIED_KEY, apr_pool_cleanup_null, process_pool);
    carried = NULL; /* owned through the userdata now */
    return APR_SUCCESS;
}

/* Writes the records carried from the previous generation into this one's caches. */
static void restore_carried(server_rec *s)
{
    int n = 0;
    void *v = NULL;
    apr_pool_userdata_get(&v, CARRIED_KEY, s->process->pool);
    apr_pool_userdata_set(NULL, CARRIED_KEY, apr_pool_cleanup_null, s->process->pool);
    carried = v;
    for (carried_record *cr = carried; cr; cr = cr->next) {
        jwks_cache *c =
            source_caches ? apr_hash_get(source_caches, cr->key, APR_HASH_KEY_STRING) : NULL;
        if (c && c->initialised && store_set(c, cr->key, cr->val, cr->len, cr->expires) == 0)
            n++;
    }
    if (n)
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     CLERK_LOGNO(0413) "kept %d JWKS record(s) across the restart", n);
    free_carried();
}

static int jwks_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    (void)plog;
    apr_status_t rv;

    main_server = s;
    process_pool = s->process->pool;
    remotes = apr_hash_make(pconf);
    source_caches = apr_hash_make(pconf);
    /* The default cache lived in the previous generation's pconf: make it anew. */
    default_cache = NULL;
    remotes_pool = pconf;
    if (apr_thread_mutex_create(&remotes_mu, APR_THREAD_MUTEX_DEFAULT, pconf) != APR_SUCCESS)
        return 500;
    /* Once, before any thread exists (an .htaccess may name a source later). */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     CLERK_LOGNO(0405) "libcurl cannot be initialised");
        return 500;
    }
    apr_pool_cleanup_register(pconf, NULL, curl_cleanup, apr_pool_cleanup_null);
    if (!tree_names_remote(ap_conftree))
        return OK;
    if ((host = host_state_get(s)) == NULL)
        return 500;

    /* One socache instance per ClerkCache line in use; the default shmcb when a server has none. */
    int n = 0, need_data_mutex = 0;
    for (server_rec *sv = s; sv; sv = sv->next) {
        jwks_srv *c = srv_conf(sv);
        if (!c->cache && !default_cache) {
            const ap_socache_provider_t *prov = ap_lookup_provider(
                AP_SOCACHE_PROVIDER_GROUP, DEFAULT_CACHE, AP_SOCACHE_PROVIDER_VERSION);
            if (!prov) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                             CLERK_LOGNO(0406) "mod_socache_shmcb is not loaded and no ClerkCache "
                                               "is set: each httpd process fetches the JWKS on "
                                               "its own (load socache_shmcb_module or set "
                                               "ClerkCache)");
                continue;
            }
            default_cache = apr_pcalloc(pconf, sizeof(*default_cache));
            default_cache->spec = DEFAULT_CACHE;
            default_cache->provider = prov;
            const char *err = prov->create(&default_cache->inst, NULL, ptemp, pconf);
            if (err) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                             CLERK_LOGNO(0407) "default JWKS cache (shmcb): %s", err);
                return 500;
            }
            default_cache->notmpsafe = (prov->flags & AP_SOCACHE_FLAG_NOTMPSAFE) != 0;
            default_cache->on_host = 1;
        }
        jwks_cache *use = c->cache ? c->cache : default_cache;
        if (!use || use->initialised)
            continue;
        if (init_cache(pconf, s, use, n++) != OK)
            return 500;
        need_data_mutex |= use->notmpsafe;
    }

    rv = ap_global_mutex_create(&refresh_mutex, &refresh_mutex_file, MUTEX_REFRESH, NULL, s, pconf,
                                0);
    if (rv == APR_SUCCESS && need_data_mutex)
        rv = ap_global_mutex_create(&data_mutex, &data_mutex_file, MUTEX_CACHE, NULL, s, pconf, 0);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     CLERK_LOGNO(0408) "cannot create the Clerk JWKS mutexes");
        return 500;
    }
    collect_sources(pconf, ptemp, s);
    assign_slots(pconf, s);
    restore_carried(s);
    /* A pre-cleanup: the dbm provider reads through a sub-pool of pconf, which a plain cleanup
     * would find already destroyed (httpd crashed at the first restart with ClerkCache dbm). */
    apr_pool_pre_cleanup_register(pconf, NULL, carry_records);
    return OK;
}

static void jwks_child_init(apr_pool_t *pchild, server_rec *s)
{
    if (!remotes || apr_hash_count(remotes) == 0) {
        if (remotes)
            remotes_pool = pchild;
        return;
    }
    if (refresh_mutex &&
        apr_global_mutex_child_init(&refresh_mutex, refresh_mutex_file, pchild) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     CLERK_LOGNO(0409) "cannot re-attach the JWKS refresh mutex: fetches are not "
                                       "coalesced across processes");
        refresh_mutex = NULL;
    }
    if (data_mutex &&
        apr_global_mutex_child_init(&data_mutex, data_mutex_file, pchild) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     CLERK_LOGNO(0410) "cannot re-attach the JWKS cache mutex");
    }
    remotes_pool = pchild;

    /* Keys before the first request when Clerk is reachable; never a reason not to serve. */
    for (apr_hash_index_t *hi = apr_hash_first(pchild, remotes); hi; hi = apr_hash_next(hi)) {
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
 * conditionals on modules and defines leave no section), with that section in *in; or NULL.
 * The exponent rule is process-wide: in a <Location> it would loosen every key of the server. */
static const ap_directive_t *rsa_in_dir_section(const ap_directive_t *d, const ap_directive_t **in)
{
    for (; d; d = d->next) {
        if (strcasecmp(d->directive, "ClerkAllowRSAExponent") == 0)
            for (const ap_directive_t *p = d->parent; p; p = p->parent)
                if (strcasecmp(p->directive, "<VirtualHost") != 0) {
                    *in = p;
                    return d;
                }
        const ap_directive_t *found = rsa_in_dir_section(d->first_child, in);
        if (found)
            return found;
    }
    return NULL;
}

static int jwks_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf;
    (void)ptemp;
    const ap_directive_t *section = NULL;
    const ap_directive_t *rsa = rsa_in_dir_section(ap_conftree, &section);
    if (rsa) {
        ap_log_perror(APLOG_MARK, APLOG_CRIT, 0, plog,
                      CLERK_LOGNO(1900) "ClerkAllowRSAExponent at %s:%d: not allowed in %s: it "
                                        "holds for the whole server (use it at server or "
                                        "<VirtualHost> level)",
                      rsa->filename, rsa->line_num, section->directive);
        return 500;
    }
    for (server_rec *sv = s; sv; sv = sv->next) {
        const jwks_srv *c = srv_conf(sv);
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
    (void)p;
    ap_hook_check_config(jwks_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_pre_config(jwks_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(jwks_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(jwks_child_init, NULL, NULL, APR_HOOK_MIDDLE);
}

/* ---- the store for other records (httpd_machine.c) ----------------------------------------- */

int clerk_jwks_shared_store(server_rec *s, clerk_jwks_store *store, int *on_host,
                            const unsigned char **mac_key, size_t *mac_key_len)
{
    const jwks_srv *c = srv_conf(s);
    const jwks_cache *cache = c->cache ? c->cache : default_cache;
    if (!cache || !cache->initialised)
        return -1;
    *store = cache->store;
    *on_host = cache->on_host;
    if (cache->on_host) {
        if (!host)
            return -1; /* nothing this host's other writers could not forge */
        *mac_key = host->mac_key;
        *mac_key_len = sizeof(host->mac_key);
    } else {
        *mac_key = c->cache_key;
        *mac_key_len = c->cache_key ? c->cache_key_len : 0;
    }
    return 0;
}
