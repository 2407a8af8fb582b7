/* What the glue files share: the per-request Clerk decision, read by the authorization
 * providers. httpd headers are fine here (top level); src/ never includes this. */
#ifndef HTTPD_CLERK_H
#define HTTPD_CLERK_H

#include <stdint.h>
#include <jansson.h>
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "auth.h"
#include "token.h"

/* Stable message numbers, APLOGNO-style, so operators can grep and alert on them. */
#define CLERK_LOGNO(n) "CLERK" #n ": "

/* A request's Clerk identity, valid for the request's lifetime. */
typedef struct clerk_identity {
    const clerk_auth *auth;
    const json_t *payload; /* the verified claims */
    int64_t now_ms;        /* when the request was decided */
} clerk_identity;

enum {
    CLERK_IDENTITY_NONE = 0,      /* not signed in through AuthType Clerk */
    CLERK_IDENTITY_SIGNED_IN = 1, /* *id filled */
    CLERK_IDENTITY_PREFLIGHT = 2, /* a CORS preflight let through without credentials */
    CLERK_IDENTITY_MACHINE = 3    /* signed in with a machine token (clerk_request_machine) */
};

struct clerk_machine;
/* The machine token r is signed in with, or NULL (mod_clerk_auth.c). */
const struct clerk_machine *clerk_request_machine(request_rec *r);

/* AuthzSendForbiddenOnFailure On for the section of a Require clerk-* line being read, unless
 * it sets it itself (httpd_authz.c); NULL or an error. */
const char *clerk_authz_forbid_on_failure(cmd_parms *cmd);

/* Which of the CLERK_IDENTITY_* r is; fills id when signed in with a session token. A request
 * signed in with a machine token is CLERK_IDENTITY_MACHINE (no session claims: the session
 * providers deny it, as the SDK's machine has() answers false). */
int clerk_request_identity(request_rec *r, clerk_identity *id);

/* ---- CORS preflight (httpd_preflight.c) --------------------------------------------------- */

/* ClerkCORSPreflight: what a CORS preflight in an AuthType Clerk section gets. */
enum {
    CLERK_PREFLIGHT_RESPOND = 1,     /* the module answers 204 itself; no handler runs */
    CLERK_PREFLIGHT_HANDLER = 2,     /* passed on to the handler with no user at all */
    CLERK_PREFLIGHT_AUTHENTICATE = 3 /* authenticated like any other request */
};

/* r's CLERK_PREFLIGHT_* when it is a CORS preflight under AuthType Clerk, else 0. */
int clerk_preflight_mode(request_rec *r);

/* As clerk_preflight_mode, and records r as a preflight (no user, nothing exported) when the
 * mode is respond or handler. */
int clerk_preflight_decide(request_rec *r);

/* Registers the preflight's access and handler hooks. */
void clerk_preflight_register_hooks(apr_pool_t *p);

/* ---- signed-in responses and caches (httpd_private.c) -------------------------------------- */

/* The request header that signed r in ("Authorization" or "Cookie"), or NULL when r is not
 * signed in through AuthType Clerk. */
const char *clerk_request_signed_in_by(request_rec *r);

/* Whether a configuration section's children take effect (<IfModule>, <IfDefine> evaluated as
 * httpd did; any other section counts as active). */
int clerk_config_section_active(apr_pool_t *p, const ap_directive_t *d);

/* Registers the Cache-Control/Vary filter and the mod_cache quick-handler warning. */
void clerk_private_register_hooks(apr_pool_t *p);

/* Registers the `Require clerk-*` providers (docs/design.md#authorization). */
void clerk_register_authz_providers(apr_pool_t *p);

/* ---- status page and its counters (httpd_status.c) ----------------------------------------- */

/* Authorization results, as counted by the Require clerk-* providers. */
enum { CLERK_AUTHZ_GRANTED = 0, CLERK_AUTHZ_DENIED = 1, CLERK_AUTHZ_ERROR = 2 };

/* Counts one decision (status: a clerk_status, reason: a clerk_reason) in the counters shared
 * by every process; lock-free, callable from any request thread. */
void clerk_status_count_decision(int preflight, int status, int reason);

/* Counts one Require clerk-* result (CLERK_AUTHZ_*), as above. */
void clerk_status_count_authz(int result);

/* Counts one verified-token cache look-up (clerk_token_cache_set_counter), as above. */
void clerk_status_count_cache(int hit);

/* Counts one machine-token decision (type: a CLERK_TT_* machine bit, 0 when none was verified),
 * one Backend API verification call, and one shared-cache look-up, as above. */
void clerk_status_count_machine(unsigned type, int signed_in);
void clerk_status_count_machine_call(int ok);
void clerk_status_count_machine_cache(int hit);

/* Where a remote key set is fetched from: Clerk's Backend API with the secret key, or a
 * ClerkJWKSURL. */
enum { CLERK_KEY_FETCH_BACKEND_API = 0, CLERK_KEY_FETCH_JWKS_URL = 1 };

/* Counts one remote JWKS fetch attempt (clerk_jwks_remote_opts.count; ctx: a CLERK_KEY_FETCH_*
 * cast to a pointer), as above. */
void clerk_status_count_key_fetch(void *ctx, int ok);

/* Registers the `clerk-status` handler and the counters' post_config. */
void clerk_status_register_hooks(apr_pool_t *p);

/* This process's verified-token cache (NULL before child_init or when it could not be made). */
const struct clerk_token_cache *clerk_token_cache_current(void);

/* ---- remote keys and server-wide fetch settings (httpd_jwks.c) ---------------------------- */

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

/* For mod_clerk_auth.c: 1 when the per-dir record dconf verifies with a remote JWKS (no
 * ClerkJWTKey, and ClerkSecretKey(File) or ClerkJWKSURL), with its secret key and JWKS URL
 * (either may be NULL). */
int clerk_dir_remote_source(const void *dconf, const char **secret_key, const char **jwks_url);

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

const char *clerk_jwks_set_api_url(cmd_parms *cmd, void *cfg, const char *arg);
/* ClerkAPIURL as the command table has it: clerk_jwks_set_api_url, the cleartext rule, and
 * the Backend API noted in the server's per-directory record (mod_clerk_auth.c). */
const char *clerk_set_api_url(cmd_parms *cmd, void *cfg, const char *arg);
/* The directive's error when url is http:// to anything but loopback (what: what it would
 * carry, for the message), else NULL (mod_clerk_auth.c). */
const char *clerk_cleartext_refusal(cmd_parms *cmd, const char *url, const char *what);
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

/* The server-wide directives, for the module's command table. */
#define CLERK_JWKS_DIRECTIVES                                                                      \
    AP_INIT_TAKE1("ClerkAPIURL", clerk_set_api_url, NULL, RSRC_CONF,                               \
                  "Clerk Backend API base URL (default https://api.clerk.com)"),                   \
        AP_INIT_TAKE1("ClerkCABundle", clerk_jwks_set_ca_bundle, NULL, RSRC_CONF,                  \
                      "PEM file of CA certificates added to the system store for fetches"),        \
        AP_INIT_TAKE1("ClerkOutgoingProxy", clerk_jwks_set_outgoing_proxy, NULL, RSRC_CONF,        \
                      "http://host:port of the proxy every fetch to Clerk goes through"),          \
        AP_INIT_TAKE1("ClerkOutgoingProxyAuthFile", clerk_jwks_set_outgoing_proxy_auth, NULL,      \
                      RSRC_CONF, "file holding user:password for ClerkOutgoingProxy (Basic)"),     \
        AP_INIT_TAKE1("ClerkCache", clerk_jwks_set_cache, NULL, RSRC_CONF,                         \
                      "socache provider[:args] sharing the JWKS (default shmcb)"),                 \
        AP_INIT_TAKE1("ClerkJWKSRefresh", clerk_jwks_set_interval, (void *)CLERK_JWKS_REFRESH,     \
                      RSRC_CONF, "seconds between JWKS refreshes (default 300)"),                  \
        AP_INIT_TAKE1("ClerkJWKSMinRefresh", clerk_jwks_set_interval,                              \
                      (void *)CLERK_JWKS_MIN_REFRESH, RSRC_CONF,                                   \
                      "least seconds between fetches on an unknown kid (default 10)"),             \
        AP_INIT_TAKE1("ClerkJWKSMaxStale", clerk_jwks_set_interval, (void *)CLERK_JWKS_MAX_STALE,  \
                      RSRC_CONF,                                                                   \
                      "seconds the last good JWKS serves while fetches fail (default 3600)"),      \
        AP_INIT_TAKE12("ClerkFetchTimeout", clerk_jwks_set_timeout, NULL, RSRC_CONF,               \
                       "[connect] total seconds for one fetch (default 3 10)"),                    \
        AP_INIT_TAKE1("ClerkCacheKeyFile", clerk_jwks_set_cache_key_file, NULL, RSRC_CONF,         \
                      "file with the key records in a network ClerkCache are MAC'd with"),         \
        AP_INIT_ITERATE("ClerkAllowRSAExponent", clerk_jwks_set_rsa_exponent, NULL,                \
                        RSRC_CONF | EXEC_ON_READ,                                                  \
                        "RSA public exponents accepted besides 65537, or any"),                    \
        AP_INIT_FLAG("ClerkStatusShowPaths", clerk_status_set_show_paths, NULL, RSRC_CONF,         \
                     "name key files on the status page (default Off)")

/* ---- handshake (httpd_handshake.c) --------------------------------------------------------- */

struct clerk_config;
struct clerk_state;

/* ClerkFrontendAPI: a host[:port] or an absolute http(s) URL, stored at offset cmd->info. */
const char *clerk_handshake_set_frontend_api(cmd_parms *cmd, void *cfg, const char *arg);

/* Fills the per-request handshake fields of cc: the Backend API URL and the libcurl transport
 * of the nonce exchange, from this server's fetch settings (ClerkAPIURL, ClerkCABundle...). */
void clerk_handshake_request_config(request_rec *r, struct clerk_config *cc);

/* Adds the decision's Set-Cookie headers (handshake counter, or a resolved handshake's
 * directives) and, for a resolved handshake, Access-Control-Allow-Origin: null and
 * Access-Control-Allow-Credentials: true (@clerk/backend tokens/handshake.ts resolveHandshake) to
 * err_headers_out. */
void clerk_handshake_apply_headers(request_rec *r, const struct clerk_state *st);

/* HTTP_TEMPORARY_REDIRECT with Location and Cache-Control: no-store when the decision carries
 * a Location (the handshake redirect, or a development handshake's clean-up), else DECLINED. */
int clerk_handshake_response(request_rec *r, const struct clerk_state *st);

/* The per-directory handshake directives; the including file defines DIR_SLOT and CLERK_SCOPE
 * and the record has frontend_api (const char *) and handshake (int, -1 unset). */
#define CLERK_HANDSHAKE_DIRECTIVES                                                                 \
    AP_INIT_TAKE1("ClerkFrontendAPI", clerk_handshake_set_frontend_api, DIR_SLOT(frontend_api),    \
                  CLERK_SCOPE,                                                                     \
                  "where handshakes go: host or http(s) URL (default: from the publishable key)"), \
        AP_INIT_FLAG("ClerkHandshake", ap_set_flag_slot, DIR_SLOT(handshake), CLERK_SCOPE,         \
                     "send page requests through Clerk's handshake (default On)")

#endif
