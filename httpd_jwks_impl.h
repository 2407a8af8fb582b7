/* What the three remote-key glue files share (httpd_jwks.c: sources and startup;
 * httpd_jwks_config.c: the server-wide directives; httpd_jwks_cache.c: the socache store, the
 * host's slots and leases, and the records carried across a restart). Nothing outside them
 * includes this; the rest of the module sees httpd_jwks.h. */
#ifndef HTTPD_JWKS_IMPL_H
#define HTTPD_JWKS_IMPL_H

#include <apr_global_mutex.h>
#include <apr_hash.h>
#include <apr_thread_mutex.h>

#include "httpd.h"
#include "http_config.h"
#include "ap_socache.h"

#include "jwks_remote.h"

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

/* What the cache's other writers cannot reach (httpd_jwks_cache.c): made once per httpd
 * parent and inherited by every child through fork. */
typedef struct host_state host_state;

/* The remote-key state of one configuration generation in one process: the only instance is
 * clerk_jwks_gen. Who writes what, and when:
 * - pre_config empties it (the previous generation's pools are gone by then);
 * - post_config fills it, in the parent, before any child or thread exists, in pconf;
 * - a child inherits it through fork; child_init re-attaches the global mutexes and points pool
 *   at pchild, still before any request thread runs;
 * - from then on, remotes and source_caches change only under remotes_mu (a source first named
 *   by an .htaccess, <Files> or <If> section is made on first use); every other field is read
 *   only, until the next generation's pre_config. */
typedef struct jwks_generation {
    server_rec *main_server;           /* where the sources log */
    apr_pool_t *pool;                  /* where late sources are made: pconf, then pchild */
    apr_hash_t *remotes;               /* "<settings>\n<url>\n<secret>" -> clerk_jwks_remote * */
    apr_thread_mutex_t *remotes_mu;    /* guards remotes and source_caches in a threaded child */
    apr_global_mutex_t *data_mutex;    /* around socache calls of non-MP-safe providers */
    apr_global_mutex_t *refresh_mutex; /* try-locked for one whole fetch */
    const char *data_mutex_file, *refresh_mutex_file;
    jwks_cache *default_cache; /* the default shmcb, when some source needs it */
    apr_hash_t *source_caches; /* a source's shared-record key -> its cache (carry_records) */
    host_state *host;          /* this parent's host state; NULL without a remote source */
    apr_hash_t *slot_of;       /* store key -> source_slot *, filled in post_config */
} jwks_generation;

extern jwks_generation clerk_jwks_gen;

/* ---- httpd_jwks_config.c ----------------------------------------------------------------- */

/* s's server-wide record. */
jwks_srv *clerk_jwks_srv_conf(server_rec *s);

/* The Backend API base c sends to: ClerkAPIURL, else https://api.clerk.com. */
const char *clerk_jwks_api_url(const jwks_srv *c);

/* ---- httpd_jwks_cache.c ------------------------------------------------------------------ */

/* A socache instance for "provider" or "provider:args", allocated in p; NULL, or the reason it
 * cannot be made (allocated in cmd->pool). */
const char *clerk_jwks_cache_make(cmd_parms *cmd, apr_pool_t *p, const char *spec,
                                  jwks_cache **out);

/* The default shmcb instance in pconf, once per generation. OK; DECLINED when mod_socache_shmcb
 * is not loaded (logged); 500 when it cannot be made (logged). */
int clerk_jwks_default_cache(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);

/* Initialises c (the n-th of this generation) and fills its clerk_jwks_store; OK or 500
 * (logged). */
int clerk_jwks_cache_init(apr_pool_t *pconf, server_rec *s, jwks_cache *c, int n);

/* This httpd parent's host state, made at its first post_config; NULL (logged) without random
 * bytes. */
host_state *clerk_jwks_host_state(server_rec *s);

/* The key records of on-host caches are MAC'd with (its length in *len), or NULL when no host
 * state was made. */
const unsigned char *clerk_jwks_host_mac_key(apr_size_t *len);

/* Gives every shared source known now a slot (the parent, in post_config). */
void clerk_jwks_assign_slots(apr_pool_t *pconf, server_rec *s);

/* Writes the records carried from the previous generation into this one's caches, and
 * registers the pconf pre-cleanup that carries this generation's to the next. */
void clerk_jwks_carry_over(apr_pool_t *pconf, server_rec *s);

#endif
