/* mod_clerk_auth: httpd glue for Clerk session tokens.
 *
 * `AuthType Clerk` makes check_authn hand the request's facts to the core (src/), which decides
 * signed-in / signed-out / handshake exactly as Clerk's SDK does; this file only turns httpd
 * configuration into a clerk_config and the core's decision into r->user, variables, headers
 * and a status. No token logic lives here. Everything that can be checked is checked while the
 * configuration is read, so `apachectl configtest` names the line of a bad key or setting. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <apr_atomic.h>
#include <apr_file_io.h>
#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_uri.h>
#include <openssl/evp.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_cfgtree.h"

#include "httpd_clerk.h"
#include "httpd_machine.h"

#if !AP_MODULE_MAGIC_AT_LEAST(20120211, 47)
#error "mod_clerk_auth needs httpd 2.4.13 or later (ap_some_authn_required)"
#endif

#include "auth.h"
#include "b64url.h"
#include "authorization.h"
#include "claims.h"
#include "export.h"
#include "handoff.h"
#include "header_text.h"
#include "jwk.h"
#include "jws.h"
#include "publishable_key.h"
#include "reason.h"
#include "request_state.h"
#include "signin_url.h"
#include "token.h"
#include "token_cache.h"
#include "transport.h"
#include "url.h"

APLOG_USE_MODULE(clerk_auth);

#define CLERK_AUTH_TYPE "Clerk"

/* Defaults, resolved in one place (resolve_dir_conf). */
#define DEFAULT_CLOCK_SKEW_S  5
#define DEFAULT_USER_CLAIM    "sub"
#define MAX_CLOCK_SKEW_S      86400
#define MIN_TOKEN_SIZE        1024
#define MAX_TOKEN_SIZE        65536
#define TOKEN_CACHE_ENTRIES   4096
#define MAX_SECRET_FILE_BYTES 4096

typedef enum {
    ACTION_UNSET = 0,
    ACTION_AUTH,
    ACTION_PASS,
    ACTION_401,
    ACTION_403,
    ACTION_404
} unauth_action;

/* ClerkPassClaimsAs as a bit set; -1 is "unset". */
enum { PASS_NONE = 0, PASS_ENV = 1, PASS_HEADERS = 2, PASS_BOTH = 3 };

typedef struct clerk_resolved clerk_resolved;

/* One per-directory record. Every field starts "unset" (NULL, 0 or -1) so a nested section or
 * .htaccess overrides only what it sets; defaults are applied in resolve_dir_conf alone. Keys and
 * PEM/JWKS are parsed by the directive handlers, once, into the configuration pool. */
typedef struct clerk_dir_conf {
    const clerk_publishable_key *pk;
    const char *secret_key;
    const char *jwks_url;
    clerk_keyset *pem_keys;  /* ClerkJWTKey */
    clerk_keyset *jwks_keys; /* ClerkJWKSFile */
    const char *jwks_kids;   /* the file's usable kids, sorted, for Clerk's kid-mismatch text */
    apr_array_header_t *azp; /* const char * */
    apr_array_header_t *aud; /* const char * */
    const char *issuer;
    const char *sign_in_url;
    const char *user_claim;
    int clock_skew_s;
    unsigned algs;
    int action;
    int pass_as;
    int pass_nested;         /* ClerkPassNestedClaims */
    const char *handoff_key; /* ClerkSignedHeadersKeyFile's content */
    int accept_pending;
    int debug_headers;
    int trust_forwarded;
    apr_size_t max_token_size;
    const char *frontend_api;         /* ClerkFrontendAPI (httpd_handshake.c) */
    int handshake;                    /* ClerkHandshake */
    int preflight;                    /* ClerkCORSPreflight: CLERK_PREFLIGHT_*, 0 unset */
    int scrub_all;                    /* ClerkScrubHeaders (server/vhost scope only), -1 unset */
    const clerk_machine_dir *machine; /* ClerkAcceptsToken & co. (httpd_machine.c), or NULL */
    /* The key source travels as one group with the instance it was set for (see
     * merge_dir_conf): where its first directive is, the server (main or virtual host) whose
     * configuration holds it, and, once merged, the publishable key in force there. A raw
     * record's origin is itself. */
    const char *pk_at;   /* "line N of FILE" of pk, for messages */
    const char *keys_at; /* "ClerkSecretKey on line N of FILE" */
    server_rec *key_server;
    int origin_known;
    const clerk_publishable_key *origin_pk;
    const clerk_resolved *res; /* derived once per record by merge / post_config */
} clerk_dir_conf;

/* What a request reads: the record with every default applied, and the core's clerk_config. */
struct clerk_resolved {
    clerk_config core; /* cache and log_ctx are filled per request on a stack copy */
    clerk_keyset *pem;
    clerk_keyset *jwks;
    const char *jwks_kids;
    int remote; /* ClerkSecretKey(File) or ClerkJWKSURL: a remote key source is configured */
    const char *secret_key; /* for the remote source (httpd_jwks.c) */
    const char *jwks_url;
    unauth_action action;
    int pass_as;
    int pass_nested;
    const char *handoff_key;
    int debug_headers;
    int trust_forwarded;
    const char *sign_in_url;
    const char *user_claim;
    int preflight; /* CLERK_PREFLIGHT_* */
    int scrub_all;
    const char *key_error; /* the key source belongs to another instance: refuse (fail closed) */
    const char *keys_at;
    server_rec *key_server; /* whose ClerkAPIURL the secret key goes to (key_api_error) */
    const clerk_machine_dir *machine;
};

/* The decision for one request_rec, so check_access and check_authn verify only once. */
typedef struct clerk_req {
    int decided;
    int preflight;
    clerk_request facts;
    clerk_state st;
    clerk_auth auth; /* signed in: made on first use by clerk_request_identity */
    int auth_made;
    const clerk_token_exports *exports; /* signed in: the token's variables */
    const char *user;                   /* signed in: REMOTE_USER */
    const void *conf;                   /* the per_dir_config it was made under */
    const clerk_machine *machine;       /* signed in with a machine token (httpd_machine.c) */
} clerk_req;

/* The one symbol httpd looks up: everything else is built hidden (Makefile.am), so the
 * module's calls to its own functions are direct and no other module can interpose on them. */
__attribute__((visibility("default"))) module AP_MODULE_DECLARE_DATA clerk_auth_module;

/* Per process: verified tokens (created in child_init) and the "log once" flags. */
static clerk_token_cache *token_cache;
static apr_uint32_t logged_remote_pending;
static apr_uint32_t logged_no_key_source;

/* ---- configuration records ---------------------------------------------------------------- */

static void *create_dir_conf(apr_pool_t *p, char *dir)
{
    clerk_dir_conf *d = apr_pcalloc(p, sizeof(*d));
    d->clock_skew_s = -1;
    d->pass_as = -1;
    d->pass_nested = -1;
    d->accept_pending = -1;
    d->debug_headers = -1;
    d->trust_forwarded = -1;
    d->handshake = -1;
    d->scrub_all = -1;
    return d;
}

static const clerk_key *lookup_key(void *ctx, const char *kid, clerk_error *err);
static void core_log(void *ctx, int level, const char *msg);

/* The key-source group: PEM, JWKS file, JWKS URL, secret key (its file too). */
static int has_key_source(const clerk_dir_conf *d)
{
    return d->pem_keys || d->jwks_keys || d->jwks_url || d->secret_key;
}

static int same_pk(const clerk_publishable_key *a, const clerk_publishable_key *b)
{
    return a == b || (a && b && strcmp(a->key, b->key) == 0);
}

/* Why d's key source may not serve d (it was set for another instance), or NULL. A token is
 * only as much of an instance's as the keys that verify it: keys set where publishable key A
 * (or none) was in force must not sign anyone in under publishable key B. */
static const char *key_origin_error(apr_pool_t *p, const clerk_dir_conf *d)
{
    if (!d->origin_known)
        return NULL;
    if (!same_pk(d->pk, d->origin_pk))
        return apr_psprintf(
            p,
            "ClerkPublishableKey on %s (instance %s) is not the publishable key in force where "
            "this section's inherited key source was set (%s, %s%s): a key source serves only "
            "its own instance, so set this instance's own ClerkSecretKey, ClerkJWTKey, "
            "ClerkJWKSFile or ClerkJWKSURL next to its ClerkPublishableKey",
            d->pk_at ? d->pk_at : "an unknown line", d->pk ? d->pk->fapi_host : "none",
            d->keys_at ? d->keys_at : "an unknown line",
            d->origin_pk ? "instance " : "where no publishable key was set",
            d->origin_pk ? d->origin_pk->fapi_host : "");
    return NULL;
}

static int same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* The first setting by which two servers' ways to the Backend API differ, or NULL. */
static const char *fetch_difference(const clerk_fetch_settings *a, const clerk_fetch_settings *b)
{
    if (!same_text(a->api_url, b->api_url))
        return "ClerkAPIURL";
    if (!same_text(a->ca_file, b->ca_file))
        return "ClerkCABundle";
    if (!same_text(a->proxy, b->proxy))
        return "ClerkOutgoingProxy";
    if (!same_text(a->proxy_user, b->proxy_user) ||
        !same_text(a->proxy_password, b->proxy_password))
        return "ClerkOutgoingProxyAuthFile";
    return NULL;
}

/* The value of setting what in fs, to show (never the proxy's credentials, nor a URL's user
 * information or query). */
static const char *fetch_value(apr_pool_t *p, const clerk_fetch_settings *fs, const char *what)
{
    const char *v = strcmp(what, "ClerkAPIURL") == 0          ? fs->api_url
                    : strcmp(what, "ClerkCABundle") == 0      ? fs->ca_file
                    : strcmp(what, "ClerkOutgoingProxy") == 0 ? fs->proxy
                    : fs->proxy_user                          ? "(credentials not shown)"
                                                              : NULL;
    return !v ? "none" : fs->ca_file && v == fs->ca_file ? v : clerk_url_redact(p, v);
}

/* Why the secret key of rs may not be used in server s, or NULL: httpd applies the main
 * server's sections to every virtual host too, and a secret key goes only the way (ClerkAPIURL,
 * ClerkCABundle, ClerkOutgoingProxy and its credentials) of the server whose configuration
 * holds it: a CA bundle or proxy set only for a virtual host must not see the main server's
 * secret key. */
static const char *key_api_error(apr_pool_t *p, const clerk_resolved *rs, server_rec *s)
{
    if (!rs->secret_key || !rs->key_server || rs->key_server == s)
        return NULL;
    clerk_fetch_settings own, here;
    clerk_server_fetch_settings(rs->key_server, &own);
    clerk_server_fetch_settings(s, &here);
    const char *what = fetch_difference(&own, &here);
    if (!what)
        return NULL;
    return apr_psprintf(p,
                        "the virtual host %s:%u defined on line %u of %s sends its secret keys "
                        "with %s %s, but the secret key of %s belongs with %s %s: set this "
                        "virtual host's own key source in it, or the same %s",
                        s->server_hostname ? s->server_hostname : "", (unsigned)s->port,
                        s->defn_line_number, s->defn_name ? s->defn_name : "?", what,
                        fetch_value(p, &here, what), rs->keys_at ? rs->keys_at : "an unknown line",
                        what, fetch_value(p, &own, what), what);
}

/* Why the request must not be decided with its key source, or NULL. */
static const char *key_refusal(request_rec *r, const clerk_resolved *rs)
{
    return rs->key_error ? rs->key_error : key_api_error(r->pool, rs, r->server);
}

static const clerk_resolved *resolve_dir_conf(apr_pool_t *p, const clerk_dir_conf *d)
{
    clerk_resolved *rs = apr_pcalloc(p, sizeof(*rs));
    clerk_config *c = &rs->core;

    c->pk = d->pk;
    c->verify.skew_ms =
        (int64_t)(d->clock_skew_s >= 0 ? d->clock_skew_s : DEFAULT_CLOCK_SKEW_S) * 1000;
    c->verify.algs = d->algs ? d->algs : CLERK_ALGS_DEFAULT;
    if (d->azp) {
        c->verify.azp = (const char *const *)d->azp->elts;
        c->verify.n_azp = (size_t)d->azp->nelts;
    }
    if (d->aud) {
        c->verify.aud = (const char *const *)d->aud->elts;
        c->verify.n_aud = (size_t)d->aud->nelts;
    }
    c->verify.issuer = d->issuer;
    c->verify.max_token_size = d->max_token_size ? d->max_token_size : CLERK_JWT_DEFAULT_MAX_LEN;
    c->accept_pending = d->accept_pending == 1;
    c->keys.lookup = lookup_key;
    c->keys.ctx = rs;
    c->log = core_log;
    c->handshake_off = d->handshake == 0;
    c->frontend_api = d->frontend_api;
    c->secret_key = d->secret_key;

    rs->pem = d->pem_keys;
    rs->jwks = d->jwks_keys;
    rs->jwks_kids = d->jwks_kids;
    rs->remote = d->secret_key != NULL || d->jwks_url != NULL;
    rs->secret_key = d->secret_key;
    rs->jwks_url = d->jwks_url;
    rs->action = d->action ? (unauth_action)d->action : ACTION_AUTH;
    rs->pass_as = d->pass_as >= 0 ? d->pass_as : PASS_ENV;
    rs->pass_nested = d->pass_nested == 1;
    rs->handoff_key = d->handoff_key;
    /* Clerk's SDK always sends the message header; production keys keep it off by default. */
    rs->debug_headers = d->debug_headers >= 0 ? d->debug_headers : (d->pk && !d->pk->production);
    rs->trust_forwarded = d->trust_forwarded == 1;
    rs->sign_in_url = d->sign_in_url;
    rs->user_claim = d->user_claim ? d->user_claim : DEFAULT_USER_CLAIM;
    rs->preflight = d->preflight ? d->preflight : CLERK_PREFLIGHT_RESPOND;
    rs->scrub_all = d->scrub_all == 1;
    rs->machine = d->machine;
    rs->key_error = key_origin_error(p, d);
    rs->keys_at = d->keys_at;
    rs->key_server = d->key_server;
    return rs;
}

#define INHERIT(field, unset) m->field = (add->field != (unset)) ? add->field : base->field

static void *merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    const clerk_dir_conf *base = basev, *add = addv;
    clerk_dir_conf merged, *m = &merged;
    memset(&merged, 0, sizeof(merged)); /* padding included: the records are compared below */

    INHERIT(pk, NULL);
    m->pk_at = add->pk ? add->pk_at : base->pk_at;
    /* Every key source is inherited as one group: a section naming any of its own keys keeps
     * nothing of an outer one (an outer ClerkJWTKey would win over them; an outer secret key
     * would answer the kids its own JWKS file lacks). The group carries the publishable key in
     * force where it was set and the server it was written in (key_origin_error,
     * key_api_error). */
    const clerk_dir_conf *keys = has_key_source(add) ? add : base;
    m->pem_keys = keys->pem_keys;
    m->jwks_keys = keys->jwks_keys;
    m->jwks_kids = keys->jwks_kids;
    m->jwks_url = keys->jwks_url;
    m->secret_key = keys->secret_key;
    m->keys_at = keys->keys_at;
    m->key_server = keys->key_server;
    if (has_key_source(keys)) {
        m->origin_known = 1;
        m->origin_pk = keys->origin_known ? keys->origin_pk : keys == add ? m->pk : base->pk;
    }
    INHERIT(azp, NULL);
    INHERIT(aud, NULL);
    INHERIT(issuer, NULL);
    INHERIT(sign_in_url, NULL);
    INHERIT(user_claim, NULL);
    INHERIT(clock_skew_s, -1);
    INHERIT(algs, 0u);
    INHERIT(action, ACTION_UNSET);
    INHERIT(pass_as, -1);
    INHERIT(pass_nested, -1);
    INHERIT(handoff_key, NULL);
    INHERIT(accept_pending, -1);
    INHERIT(debug_headers, -1);
    INHERIT(trust_forwarded, -1);
    INHERIT(max_token_size, (apr_size_t)0);
    INHERIT(frontend_api, NULL);
    INHERIT(handshake, -1);
    INHERIT(preflight, 0);
    INHERIT(scrub_all, -1);
    m->machine = clerk_machine_merge(p, base->machine, add->machine);
    /* httpd merges a matching <Location> into every request: when the outer record adds
     * nothing (the usual case), the section's own record, resolved at startup, is the answer
     * and the request allocates and resolves nothing. Both records are zero-filled before
     * their fields are set, so comparing bytes compares fields. */
    merged.res = add->res;
    /* A raw section's origin is itself: the same origin spelt out is no difference. */
    clerk_dir_conf cmp;
    memcpy(&cmp, &merged, sizeof(cmp));
    if (keys == add && !add->origin_known && cmp.origin_pk == add->pk) {
        cmp.origin_known = 0;
        cmp.origin_pk = NULL;
    }
    if (add->res && memcmp(&cmp, add, sizeof(cmp)) == 0)
        return addv;
    m = apr_pmemdup(p, &merged, sizeof(merged));
    /* Merged records are what requests see; resolving here makes it once per record. */
    m->res = resolve_dir_conf(p, m);
    return m;
}

#undef INHERIT

/* ---- directive handlers ------------------------------------------------------------------- */

/* "<Directive>: <message>", so configtest reads "Syntax error on line N of FILE: <Directive>: .."
 */
static const char *cmd_error(cmd_parms *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *cmd_error(cmd_parms *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *msg = apr_pvsprintf(cmd->pool, fmt, ap);
    va_end(ap);
    return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", msg, NULL);
}

/* httpd leaves ${VAR} as written (with warning AH00111) when VAR is neither Defined nor in its
 * environment; say so instead of "not a key". */
static const char *unsubstituted(cmd_parms *cmd, const char *arg)
{
    size_t n = strlen(arg);
    if (n > 3 && arg[0] == '$' && arg[1] == '{' && arg[n - 1] == '}')
        return cmd_error(cmd,
                         "%s was not substituted: set it with Define or in httpd's environment "
                         "(e.g. export it in /etc/apache2/envvars)",
                         arg);
    return NULL;
}

/* "line N of FILE" of the directive being read, for messages about it later. */
static const char *directive_at(cmd_parms *cmd)
{
    const ap_directive_t *d = cmd->directive;
    return d ? apr_psprintf(cmd->pool, "line %d of %s", d->line_num, d->filename) : NULL;
}

/* Remembers where a section's key source starts (its first key directive). */
static void note_key_source(cmd_parms *cmd, clerk_dir_conf *d)
{
    d->key_server = cmd->server;
    if (!d->keys_at) {
        const char *at = directive_at(cmd);
        d->keys_at = at ? apr_pstrcat(cmd->pool, cmd->cmd->name, " on ", at, NULL) : NULL;
    }
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
    return cmd_error(cmd,
                     "'%s' would carry %s in cleartext: use https:// (http:// is allowed only "
                     "to loopback: 127.0.0.0/8, ::1, localhost)",
                     clerk_url_redact(cmd->temp_pool, url), what);
}

static apr_status_t keyset_cleanup(void *ks)
{
    clerk_keyset_unref(ks);
    return APR_SUCCESS;
}

/* A new key set released with pool p (the configuration pool, or the request pool for
 * .htaccess). */
static clerk_keyset *pool_keyset(apr_pool_t *p)
{
    clerk_keyset *ks = clerk_keyset_new();
    if (ks)
        apr_pool_cleanup_register(p, ks, keyset_cleanup, apr_pool_cleanup_null);
    return ks;
}

/* Reads a whole small file (path relative to ServerRoot) into a NUL-terminated pool buffer. */
static const char *read_config_file(cmd_parms *cmd, const char *path, apr_size_t max, char **out,
                                    apr_size_t *outlen)
{
    const char *full = ap_server_root_relative(cmd->temp_pool, path);
    apr_file_t *f;
    apr_finfo_t fi;
    char errbuf[120];
    apr_status_t rv;

    if (!full)
        return cmd_error(cmd, "invalid file path '%s'", path);
    rv = apr_file_open(&f, full, APR_FOPEN_READ | APR_FOPEN_BINARY, APR_OS_DEFAULT, cmd->temp_pool);
    if (rv != APR_SUCCESS)
        return cmd_error(cmd, "cannot open '%s': %s", full,
                         apr_strerror(rv, errbuf, sizeof(errbuf)));
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_TYPE, f);
    if (rv == APR_SUCCESS && fi.filetype != APR_REG) {
        apr_file_close(f);
        return cmd_error(cmd, "'%s' is not a regular file", full);
    }
    if (rv == APR_SUCCESS && fi.size > (apr_off_t)max) {
        apr_file_close(f);
        return cmd_error(cmd, "'%s' is larger than %" APR_SIZE_T_FMT " bytes", full, max);
    }
    char *buf = apr_palloc(cmd->pool, max + 1);
    apr_size_t n = 0;
    rv = apr_file_read_full(f, buf, max, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF)
        return cmd_error(cmd, "cannot read '%s': %s", full,
                         apr_strerror(rv, errbuf, sizeof(errbuf)));
    buf[n] = '\0';
    *out = buf;
    *outlen = n;
    return NULL;
}

static const char *set_publishable_key(cmd_parms *cmd, void *cfg, const char *arg)
{
    clerk_dir_conf *d = cfg;
    clerk_publishable_key *pk;
    char err[256];
    const char *e = unsubstituted(cmd, arg);

    if (e)
        return e;
    if (clerk_publishable_key_parse(cmd->pool, arg, &pk, err, sizeof(err)) != 0)
        return cmd_error(cmd, "%s", err);
    d->pk = pk;
    d->pk_at = directive_at(cmd);
    return NULL;
}

static const char *check_secret_key(cmd_parms *cmd, clerk_dir_conf *d, const char *key)
{
    char err[256];
    if (clerk_secret_key_check(key, err, sizeof(err)) != 0)
        return cmd_error(cmd, "%s", err);
    d->secret_key = key;
    note_key_source(cmd, d);
    return NULL;
}

static const char *set_secret_key(cmd_parms *cmd, void *cfg, const char *arg)
{
    const char *e = unsubstituted(cmd, arg);
    return e ? e : check_secret_key(cmd, cfg, arg);
}

/* A key file as operators write it (echo, an editor's final newline): its text less the white
 * space around it, so both key files accept the same files. */
static const char *read_key_file(cmd_parms *cmd, const char *path, char **out, apr_size_t *outlen)
{
    char *buf;
    apr_size_t n;
    const char *e = read_config_file(cmd, path, MAX_SECRET_FILE_BYTES, &buf, &n);

    if (e)
        return e;
    while (n > 0 && apr_isspace(buf[n - 1]))
        buf[--n] = '\0';
    while (apr_isspace(*buf)) {
        buf++;
        n--;
    }
    *out = buf;
    *outlen = n;
    return NULL;
}

static const char *set_secret_key_file(cmd_parms *cmd, void *cfg, const char *arg)
{
    char *buf;
    apr_size_t n;
    const char *e = read_key_file(cmd, arg, &buf, &n);

    return e ? e : check_secret_key(cmd, cfg, buf);
}

/* ClerkSignedHeadersKeyFile: the HMAC key of the signed hand-off, read once here. */
static const char *set_handoff_key_file(cmd_parms *cmd, void *cfg, const char *arg)
{
    char *buf;
    apr_size_t n;
    const char *e = read_key_file(cmd, arg, &buf, &n);
    if (e)
        return e;
    if (strlen(buf) != n)
        return cmd_error(cmd, "'%s' holds a NUL byte", arg);
    if (n < CLERK_HANDOFF_KEY_MIN)
        return cmd_error(cmd,
                         "'%s' holds %" APR_SIZE_T_FMT " bytes of key; at least %d are needed "
                         "(openssl rand -hex 32)",
                         arg, n, CLERK_HANDOFF_KEY_MIN);
    ((clerk_dir_conf *)cfg)->handoff_key = apr_pstrmemdup(cmd->pool, buf, n);
    return NULL;
}

/* PEM text that went through a one-line variable (${CLERK_JWT_KEY}) often carries the two
 * characters '\' 'n' where newlines were; the core copes with spaces but not with those. */
static char *normalise_pem(apr_pool_t *p, const char *in)
{
    char *out = apr_palloc(p, strlen(in) + 1), *o = out;
    for (const char *s = in; *s; s++) {
        if (s[0] == '\\' && s[1] == 'n') {
            *o++ = '\n';
            s++;
        } else if (s[0] == '\\' && s[1] == 'r') {
            s++;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

/* RAW_ARGS: the PEM may arrive unquoted with spaces (one-line paste) or quoted. */
static const char *set_jwt_key(cmd_parms *cmd, void *cfg, const char *args)
{
    clerk_dir_conf *d = cfg;
    char err[256];
    const char *text = args;
    char *buf;
    apr_size_t len;
    const char *e;

    while (apr_isspace(*text))
        text++;
    if (*text == '"' || *text == '\'') {
        const char *rest = text;
        text = ap_getword_conf(cmd->pool, &rest);
        while (apr_isspace(*rest))
            rest++;
        if (*rest)
            return cmd_error(cmd, "unexpected text after the quoted key");
    } else {
        char *t = apr_pstrdup(cmd->pool, text);
        len = strlen(t);
        while (len > 0 && apr_isspace(t[len - 1]))
            t[--len] = '\0';
        text = t;
    }
    if (!*text)
        return cmd_error(cmd, "expects PEM text or file:<path>");
    if ((e = unsubstituted(cmd, text)) != NULL)
        return e;

    if (strncmp(text, "file:", 5) == 0) {
        if ((e = read_config_file(cmd, text + 5, CLERK_PEM_MAX_BYTES, &buf, &len)) != NULL)
            return e;
    } else {
        buf = normalise_pem(cmd->pool, text);
        len = strlen(buf);
    }
    clerk_keyset *ks = pool_keyset(cmd->pool);
    if (!ks)
        return cmd_error(cmd, "out of memory");
    if (clerk_keyset_add_pem(ks, buf, len, err, sizeof(err)) != 0)
        return cmd_error(cmd, "%s", err);
    d->pem_keys = ks;
    note_key_source(cmd, d);
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The kids of a loaded JWKS, sorted and joined with ", " as Clerk lists them. */
static const char *jwks_kid_list(apr_pool_t *p, const clerk_keyset *ks, const char *json,
                                 apr_size_t len)
{
    json_t *doc = json_loadb(json, len, 0, NULL);
    apr_array_header_t *kids = apr_array_make(p, 4, sizeof(const char *));
    json_t *keys = json_object_get(doc, "keys");
    size_t i;
    json_t *jwk;

    json_array_foreach(keys, i, jwk)
    {
        const char *kid = json_string_value(json_object_get(jwk, "kid"));
        const clerk_key *k = kid ? clerk_keyset_find(ks, kid) : NULL;
        if (k && k->kid && strcmp(k->kid, kid) == 0)
            APR_ARRAY_PUSH(kids, const char *) = apr_pstrdup(p, kid);
    }
    json_decref(doc);
    qsort(kids->elts, (size_t)kids->nelts, sizeof(const char *), cmp_str);
    const char *list = "";
    for (int k = 0; k < kids->nelts; k++)
        list = apr_pstrcat(p, list, k ? ", " : "", APR_ARRAY_IDX(kids, k, const char *), NULL);
    return list;
}

static const char *set_jwks_file(cmd_parms *cmd, void *cfg, const char *arg)
{
    clerk_dir_conf *d = cfg;
    char err[256];
    char *buf;
    apr_size_t len;
    const char *e = read_config_file(cmd, arg, CLERK_JWKS_MAX_BYTES, &buf, &len);

    if (e)
        return e;
    clerk_keyset *ks = pool_keyset(cmd->pool);
    if (!ks)
        return cmd_error(cmd, "out of memory");
    if (clerk_keyset_add_jwks(ks, buf, len, err, sizeof(err)) < 0)
        return cmd_error(cmd, "%s: %s", arg, err);
    d->jwks_keys = ks;
    d->jwks_kids = jwks_kid_list(cmd->pool, ks, buf, len);
    note_key_source(cmd, d);
    return NULL;
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
        return cmd_error(cmd, "'%s' is not an absolute http(s) URL",
                         clerk_url_redact(cmd->temp_pool, arg));
    const char *e = clerk_cleartext_refusal(cmd, arg, "the verification keys");
    if (e)
        return e;
    d->jwks_url = arg;
    note_key_source(cmd, d);
    return NULL;
}

/* Server-wide (httpd_jwks.c keeps it), and never cleartext beyond loopback. */
const char *clerk_set_api_url(cmd_parms *cmd, void *cfg, const char *arg)
{
    const char *e = clerk_jwks_set_api_url(cmd, cfg, arg);
    return e ? e : clerk_cleartext_refusal(cmd, arg, "the secret key");
}

static const char *set_sign_in_url(cmd_parms *cmd, void *cfg, const char *arg)
{
    clerk_dir_conf *d = cfg;
    if (!is_absolute_http_url(cmd->temp_pool, arg))
        return cmd_error(cmd, "'%s' is not an absolute http(s) URL",
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
        return cmd_error(cmd,
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
        return cmd_error(cmd, "'none' is never allowed: unsigned tokens prove nothing");
    else if (strncasecmp(arg, "HS", 2) == 0)
        return cmd_error(
            cmd, "'%s' is never allowed: HMAC would make the public key a shared secret", arg);
    else
        return cmd_error(cmd,
                         "unknown algorithm '%s' (known: RS256 RS384 RS512 PS256 ES256 ES384 "
                         "EdDSA; names are case-sensitive)",
                         arg);
    return NULL;
}

/* A decimal integer in [min, max] with nothing after it. */
static const char *parse_int(cmd_parms *cmd, const char *arg, apr_int64_t min, apr_int64_t max,
                             apr_int64_t *out)
{
    char *end;
    errno = 0;
    apr_int64_t v = apr_strtoi64(arg, &end, 10);
    if (end == arg || *end || errno == ERANGE || v < min || v > max)
        return cmd_error(cmd,
                         "'%s' is not an integer from %" APR_INT64_T_FMT " to %" APR_INT64_T_FMT,
                         arg, min, max);
    *out = v;
    return NULL;
}

static const char *set_clock_skew(cmd_parms *cmd, void *cfg, const char *arg)
{
    apr_int64_t v;
    const char *e = parse_int(cmd, arg, 0, MAX_CLOCK_SKEW_S, &v);
    if (!e)
        ((clerk_dir_conf *)cfg)->clock_skew_s = (int)v;
    return e;
}

static const char *set_max_token_size(cmd_parms *cmd, void *cfg, const char *arg)
{
    apr_int64_t v;
    const char *e = parse_int(cmd, arg, MIN_TOKEN_SIZE, MAX_TOKEN_SIZE, &v);
    if (!e)
        ((clerk_dir_conf *)cfg)->max_token_size = (apr_size_t)v;
    return e;
}

static const char *set_nonempty(cmd_parms *cmd, void *cfg, const char *arg)
{
    if (!*arg)
        return cmd_error(cmd, "must not be empty");
    return ap_set_string_slot(cmd, cfg, arg);
}

/* ClerkUserClaim: a claim name or a dotted path into nested claims (public_metadata.username). */
static const char *set_user_claim(cmd_parms *cmd, void *cfg, const char *arg)
{
    if (!clerk_claims_user_path_ok(arg))
        return cmd_error(cmd, "must be a claim name or a dotted path (public_metadata.username): "
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
    return cmd_error(cmd, "'%s' is not one of %s", arg, slot->choices);
}

/* Every directive works in the server or a virtual host (the base the sections inherit), in
 * <Directory>/<Location>, and in .htaccess under AllowOverride AuthConfig. */
#define CLERK_SCOPE (RSRC_CONF | OR_AUTHCFG)

#define DIR_SLOT(field) (void *)APR_OFFSETOF(clerk_dir_conf, field)

static const command_rec clerk_cmds[] = {
    AP_INIT_TAKE1("ClerkPublishableKey", set_publishable_key, NULL, CLERK_SCOPE,
                  "the instance's publishable key (pk_live_... or pk_test_...)"),
    AP_INIT_TAKE1("ClerkSecretKey", set_secret_key, NULL, CLERK_SCOPE,
                  "the instance's secret key (sk_live_... or sk_test_...)"),
    AP_INIT_TAKE1("ClerkSecretKeyFile", set_secret_key_file, NULL, CLERK_SCOPE,
                  "a file holding the instance's secret key"),
    AP_INIT_RAW_ARGS("ClerkJWTKey", set_jwt_key, NULL, CLERK_SCOPE,
                     "the instance's PEM public key (text, or file:<path>): networkless"),
    AP_INIT_TAKE1("ClerkJWKSFile", set_jwks_file, NULL, CLERK_SCOPE,
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
    AP_INIT_TAKE1("ClerkSignedHeadersKeyFile", set_handoff_key_file, NULL, CLERK_SCOPE,
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
    CLERK_JWKS_DIRECTIVES,
    CLERK_HANDSHAKE_DIRECTIVES,
    CLERK_MACHINE_DIRECTIVES,
    {NULL}};

/* ---- key source ---------------------------------------------------------------------------- */

/* Clerk's order: a PEM key wins (any kid), else the local JWKS by kid, else the remote JWKS.
 * Remote locations read lookup_key_remote per request; reaching the end here means their source
 * could not be set up, so they fail closed. */
static const clerk_key *lookup_key(void *ctx, const char *kid, clerk_error *err)
{
    const clerk_resolved *rs = ctx;
    const clerk_key *k;

    if (rs->pem)
        return clerk_keyset_find(rs->pem, kid);
    if (rs->jwks) {
        k = kid ? clerk_keyset_find(rs->jwks, kid) : NULL;
        if (k)
            return k;
        if (!rs->remote) {
            clerk_error_set(err, CLERK_R_JWK_KID_MISMATCH,
                            "Unable to find a signing key in JWKS that matches the kid='%.100s' "
                            "of the provided session token. Please make sure that the __session "
                            "cookie or the HTTP authorization header contain a Clerk-generated "
                            "session JWT. The following kid is available: %s",
                            kid ? kid : "undefined", rs->jwks_kids ? rs->jwks_kids : "");
            return NULL;
        }
    }
    clerk_error_set(err, CLERK_R_JWK_FAILED_TO_RESOLVE,
                    "Failed to resolve JWK during verification.");
    return NULL;
}

/* A remote location's keys for one request: its local JWKS file first, then the fetched set. */
typedef struct remote_keys {
    const clerk_resolved *rs;
    clerk_key_source remote;
} remote_keys;

static const clerk_key *lookup_key_remote(void *ctx, const char *kid, clerk_error *err)
{
    const remote_keys *rk = ctx;
    const clerk_key *k = rk->rs->jwks && kid ? clerk_keyset_find(rk->rs->jwks, kid) : NULL;
    return k ? k : rk->remote.lookup(rk->remote.ctx, kid, err);
}

int clerk_dir_remote_source(const void *dconf, const char **secret_key, const char **jwks_url)
{
    const clerk_dir_conf *d = dconf;
    *secret_key = d ? d->secret_key : NULL;
    *jwks_url = d ? d->jwks_url : NULL;
    return d && !d->pem_keys && (d->secret_key || d->jwks_url);
}

/* ---- logging ------------------------------------------------------------------------------- */

static void core_log(void *ctx, int level, const char *msg)
{
    request_rec *r = ctx;
    int lvl = level <= CLERK_LOG_ERR    ? APLOG_ERR
              : level == CLERK_LOG_WARN ? APLOG_WARNING
              : level == CLERK_LOG_INFO ? APLOG_INFO
                                        : APLOG_DEBUG;
    if (r)
        ap_log_rerror(APLOG_MARK, lvl, 0, r, CLERK_LOGNO(0001) "%s", msg);
    else
        ap_log_error(APLOG_MARK, lvl, 0, NULL, CLERK_LOGNO(0001) "%s", msg);
}

/* First 8 hex digits of SHA-256(token): enough to correlate log lines with a client's token,
 * useless for replaying it. */
static const char *token_fingerprint(request_rec *r, const char *tok)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!tok || !EVP_Digest(tok, strlen(tok), md, &mdlen, EVP_sha256(), NULL) || mdlen < 4)
        return "-";
    return apr_psprintf(r->pool, "%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);
}

static const char *status_name(clerk_status s)
{
    return s == CLERK_SIGNED_IN ? "signed-in" : s == CLERK_HANDSHAKE ? "handshake" : "signed-out";
}

static const char *action_name(unauth_action a)
{
    static const char *const names[] = {"unset", "auth", "pass", "401", "403", "404"};
    return names[a];
}

static const char *source_name(clerk_token_source s)
{
    return s == CLERK_SRC_HEADER ? "header" : s == CLERK_SRC_COOKIE ? "cookie" : "none";
}

/* ---- per request --------------------------------------------------------------------------- */

static int is_clerk_auth_type(request_rec *r)
{
    const char *type = ap_auth_type(r);
    return type && strcasecmp(type, CLERK_AUTH_TYPE) == 0;
}

static const clerk_resolved *request_conf(request_rec *r)
{
    const clerk_dir_conf *d = ap_get_module_config(r->per_dir_config, &clerk_auth_module);
    return d->res ? d->res : resolve_dir_conf(r->pool, d);
}

/* docs/design.md#header-scrubbing: nothing the client sends may look like what we export
 * (REMOTE_USER, AUTH_TYPE, CLERK_*, with or without X-, '-' and '_' alike). */
static void scrub_reserved_headers(request_rec *r)
{
    const apr_array_header_t *h = apr_table_elts(r->headers_in);
    const apr_table_entry_t *e = (const apr_table_entry_t *)h->elts;
    apr_array_header_t *drop = NULL;

    for (int i = 0; i < h->nelts; i++)
        if (e[i].key && clerk_export_is_reserved_header(e[i].key)) {
            if (!drop)
                drop = apr_array_make(r->pool, 2, sizeof(const char *));
            APR_ARRAY_PUSH(drop, const char *) = e[i].key;
        }
    for (int i = 0; drop && i < drop->nelts; i++) {
        const char *name = APR_ARRAY_IDX(drop, i, const char *);
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      CLERK_LOGNO(0002) "removed client-sent header %.64s", name);
        apr_table_unset(r->headers_in, name);
    }
}

/* Browsers send no credentials on a CORS preflight, so challenging it breaks the real request. */
static int is_cors_preflight(const request_rec *r)
{
    return r->method_number == M_OPTIONS && apr_table_get(r->headers_in, "Origin") &&
           apr_table_get(r->headers_in, "Access-Control-Request-Method");
}

#ifdef CLERK_TEST_CLOCK
/* TEST BUILDS ONLY (configure --enable-test-clock; never the default, never CI's
 * --enable-werror build, and no directive or environment can turn it on): the conformance
 * suite pins "now" per request so a boundary case (exp exactly at the skew) is decided at the
 * same millisecond by the module and by Clerk's SDK. The header name is not in a production
 * .so (tests/e2e/test_03_test_clock.py checks). Not an X-Clerk-* name: those are scrubbed
 * before the decision. Anything but plain decimal digits is ignored. */
static int64_t test_clock_ms(request_rec *r, int64_t now_ms)
{
    const char *v = apr_table_get(r->headers_in, "X-Test-Now-Ms");
    char *end;
    if (!v || !apr_isdigit(*v))
        return now_ms;
    errno = 0;
    apr_int64_t ms = apr_strtoi64(v, &end, 10);
    return errno == 0 && *end == '\0' ? (int64_t)ms : now_ms;
}
#endif

static void fill_request_facts(request_rec *r, const clerk_resolved *rs, clerk_request *q)
{
    apr_table_t *h = r->headers_in;
    const char *host = apr_table_get(h, "Host");

    q->method = r->method;
    q->url.conn_scheme = ap_http_scheme(r);
    q->url.host = host ? host : r->hostname ? r->hostname : r->server->server_hostname;
    q->url.xf_host = apr_table_get(h, "X-Forwarded-Host");
    q->url.xf_proto = apr_table_get(h, "X-Forwarded-Proto");
    q->url.cf_proto = apr_table_get(h, "CloudFront-Forwarded-Proto");
    q->url.trust_forwarded = rs->trust_forwarded;
    q->url.path = r->parsed_uri.path ? r->parsed_uri.path : "/";
    q->url.query = r->parsed_uri.query;
    q->authorization = apr_table_get(h, "Authorization");
    q->cookie = apr_table_get(h, "Cookie");
    q->sec_fetch_dest = apr_table_get(h, "Sec-Fetch-Dest");
    q->accept = apr_table_get(h, "Accept");
    q->referer = apr_table_get(h, "Referer");
    q->now_ms = (int64_t)(apr_time_now() / 1000); /* the one "now" of every token decision */
#ifdef CLERK_TEST_CLOCK
    q->now_ms = test_clock_ms(r, q->now_ms);
#endif
}

/* REMOTE_USER from ClerkUserClaim (a claim name or a dotted path): the core's choice
 * (clerk_claims_user). NULL, with why, when the token has no usable value. */
static const char *user_from_token(request_rec *r, const clerk_token *t, const char *claim,
                                   clerk_user_claim_result *why)
{
    if (strcmp(claim, "sub") == 0) /* verification required a non-empty string sub */
        return t->claims.sub;
    char *buf = apr_palloc(r->pool, 24);
    const char *user;
    *why = clerk_claims_user(t->jwt->payload, claim, buf, 24, &user);
    return user;
}

/* The signed-in token's payload segment, for X-Clerk-Claims. */
static const char *claims_header_value(request_rec *r)
{
    const clerk_req *rq = ap_get_module_config(r->request_config, &clerk_auth_module);
    if (rq && rq->machine) {
        if (!rq->machine->claims)
            return NULL;
        char *b = clerk_b64url_encode((const unsigned char *)rq->machine->claims,
                                      strlen(rq->machine->claims));
        const char *v = b ? apr_pstrdup(r->pool, b) : NULL;
        free(b);
        return v;
    }
    size_t n;
    const char *seg = rq && rq->st.token ? clerk_jwt_payload_segment(rq->st.token->jwt, &n) : NULL;
    return seg ? apr_pstrmemdup(r->pool, seg, n) : NULL;
}

typedef struct export_ctx {
    request_rec *r;
    int pass_as;
    /* apr_table_setn or, when the environment holds no CLERK_* name yet, apr_table_addn:
     * setn scans the table for each name, and every exported name starts alike. */
    void (*env_set)(apr_table_t *, const char *, const char *);
} export_ctx;

static void export_var(void *vctx, const char *name, const char *value)
{
    export_ctx *x = vctx;
    if (x->pass_as & PASS_ENV)
        x->env_set(x->r->subprocess_env, name, value);
    if (x->pass_as & PASS_HEADERS) {
        /* JSON in a header would need escaping rules of its own; base64url needs none. */
        if (strcmp(name, "CLERK_CLAIMS") == 0 && !(value = claims_header_value(x->r)))
            return;
        apr_table_setn(x->r->headers_in, clerk_export_header_name(x->r->pool, name), value);
    }
}

/* 1 when the environment already holds a CLERK_* name (SetEnvIf, an internal redirect): then
 * each token variable must replace, not add. */
static int env_has_clerk_names(const apr_table_t *env)
{
    const apr_array_header_t *h = apr_table_elts(env);
    const apr_table_entry_t *e = (const apr_table_entry_t *)h->elts;
    for (int i = 0; i < h->nelts; i++)
        if (e[i].key && strncasecmp(e[i].key, "CLERK_", 6) == 0)
            return 1;
    return 0;
}

/* The token's variables are made once per token (clerk_export_token_vars) and point into it; the
 * request holds its token until its pool is destroyed, so they outlive every reader. */
static void export_decision_vars(request_rec *r, const clerk_resolved *rs, clerk_req *rq)
{
    if (rs->pass_as == PASS_NONE || rq->preflight) /* a preflight's state is no decision */
        return;
    export_ctx x = {r, rs->pass_as,
                    env_has_clerk_names(r->subprocess_env) ? apr_table_setn : apr_table_addn};

    const int signed_in = rq->st.status == CLERK_SIGNED_IN;
    if (signed_in && rq->machine) { /* no session variable at all */
        clerk_export_state_vars(&rq->st, export_var, &x);
        clerk_machine_export_vars(rq->machine, export_var, &x);
        if (rs->pass_as & PASS_HEADERS) {
            apr_table_setn(r->headers_in, "X-Remote-User", rq->user);
            apr_table_setn(r->headers_in, "X-Auth-Type", CLERK_AUTH_TYPE);
        }
        return;
    }
    if (!signed_in || rq->exports == NULL) {
        const clerk_auth *auth = signed_in && rq->auth_made ? &rq->auth : NULL;
        clerk_export_vars(r->pool, &rq->st, auth, export_var, &x);
        if (auth && (rs->pass_as & PASS_HEADERS)) {
            apr_table_setn(r->headers_in, "X-Remote-User", rq->user);
            apr_table_setn(r->headers_in, "X-Auth-Type", CLERK_AUTH_TYPE);
        }
        return;
    }
    clerk_export_state_vars(&rq->st, export_var, &x);
    const clerk_token_exports *v = rq->exports;
    /* Nested entries come last in the block (export.h): without ClerkPassNestedClaims, stop
     * before them. */
    size_t n = v->n;
    while (!rs->pass_nested && n > 0 && v->v[n - 1].nested)
        n--;
    if (rs->pass_as & PASS_ENV)
        for (size_t i = 0; i < n; i++)
            x.env_set(r->subprocess_env, v->v[i].name, v->v[i].value);
    if (rs->pass_as & PASS_HEADERS) {
        /* Reserved names were scrubbed from headers_in before the decision. */
        for (size_t i = 0; i < n; i++)
            if (v->v[i].header_value != NULL)
                apr_table_addn(r->headers_in, v->v[i].header, v->v[i].header_value);
        apr_table_setn(r->headers_in, "X-Remote-User", rq->user);
        apr_table_setn(r->headers_in, "X-Auth-Type", CLERK_AUTH_TYPE);
    }
}

/* X-Clerk-Signature over every header of ours (ClerkSignedHeadersKeyFile): client headers of
 * those names were scrubbed before the decision, so each one present now is an export. */
static void sign_exports(request_rec *r, const clerk_resolved *rs)
{
    const apr_array_header_t *h = apr_table_elts(r->headers_in);
    const apr_table_entry_t *e = (const apr_table_entry_t *)h->elts;
    const char **names = apr_palloc(r->pool, (h->nelts + 1) * sizeof *names);
    const char **values = apr_palloc(r->pool, (h->nelts + 1) * sizeof *values);
    size_t n = 0;
    for (int i = 0; i < h->nelts; i++) {
        if (!e[i].key || !clerk_export_is_reserved_header(e[i].key) ||
            strcasecmp(e[i].key, CLERK_HANDOFF_HEADER) == 0)
            continue;
        names[n] = e[i].key;
        values[n++] = e[i].val;
    }
    const char *sig =
        clerk_handoff_sign(r->pool, (const unsigned char *)rs->handoff_key, strlen(rs->handoff_key),
                           (int64_t)apr_time_sec(r->request_time), r->method, names, values, n);
    if (sig)
        apr_table_setn(r->headers_in, CLERK_HANDOFF_HEADER, sig);
    else
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      CLERK_LOGNO(1810) "cannot sign the %" APR_SIZE_T_FMT
                                        " exported headers (ClerkSignedHeadersKeyFile): the back "
                                        "end gets no " CLERK_HANDOFF_HEADER,
                      (apr_size_t)n);
}

static void export_decision(request_rec *r, const clerk_resolved *rs, clerk_req *rq)
{
    export_decision_vars(r, rs, rq);
    if (rs->handoff_key && (rs->pass_as & PASS_HEADERS) && !rq->preflight)
        sign_exports(r, rs);
}

static void log_decision(request_rec *r, const clerk_resolved *rs, const clerk_req *rq)
{
    const clerk_state *st = &rq->st;

    if (st->status == CLERK_SIGNED_IN && rq->machine)
        return; /* logged by httpd_machine.c (CLERK2008) */
    if (st->status == CLERK_SIGNED_IN) {
        const char *sid = st->token->claims.sid;
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      CLERK_LOGNO(0003) "signed-in: user=%s sid=%s carrier=%s kid=%.64s", rq->user,
                      sid ? sid : "-", source_name(st->source), st->kid ? st->kid : "-");
        return;
    }
    if (st->source != CLERK_SRC_NONE) {
        const char *tok = st->source == CLERK_SRC_HEADER
                              ? clerk_authorization_token(r->pool, rq->facts.authorization)
                              : st->session_token;
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      CLERK_LOGNO(0004) "token rejected: reason=%s kid=%.64s sha256=%s "
                                        "carrier=%s: %s",
                      clerk_reason_str(st->reason), st->kid ? st->kid : "-",
                      token_fingerprint(r, tok), source_name(st->source), st->message);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  CLERK_LOGNO(0005) "%s: reason=%s carrier=%s action=%s", status_name(st->status),
                  clerk_reason_str(st->reason), source_name(st->source), action_name(rs->action));

    if (st->reason == CLERK_R_JWK_FAILED_TO_RESOLVE) {
        if (rs->remote && apr_atomic_cas32(&logged_remote_pending, 1, 0) == 0)
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          CLERK_LOGNO(0006) "this location's remote key source "
                                            "(ClerkSecretKey/ClerkJWKSURL) could not be set up "
                                            "(see CLERK0402): every token is signed out "
                                            "(jwk-failed-to-resolve). Logged once per process.");
        else if (!rs->remote && apr_atomic_cas32(&logged_no_key_source, 1, 0) == 0)
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          CLERK_LOGNO(0007) "AuthType Clerk without any key source for %s: "
                                            "every token is signed out (jwk-failed-to-resolve). "
                                            "Set ClerkJWTKey or ClerkJWKSFile. Logged once per "
                                            "process.",
                          r->uri);
    }
}

/* A sub-request's record, kept on its main request's pool for ap_internal_fast_redirect, which
 * hands the sub-request's configuration to the main request but not its record, user or
 * scrubbed headers. A sub-request that is destroyed takes its record out again. */
#define SUBREQ_RECORD_KEY "clerk_auth_subreq_record"

typedef struct subreq_slot {
    clerk_req *rq;
} subreq_slot;

typedef struct subreq_keep {
    subreq_slot *slot;
    clerk_req *rq;
} subreq_keep;

static apr_status_t forget_subreq_record(void *data)
{
    subreq_keep *k = data;
    if (k->slot->rq == k->rq)
        k->slot->rq = NULL;
    return APR_SUCCESS;
}

static void keep_for_main(request_rec *r, clerk_req *rq)
{
    apr_pool_t *mp = r->main->pool;
    subreq_slot *slot = NULL;
    apr_pool_userdata_get((void **)&slot, SUBREQ_RECORD_KEY, mp);
    if (!slot) {
        slot = apr_pcalloc(mp, sizeof(*slot));
        apr_pool_userdata_setn(slot, SUBREQ_RECORD_KEY, NULL, mp);
    }
    slot->rq = rq;
    subreq_keep *k = apr_palloc(r->pool, sizeof(*k));
    k->slot = slot;
    k->rq = rq;
    apr_pool_cleanup_register(r->pool, k, forget_subreq_record, apr_pool_cleanup_null);
}

/* The record of the sub-request whose configuration r was handed (fast redirect), or NULL. */
static clerk_req *fast_redirected_record(const request_rec *r)
{
    subreq_slot *slot = NULL;
    apr_pool_userdata_get((void **)&slot, SUBREQ_RECORD_KEY, r->pool);
    return slot && slot->rq && slot->rq->conf == r->per_dir_config ? slot->rq : NULL;
}

/* The request's record, created on first use; the client's headers are scrubbed then, before
 * anything reads them. */
static clerk_req *request_record(request_rec *r)
{
    clerk_req *rq = ap_get_module_config(r->request_config, &clerk_auth_module);
    if (!rq) {
        rq = apr_pcalloc(r->pool, sizeof(*rq));
        rq->conf = r->per_dir_config;
        ap_set_module_config(r->request_config, &clerk_auth_module, rq);
        scrub_reserved_headers(r);
        if (r->main)
            keep_for_main(r, rq);
    }
    return rq;
}

/* The record of the request httpd takes this one's authentication from (the request it was
 * redirected from, else the one it is a sub-request of, with the very same configuration:
 * httpd's own test for skipping authentication), or NULL. That request's headers were scrubbed
 * and carry its exports. */
static clerk_req *inherited_record(const request_rec *r)
{
    /* Followed back while the configuration stays the same: a link that never reached our
     * hooks (it failed early) has no record of its own. */
    for (const request_rec *e = r;;) {
        e = e->prev && e->prev->per_dir_config == e->per_dir_config   ? e->prev
            : e->main && e->main->per_dir_config == e->per_dir_config ? e->main
                                                                      : NULL;
        if (!e)
            return NULL;
        clerk_req *rq = ap_get_module_config(e->request_config, &clerk_auth_module);
        if (rq)
            return rq;
    }
}

/* The request's decision, made at most once per request_rec. */
static clerk_req *decide(request_rec *r, const clerk_resolved *rs)
{
    clerk_req *rq = request_record(r);
    if (rq->decided)
        return rq;
    rq->decided = 1;
    if (rs->preflight != CLERK_PREFLIGHT_AUTHENTICATE && is_cors_preflight(r)) {
        rq->preflight = 1;
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      CLERK_LOGNO(0008) "CORS preflight passed without a challenge");
        clerk_status_count_decision(1, 0, 0);
        return rq;
    }

    if (key_refusal(r, rs)) { /* nothing is verified with another instance's keys */
        rq->st.status = CLERK_SIGNED_OUT;
        rq->st.reason = CLERK_R_JWK_FAILED_TO_RESOLVE;
        return rq;
    }
    fill_request_facts(r, rs, &rq->facts);
    /* ClerkAcceptsToken: a machine token is decided by httpd_machine.c, the rest here. */
    if (clerk_machine_decide(r, rs->machine, rs->secret_key, rq->facts.authorization,
                             rq->facts.now_ms, &rq->st, &rq->machine)) {
        if (rq->st.status == CLERK_SIGNED_IN)
            rq->user = rq->machine->subject;
        else
            rq->machine = NULL;
        goto decided;
    }
    clerk_config cc = rs->core; /* shared settings; only the per-request fields differ */
    cc.cache = token_cache;
    cc.log_ctx = r;
    clerk_handshake_request_config(r, &cc);
    if (rs->remote && !rs->pem) { /* Clerk's order: a PEM key wins and nothing is fetched */
        remote_keys *rk = apr_palloc(r->pool, sizeof(*rk));
        rk->rs = rs;
        if (clerk_jwks_request_keys(r, rs->secret_key, rs->jwks_url, &rk->remote) == 0) {
            cc.keys.lookup = lookup_key_remote;
            cc.keys.ctx = rk;
        }
    }
    clerk_request_state(r->pool, &rq->facts, &cc, &rq->st);

    if (rq->st.status == CLERK_SIGNED_IN) {
        clerk_token *t = rq->st.token;
        clerk_user_claim_result why = CLERK_USER_CLAIM_OK;
        rq->user = user_from_token(r, t, rs->user_claim, &why);
        /* A token seen before gets its variables made once and kept; a first sighting (maybe the
         * only one) exports from its auth object directly, which costs less than keeping. */
        int usable;
        if (rq->st.token_cached || clerk_token_memo(t) || rs->pass_nested) {
            rq->exports = clerk_export_token_vars(r->pool, t);
            usable = rq->exports && rq->exports->ok;
        } else {
            usable = clerk_auth_from_claims(r->pool, t->jwt->payload, &rq->auth) == 0;
            rq->auth_made = usable;
        }
        if (!rq->user || !usable) {
            /* Nothing of the token may reach the application of a signed-out request. */
            rq->auth_made = 0;
            rq->exports = NULL;
            rq->st.status = CLERK_SIGNED_OUT;
            rq->st.reason = CLERK_R_TOKEN_VERIFICATION_FAILED;
            rq->st.message = rq->user ? "The session token's claims cannot be read."
                                      : apr_psprintf(r->pool,
                                                     "The session token's '%s' claim %s: it is "
                                                     "REMOTE_USER (ClerkUserClaim); add it to the "
                                                     "session token in Clerk.",
                                                     rs->user_claim, clerk_user_claim_problem(why));
            /* The core names the public URL only for its own signed-out decisions; the
             * sign-in redirect needs it for this one too. */
            rq->st.public_url = clerk_public_url(r->pool, &rq->facts.url);
        }
    }
decided:
    log_decision(r, rs, rq);
    clerk_status_count_decision(0, rq->st.status, rq->st.reason);

    if (rq->st.status == CLERK_SIGNED_IN) {
        r->user = (char *)rq->user;
        r->ap_auth_type = (char *)CLERK_AUTH_TYPE;
    } else {
        apr_table_setn(r->err_headers_out, "x-clerk-auth-status", status_name(rq->st.status));
        apr_table_setn(r->err_headers_out, "x-clerk-auth-reason", clerk_reason_str(rq->st.reason));
        if (rs->debug_headers && *rq->st.message)
            apr_table_setn(r->err_headers_out, "x-clerk-auth-message",
                           clerk_header_safe(r->pool, rq->st.message));
    }
    clerk_handshake_apply_headers(r, &rq->st);
    export_decision(r, rs, rq);
    return rq;
}

/* RFC 6750 §3: the realm always; error and error_description only when a token was sent. */
static void set_challenge(request_rec *r)
{
    const clerk_req *rq = ap_get_module_config(r->request_config, &clerk_auth_module);
    const char *realm = ap_auth_name(r);
    if (!realm)
        realm = r->hostname ? r->hostname : r->server->server_hostname;
    int described = rq && rq->decided && !rq->preflight && rq->st.status != CLERK_SIGNED_IN &&
                    rq->st.source != CLERK_SRC_NONE;
    const char *value =
        clerk_bearer_challenge(r->pool, realm, described ? clerk_reason_str(rq->st.reason) : NULL);
    apr_table_setn(r->err_headers_out, "WWW-Authenticate", value);
}

static int respond_signed_out(request_rec *r, const clerk_resolved *rs, const clerk_req *rq)
{
    switch (rs->action) {
    case ACTION_401:
        return HTTP_UNAUTHORIZED;
    case ACTION_403:
        return HTTP_FORBIDDEN;
    case ACTION_404:
        return HTTP_NOT_FOUND;
    default: /* auth, and pass when a Require needs a user */
        break;
    }
    /* No Location past the URL bounds of url.h (no public URL): the 401 below instead. */
    const char *loc = rs->sign_in_url && clerk_is_document_request(&rq->facts)
                          ? clerk_sign_in_location(r->pool, rs->sign_in_url, rq->st.public_url)
                          : NULL;
    if (loc) {
        apr_table_setn(r->headers_out, "Location", loc);
        apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
        return HTTP_TEMPORARY_REDIRECT;
    }
    set_challenge(r);
    return HTTP_UNAUTHORIZED;
}

/* ---- hooks --------------------------------------------------------------------------------- */

/* A key source that belongs to another instance, found only when a request merged the records
 * (an .htaccess, or sections the startup check does not pair): the request fails with 500,
 * never signed in, and says why. */
static int refuse_key_error(request_rec *r, const char *why)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, CLERK_LOGNO(1101) "refusing the request (500): %s",
                  why);
    return HTTP_INTERNAL_SERVER_ERROR;
}

/* Runs first among access checkers, before mod_authz_core decides whether authentication is
 * needed at all: headers are scrubbed on every Clerk request, and a `ClerkUnauthAction pass`
 * location decides here, because with `Require all granted` check_authn never runs. */
static int clerk_check_access(request_rec *r)
{
    if (!is_clerk_auth_type(r))
        return DECLINED;
    const clerk_resolved *rs = request_conf(r);
    const char *why = key_refusal(r, rs);
    if (why)
        return refuse_key_error(r, why);
    if (rs->action == ACTION_PASS) {
        /* A handshake (or a development handshake's clean-up) redirects pass pages too. */
        int rc = clerk_handshake_response(r, &decide(r, rs)->st);
        if (rc != DECLINED)
            return rc;
    } else
        request_record(r);
    return DECLINED;
}

/* ClerkScrubHeaders On: the client's look-alikes of our exports are removed from every request
 * of the server as soon as it is read, whatever section it lands in, so a back end that an
 * `AuthType Clerk` section feeds X-Remote-User / X-Clerk-* cannot be fed them by a sibling
 * section that does no authentication. The per-directory record at this point is the server's
 * own, where the directive lives. Internal redirects and sub-requests carry the original's
 * (already scrubbed) headers, and our exports. */
static int clerk_post_read_request(request_rec *r)
{
    if (r->main || r->prev || !request_conf(r)->scrub_all)
        return DECLINED;
    scrub_reserved_headers(r);
    return DECLINED;
}

/* Scrubs a Clerk request's headers as soon as its per-directory configuration is known, before
 * any header_parser (a per-directory SetEnvIf) reads them, or adopts the record of the request
 * httpd will take the user from. */
static int clerk_post_perdir_config(request_rec *r)
{
    if (!is_clerk_auth_type(r))
        return DECLINED;
    clerk_req *rq = inherited_record(r); /* httpd will skip authentication: adopt its decision */
    if (rq)
        ap_set_module_config(r->request_config, &clerk_auth_module, rq);
    else
        request_record(r);
    return DECLINED;
}

/* httpd skips authentication after an internal redirect to the same configuration (a
 * per-directory RewriteRule to a front controller, ErrorDocument) and renames the variables to
 * REDIRECT_*: the decision already made is exported again under its own names. Headers need
 * nothing: the redirected request shares the original's (a sub-request copies them). */
static int clerk_fixups(request_rec *r)
{
    if (!r->prev || !is_clerk_auth_type(r))
        return DECLINED;
    clerk_req *rq = ap_get_module_config(r->request_config, &clerk_auth_module);
    if (!rq || rq != inherited_record(r))
        return DECLINED;
    const clerk_resolved *rs = request_conf(r);
    if (rq->decided && (rs->pass_as & PASS_ENV)) {
        clerk_resolved env_only = *rs;
        env_only.pass_as = PASS_ENV;
        export_decision(r, &env_only, rq);
    }
    return DECLINED;
}

static int clerk_check_authn(request_rec *r);

/* Removes every CLERK_* variable from env. */
static void drop_clerk_vars(apr_pool_t *p, apr_table_t *env)
{
    const apr_array_header_t *h = apr_table_elts(env);
    const apr_table_entry_t *e = (const apr_table_entry_t *)h->elts;
    apr_array_header_t *drop = apr_array_make(p, 8, sizeof(const char *));
    for (int i = 0; i < h->nelts; i++)
        if (e[i].key && strncasecmp(e[i].key, "CLERK_", 6) == 0)
            APR_ARRAY_PUSH(drop, const char *) = e[i].key;
    for (int i = 0; i < drop->nelts; i++)
        apr_table_unset(env, APR_ARRAY_IDX(drop, i, const char *));
}

/* A request whose configuration changed to a Clerk one after its record was made (or without
 * one): ap_internal_fast_redirect (DirectoryIndex, FallbackResource, MultiViews) hands a
 * sub-request's configuration to the main request but not its user, its record or its scrubbed
 * headers. The sub-request's record is adopted when it is at hand; otherwise the request is
 * decided here as any other would be (the sub-request was authorized with the same headers). */
static int clerk_fixups_switched(request_rec *r)
{
    if (!is_clerk_auth_type(r))
        return DECLINED;
    clerk_req *rq = ap_get_module_config(r->request_config, &clerk_auth_module);
    if (rq && rq->conf == r->per_dir_config)
        return DECLINED;
    const clerk_resolved *rs = request_conf(r);
    if (clerk_preflight_mode(r) == CLERK_PREFLIGHT_RESPOND ||
        clerk_preflight_mode(r) == CLERK_PREFLIGHT_HANDLER) {
        /* The look-up sub-request was a GET and may have been signed in by a token the
         * client added: the preflight itself is decided as one, with no user, and the
         * sub-request's variables (handed over with its environment) are dropped. */
        ap_set_module_config(r->request_config, &clerk_auth_module, NULL);
        r->user = NULL;
        r->ap_auth_type = NULL;
        drop_clerk_vars(r->pool, r->subprocess_env);
        decide(r, rs);
        return OK;
    }
    if ((rq = fast_redirected_record(r)) != NULL) {
        /* The sub-request's decision, made under this very configuration: adopted, not made
         * again (a handshake nonce is exchanged once). Its exports went into its own copy of
         * the headers, so they are made again into the main request's, scrubbed first. */
        ap_set_module_config(r->request_config, &clerk_auth_module, rq);
        scrub_reserved_headers(r);
        if (rq->decided && !rq->preflight && rq->st.status == CLERK_SIGNED_IN) {
            r->user = (char *)rq->user;
            r->ap_auth_type = (char *)CLERK_AUTH_TYPE;
        }
        if (rq->decided)
            export_decision(r, rs, rq);
        return OK;
    }
    ap_set_module_config(r->request_config, &clerk_auth_module, NULL);
    if (rs->action == ACTION_PASS) { /* as clerk_check_access */
        int rc = clerk_handshake_response(r, &decide(r, rs)->st);
        return rc == DECLINED ? OK : rc;
    }
    /* This runs the access checkers (clerk_check_access records and scrubs); when the rules
     * need no user, that is all a request here gets. */
    if (!ap_some_authn_required(r)) {
        request_record(r);
        return OK;
    }
    int rc = clerk_check_authn(r);
    return rc == DECLINED ? OK : rc;
}

/* Returns OK with r->user set for a signed-in request, the configured status for a signed-out
 * one, DECLINED for any AuthType but Clerk. */
static int clerk_check_authn(request_rec *r)
{
    if (!is_clerk_auth_type(r))
        return DECLINED;
    const clerk_resolved *rs = request_conf(r);
    const char *why = key_refusal(r, rs);
    if (why)
        return refuse_key_error(r, why);
    const clerk_req *rq = decide(r, rs);

    /* A preflight never needs a user: clerk_preflight_access let it through unless a rule that
     * needs none denied it. Reaching here means something forced authentication anyway; it
     * must not go on without a user, nor with one. */
    if (rq->preflight)
        return HTTP_FORBIDDEN;
    /* A handshake (@clerk/backend tokens/handshake.ts buildRedirectToHandshake), or a development
     * handshake's clean-up whatever its outcome (resolveHandshake, same file): a 307 with the
     * decision's headers. */
    if (rq->st.location)
        return clerk_handshake_response(r, &rq->st);
    if (rq->st.status == CLERK_SIGNED_IN)
        return OK;
    return respond_signed_out(r, rs, rq);
}

int clerk_preflight_mode(request_rec *r)
{
    if (!is_clerk_auth_type(r) || !is_cors_preflight(r))
        return 0;
    return request_conf(r)->preflight;
}

int clerk_preflight_decide(request_rec *r)
{
    int mode = clerk_preflight_mode(r);
    if (mode == CLERK_PREFLIGHT_RESPOND || mode == CLERK_PREFLIGHT_HANDLER)
        decide(r, request_conf(r));
    return mode;
}

const char *clerk_request_signed_in_by(request_rec *r)
{
    const clerk_req *rq = ap_get_module_config(r->request_config, &clerk_auth_module);
    if (!rq || !rq->decided || rq->preflight || rq->st.status != CLERK_SIGNED_IN)
        return NULL;
    return rq->st.source == CLERK_SRC_HEADER ? "Authorization" : "Cookie";
}

int clerk_request_identity(request_rec *r, clerk_identity *id)
{
    clerk_req *rq = ap_get_module_config(r->request_config, &clerk_auth_module);
    if (!rq || !rq->decided)
        return CLERK_IDENTITY_NONE;
    if (rq->preflight)
        return CLERK_IDENTITY_PREFLIGHT;
    if (rq->st.status != CLERK_SIGNED_IN)
        return CLERK_IDENTITY_NONE;
    if (rq->machine)
        return CLERK_IDENTITY_MACHINE;
    /* Made only when a Require line asks: Require valid-user never pays for it. The decision
     * already checked that it can be made (clerk_token_exports.ok). */
    if (!rq->auth_made) {
        if (clerk_auth_from_claims(r->pool, rq->st.token->jwt->payload, &rq->auth) != 0)
            return CLERK_IDENTITY_NONE;
        rq->auth_made = 1;
    }
    id->auth = &rq->auth;
    id->payload = rq->st.token->jwt->payload;
    id->now_ms = rq->facts.now_ms;
    return CLERK_IDENTITY_SIGNED_IN;
}

const clerk_machine *clerk_request_machine(request_rec *r)
{
    const clerk_req *rq = ap_get_module_config(r->request_config, &clerk_auth_module);
    return rq && rq->decided && !rq->preflight && rq->st.status == CLERK_SIGNED_IN ? rq->machine
                                                                                   : NULL;
}

/* mod_authz_core asks for our challenge when it denies with 401. */
static int clerk_note_auth_failure(request_rec *r, const char *auth_type)
{
    if (strcasecmp(auth_type, CLERK_AUTH_TYPE) != 0)
        return DECLINED;
    set_challenge(r);
    return OK;
}

/* ---- startup ------------------------------------------------------------------------------- */

static int is_key_source_directive(const char *name)
{
    static const char *const names[] = {"ClerkJWTKey", "ClerkJWKSFile", "ClerkSecretKey",
                                        "ClerkSecretKeyFile", "ClerkJWKSURL"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(name, names[i]) == 0)
            return 1;
    return 0;
}

/* A module named as in <IfModule>: "mod_x.c" or "x_module". */
static int module_is_loaded(const char *name)
{
    size_t n = strlen(name);
    if (n > 2 && strcmp(name + n - 2, ".c") == 0)
        return ap_find_linked_module(name) != NULL;
    for (module *m = ap_top_module; m; m = m->next) {
        const char *shortname = ap_find_module_short_name(m->module_index);
        size_t sn = shortname ? strlen(shortname) : 0;
        if (shortname && n == sn + 7 && strncmp(name, shortname, sn) == 0 &&
            strcmp(name + sn, "_module") == 0)
            return 1;
    }
    return 0;
}

/* Whether a section's children take effect: <IfDefine> and <IfModule> are evaluated as httpd
 * did; every other section (including <If>, decided per request) counts as active. */
static int section_is_active(apr_pool_t *p, const ap_directive_t *d)
{
    int define = strcasecmp(d->directive, "<IfDefine") == 0;
    if (!define && strcasecmp(d->directive, "<IfModule") != 0)
        return 1;
    const char *args = d->args;
    char *word = ap_getword_conf(p, &args);
    size_t n = strlen(word);
    if (n && word[n - 1] == '>')
        word[--n] = '\0';
    int negate = word[0] == '!';
    const char *name = word + negate;
    int present = define ? ap_exists_config_define(name) : module_is_loaded(name);
    return negate ? !present : present;
}

int clerk_config_section_active(apr_pool_t *p, const ap_directive_t *d)
{
    return section_is_active(p, d);
}

typedef struct tree_scan {
    apr_pool_t *p;
    int main_keys;
    int any_keys;
    apr_hash_t *vhost_keys;   /* ap_directive_t * of a <VirtualHost> -> "" */
    apr_array_header_t *uses; /* AuthType Clerk: struct clerk_use */
} tree_scan;

typedef struct clerk_use {
    const ap_directive_t *authtype;
    const ap_directive_t *vhost; /* NULL: main server */
} clerk_use;

static void scan_tree(tree_scan *s, const ap_directive_t *d, const ap_directive_t *vhost)
{
    for (; d; d = d->next) {
        if (d->first_child) {
            if (strcasecmp(d->directive, "<VirtualHost") == 0)
                scan_tree(s, d->first_child, d);
            else if (section_is_active(s->p, d))
                scan_tree(s, d->first_child, vhost);
            continue;
        }
        if (is_key_source_directive(d->directive)) {
            s->any_keys = 1;
            if (vhost)
                /* apr_hash keeps the key pointer: give it a copy that outlives this frame. */
                apr_hash_set(s->vhost_keys, apr_pmemdup(s->p, &vhost, sizeof(vhost)), sizeof(vhost),
                             "");
            else
                s->main_keys = 1;
        } else if (strcasecmp(d->directive, "AuthType") == 0) {
            const char *args = d->args;
            if (strcasecmp(ap_getword_conf(s->p, &args), CLERK_AUTH_TYPE) == 0) {
                clerk_use *u = apr_array_push(s->uses);
                u->authtype = d;
                u->vhost = vhost;
            }
        }
    }
}

/* Key sources that would serve another instance, found at startup: each server's record, each
 * section (and the <Files>/<If> inside it) merged over it as a request merges them, and each
 * pair of sections of one kind whose paths may both apply to a request (one a prefix of the
 * other, or a pattern). A pair of a <Directory> and a <Location>, and .htaccess, are judged per
 * request (refuse_key_error). Each message once. Only this module's records are merged, with
 * its own merge function: the other modules' records decide nothing here, and merging all of
 * them for every pair cost hundreds of MB with a thousand <LocationMatch> sections. */
typedef struct origin_check {
    apr_pool_t *p;
    apr_hash_t *seen;
    server_rec *s; /* the server whose records are checked */
    int bad;
} origin_check;

static const clerk_dir_conf *clerk_conf_of(ap_conf_vector_t *v)
{
    return v ? ap_get_module_config(v, &clerk_auth_module) : NULL;
}

/* base with add merged over it, as httpd merges them for a request (either may be NULL). */
static const clerk_dir_conf *origin_merge(origin_check *oc, const clerk_dir_conf *base,
                                          const clerk_dir_conf *add)
{
    if (!base || !add)
        return base ? base : add;
    return merge_dir_conf(oc->p, (void *)base, (void *)add);
}

static void origin_report(origin_check *oc, const clerk_dir_conf *d)
{
    const clerk_resolved *rs = !d ? NULL : d->res ? d->res : resolve_dir_conf(oc->p, d);
    const char *e = !rs ? NULL : rs->key_error ? rs->key_error : key_api_error(oc->p, rs, oc->s);
    if (!e || apr_hash_get(oc->seen, e, APR_HASH_KEY_STRING))
        return;
    apr_hash_set(oc->seen, e, APR_HASH_KEY_STRING, "");
    ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, NULL, CLERK_LOGNO(1100) "%s", e);
    oc->bad = 1;
}

static void origin_sections(origin_check *oc, const clerk_dir_conf *base,
                            const apr_array_header_t *secs)
{
    for (int i = 0; secs && i < secs->nelts; i++) {
        ap_conf_vector_t *v = APR_ARRAY_IDX(secs, i, ap_conf_vector_t *);
        const clerk_dir_conf *m = origin_merge(oc, base, clerk_conf_of(v));
        origin_report(oc, m);
        const core_dir_config *cd = ap_get_core_module_config(v);
        if (cd) {
            origin_sections(oc, m, cd->sec_file);
            origin_sections(oc, m, cd->sec_if);
        }
    }
}

/* Whether two sections of one kind may both apply to a request. */
static int sections_may_nest(const core_dir_config *a, const core_dir_config *b)
{
    if (!a || !b || !a->d || !b->d || a->r || b->r || a->d_is_fnmatch || b->d_is_fnmatch)
        return 1;
    size_t na = strlen(a->d), nb = strlen(b->d);
    return strncmp(a->d, b->d, na < nb ? na : nb) == 0;
}

/* A pair (earlier section a, later b) can be wrong where neither alone is (origin_sections
 * judged those) only when a names a key source and b does not but sets a publishable key: if b
 * names its own key source it wins with b's publishable key; if a names none, the pair keeps
 * the key source and publishable key of base merged with b alone. So only those pairs are
 * merged, and only when b's publishable key is not already the one in force at a's key
 * source: the cost is one merge per section that names a key source plus a comparison per
 * such pair (no allocation), and at most one more merge per section that sets only a
 * publishable key. */
static void origin_pairs(origin_check *oc, const clerk_dir_conf *base,
                         const apr_array_header_t *secs)
{
    apr_array_header_t *srcs = NULL; /* merged over base: the sections naming a key source */
    apr_array_header_t *srcv = NULL; /* their core records, for sections_may_nest */
    for (int j = 0; secs && j < secs->nelts; j++) {
        ap_conf_vector_t *vj = APR_ARRAY_IDX(secs, j, ap_conf_vector_t *);
        const clerk_dir_conf *dj = clerk_conf_of(vj);
        if (!dj)
            continue;
        const core_dir_config *cj = ap_get_core_module_config(vj);
        if (has_key_source(dj)) {
            if (!srcs) {
                srcs = apr_array_make(oc->p, 4, sizeof(const clerk_dir_conf *));
                srcv = apr_array_make(oc->p, 4, sizeof(const core_dir_config *));
            }
            APR_ARRAY_PUSH(srcs, const clerk_dir_conf *) = origin_merge(oc, base, dj);
            APR_ARRAY_PUSH(srcv, const core_dir_config *) = cj;
            continue;
        }
        if (!dj->pk || !srcs)
            continue;
        for (int i = 0; i < srcs->nelts; i++) {
            const clerk_dir_conf *mi = APR_ARRAY_IDX(srcs, i, const clerk_dir_conf *);
            if (same_pk(dj->pk, mi->origin_known ? mi->origin_pk : mi->pk) ||
                !sections_may_nest(APR_ARRAY_IDX(srcv, i, const core_dir_config *), cj))
                continue;
            /* A publishable key other than the one in force at the key source is always
             * refused: one message names b, and no more pairs of it are merged. */
            origin_report(oc, origin_merge(oc, mi, dj));
            break;
        }
    }
}

static int check_key_origins(apr_pool_t *ptemp, server_rec *s)
{
    origin_check oc = {ptemp, apr_hash_make(ptemp), NULL, 0};
    for (server_rec *sv = s; sv; sv = sv->next) {
        oc.s = sv;
        const clerk_dir_conf *base = clerk_conf_of(sv->lookup_defaults);
        origin_report(&oc, base);
        const core_dir_config *bd = ap_get_core_module_config(sv->lookup_defaults);
        if (bd) {
            origin_sections(&oc, base, bd->sec_file);
            origin_sections(&oc, base, bd->sec_if);
        }
        const core_server_config *sc = ap_get_core_module_config(sv->module_config);
        if (sc) {
            origin_sections(&oc, base, sc->sec_dir);
            origin_sections(&oc, base, sc->sec_url);
            origin_pairs(&oc, base, sc->sec_dir);
            origin_pairs(&oc, base, sc->sec_url);
        }
    }
    return oc.bad;
}

/* docs/design.md#configuration-errors: `AuthType Clerk` where no key source is configured anywhere
 * in its server could never sign anyone in; refuse to start (check_config also runs for `apachectl
 * configtest`). A main-server AuthType is satisfied by a key source in the main server or in any
 * virtual host (they inherit its sections); a virtual host's by its own or the main server's. */
static int clerk_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    tree_scan scan = {ptemp, 0, 0, apr_hash_make(ptemp),
                      apr_array_make(ptemp, 4, sizeof(clerk_use))};
    int bad = 0;

    scan_tree(&scan, ap_conftree, NULL);
    for (int i = 0; i < scan.uses->nelts; i++) {
        const clerk_use *u = &APR_ARRAY_IDX(scan.uses, i, clerk_use);
        int ok = u->vhost ? scan.main_keys ||
                                apr_hash_get(scan.vhost_keys, &u->vhost, sizeof(u->vhost)) != NULL
                          : scan.any_keys;
        if (ok)
            continue;
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, NULL,
                     CLERK_LOGNO(0009) "AuthType Clerk on line %d of %s has no key source in "
                                       "its %s: set ClerkJWTKey, ClerkJWKSFile, ClerkSecretKey, "
                                       "ClerkSecretKeyFile or ClerkJWKSURL",
                     u->authtype->line_num, u->authtype->filename,
                     u->vhost ? "virtual host" : "server");
        bad = 1;
    }
    if (check_key_origins(ptemp, s))
        bad = 1;
    return bad ? HTTP_INTERNAL_SERVER_ERROR : OK;
}

/* Resolves the records of sections (and of <If> inside them), so merge_dir_conf can hand a
 * request a section's record as it is. Runs once per configuration, before any request. */
static void resolve_sections(apr_pool_t *p, const apr_array_header_t *secs)
{
    for (int i = 0; secs && i < secs->nelts; i++) {
        ap_conf_vector_t *v = APR_ARRAY_IDX(secs, i, ap_conf_vector_t *);
        clerk_dir_conf *d = ap_get_module_config(v, &clerk_auth_module);
        if (d && !d->res)
            d->res = resolve_dir_conf(p, d);
        const core_dir_config *cd = ap_get_core_module_config(v);
        if (cd) {
            resolve_sections(p, cd->sec_file);
            resolve_sections(p, cd->sec_if);
        }
    }
}

/* Resolves every server's base record (vhosts' are merges, already resolved; the main
 * server's is raw), so requests that match no section read a ready clerk_config too, and every
 * section's record. */
static int clerk_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    for (server_rec *sv = s; sv; sv = sv->next) {
        clerk_dir_conf *d = ap_get_module_config(sv->lookup_defaults, &clerk_auth_module);
        if (d)
            d->res = resolve_dir_conf(pconf, d);
        const core_server_config *sc = ap_get_core_module_config(sv->module_config);
        if (sc) {
            resolve_sections(pconf, sc->sec_dir);
            resolve_sections(pconf, sc->sec_url);
        }
    }
    return OK;
}

static apr_status_t token_cache_cleanup(void *unused)
{
    clerk_token_cache_destroy(token_cache);
    token_cache = NULL;
    return APR_SUCCESS;
}

const struct clerk_token_cache *clerk_token_cache_current(void)
{
    return token_cache;
}

/* Each process gets its own verified-token cache (created after fork, so no lock is shared). */
static void clerk_child_init(apr_pool_t *pchild, server_rec *s)
{
    token_cache = clerk_token_cache_create(TOKEN_CACHE_ENTRIES);
    if (!token_cache) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     CLERK_LOGNO(0010) "cannot create the verified-token cache; every token "
                                       "will be verified in full");
        return;
    }
    clerk_token_cache_set_counter(token_cache, clerk_status_count_cache);
    apr_pool_cleanup_register(pchild, NULL, token_cache_cleanup, apr_pool_cleanup_null);
}

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
    create_dir_conf,          /* per-directory config creator */
    merge_dir_conf,           /* per-directory merger */
    clerk_create_server_conf, /* server config creator */
    clerk_merge_server_conf,  /* server merger */
    clerk_cmds,               /* command table */
    register_hooks,           /* hook registration */
    AP_MODULE_FLAG_NONE};
