/* Multi-domain directives (docs/design.md#multi-domain): satellite domains, the proxy URL and
 * organization sync. The directives fill one clerk_multidomain record per section; the
 * decision is the core's (src/request_state.c, src/org_sync.c). */
#ifndef HTTPD_MULTIDOMAIN_H
#define HTTPD_MULTIDOMAIN_H

#include "httpd.h"
#include "http_config.h"

#include "org_sync.h"

struct clerk_config;
struct clerk_publishable_key;

/* One section's multi-domain settings; every field starts unset (-1 or NULL) and is inherited
 * field by field. The *_at strings are "line N of FILE" of the directive, for messages. */
typedef struct clerk_multidomain {
    int is_satellite; /* ClerkIsSatellite */
    const char *domain;
    const char *proxy_url;
    int auto_sync;      /* ClerkSatelliteAutoSync */
    clerk_org_sync org; /* ClerkOrganizationPatterns, ClerkPersonalAccountPatterns */
    const char *satellite_at, *proxy_at;
} clerk_multidomain;

/* Directive handlers; cmd->info is the offset of the record's clerk_multidomain * slot. */
const char *clerk_md_set_satellite(cmd_parms *cmd, void *cfg, int on);
const char *clerk_md_set_auto_sync(cmd_parms *cmd, void *cfg, int on);
const char *clerk_md_set_domain(cmd_parms *cmd, void *cfg, const char *arg);
const char *clerk_md_set_proxy_url(cmd_parms *cmd, void *cfg, const char *arg);
const char *clerk_md_set_patterns(cmd_parms *cmd, void *cfg, int argc, char *const argv[]);

/* add over base, field by field (either may be NULL; an unmodified one is returned as is). */
clerk_multidomain *clerk_multidomain_merge(apr_pool_t *p, clerk_multidomain *base,
                                           clerk_multidomain *add);

/* Copies md's settings (NULL: none) and, on a satellite, sign_in_url into the core's config. */
void clerk_multidomain_apply(const clerk_multidomain *md, const char *sign_in_url,
                             struct clerk_config *cc);

/* Why a section with these merged settings must not serve (an inconsistent combination: a
 * satellite without a publishable key, ClerkDomain or ClerkProxyURL, or ClerkSignInURL;
 * ClerkProxyURL next to ClerkFrontendAPI), naming the directive's line; NULL when it may. */
const char *clerk_multidomain_error(apr_pool_t *p, const clerk_multidomain *md,
                                    const struct clerk_publishable_key *pk, const char *sign_in_url,
                                    const char *frontend_api);

/* The directives; the including file defines MD_SLOT (the offset of its clerk_multidomain *)
 * and CLERK_SCOPE. */
#define CLERK_MULTIDOMAIN_DIRECTIVES                                                               \
    AP_INIT_FLAG("ClerkIsSatellite", clerk_md_set_satellite, MD_SLOT, CLERK_SCOPE,                 \
                 "this is a satellite domain that syncs its session from the primary (default "    \
                 "Off)"),                                                                          \
        AP_INIT_TAKE1("ClerkDomain", clerk_md_set_domain, MD_SLOT, CLERK_SCOPE,                    \
                      "the satellite's domain (host or URL): production handshakes go to "         \
                      "clerk.<domain>"),                                                           \
        AP_INIT_TAKE1("ClerkProxyURL", clerk_md_set_proxy_url, MD_SLOT, CLERK_SCOPE,               \
                      "the Frontend API proxy: absolute http(s) URL or a path on this site"),      \
        AP_INIT_FLAG("ClerkSatelliteAutoSync", clerk_md_set_auto_sync, MD_SLOT, CLERK_SCOPE,       \
                     "send a satellite's first cookie-less visit to sync (default Off)"),          \
        AP_INIT_TAKE_ARGV("ClerkOrganizationPatterns", clerk_md_set_patterns, MD_SLOT,             \
                          CLERK_SCOPE, "paths naming the organization to activate (:id, :slug)"),  \
        AP_INIT_TAKE_ARGV("ClerkPersonalAccountPatterns", clerk_md_set_patterns, MD_SLOT,          \
                          CLERK_SCOPE, "paths that activate the personal account")

#endif
