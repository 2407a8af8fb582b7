/* Startup: the checks that refuse a configuration which could never sign anyone in, or would
 * verify one instance's tokens with another's keys (check_config, so `apachectl configtest`
 * reports them), every record resolved once before any request (post_config), and each
 * process's verified-token cache (child_init). */
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "util_cfgtree.h"

#include "httpd_config.h"
#include "httpd_logno.h"
#include "httpd_startup.h"
#include "httpd_status.h"

#include "token_cache.h"

APLOG_USE_MODULE(clerk_auth);

#define TOKEN_CACHE_ENTRIES 4096

/* Per process: verified tokens (created in child_init). */
static clerk_token_cache *token_cache;

static int is_key_source_directive(const char *name)
{
    static const char *const names[] = {"ClerkJWTKey", "ClerkJWKSFile", "ClerkSecretKey",
                                        "ClerkSecretKeyFile", "ClerkJWKSURL"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(name, names[i]) == 0)
            return 1;
    return 0;
}

/* The one walk over the configuration tree that the startup checks share (the AuthType Clerk
 * check here, mod_cache's quick handler in httpd_private.c, the status page's key files). */
static void walk(const ap_directive_t *d, const ap_directive_t *vhost, clerk_directive_fn *visit,
                 void *ctx)
{
    for (; d; d = d->next) {
        if (d->first_child)
            walk(d->first_child, strcasecmp(d->directive, "<VirtualHost") == 0 ? d : vhost, visit,
                 ctx);
        else
            visit(ctx, d, vhost);
    }
}

void clerk_config_walk(clerk_directive_fn *visit, void *ctx)
{
    walk(ap_conftree, NULL, visit, ctx);
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

static void scan_directive(void *ctx, const ap_directive_t *d, const ap_directive_t *vhost)
{
    tree_scan *s = ctx;
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

/* base with add merged over it, as httpd merges them for a request (either may be NULL). */
static const clerk_dir_conf *origin_merge(origin_check *oc, const clerk_dir_conf *base,
                                          const clerk_dir_conf *add)
{
    if (!base || !add)
        return base ? base : add;
    return clerk_merge_dir_conf(oc->p, (void *)base, (void *)add);
}

static void origin_report(origin_check *oc, const clerk_dir_conf *d)
{
    const clerk_resolved *rs = !d ? NULL : d->res ? d->res : clerk_resolve_dir_conf(oc->p, d);
    const char *e = !rs             ? NULL
                    : rs->key_error ? rs->key_error
                                    : clerk_key_api_error(oc->p, rs, oc->s);
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
        if (clerk_has_key_source(dj)) {
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
            if (clerk_same_pk(dj->pk, mi->origin_known ? mi->origin_pk : mi->pk) ||
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
int clerk_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    tree_scan scan = {ptemp, 0, 0, apr_hash_make(ptemp),
                      apr_array_make(ptemp, 4, sizeof(clerk_use))};
    int bad = 0;

    clerk_config_walk(scan_directive, &scan);
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

/* Resolves the records of sections (and of <If> inside them), so clerk_merge_dir_conf can hand a
 * request a section's record as it is. Runs once per configuration, before any request. */
static void resolve_sections(apr_pool_t *p, const apr_array_header_t *secs)
{
    for (int i = 0; secs && i < secs->nelts; i++) {
        ap_conf_vector_t *v = APR_ARRAY_IDX(secs, i, ap_conf_vector_t *);
        clerk_dir_conf *d = ap_get_module_config(v, &clerk_auth_module);
        if (d && !d->res)
            d->res = clerk_resolve_dir_conf(p, d);
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
int clerk_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    for (server_rec *sv = s; sv; sv = sv->next) {
        clerk_dir_conf *d = ap_get_module_config(sv->lookup_defaults, &clerk_auth_module);
        if (d)
            d->res = clerk_resolve_dir_conf(pconf, d);
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

clerk_token_cache *clerk_token_cache_current(void)
{
    return token_cache;
}

/* Each process gets its own verified-token cache (created after fork, so no lock is shared). */
void clerk_child_init(apr_pool_t *pchild, server_rec *s)
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
