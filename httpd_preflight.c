/* CORS preflights under `AuthType Clerk` (ClerkCORSPreflight, docs in README "Cross-origin API
 * calls"). Browsers send no credentials on a preflight, so it can never be signed in: it is let
 * through the user phase with no user at all (r->user stays NULL, so no REMOTE_USER), and by
 * default answered here with 204 so no handler (CGI, PHP, a proxied back end) ever runs for a
 * client that merely added `Origin` and `Access-Control-Request-Method`. */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include "httpd_logno.h"
#include "httpd_preflight.h"
#include "httpd_request.h"

APLOG_USE_MODULE(clerk_auth);

/* Runs after mod_authz_core's access_checker_ex, and only when it declined: the rules that need
 * no user (`Require ip`, `Require all denied`, host and env rules) granted nothing yet and
 * denied nothing, and the rest need a user. A preflight has none to offer, so authentication
 * and the user-based rules are skipped for it (OK here means "no user needed"). */
static int clerk_preflight_access(request_rec *r)
{
    int mode = clerk_preflight_decide(r);
    return mode == CLERK_PREFLIGHT_RESPOND || mode == CLERK_PREFLIGHT_HANDLER ? OK : DECLINED;
}

/* Before every other handler: the preflight's answer is an empty 204. Output filters still run,
 * so mod_headers' `Header always set` (and `Header set`) lines add the CORS headers. */
static int clerk_preflight_handler(request_rec *r)
{
    if (clerk_preflight_mode(r) != CLERK_PREFLIGHT_RESPOND)
        return DECLINED;
    int rc = ap_discard_request_body(r);
    if (rc != OK)
        return rc;
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  CLERK_LOGNO(1501) "CORS preflight answered with 204 (ClerkCORSPreflight "
                                    "respond); handler %s not run",
                  r->handler ? r->handler : "-");
    r->status = HTTP_NO_CONTENT;
    r->content_type = NULL;
    r->clength = 0;
    apr_table_unset(r->headers_out, "Content-Length");
    return OK;
}

void clerk_preflight_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_check_access_ex(clerk_preflight_access, NULL, NULL, APR_HOOK_REALLY_LAST,
                            AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_handler(clerk_preflight_handler, NULL, NULL, APR_HOOK_REALLY_FIRST);
}
