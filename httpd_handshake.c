/* Clerk's handshake in httpd (docs/design.md#handshake, @clerk/backend tokens/handshake.ts): the
 * directives, the per-request transport for the nonce exchange, and turning the core's decision
 * into a 307 with its headers. The decision itself (when to redirect, what a returning request
 * means) is the core's (src/request_state.c, src/handshake.c). */
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_uri.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"

#include "httpd_directives.h"
#include "httpd_handshake.h"
#include "httpd_jwks.h"
#include "httpd_logno.h"

#include "handshake.h"
#include "http_fetch.h"
#include "request_state.h"
#include "url.h"

APLOG_USE_MODULE(clerk_auth);

/* A host[:port] as a publishable key would carry it, or an absolute http(s) URL (a proxy path
 * like https://example.com/__clerk is kept: the handshake path is appended to it). */
static int frontend_api_ok(apr_pool_t *p, const char *v)
{
    if (!*v)
        return 0;
    if (strncasecmp(v, "http://", 7) == 0 || strncasecmp(v, "https://", 8) == 0) {
        apr_uri_t u;
        return apr_uri_parse(p, v, &u) == APR_SUCCESS && u.hostname && *u.hostname && !u.query &&
               !u.fragment && !u.user && !strpbrk(v, " \t\r\n");
    }
    for (const char *c = v; *c; c++)
        if (!apr_isalnum(*c) && !strchr(".-_:[]", *c))
            return 0;
    return 1;
}

const char *clerk_handshake_set_frontend_api(cmd_parms *cmd, void *cfg, const char *arg)
{
    if (!frontend_api_ok(cmd->temp_pool, arg))
        return clerk_cmd_error(cmd,
                               "'%s' is neither a host[:port] nor an absolute http(s) URL "
                               "without query",
                               clerk_url_redact(cmd->temp_pool, arg));
    const char *e = clerk_cleartext_refusal(cmd, arg, "the session");
    if (e)
        return e;
    *(const char **)((char *)cfg + (apr_size_t)cmd->info) = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

void clerk_handshake_request_config(request_rec *r, clerk_config *cc)
{
    clerk_fetch_settings fs;
    clerk_server_fetch_settings(r->server, &fs);
    clerk_http_request *tpl = apr_pcalloc(r->pool, sizeof(*tpl));
    tpl->ca_file = fs.ca_file;
    tpl->proxy = fs.proxy;
    tpl->proxy_user = fs.proxy_user;
    tpl->proxy_password = fs.proxy_password;
    tpl->connect_timeout_ms = fs.connect_timeout_ms;
    tpl->timeout_ms = fs.timeout_ms;
    cc->api_url = fs.api_url;
    cc->handshake_get = clerk_handshake_http_get;
    cc->handshake_get_ctx = tpl;
}

void clerk_handshake_apply_headers(request_rec *r, const clerk_state *st)
{
    for (int i = 0; st->set_cookies && i < st->set_cookies->nelts; i++) {
        const char *v = APR_ARRAY_IDX(st->set_cookies, i, const char *);
        /* The core only passes header-safe values; checked again where they become headers. */
        if (clerk_handshake_directive_ok(v))
            apr_table_addn(r->err_headers_out, "Set-Cookie", v);
    }
    if (st->handshake_resolved) {
        apr_table_setn(r->err_headers_out, "Access-Control-Allow-Origin", "null");
        apr_table_setn(r->err_headers_out, "Access-Control-Allow-Credentials", "true");
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      CLERK_LOGNO(0501) "handshake resolved: %d cookie(s), %s",
                      st->set_cookies ? st->set_cookies->nelts : 0,
                      st->location ? "redirecting to the cleaned URL" : "request continues");
    }
}

int clerk_handshake_response(request_rec *r, const clerk_state *st)
{
    if (!st->location)
        return DECLINED;
    apr_table_setn(r->headers_out, "Location", st->location);
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    if (st->status == CLERK_HANDSHAKE)
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      CLERK_LOGNO(0502) "handshake redirect: reason=%s redirect_count=%g",
                      clerk_reason_str(st->reason), st->redirect_count);
    return HTTP_TEMPORARY_REDIRECT;
}
