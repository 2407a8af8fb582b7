/* The server-wide remote-key directives (ClerkAPIURL's checks, ClerkCABundle,
 * ClerkOutgoingProxy[AuthFile], ClerkCache, ClerkJWKSRefresh/MinRefresh/MaxStale,
 * ClerkFetchTimeout, ClerkCacheKeyFile, ClerkAllowRSAExponent, ClerkStatusShowPaths) and the
 * per-server record they fill. The directives run while httpd reads its configuration (one
 * thread, the parent); the record is read only after that. */
#include <stdint.h>
#include <string.h>

#include <apr_file_io.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "httpd.h"
#include "http_config.h"

#include "httpd_directives.h"
#include "httpd_jwks.h"
#include "httpd_jwks_impl.h"

#include "http_fetch.h"
#include "jwk.h"
#include "jwks_remote.h"
#include "outgoing_proxy.h"

extern module AP_MODULE_DECLARE_DATA clerk_auth_module;

#define DEFAULT_API_URL   "https://api.clerk.com"
#define DEFAULT_CONNECT_S 3
#define DEFAULT_TIMEOUT_S 10
#define MAX_INTERVAL_S    (7 * 86400)
#define MAX_TIMEOUT_S     120

/* ---- server configuration -------------------------------------------------------------- */

void *clerk_create_server_conf(apr_pool_t *p, server_rec *s)
{
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

jwks_srv *clerk_jwks_srv_conf(server_rec *s)
{
    return ap_get_module_config(s->module_config, &clerk_auth_module);
}

const char *clerk_jwks_api_url(const jwks_srv *c)
{
    return c->api_url ? c->api_url : DEFAULT_API_URL;
}

void clerk_server_fetch_settings(server_rec *s, clerk_fetch_settings *out)
{
    const jwks_srv *c = clerk_jwks_srv_conf(s);
    out->api_url = clerk_jwks_api_url(c);
    out->ca_file = c->ca_file;
    out->proxy = c->proxy;
    out->proxy_user = c->proxy ? c->proxy_user : NULL;
    out->proxy_password = c->proxy ? c->proxy_password : NULL;
    out->connect_timeout_ms = c->connect_ms ? c->connect_ms : DEFAULT_CONNECT_S * 1000L;
    out->timeout_ms = c->timeout_ms ? c->timeout_ms : DEFAULT_TIMEOUT_S * 1000L;
}

/* ---- directives ------------------------------------------------------------------------ */

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
    if (e)
        return e;
    if (apr_uri_parse(cmd->temp_pool, arg, &u) != APR_SUCCESS || !u.scheme || !u.hostname ||
        !*u.hostname || (strcasecmp(u.scheme, "https") != 0 && strcasecmp(u.scheme, "http") != 0))
        return clerk_cmd_error(cmd, "'%s' is not an absolute http(s) URL", arg);
    if (u.query || u.fragment)
        return clerk_cmd_error(cmd, "'%s' must not have a query or fragment", arg);
    clerk_jwks_srv_conf(cmd->server)->api_url = arg;
    return NULL;
}

const char *clerk_jwks_set_ca_bundle(cmd_parms *cmd, void *cfg, const char *arg)
{
    const char *e = server_only(cmd);
    clerk_error err;
    if (e)
        return e;
    const char *path = ap_server_root_relative(cmd->pool, arg);
    if (!path)
        return clerk_cmd_error(cmd, "invalid file path '%s'", arg);
    if (clerk_http_ca_file_check(path, &err) != 0)
        return clerk_cmd_error(cmd, "%.255s", err.message);
    clerk_jwks_srv_conf(cmd->server)->ca_file = path;
    return NULL;
}

const char *clerk_jwks_set_outgoing_proxy(cmd_parms *cmd, void *cfg, const char *arg)
{
    const char *e = server_only(cmd);
    char url[CLERK_PROXY_URL_MAX + 16];
    clerk_error err;
    if (e)
        return e;
    if (clerk_proxy_url_parse(arg, url, sizeof url, &err) != 0)
        return clerk_cmd_error(cmd, "the value %s", err.message);
    clerk_jwks_srv_conf(cmd->server)->proxy = apr_pstrdup(cmd->pool, url);
    return NULL;
}

/* Read once, here at startup (the parent runs as root, so the file can be root-only); the
 * content is never logged, and a message about it names the file, never a byte of it. */
const char *clerk_jwks_set_outgoing_proxy_auth(cmd_parms *cmd, void *cfg, const char *arg)
{
    const char *e = server_only(cmd);
    char buf[CLERK_PROXY_CREDS_MAX + 1];
    clerk_error err;
    apr_file_t *f;
    apr_size_t n = sizeof buf;
    apr_status_t rv;
    if (e)
        return e;
    const char *path = ap_server_root_relative(cmd->pool, arg);
    if (!path)
        return clerk_cmd_error(cmd, "invalid file path '%s'", arg);
    if ((rv = apr_file_open(&f, path, APR_FOPEN_READ, APR_OS_DEFAULT, cmd->temp_pool)) !=
        APR_SUCCESS)
        return clerk_cmd_error(cmd, "cannot open '%s': %pm", path, &rv);
    rv = apr_file_read_full(f, buf, sizeof buf, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EOF(rv))
        return clerk_cmd_error(cmd, "cannot read '%s': %pm", path, &rv);
    char *user = apr_palloc(cmd->pool, CLERK_PROXY_CREDS_MAX + 1);
    char *password = apr_palloc(cmd->pool, CLERK_PROXY_CREDS_MAX + 1);
    int bad = clerk_proxy_credentials_parse(buf, n, user, password, &err);
    memset(buf, 0, sizeof buf);
    if (bad)
        return clerk_cmd_error(cmd, "'%s' %s", path, err.message);
    jwks_srv *c = clerk_jwks_srv_conf(cmd->server);
    c->proxy_user = user;
    c->proxy_password = password;
    c->proxy_auth_where =
        apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename, cmd->directive->line_num);
    return NULL;
}

const char *clerk_jwks_set_cache(cmd_parms *cmd, void *cfg, const char *arg)
{
    const char *e = server_only(cmd);
    jwks_cache *c = NULL;
    if (e)
        return e;
    if ((e = clerk_jwks_cache_make(cmd, cmd->pool, arg, &c)) != NULL)
        return clerk_cmd_error(cmd, "%s", e);
    clerk_jwks_srv_conf(cmd->server)->cache = c;
    return NULL;
}

/* ClerkJWKSRefresh / ClerkJWKSMinRefresh / ClerkJWKSMaxStale (cmd->info says which). */
const char *clerk_jwks_set_interval(cmd_parms *cmd, void *cfg, const char *arg)
{
    const char *e = server_only(cmd);
    apr_int64_t v;
    if (e)
        return e;
    if ((e = clerk_cmd_seconds(cmd, arg, 1, MAX_INTERVAL_S, &v)) != NULL)
        return e;
    jwks_srv *c = clerk_jwks_srv_conf(cmd->server);
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
    jwks_srv *c = clerk_jwks_srv_conf(cmd->server);
    if (e)
        return e;
    if ((e = clerk_cmd_seconds(cmd, a2 ? a2 : a1, 1, MAX_TIMEOUT_S, &total)) != NULL)
        return e;
    if (a2) {
        if ((e = clerk_cmd_seconds(cmd, a1, 1, MAX_TIMEOUT_S, &connect)) != NULL)
            return e;
        if (connect > total)
            return clerk_cmd_error(cmd, "the connect timeout (%s) is longer than the total (%s)",
                                   a1, a2);
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
    if (e)
        return e;
    const char *path = ap_server_root_relative(cmd->temp_pool, arg);
    apr_file_t *f;
    char buf[CACHE_KEY_FILE_MAX + 1];
    apr_size_t n = sizeof(buf);
    if (!path || apr_file_open(&f, path, APR_FOPEN_READ, 0, cmd->temp_pool) != APR_SUCCESS)
        return clerk_cmd_error(cmd, "cannot read '%s'", arg);
    apr_status_t rv = apr_file_read_full(f, buf, sizeof(buf), &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EOF(rv))
        return clerk_cmd_error(cmd, "cannot read '%s'", arg);
    if (n > CACHE_KEY_FILE_MAX)
        return clerk_cmd_error(cmd, "'%s' is larger than %d bytes", arg, CACHE_KEY_FILE_MAX);
    while (n > 0 && apr_isspace(buf[n - 1]))
        n--;
    if (n < CLERK_JWKS_MAC_KEY_MIN)
        return clerk_cmd_error(
            cmd, "'%s' holds %lu bytes; at least %d are needed (e.g. openssl rand -hex 32)", arg,
            (unsigned long)n, CLERK_JWKS_MAC_KEY_MIN);
    jwks_srv *c = clerk_jwks_srv_conf(cmd->server);
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
        apr_int64_t v;
        if (!clerk_parse_int(arg, 3, APR_INT64_MAX, &v) || (v & 1) == 0)
            return clerk_cmd_error(cmd, "'%s' is not 'any' or an odd integer of at least 3", arg);
        if (rsa_n >= CLERK_RSA_EXTRA_E_MAX)
            return clerk_cmd_error(cmd, "at most %d exponents", CLERK_RSA_EXTRA_E_MAX);
        rsa_extra[rsa_n++] = (uint64_t)v;
    }
    clerk_jwk_set_rsa_exponents(rsa_extra, rsa_n, rsa_any);
    return NULL;
}

/* ClerkStatusShowPaths On|Off: the status page names key files only when On. */
const char *clerk_status_set_show_paths(cmd_parms *cmd, void *cfg, int on)
{
    const char *e = server_only(cmd);
    if (e)
        return e;
    clerk_jwks_srv_conf(cmd->server)->show_paths = on ? 2 : 1;
    return NULL;
}

int clerk_status_show_paths(server_rec *s)
{
    return clerk_jwks_srv_conf(s)->show_paths == 2;
}
