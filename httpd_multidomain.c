/* Multi-domain directives in httpd (docs/design.md#multi-domain): ClerkIsSatellite, ClerkDomain,
 * ClerkProxyURL, ClerkSatelliteAutoSync, ClerkOrganizationPatterns and
 * ClerkPersonalAccountPatterns. Values are checked here at configuration time; what they decide
 * is the core's (src/request_state.c, src/org_sync.c). */
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_uri.h>

#include "httpd.h"
#include "http_config.h"

#include "httpd_directives.h"
#include "httpd_multidomain.h"

#include "org_sync.h"
#include "request_state.h"
#include "url.h"

/* The section's record, made on its first multi-domain directive. */
static clerk_multidomain *record(cmd_parms *cmd, void *cfg)
{
    clerk_multidomain **slot = (clerk_multidomain **)((char *)cfg + (apr_size_t)cmd->info);
    if (!*slot) {
        clerk_multidomain *md = apr_pcalloc(cmd->pool, sizeof(*md));
        md->is_satellite = -1;
        md->auto_sync = -1;
        *slot = md;
    }
    return *slot;
}

static const char *at(cmd_parms *cmd)
{
    const ap_directive_t *d = cmd->directive;
    return d ? apr_psprintf(cmd->pool, "line %d of %s", d->line_num, d->filename)
             : "an unknown line";
}

static const char *md_error(cmd_parms *cmd, const char *msg)
{
    return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", msg, NULL);
}

const char *clerk_md_set_satellite(cmd_parms *cmd, void *cfg, int on)
{
    clerk_multidomain *md = record(cmd, cfg);
    md->is_satellite = on;
    md->satellite_at = at(cmd);
    return NULL;
}

const char *clerk_md_set_auto_sync(cmd_parms *cmd, void *cfg, int on)
{
    record(cmd, cfg)->auto_sync = on;
    return NULL;
}

/* host[:port] as a browser's Host header carries it. */
static int host_ok(const char *v)
{
    if (!*v || *v == '.' || *v == ':')
        return 0;
    for (const char *c = v; *c; c++)
        if (!apr_isalnum(*c) && !strchr(".-_:[]", *c))
            return 0;
    return 1;
}

const char *clerk_md_set_domain(cmd_parms *cmd, void *cfg, const char *arg)
{
    const char *host = arg;
    /* A URL is reduced to its host[:port]: Clerk's SDK writes "clerk.<domain>" as the Frontend
     * API, which only a bare host makes a URL of. */
    if (strncasecmp(arg, "http://", 7) == 0 || strncasecmp(arg, "https://", 8) == 0) {
        apr_uri_t u;
        if (apr_uri_parse(cmd->temp_pool, arg, &u) != APR_SUCCESS || !u.hostname || u.query ||
            u.fragment || u.user || (u.path && strcmp(u.path, "/") != 0))
            return md_error(cmd, apr_psprintf(cmd->pool,
                                              "'%s' is neither a host[:port] nor an http(s) "
                                              "URL without path, query or fragment",
                                              clerk_url_redact(cmd->temp_pool, arg)));
        host = u.port_str ? apr_pstrcat(cmd->pool, u.hostname, ":", u.port_str, NULL)
                          : apr_pstrdup(cmd->pool, u.hostname);
    }
    if (!host_ok(host))
        return md_error(cmd, apr_psprintf(cmd->pool, "'%s' is not a host[:port] or http(s) URL",
                                          clerk_url_redact(cmd->temp_pool, arg)));
    record(cmd, cfg)->domain = apr_pstrdup(cmd->pool, host);
    return NULL;
}

const char *clerk_md_set_proxy_url(cmd_parms *cmd, void *cfg, const char *arg)
{
    for (const unsigned char *c = (const unsigned char *)arg; *c; c++)
        if (*c <= 0x20 || *c == 0x7f || *c == '\\' || *c == '?' || *c == '#')
            return md_error(cmd, "a proxy URL has no white space, control byte, backslash, "
                                 "query or fragment");
    /* Clerk's isValidProxyUrl: "http://" or "https://" (lower-case), or a path. */
    if (arg[0] == '/') {
        if (arg[1] == '/')
            return md_error(cmd, "a relative proxy URL is a path starting with a single '/' "
                                 "(e.g. /__clerk)");
    } else if (strncmp(arg, "http://", 7) == 0 || strncmp(arg, "https://", 8) == 0) {
        apr_uri_t u;
        if (apr_uri_parse(cmd->temp_pool, arg, &u) != APR_SUCCESS || !u.hostname || !*u.hostname ||
            u.user)
            return md_error(cmd, apr_psprintf(cmd->pool, "'%s' is not an http(s) URL with a host",
                                              clerk_url_redact(cmd->temp_pool, arg)));
        const char *e = clerk_cleartext_refusal(cmd, arg, "the session");
        if (e)
            return e;
    } else {
        return md_error(cmd, apr_psprintf(cmd->pool,
                                          "'%s' is neither an absolute http:// or https:// URL "
                                          "(lower-case, as Clerk's SDK requires) nor a path "
                                          "starting with '/'",
                                          clerk_url_redact(cmd->temp_pool, arg)));
    }
    clerk_multidomain *md = record(cmd, cfg);
    md->proxy_url = apr_pstrdup(cmd->pool, arg);
    md->proxy_at = at(cmd);
    return NULL;
}

const char *clerk_md_set_patterns(cmd_parms *cmd, void *cfg, int argc, char *const argv[])
{
    char err[512];
    const clerk_path_patterns *pp = clerk_path_patterns_compile(
        cmd->pool, (const char *const *)argv, (size_t)argc, err, sizeof(err));
    if (!pp)
        return md_error(cmd, apr_pstrcat(cmd->temp_pool, err,
                                         " (supported: text, /:id, /:slug or another /:name, "
                                         "(.*), each optionally followed by '?')",
                                         NULL));
    clerk_multidomain *md = record(cmd, cfg);
    if (strcmp(cmd->cmd->name, "ClerkOrganizationPatterns") == 0)
        md->org.organization = pp;
    else
        md->org.personal = pp;
    return NULL;
}

clerk_multidomain *clerk_multidomain_merge(apr_pool_t *p, clerk_multidomain *base,
                                           clerk_multidomain *add)
{
    if (!base || !add)
        return add ? add : base;
    clerk_multidomain *m = apr_pmemdup(p, base, sizeof(*m));
    if (add->is_satellite != -1) {
        m->is_satellite = add->is_satellite;
        m->satellite_at = add->satellite_at;
    }
    if (add->auto_sync != -1)
        m->auto_sync = add->auto_sync;
    if (add->domain)
        m->domain = add->domain;
    if (add->proxy_url) {
        m->proxy_url = add->proxy_url;
        m->proxy_at = add->proxy_at;
    }
    if (add->org.organization)
        m->org.organization = add->org.organization;
    if (add->org.personal)
        m->org.personal = add->org.personal;
    return m;
}

void clerk_multidomain_apply(const clerk_multidomain *md, const char *sign_in_url, clerk_config *cc)
{
    if (!md)
        return;
    cc->is_satellite = md->is_satellite == 1;
    cc->domain = md->domain;
    cc->proxy_url = md->proxy_url;
    cc->satellite_auto_sync = md->auto_sync == 1;
    cc->sign_in_url = cc->is_satellite ? sign_in_url : NULL;
    /* The record lives as long as the configuration that points at it. */
    cc->org_sync = md->org.organization || md->org.personal ? &md->org : NULL;
}

const char *clerk_multidomain_error(apr_pool_t *p, const clerk_multidomain *md,
                                    const clerk_publishable_key *pk, const char *sign_in_url,
                                    const char *frontend_api)
{
    if (!md)
        return NULL;
    if (md->proxy_url && frontend_api)
        return apr_psprintf(p,
                            "ClerkProxyURL on %s and ClerkFrontendAPI both say where handshakes "
                            "go: keep ClerkProxyURL (Clerk's proxyUrl) and remove "
                            "ClerkFrontendAPI",
                            md->proxy_at);
    if (md->is_satellite != 1)
        return NULL;
    const char *what = !pk ? "ClerkPublishableKey (the instance it syncs with)"
                       : !md->domain && !md->proxy_url
                           ? "ClerkDomain or ClerkProxyURL (a satellite application needs to "
                             "specify a domain or a proxyUrl)"
                       : !sign_in_url ? "ClerkSignInURL (the primary domain's sign-in page, "
                                        "where a satellite's visitors sign in and sync)"
                                      : NULL;
    if (!what)
        return NULL;
    return apr_psprintf(p, "ClerkIsSatellite On on %s needs %s in the same section or above it",
                        md->satellite_at ? md->satellite_at : "an unknown line", what);
}
