/* The Frontend API proxy in httpd (docs/design.md#frontend-api-proxy, @clerk/backend proxy.ts
 * clerkFrontendApiProxy): `ClerkFrontendAPIProxy /__clerk` hands every request under that path
 * to httpd's own mod_proxy/mod_proxy_http, as mod_rewrite's [P] flag does, with the request
 * headers the SDK sends and the Location it gives back. The rules are the core's
 * (src/fapi_proxy.c); this file places them in httpd's request cycle:
 *   translate_name   - a request under the path becomes "proxy:<Frontend API><rest>?<query>"
 *   access_checker_ex - under AuthType Clerk the proxied path is authorized without a user
 *   fixups           - request headers edited; mod_proxy's own X-Forwarded-* and
 *                      ProxyPreserveHost turned off for this request only
 *   output filters   - Location rewritten, the secret key kept off the response; httpd's own
 *                      5xx for the request becomes the SDK's 502 JSON
 * The secret key sits in the request headers only until mod_proxy_http has sent them: it is
 * removed on the first response bytes, on an internal redirect, and before logging. */
#include <string.h>

#include <apr_strings.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"
#include "mod_proxy.h"

#include "httpd_directives.h"
#include "httpd_fapi_proxy.h"
#include "httpd_logno.h"

#include "fapi_proxy.h"
#include "publishable_key.h"

APLOG_USE_MODULE(clerk_auth);

#define NOTE_TARGET     "clerk-fapi-proxy-target" /* r->notes: the Frontend API origin */
#define NOTE_PROXY_URL  "clerk-fapi-proxy-url"    /* r->notes: Clerk-Proxy-Url */
#define SECRET_HEADER   "Clerk-Secret-Key"
#define FILTER_RESPONSE "CLERK_FAPI_PROXY"
#define FILTER_ERROR    "CLERK_FAPI_PROXY_ERROR"

/* ClerkFrontendAPIProxy, in the server's own per-directory record (server scope only). */
typedef struct clerk_fapi_proxy_conf {
    const char *prefix; /* the proxy path, trailing slashes stripped */
    const char *target; /* the Frontend API URL given, or NULL: from the publishable key */
    const char *file;   /* where the directive is, for startup messages */
    unsigned line;
} clerk_fapi_proxy_conf;

/* mod_proxy's per-directory settings this proxy always overrides (ProxyAddHeaders Off,
 * ProxyPreserveHost Off, ProxyErrorOverride Off), merged over a proxied request's own. Made
 * by post_config in the configuration pool before any request, read-only afterwards. */
static ap_conf_vector_t *proxy_overrides;

const char *clerk_fapi_proxy_set(cmd_parms *cmd, void *cfg, const char *path, const char *url)
{
    clerk_error err = {0};
    clerk_fapi_proxy_conf *c = apr_pcalloc(cmd->pool, sizeof(*c));
    c->prefix = clerk_fapi_proxy_path(cmd->pool, path, &err);
    if (!c->prefix)
        return clerk_cmd_error(cmd, "%s", err.message);
    if (url) {
        c->target = clerk_fapi_proxy_target(cmd->pool, url, &err);
        if (!c->target)
            return clerk_cmd_error(cmd, "%s", err.message);
        const char *e = clerk_cleartext_refusal(cmd, c->target, "the secret key");
        if (e)
            return e;
    }
    c->file = cmd->directive->filename;
    c->line = (unsigned)cmd->directive->line_num;
    *(const clerk_fapi_proxy_conf **)((char *)cfg + (apr_size_t)cmd->info) = c;
    return NULL;
}

/* The proxy of r's server, with its instance, or NULL when the server has none. */
static const clerk_fapi_proxy_conf *server_proxy(apr_pool_t *p, server_rec *s,
                                                 clerk_server_instance *inst)
{
    clerk_server_instance_get(p, s, inst);
    const clerk_fapi_proxy_conf *c = inst->fapi_proxy;
    return c && c->prefix ? c : NULL;
}

static const char *proxy_target(const clerk_fapi_proxy_conf *c, const clerk_server_instance *in)
{
    return c->target ? c->target
                     : clerk_fapi_proxy_default_target(in->pk ? in->pk->fapi_host : NULL);
}

int clerk_fapi_proxy_request(const request_rec *r)
{
    return apr_table_get(r->notes, NOTE_TARGET) != NULL;
}

/* r, or a request it was redirected from or made for, went to the proxy: the headers table it
 * shares with them may still hold the secret key. */
static int chain_proxied(const request_rec *r)
{
    for (; r; r = r->prev ? r->prev : r->main)
        if (clerk_fapi_proxy_request(r))
            return 1;
    return 0;
}

static void drop_secret(request_rec *r)
{
    apr_table_unset(r->headers_in, SECRET_HEADER);
}

/* ---- the request -------------------------------------------------------------------------- */

static int fapi_translate(request_rec *r)
{
    if (r->main || r->prev) {
        /* An ErrorDocument after a failed proxy request sees the same headers: not the key. */
        if (chain_proxied(r))
            drop_secret(r);
        return DECLINED;
    }
    clerk_server_instance inst;
    const clerk_fapi_proxy_conf *c = server_proxy(r->pool, r->server, &inst);
    if (!c || r->proxyreq != PROXYREQ_NONE || r->method_number == M_CONNECT)
        return DECLINED;
    /* Matched as <Location> matches: on the decoded path, after httpd's normalization (dot
     * segments, merged slashes), so what reaches the Frontend API is what the path means. */
    const char *sub = clerk_fapi_proxy_subpath(c->prefix, r->uri);
    if (!sub)
        return DECLINED;
    /* TRACE (and TRACK) echo the request's headers back, and mod_proxy answers a TRACE with
     * Max-Forwards: 0 itself, after fixups set the secret key: never proxied. Clerk's SDK
     * cannot send them either (fetch refuses the methods). */
    if (r->method_number == M_TRACE || strcasecmp(r->method, "TRACK") == 0) {
        apr_table_setn(r->err_headers_out, "Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
        return HTTP_METHOD_NOT_ALLOWED;
    }
    const char *target = proxy_target(c, &inst);
    /* As ProxyPass and mod_rewrite's [P] do: mod_proxy_http re-encodes the path and appends
     * the query as the client sent it (proxy.ts keeps both). An empty query is none. */
    r->filename = apr_pstrcat(r->pool, "proxy:", target, sub, NULL);
    if (r->args && !*r->args)
        r->args = NULL;
    r->handler = "proxy-server";
    r->proxyreq = PROXYREQ_REVERSE;
    apr_table_setn(r->notes, NOTE_TARGET, target);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  CLERK_LOGNO(2300) "Frontend API proxy: %s goes to %s%s", c->prefix, target, sub);
    return OK;
}

/* Under AuthType Clerk the proxied path needs no user: the browser reaches Clerk's Frontend
 * API through it to sign in at all. Any other AuthType (or AuthType None with its own Require
 * lines, in a <Location> of the proxy path) is left to httpd. */
static int fapi_access_ex(request_rec *r)
{
    if (!clerk_fapi_proxy_request(r))
        return DECLINED;
    const char *type = ap_auth_type(r);
    if (!type || strcasecmp(type, "Clerk") != 0)
        return DECLINED;
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                  CLERK_LOGNO(2301) "Frontend API proxy: authorized without AuthType Clerk");
    return OK;
}

static void set_or_keep(apr_table_t *h, const char *name, const char *v)
{
    if (v)
        apr_table_set(h, name, v);
}

static int fapi_fixups(request_rec *r)
{
    if (!clerk_fapi_proxy_request(r) || r->main || r->prev)
        return DECLINED;
    clerk_server_instance inst;
    const clerk_fapi_proxy_conf *c = server_proxy(r->pool, r->server, &inst);
    if (!c || !inst.secret_key)
        return HTTP_INTERNAL_SERVER_ERROR; /* check_config refuses this configuration */
    apr_table_t *h = r->headers_in;
    const char *conn = apr_table_get(h, "Connection");
    if (conn && ap_find_token(r->pool, conn, "close"))
        r->connection->keepalive = AP_CONN_CLOSE;

    /* Hop-by-hop headers, and every header the client names in Connection (before ours are
     * set, so no client can name Clerk-Secret-Key away). The body's own framing stays: httpd
     * reads the body by it, and mod_proxy_http frames what it sends anew. */
    const apr_array_header_t *arr = apr_table_elts(h);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    apr_array_header_t *drop = apr_array_make(r->pool, 4, sizeof(const char *));
    for (int i = 0; i < arr->nelts; i++)
        if (e[i].key && clerk_fapi_proxy_hop_by_hop(e[i].key, conn) &&
            strcasecmp(e[i].key, "Transfer-Encoding") != 0 &&
            strcasecmp(e[i].key, "Content-Length") != 0)
            APR_ARRAY_PUSH(drop, const char *) = e[i].key;
    for (int i = 0; i < drop->nelts; i++)
        apr_table_unset(h, APR_ARRAY_IDX(drop, i, const char *));

    clerk_fapi_proxy_in in = {0};
    clerk_fapi_proxy_out out;
    in.conn_scheme = ap_http_scheme(r);
    in.host = apr_table_get(h, "Host");
    if (!in.host)
        in.host = r->hostname ? r->hostname : r->server->server_hostname;
    in.xf_host = apr_table_get(h, "X-Forwarded-Host");
    in.xf_proto = apr_table_get(h, "X-Forwarded-Proto");
    in.cf_connecting_ip = apr_table_get(h, "CF-Connecting-IP");
    in.x_real_ip = apr_table_get(h, "X-Real-IP");
    in.xff = apr_table_get(h, "X-Forwarded-For");
    in.peer_ip = r->useragent_ip;
    in.trust_forwarded = inst.trust_forwarded;
    in.prefix = c->prefix;
    clerk_fapi_proxy_forwarding(r->pool, &in, &out);
    if (out.drop_client_ip_claims) {
        apr_table_unset(h, "CF-Connecting-IP");
        apr_table_unset(h, "X-Real-IP");
    }
    apr_table_set(h, "Clerk-Proxy-Url", out.proxy_url);
    apr_table_set(h, SECRET_HEADER, inst.secret_key);
    apr_table_set(h, "Accept-Encoding", "identity");
    set_or_keep(h, "X-Forwarded-Host", out.xf_host);
    set_or_keep(h, "X-Forwarded-Proto", out.xf_proto);
    if (out.xff)
        apr_table_set(h, "X-Forwarded-For", out.xff);
    else if (!inst.trust_forwarded)
        apr_table_unset(h, "X-Forwarded-For");
    apr_table_setn(r->notes, NOTE_PROXY_URL, out.proxy_url);
    /* The body goes up as it comes (proxy.ts streams it, duplex "half"): mod_proxy_http would
     * otherwise wait for 16 KB of it, or its end, before it connects. */
    apr_table_setn(r->subprocess_env, "proxy-prefetch-nonblocking", "1");

    /* mod_proxy would append its own X-Forwarded-For/-Host/-Server and could keep the
     * client's Host: the SDK sends exactly the headers above, to the Frontend API's host. */
    if (proxy_overrides)
        r->per_dir_config = ap_merge_per_dir_configs(r->pool, r->per_dir_config, proxy_overrides);
    return DECLINED;
}

/* ---- the response ------------------------------------------------------------------------- */

static void clean_headers(request_rec *r, apr_table_t *t, const char *secret, const char *target,
                          const char *proxy_url)
{
    const char *loc = apr_table_get(t, "Location");
    if (loc && target && proxy_url)
        apr_table_set(t, "Location", clerk_fapi_proxy_location(r->pool, loc, target, proxy_url));
    const apr_array_header_t *arr = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    apr_array_header_t *drop = apr_array_make(r->pool, 1, sizeof(const char *));
    for (int i = 0; i < arr->nelts; i++)
        if (e[i].key && clerk_fapi_proxy_leaks_secret(e[i].val, secret))
            APR_ARRAY_PUSH(drop, const char *) = e[i].key;
    for (int i = 0; i < drop->nelts; i++) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      CLERK_LOGNO(2302) "Frontend API proxy: the response header %s carried "
                                        "the secret key; removed",
                      APR_ARRAY_IDX(drop, i, const char *));
        apr_table_unset(t, APR_ARRAY_IDX(drop, i, const char *));
    }
}

/* The first response bytes: mod_proxy_http has sent the request (the key is no longer
 * needed) and the response headers are final. */
static apr_status_t fapi_response_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    const char *secret = apr_table_get(r->headers_in, SECRET_HEADER);
    drop_secret(r);
    const char *target = apr_table_get(r->notes, NOTE_TARGET);
    const char *proxy_url = apr_table_get(r->notes, NOTE_PROXY_URL);
    clean_headers(r, r->headers_out, secret, target, proxy_url);
    clean_headers(r, r->err_headers_out, secret, target, proxy_url);
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

/* httpd's own error for a proxied request (the Frontend API unreachable, timed out, or TLS to
 * it refused): the SDK's 502 with its JSON body instead of an HTML page. */
static apr_status_t fapi_error_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    drop_secret(r);
    ap_remove_output_filter(f);
    /* Only the gateway's own failures: any other error keeps httpd's page and its log line. */
    if (r->status != HTTP_BAD_GATEWAY && r->status != HTTP_SERVICE_UNAVAILABLE &&
        r->status != HTTP_GATEWAY_TIME_OUT)
        return ap_pass_brigade(f->next, bb);
    const char *msg =
        apr_psprintf(r->pool, "Failed to proxy request to Clerk FAPI: %s",
                     r->status == HTTP_GATEWAY_TIME_OUT ? "the Frontend API did not answer in time"
                                                        : "the Frontend API could not be reached");
    const char *body = clerk_fapi_proxy_error_body(r->pool, CLERK_FAPI_PROXY_REQUEST_FAILED, msg);
    if (!body)
        return ap_pass_brigade(f->next, bb);
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  CLERK_LOGNO(2303) "Frontend API proxy: %s failed with %d; answered 502 "
                                    "proxy_request_failed",
                  apr_table_get(r->notes, NOTE_TARGET), r->status);
    r->status = HTTP_BAD_GATEWAY;
    r->status_line = NULL;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    apr_bucket_brigade *out = apr_brigade_create(r->pool, f->c->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(out,
                            apr_bucket_immortal_create(body, strlen(body), f->c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(out, apr_bucket_eos_create(f->c->bucket_alloc));
    apr_brigade_cleanup(bb);
    return ap_pass_brigade(f->next, out);
}

static void fapi_insert_filter(request_rec *r)
{
    if (clerk_fapi_proxy_request(r))
        ap_add_output_filter(FILTER_RESPONSE, NULL, r, r->connection);
}

static void fapi_insert_error_filter(request_rec *r)
{
    if (clerk_fapi_proxy_request(r))
        ap_add_output_filter(FILTER_ERROR, NULL, r, r->connection);
}

/* Before any logger can print request headers (mod_log_config's %{...}i). */
static int fapi_log_transaction(request_rec *r)
{
    if (chain_proxied(r))
        drop_secret(r);
    return DECLINED;
}

/* ---- startup ------------------------------------------------------------------------------ */

static int refuse(const clerk_fapi_proxy_conf *c, const char *why)
{
    ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, NULL,
                 CLERK_LOGNO(2304) "ClerkFrontendAPIProxy on line %u of %s: %s", c->line, c->file,
                 why);
    return 1;
}

/* docs/design.md#frontend-api-proxy: a proxy that could not work is refused before httpd
 * starts (check_config also runs for `apachectl configtest`). */
static int fapi_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    int bad = 0;
    for (server_rec *sv = s; sv; sv = sv->next) {
        clerk_server_instance inst;
        const clerk_fapi_proxy_conf *c = server_proxy(ptemp, sv, &inst);
        if (!c)
            continue;
        if (!ap_find_linked_module("mod_proxy.c") || !ap_find_linked_module("mod_proxy_http.c"))
            bad |= refuse(c, "mod_proxy and mod_proxy_http must be loaded (a2enmod proxy "
                             "proxy_http): the Frontend API is reached through them");
        if (!inst.pk || !inst.secret_key)
            bad |= refuse(c, "needs ClerkPublishableKey and ClerkSecretKey (or "
                             "ClerkSecretKeyFile) in the same server or virtual host, outside "
                             "any section: the proxy serves that instance");
        else if (inst.key_error)
            bad |= refuse(c, inst.key_error);
        const char *target = proxy_target(c, &inst);
        if (strncasecmp(target, "https:", 6) == 0 && !ap_find_linked_module("mod_ssl.c"))
            bad |= refuse(c, apr_psprintf(ptemp,
                                          "sends to %s, which needs mod_ssl loaded (a2enmod "
                                          "ssl) and SSLProxyEngine On in this server",
                                          target));
    }
    return bad ? HTTP_INTERNAL_SERVER_ERROR : OK;
}

static int fapi_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    proxy_overrides = NULL;
    module *proxy = ap_find_linked_module("mod_proxy.c");
    if (!proxy || !proxy->create_dir_config)
        return OK;
    proxy_dir_conf *pd = proxy->create_dir_config(pconf, NULL);
    if (!pd)
        return OK;
    pd->add_forwarded_headers = 0;
    pd->add_forwarded_headers_set = 1;
    pd->preserve_host = 0;
    pd->preserve_host_set = 1;
    pd->error_override = 0;
    pd->error_override_set = 1;
    proxy_overrides = ap_create_per_dir_config(pconf);
    ap_set_module_config(proxy_overrides, proxy, pd);
    return OK;
}

void clerk_fapi_proxy_register_hooks(apr_pool_t *p)
{
    static const char *const before[] = {"mod_rewrite.c", "mod_proxy.c", "mod_alias.c", NULL};
    ap_hook_translate_name(fapi_translate, NULL, before, APR_HOOK_FIRST);
    ap_hook_check_access_ex(fapi_access_ex, NULL, NULL, APR_HOOK_FIRST, AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_fixups(fapi_fixups, NULL, NULL, APR_HOOK_LAST);
    ap_hook_insert_filter(fapi_insert_filter, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_insert_error_filter(fapi_insert_error_filter, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(fapi_log_transaction, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_check_config(fapi_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(fapi_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_register_output_filter(FILTER_RESPONSE, fapi_response_filter, NULL, AP_FTYPE_CONTENT_SET);
    ap_register_output_filter(FILTER_ERROR, fapi_error_filter, NULL, AP_FTYPE_CONTENT_SET);
}
