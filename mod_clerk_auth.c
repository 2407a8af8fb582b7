/* mod_clerk_auth: httpd glue for Clerk session tokens.
 *
 * `AuthType Clerk` makes check_authn hand the request's facts to the core (src/), which decides
 * signed-in / signed-out / handshake exactly as Clerk's SDK does; the glue only turns httpd
 * configuration into a clerk_config and the core's decision into r->user, variables, headers
 * and a status. No token logic lives in it. This file holds the module record and the hook
 * registration; the hooks themselves, and the order httpd runs them in, are drawn at the top of
 * httpd_redirects.c:
 *
 *   httpd_config.c      per-directory records: create, merge, resolve
 *   httpd_directives.c  every directive and the command table
 *   httpd_request.c     the decision, its log line and the signed-out answer
 *   httpd_export.c      variables and headers handed to the application
 *   httpd_redirects.c   sub-request and internal/fast-redirect adoption
 *   httpd_startup.c     check_config, post_config, child_init
 *   httpd_jwks.c, httpd_handshake.c, httpd_authz.c, httpd_preflight.c, httpd_private.c,
 *   httpd_status.c      remote keys, handshake, Require clerk-*, preflights, caches, status */
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"

#if !AP_MODULE_MAGIC_AT_LEAST(20120211, 47)
#error "mod_clerk_auth needs httpd 2.4.13 or later (ap_some_authn_required)"
#endif

#include "httpd_authz.h"
#include "httpd_config.h"
#include "httpd_directives.h"
#include "httpd_jwks.h"
#include "httpd_machine.h"
#include "httpd_preflight.h"
#include "httpd_private.h"
#include "httpd_redirects.h"
#include "httpd_request.h"
#include "httpd_startup.h"
#include "httpd_status.h"

/* The one symbol httpd looks up: everything else is built hidden (Makefile.am), so the
 * module's calls to its own functions are direct and no other module can interpose on them. */
__attribute__((visibility("default"))) module AP_MODULE_DECLARE_DATA clerk_auth_module;

static void register_hooks(apr_pool_t *p)
{
    ap_hook_check_config(clerk_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(clerk_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(clerk_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_read_request(clerk_post_read_request, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_post_perdir_config(clerk_post_perdir_config, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_check_access(clerk_check_access, NULL, NULL, APR_HOOK_FIRST, AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_authn(clerk_check_authn, NULL, NULL, APR_HOOK_MIDDLE, AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_note_auth_failure(clerk_note_auth_failure, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_fixups(clerk_fixups, NULL, NULL, APR_HOOK_MIDDLE);
    /* MultiViews switches the configuration before fixups, mod_dir during them (LAST). */
    ap_hook_fixups(clerk_fixups_switched, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_fixups(clerk_fixups_switched, NULL, NULL, APR_HOOK_REALLY_LAST);
    clerk_register_authz_providers(p);
    clerk_machine_register_hooks(p);
    clerk_jwks_register_hooks(p);
    clerk_status_register_hooks(p);
    clerk_preflight_register_hooks(p);
    clerk_private_register_hooks(p);
}

module AP_MODULE_DECLARE_DATA clerk_auth_module = {
    STANDARD20_MODULE_STUFF,
    clerk_create_dir_conf,    /* per-directory config creator */
    clerk_merge_dir_conf,     /* per-directory merger */
    clerk_create_server_conf, /* server config creator */
    clerk_merge_server_conf,  /* server merger */
    clerk_cmds,               /* command table */
    register_hooks,           /* hook registration */
    AP_MODULE_FLAG_NONE};
