/* Every directive of the module: its handler, which checks everything that can be checked while
 * the configuration is read (so `apachectl configtest` names the line of a bad key or setting),
 * and the command table. The key directives' handlers are in httpd_key_directives.c. */
#include <stdlib.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_uri.h>

#include "httpd.h"
#include "http_config.h"

#include "httpd_config.h"
#include "httpd_fapi_proxy.h"
#include "httpd_directives.h"
#include "httpd_handshake.h"
#include "httpd_jwks.h"
#include "httpd_key_directives.h"
#include "httpd_multidomain.h"
#include "httpd_machine.h"
#include "httpd_preflight.h"

#include "claims.h"
#include "jws.h"
#include "transport.h"
#include "url.h"

#define MAX_CLOCK_SKEW_S 86400
#define MIN_TOKEN_SIZE   1024
#define MAX_TOKEN_SIZE   65536

const char *clerk_cmd_error(cmd_parms *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *msg = apr_pvsprintf(cmd->pool, fmt, ap);
    va_end(ap);
    return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", msg, NULL);
}

const char *clerk_directive_at(cmd_parms *cmd)
{
    const ap_directive_t *d = cmd->directive;
    return d ? apr_psprintf(cmd->pool, "line %d of %s", d->line_num, d->filename) : NULL;
}

const char *clerk_cleartext_refusal(cmd_parms *cmd, const char *url, const char *what)
{
    apr_uri_t u;
    /* Only http:// is judged here: what is no URL (a bare host gets https://) is the
     * directive's own check. */
    if (strncasecmp(url, "http://", 7) != 0)
        return NULL;
    if (apr_uri_parse(cmd->temp_pool, url, &u) == APR_SUCCESS &&
        clerk_transport_ok(u.scheme, u.hostname))
        return NULL;
    return clerk_cmd_error(
        cmd,
        "'%s' would carry %s in cleartext: use https:// (http:// is allowed only "
        "to loopback: 127.0.0.0/8, ::1, localhost)",
        clerk_url_redact(cmd->temp_pool, url), what);
}

/* 1 when url is an absolute http or https URL with a host. */
static int is_absolute_http_url(apr_pool_t *p, const char *url)
{
    apr_uri_t u;
    if (apr_uri_parse(p, url, &u) != APR_SUCCESS || !u.scheme || !u.hostname || !*u.hostname)
        return 0;
    return strcasecmp(u.scheme, "http") == 0 || strcasecmp(u.scheme, "https") == 0;
}

static const char *set_jwks_url(cmd_parms *cmd, void *cfg, const char *arg)
{
    clerk_dir_conf *d = cfg;
    if (!is_absolute_http_url(cmd->temp_pool, arg))
        return clerk_cmd_error(cmd, "'%s' is not an absolute http(s) URL",
                               clerk_url_redact(cmd->temp_pool, arg));
    const char *e = clerk_cleartext_refusal(cmd, arg, "the verification keys");
    if (e)
        return e;
    d->jwks_url = arg;
    clerk_note_key_source(cmd, d);
    return NULL;
}

/* Server-wide (httpd_jwks.c keeps it), and never cleartext beyond loopback. */
static const char *set_api_url(cmd_parms *cmd, void *cfg, const char *arg)
{
    const char *e = clerk_jwks_set_api_url(cmd, cfg, arg);
    return e ? e : clerk_cleartext_refusal(cmd, arg, "the secret key");
}

static const char *set_sign_in_url(cmd_parms *cmd, void *cfg, const char *arg)
{
    clerk_dir_conf *d = cfg;
    if (!is_absolute_http_url(cmd->temp_pool, arg))
        return clerk_cmd_error(cmd, "'%s' is not an absolute http(s) URL",
                               clerk_url_redact(cmd->temp_pool, arg));
    d->sign_in_url = arg;
    return NULL;
}

static const char *add_authorized_party(cmd_parms *cmd, void *cfg, const char *arg)
{
    clerk_dir_conf *d = cfg;
    /* azp is the browser's Origin and is compared exactly: a trailing '/' or a path would
     * sign out every user, so refuse it here. */
    const char *origin = clerk_url_origin(cmd->temp_pool, arg);
    if (origin && strcmp(origin, arg) != 0)
        return clerk_cmd_error(cmd,
                               "'%s' is not an origin (azp is compared exactly, like the browser's "
                               "Origin header); use '%s'",
                               arg, origin);
    if (!d->azp)
        d->azp = apr_array_make(cmd->pool, 2, sizeof(const char *));
    APR_ARRAY_PUSH(d->azp, const char *) = arg;
    return NULL;
}

static const char *add_audience(cmd_parms *cmd, void *cfg, const char *arg)
{
    clerk_dir_conf *d = cfg;
    if (!d->aud)
        d->aud = apr_array_make(cmd->pool, 2, sizeof(const char *));
    APR_ARRAY_PUSH(d->aud, const char *) = arg;
    return NULL;
}

static const char *add_algorithm(cmd_parms *cmd, void *cfg, const char *arg)
{
    clerk_dir_conf *d = cfg;
    unsigned alg = clerk_alg_from_name(arg);

    if (alg)
        d->algs |= alg;
    else if (strcasecmp(arg, "none") == 0)
        return clerk_cmd_error(cmd, "'none' is never allowed: unsigned tokens prove nothing");
    else if (strncasecmp(arg, "HS", 2) == 0)
        return clerk_cmd_error(
            cmd, "'%s' is never allowed: HMAC would make the public key a shared secret", arg);
    else
        return clerk_cmd_error(cmd,
                               "unknown algorithm '%s' (known: RS256 RS384 RS512 PS256 ES256 ES384 "
                               "EdDSA; names are case-sensitive)",
                               arg);
    return NULL;
}

int clerk_parse_int(const char *arg, apr_int64_t min, apr_int64_t max, apr_int64_t *out)
{
    char *end;
    apr_int64_t v = apr_strtoi64(arg, &end, 10);
    if (end == arg || *end || v < min || v > max)
        return 0;
    *out = v;
    return 1;
}

const char *clerk_cmd_int(cmd_parms *cmd, const char *arg, apr_int64_t min, apr_int64_t max,
                          apr_int64_t *out)
{
    if (clerk_parse_int(arg, min, max, out))
        return NULL;
    return clerk_cmd_error(cmd,
                           "'%s' is not an integer from %" APR_INT64_T_FMT " to %" APR_INT64_T_FMT,
                           arg, min, max);
}

const char *clerk_cmd_seconds(cmd_parms *cmd, const char *arg, apr_int64_t min, apr_int64_t max,
                              apr_int64_t *out)
{
    if (clerk_parse_int(arg, min, max, out))
        return NULL;
    return clerk_cmd_error(
        cmd, "'%s' is not a number of seconds from %" APR_INT64_T_FMT " to %" APR_INT64_T_FMT, arg,
        min, max);
}

static const char *set_clock_skew(cmd_parms *cmd, void *cfg, const char *arg)
{
    apr_int64_t v = 0;
    const char *e = clerk_cmd_int(cmd, arg, 0, MAX_CLOCK_SKEW_S, &v);
    if (!e)
        ((clerk_dir_conf *)cfg)->clock_skew_s = (int)v;
    return e;
}

static const char *set_max_token_size(cmd_parms *cmd, void *cfg, const char *arg)
{
    apr_int64_t v = 0;
    const char *e = clerk_cmd_int(cmd, arg, MIN_TOKEN_SIZE, MAX_TOKEN_SIZE, &v);
    if (!e)
        ((clerk_dir_conf *)cfg)->max_token_size = (apr_size_t)v;
    return e;
}

static const char *set_nonempty(cmd_parms *cmd, void *cfg, const char *arg)
{
    if (!*arg)
        return clerk_cmd_error(cmd, "must not be empty");
    return ap_set_string_slot(cmd, cfg, arg);
}

/* ClerkUserClaim: a claim name or a dotted path into nested claims (public_metadata.username). */
static const char *set_user_claim(cmd_parms *cmd, void *cfg, const char *arg)
{
    if (!clerk_claims_user_path_ok(arg))
        return clerk_cmd_error(cmd,
                               "must be a claim name or a dotted path (public_metadata.username): "
                               "no empty part, space or control character, at most 8 parts");
    return ap_set_string_slot(cmd, cfg, arg);
}

/* A directive whose argument is one of a few keywords, stored in an int field. */
typedef struct keyword {
    const char *name;
    int value;
} keyword;

typedef struct keyword_slot {
    apr_size_t offset;
    const keyword *words; /* ends with a NULL name */
    const char *choices;  /* for the error message */
} keyword_slot;

static const keyword unauth_actions[] = {{"auth", ACTION_AUTH}, {"pass", ACTION_PASS},
                                         {"401", ACTION_401},   {"403", ACTION_403},
                                         {"404", ACTION_404},   {NULL, 0}};
static const keyword_slot unauth_action_slot = {APR_OFFSETOF(clerk_dir_conf, action),
                                                unauth_actions, "auth, pass, 401, 403, 404"};

static const keyword pass_claims_as[] = {{"environment", PASS_ENV},
                                         {"headers", PASS_HEADERS},
                                         {"both", PASS_BOTH},
                                         {"none", PASS_NONE},
                                         {NULL, 0}};
static const keyword_slot pass_claims_as_slot = {
    APR_OFFSETOF(clerk_dir_conf, pass_as), pass_claims_as, "environment, headers, both, none"};

static const keyword cors_preflight[] = {{"respond", CLERK_PREFLIGHT_RESPOND},
                                         {"handler", CLERK_PREFLIGHT_HANDLER},
                                         {"authenticate", CLERK_PREFLIGHT_AUTHENTICATE},
                                         {NULL, 0}};
static const keyword_slot cors_preflight_slot = {APR_OFFSETOF(clerk_dir_conf, preflight),
                                                 cors_preflight, "respond, handler, authenticate"};

static const char *set_keyword(cmd_parms *cmd, void *cfg, const char *arg)
{
    const keyword_slot *slot = cmd->info;
    for (const keyword *k = slot->words; k->name; k++)
        if (strcasecmp(arg, k->name) == 0) {
            *(int *)((char *)cfg + slot->offset) = k->value;
            return NULL;
        }
    return clerk_cmd_error(cmd, "'%s' is not one of %s", arg, slot->choices);
}

/* Every directive works in the server or a virtual host (the base the sections inherit), in
 * <Directory>/<Location>, and in .htaccess under AllowOverride AuthConfig. */
#define CLERK_SCOPE (RSRC_CONF | OR_AUTHCFG)

#define DIR_SLOT(field) (void *)APR_OFFSETOF(clerk_dir_conf, field)

const command_rec clerk_cmds[] = {
    AP_INIT_TAKE1("ClerkPublishableKey", clerk_set_publishable_key, NULL, CLERK_SCOPE,
                  "the instance's publishable key (pk_live_... or pk_test_...)"),
    AP_INIT_TAKE1("ClerkSecretKey", clerk_set_secret_key, NULL, CLERK_SCOPE,
                  "the instance's secret key (sk_live_... or sk_test_...)"),
    AP_INIT_TAKE1("ClerkSecretKeyFile", clerk_set_secret_key_file, NULL, CLERK_SCOPE,
                  "a file holding the instance's secret key"),
    AP_INIT_RAW_ARGS("ClerkJWTKey", clerk_set_jwt_key, NULL, CLERK_SCOPE,
                     "the instance's PEM public key (text, or file:<path>): networkless"),
    AP_INIT_TAKE1("ClerkJWKSFile", clerk_set_jwks_file, NULL, CLERK_SCOPE,
                  "a local JWKS file with the instance's public keys"),
    AP_INIT_TAKE1("ClerkJWKSURL", set_jwks_url, NULL, CLERK_SCOPE,
                  "where the remote JWKS is fetched from"),
    AP_INIT_ITERATE("ClerkAuthorizedParties", add_authorized_party, NULL, CLERK_SCOPE,
                    "origins accepted in the token's azp claim"),
    AP_INIT_TAKE1("ClerkClockSkew", set_clock_skew, NULL, CLERK_SCOPE,
                  "seconds of clock skew allowed on exp, nbf and iat (default 5)"),
    AP_INIT_TAKE1("ClerkIssuer", set_nonempty, DIR_SLOT(issuer), CLERK_SCOPE,
                  "the exact iss claim required (default: not checked, as Clerk)"),
    AP_INIT_ITERATE("ClerkAudience", add_audience, NULL, CLERK_SCOPE,
                    "audiences accepted in the aud claim (default: not checked)"),
    AP_INIT_ITERATE("ClerkAllowedAlgorithms", add_algorithm, NULL, CLERK_SCOPE,
                    "JWS algorithms accepted (default RS256)"),
    AP_INIT_TAKE1("ClerkUnauthAction", set_keyword, (void *)&unauth_action_slot, CLERK_SCOPE,
                  "what a signed-out request gets: auth, pass, 401, 403 or 404"),
    AP_INIT_TAKE1("ClerkSignInURL", set_sign_in_url, NULL, CLERK_SCOPE,
                  "where signed-out page requests are redirected (absolute http(s) URL)"),
    AP_INIT_TAKE1("ClerkUserClaim", set_user_claim, DIR_SLOT(user_claim), CLERK_SCOPE,
                  "the claim (or dotted path) that becomes REMOTE_USER (default sub)"),
    AP_INIT_FLAG("ClerkAcceptPending", ap_set_flag_slot, DIR_SLOT(accept_pending), CLERK_SCOPE,
                 "accept sessions whose status is pending (default Off)"),
    AP_INIT_TAKE1("ClerkPassClaimsAs", set_keyword, (void *)&pass_claims_as_slot, CLERK_SCOPE,
                  "environment, headers, both or none (default environment)"),
    AP_INIT_FLAG("ClerkPassNestedClaims", ap_set_flag_slot, DIR_SLOT(pass_nested), CLERK_SCOPE,
                 "also pass nested claims and arrays, flattened (default Off)"),
    AP_INIT_TAKE1("ClerkSignedHeadersKeyFile", clerk_set_handoff_key_file, NULL, CLERK_SCOPE,
                  "a file with the key that signs the exported headers (X-Clerk-Signature)"),
    AP_INIT_FLAG("ClerkDebugHeaders", ap_set_flag_slot, DIR_SLOT(debug_headers), CLERK_SCOPE,
                 "send x-clerk-auth-message (default On for pk_test_ keys, else Off)"),
    AP_INIT_TAKE1("ClerkMaxTokenSize", set_max_token_size, NULL, CLERK_SCOPE,
                  "longest token accepted, in bytes (default 16384)"),
    AP_INIT_FLAG("ClerkTrustForwardedHeaders", ap_set_flag_slot, DIR_SLOT(trust_forwarded),
                 CLERK_SCOPE, "use X-Forwarded-Host/-Proto for the public URL (default Off)"),
    AP_INIT_TAKE1("ClerkCORSPreflight", set_keyword, (void *)&cors_preflight_slot, CLERK_SCOPE,
                  "respond (204 from the module, default), handler (no user) or authenticate"),
    /* Server scope only: it lands in the server's base record, which every section inherits. */
    AP_INIT_FLAG("ClerkScrubHeaders", ap_set_flag_slot, DIR_SLOT(scrub_all), RSRC_CONF,
                 "remove client-sent X-Remote-User / X-Clerk-* look-alikes from every request "
                 "of this server, not only AuthType Clerk ones (default Off)"),
    /* Server-wide: kept in the per-server record of httpd_jwks.c. */
    AP_INIT_TAKE1("ClerkAPIURL", set_api_url, NULL, RSRC_CONF,
                  "Clerk Backend API base URL (default https://api.clerk.com)"),
    AP_INIT_TAKE1("ClerkCABundle", clerk_jwks_set_ca_bundle, NULL, RSRC_CONF,
                  "PEM file of CA certificates added to the system store for fetches"),
    AP_INIT_TAKE1("ClerkOutgoingProxy", clerk_jwks_set_outgoing_proxy, NULL, RSRC_CONF,
                  "http://host:port of the proxy every fetch to Clerk goes through"),
    AP_INIT_TAKE1("ClerkOutgoingProxyAuthFile", clerk_jwks_set_outgoing_proxy_auth, NULL, RSRC_CONF,
                  "file holding user:password for ClerkOutgoingProxy (Basic)"),
    AP_INIT_TAKE1("ClerkCache", clerk_jwks_set_cache, NULL, RSRC_CONF,
                  "socache provider[:args] sharing the JWKS (default shmcb)"),
    AP_INIT_TAKE1("ClerkJWKSRefresh", clerk_jwks_set_interval, (void *)CLERK_JWKS_REFRESH,
                  RSRC_CONF, "seconds between JWKS refreshes (default 300)"),
    AP_INIT_TAKE1("ClerkJWKSMinRefresh", clerk_jwks_set_interval, (void *)CLERK_JWKS_MIN_REFRESH,
                  RSRC_CONF, "least seconds between fetches on an unknown kid (default 10)"),
    AP_INIT_TAKE1("ClerkJWKSMaxStale", clerk_jwks_set_interval, (void *)CLERK_JWKS_MAX_STALE,
                  RSRC_CONF, "seconds the last good JWKS serves while fetches fail (default 3600)"),
    AP_INIT_TAKE12("ClerkFetchTimeout", clerk_jwks_set_timeout, NULL, RSRC_CONF,
                   "[connect] total seconds for one fetch (default 3 10)"),
    AP_INIT_TAKE1("ClerkCacheKeyFile", clerk_jwks_set_cache_key_file, NULL, RSRC_CONF,
                  "file with the key records in a network ClerkCache are MAC'd with"),
    AP_INIT_ITERATE("ClerkAllowRSAExponent", clerk_jwks_set_rsa_exponent, NULL,
                    RSRC_CONF | EXEC_ON_READ,
                    "RSA public exponents accepted besides 65537, or any"),
    AP_INIT_FLAG("ClerkStatusShowPaths", clerk_status_set_show_paths, NULL, RSRC_CONF,
                 "name key files on the status page (default Off)"),
    /* The handshake (httpd_handshake.c). */
    AP_INIT_TAKE1("ClerkFrontendAPI", clerk_handshake_set_frontend_api, DIR_SLOT(frontend_api),
                  CLERK_SCOPE,
                  "where handshakes go: host or http(s) URL (default: from the publishable key)"),
    AP_INIT_FLAG("ClerkHandshake", ap_set_flag_slot, DIR_SLOT(handshake), CLERK_SCOPE,
                 "send page requests through Clerk's handshake (default On)"),
    /* The Frontend API proxy (httpd_fapi_proxy.c), server scope: in the server's own record. */
    AP_INIT_TAKE12("ClerkFrontendAPIProxy", clerk_fapi_proxy_set, DIR_SLOT(fapi_proxy), RSRC_CONF,
                   "path under which this server serves the instance's Frontend API, e.g. "
                   "/__clerk [, and the Frontend API URL; default: from the publishable key]"),
    /* Satellites, the proxy URL, organization sync (httpd_multidomain.c). */
    AP_INIT_FLAG("ClerkIsSatellite", clerk_md_set_satellite, DIR_SLOT(md), CLERK_SCOPE,
                 "this is a satellite domain that syncs its session from the primary (default "
                 "Off)"),
    AP_INIT_TAKE1("ClerkDomain", clerk_md_set_domain, DIR_SLOT(md), CLERK_SCOPE,
                  "the satellite's domain (host or URL): production handshakes go to "
                  "clerk.<domain>"),
    AP_INIT_TAKE1("ClerkProxyURL", clerk_md_set_proxy_url, DIR_SLOT(md), CLERK_SCOPE,
                  "the Frontend API proxy: absolute http(s) URL or a path on this site"),
    AP_INIT_FLAG("ClerkSatelliteAutoSync", clerk_md_set_auto_sync, DIR_SLOT(md), CLERK_SCOPE,
                 "send a satellite's first cookie-less visit to sync (default Off)"),
    AP_INIT_TAKE_ARGV("ClerkOrganizationPatterns", clerk_md_set_patterns, DIR_SLOT(md), CLERK_SCOPE,
                      "paths naming the organization to activate (:id, :slug)"),
    AP_INIT_TAKE_ARGV("ClerkPersonalAccountPatterns", clerk_md_set_patterns, DIR_SLOT(md),
                      CLERK_SCOPE, "paths that activate the personal account"),
    /* Machine tokens (httpd_machine_config.c). */
    AP_INIT_RAW_ARGS("ClerkAcceptsToken", clerk_machine_set_accepts, DIR_SLOT(machine), CLERK_SCOPE,
                     "token types accepted: session_token (default), api_key, m2m_token, "
                     "oauth_token, or any"),
    AP_INIT_TAKE1("ClerkMachineSecretKey", clerk_machine_set_secret_key, DIR_SLOT(machine),
                  CLERK_SCOPE, "machine secret key M2M tokens are verified with"),
    AP_INIT_TAKE1("ClerkMachineSecretKeyFile", clerk_machine_set_secret_key_file, DIR_SLOT(machine),
                  CLERK_SCOPE, "file holding the machine secret key M2M tokens are verified with"),
    AP_INIT_TAKE1("ClerkMachineTokenCacheTTL", clerk_machine_set_ttl, DIR_SLOT(machine),
                  CLERK_SCOPE, "seconds a verified machine token is trusted (default 60)"),
    AP_INIT_TAKE1("ClerkMachineTokenNegativeCacheTTL", clerk_machine_set_negative_ttl,
                  DIR_SLOT(machine), CLERK_SCOPE,
                  "seconds a refused machine token stays refused (default 10)"),
    AP_INIT_TAKE2("ClerkMachineTokenVerifyLimit", clerk_machine_set_verify_limit, NULL, RSRC_CONF,
                  "Backend API verifications per process: in flight, started per second "
                  "(default 8 100)"),
    {NULL}};
