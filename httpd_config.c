/* The per-directory configuration: the raw record the directives write (httpd_directives.c),
 * how httpd merges records for a section, nested section or .htaccess, and the resolved record a
 * request reads, with every default applied and the core's clerk_config made once. The key
 * source is inherited as one group with the instance (publishable key) and server it was set
 * for, so a request never verifies with another instance's keys. */
#include <string.h>

#include <apr_strings.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "httpd_config.h"
#include "httpd_fapi_proxy.h"
#include "httpd_jwks.h"
#include "httpd_logno.h"
#include "httpd_multidomain.h"
#include "httpd_machine.h"
#include "httpd_preflight.h"

#include "jws.h"
#include "jwt.h"
#include "url.h"

APLOG_USE_MODULE(clerk_auth);

/* Defaults, resolved in one place (clerk_resolve_dir_conf). */
#define DEFAULT_CLOCK_SKEW_S 5
#define DEFAULT_USER_CLAIM   "sub"

/* ---- configuration records ---------------------------------------------------------------- */

void *clerk_create_dir_conf(apr_pool_t *p, char *dir)
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

static void core_log(void *ctx, int level, const char *msg);

/* The key-source group: PEM, JWKS file, JWKS URL, secret key (its file too), machine secret
 * key (its file too): the machine key is an instance's secret like the others, so it is tied to
 * the same publishable key and server. */
int clerk_has_key_source(const clerk_dir_conf *d)
{
    return d->pem_keys || d->jwks_keys || d->jwks_url || d->secret_key ||
           clerk_machine_secret_key(d->machine);
}

int clerk_same_pk(const clerk_publishable_key *a, const clerk_publishable_key *b)
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
    if (!clerk_same_pk(d->pk, d->origin_pk))
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
 * secret key. The machine secret key goes the same way (it is a member of the group, so
 * key_server is where it was set), also where no ClerkSecretKey is. */
const char *clerk_key_api_error(apr_pool_t *p, const clerk_resolved *rs, server_rec *s)
{
    if ((!rs->secret_key && !clerk_machine_secret_key(rs->machine)) || !rs->key_server ||
        rs->key_server == s)
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
const char *clerk_key_refusal(request_rec *r, const clerk_resolved *rs)
{
    return rs->key_error ? rs->key_error : clerk_key_api_error(r->pool, rs, r->server);
}

const clerk_resolved *clerk_resolve_dir_conf(apr_pool_t *p, const clerk_dir_conf *d)
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
    c->keys = clerk_key_chain_source(&rs->keys);
    c->user_claim = d->user_claim ? d->user_claim : DEFAULT_USER_CLAIM;
    c->log = core_log;
    c->handshake_off = d->handshake == 0;
    c->frontend_api = d->frontend_api;
    c->secret_key = d->secret_key;

    rs->keys.pem = d->pem_keys;
    rs->keys.jwks = d->jwks_keys;
    rs->keys.remote_configured = d->secret_key != NULL || d->jwks_url != NULL;
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
    rs->preflight = d->preflight ? d->preflight : CLERK_PREFLIGHT_RESPOND;
    rs->scrub_all = d->scrub_all == 1;
    rs->machine = d->machine;
    rs->key_error = key_origin_error(p, d);
    /* An inconsistent multi-domain section is refused the same way: reported at startup with
     * the key-source errors, never served. */
    clerk_multidomain_apply(d->md, d->sign_in_url, c);
    if (!rs->key_error)
        rs->key_error = clerk_multidomain_error(p, d->md, d->pk, d->sign_in_url, d->frontend_api);
    rs->keys_at = d->keys_at;
    rs->key_server = d->key_server;
    return rs;
}

#define INHERIT(field, unset) m->field = (add->field != (unset)) ? add->field : base->field

void *clerk_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
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
     * clerk_key_api_error). */
    const clerk_dir_conf *keys = clerk_has_key_source(add) ? add : base;
    m->pem_keys = keys->pem_keys;
    m->jwks_keys = keys->jwks_keys;
    m->jwks_url = keys->jwks_url;
    m->secret_key = keys->secret_key;
    m->keys_at = keys->keys_at;
    m->key_server = keys->key_server;
    if (clerk_has_key_source(keys)) {
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
    m->md = clerk_multidomain_merge(p, base->md, add->md);
    INHERIT(handshake, -1);
    INHERIT(preflight, 0);
    INHERIT(scrub_all, -1);
    INHERIT(fapi_proxy, NULL);
    m->machine = clerk_machine_with_key(p, clerk_machine_merge(p, base->machine, add->machine),
                                        clerk_machine_secret_key(keys->machine));
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
    m->res = clerk_resolve_dir_conf(p, m);
    return m;
}

#undef INHERIT

/* ---- directive handlers ------------------------------------------------------------------- */

void clerk_server_instance_get(apr_pool_t *p, server_rec *s, clerk_server_instance *out)
{
    const clerk_dir_conf *d = clerk_conf_of(s->lookup_defaults);
    memset(out, 0, sizeof(*out));
    if (!d)
        return;
    out->pk = d->pk;
    out->secret_key = d->secret_key;
    out->trust_forwarded = d->trust_forwarded == 1;
    out->key_error = key_origin_error(p, d);
    out->fapi_proxy = d->fapi_proxy;
}

int clerk_dir_remote_source(const void *dconf, const char **secret_key, const char **jwks_url)
{
    const clerk_dir_conf *d = dconf;
    *secret_key = d ? d->secret_key : NULL;
    *jwks_url = d ? d->jwks_url : NULL;
    if (!d)
        return 0;
    const clerk_key_chain kc = {d->pem_keys, d->jwks_keys, d->secret_key || d->jwks_url, {0}};
    return clerk_key_chain_needs_remote(&kc);
}

/* ---- logging ------------------------------------------------------------------------------- */

static void core_log(void *ctx, int level, const char *msg)
{
    request_rec *r = ctx;
    int lvl = clerk_aplog_level(level);
    if (r)
        ap_log_rerror(APLOG_MARK, lvl, 0, r, CLERK_LOGNO(0001) "%s", msg);
    else
        ap_log_error(APLOG_MARK, lvl, 0, NULL, CLERK_LOGNO(0001) "%s", msg);
}

const clerk_resolved *clerk_request_conf(request_rec *r)
{
    const clerk_dir_conf *d = ap_get_module_config(r->per_dir_config, &clerk_auth_module);
    return d->res ? d->res : clerk_resolve_dir_conf(r->pool, d);
}

const clerk_dir_conf *clerk_conf_of(ap_conf_vector_t *v)
{
    return v ? ap_get_module_config(v, &clerk_auth_module) : NULL;
}
