/* Remote keys and the server-wide fetch settings (httpd_jwks.c). */
#ifndef HTTPD_JWKS_H
#define HTTPD_JWKS_H

#include <stdint.h>

#include "httpd.h"
#include "http_config.h"

#include "token.h"

/* The module's per-server record (server-wide fetch and cache settings). */
void *clerk_create_server_conf(apr_pool_t *p, server_rec *s);
void *clerk_merge_server_conf(apr_pool_t *p, void *basev, void *addv);

/* How this server reaches Clerk's Backend API (ClerkAPIURL, ClerkCABundle, ClerkFetchTimeout,
 * ClerkOutgoingProxy[AuthFile]), defaults applied. */
typedef struct clerk_fetch_settings {
    const char *api_url;                     /* default https://api.clerk.com */
    const char *ca_file;                     /* NULL: system store only */
    const char *proxy;                       /* ClerkOutgoingProxy "http://host:port"; NULL: none */
    const char *proxy_user, *proxy_password; /* ClerkOutgoingProxyAuthFile; NULL: none */
    long connect_timeout_ms, timeout_ms;
} clerk_fetch_settings;
void clerk_server_fetch_settings(server_rec *s, clerk_fetch_settings *out);

/* The remote key source for one request (secret key and/or ClerkJWKSURL as its section says),
 * released with r->pool. 0, or -1 when no source can be made (logged). Never blocks on a
 * refresh another process or thread is doing. */
int clerk_jwks_request_keys(request_rec *r, const char *secret_key, const char *jwks_url,
                            clerk_key_source *out);

/* Every remote source of this process: an array of clerk_jwks_stats (jwks_remote.h). */
apr_array_header_t *clerk_jwks_all_stats(apr_pool_t *p);

struct clerk_jwks_store;

/* The socache store s's key sets use (its ClerkCache, else the default shmcb), for the
 * module's other shared records (httpd_machine.c): its get/set, whether it stays on this host,
 * and the key records in it must be MAC'd with (this host's random key for an on-host cache;
 * ClerkCacheKeyFile for a network one, *mac_key NULL when none is set). 0, or -1 when s has no
 * initialised store. */
int clerk_jwks_shared_store(server_rec *s, struct clerk_jwks_store *store, int *on_host,
                            const unsigned char **mac_key, size_t *mac_key_len);

/* Hooks of httpd_jwks.c (pre_config, post_config, child_init). */
void clerk_jwks_register_hooks(apr_pool_t *p);

/* A pool of its own under parent (made in child_init, while one thread runs), with its own
 * allocator, for one process-wide table that threads fill under that table's mutex: APR pools
 * and a shared allocator are not thread-safe, so two tables must never allocate from one pool
 * (nor from pchild). Destroyed with parent. NULL when it cannot be made. */
apr_pool_t *clerk_table_pool(apr_pool_t *parent);

/* The server-wide directives' handlers, for the command table (httpd_directives.c). */
const char *clerk_jwks_set_api_url(cmd_parms *cmd, void *cfg, const char *arg);
const char *clerk_jwks_set_ca_bundle(cmd_parms *cmd, void *cfg, const char *arg);
const char *clerk_jwks_set_outgoing_proxy(cmd_parms *cmd, void *cfg, const char *arg);
const char *clerk_jwks_set_outgoing_proxy_auth(cmd_parms *cmd, void *cfg, const char *arg);
const char *clerk_jwks_set_cache(cmd_parms *cmd, void *cfg, const char *arg);
const char *clerk_jwks_set_interval(cmd_parms *cmd, void *cfg, const char *arg);
const char *clerk_jwks_set_timeout(cmd_parms *cmd, void *cfg, const char *a1, const char *a2);
const char *clerk_jwks_set_cache_key_file(cmd_parms *cmd, void *cfg, const char *arg);
const char *clerk_jwks_set_rsa_exponent(cmd_parms *cmd, void *cfg, const char *arg);
const char *clerk_status_set_show_paths(cmd_parms *cmd, void *cfg, int on);
/* 1 when ClerkStatusShowPaths On holds for s: the status page may name key files. */
int clerk_status_show_paths(server_rec *s);
/* cmd->info of clerk_jwks_set_interval: which interval a directive sets. */
enum { CLERK_JWKS_REFRESH = 1, CLERK_JWKS_MIN_REFRESH = 2, CLERK_JWKS_MAX_STALE = 3 };

#endif
