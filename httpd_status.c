/* `SetHandler clerk-status` (docs/design.md#operations): a JSON page with the numbers an operator
 * needs to see the module is healthy: verifications by outcome and reason and authorization results
 * (shared by every process, since the parent started), the verified-token cache of the answering
 * process, and every key source with its age.
 *
 * The shared counters live in one anonymous shared-memory segment the parent creates once (kept
 * in the process pool, so graceful restarts keep counting) and every child inherits by fork.
 * The request path only does relaxed atomic adds on it: no lock, no system call. The counters
 * are striped by CPU and the page sums the stripes, so requests on different cores do not all
 * write one cache line. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_getcpu */
#endif
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

/* Our version, taken before httpd's headers define their own PACKAGE_* macros. */
#include "config.h"
static const char module_version[] = PACKAGE_VERSION;
#undef PACKAGE_BUGREPORT
#undef PACKAGE_NAME
#undef PACKAGE_STRING
#undef PACKAGE_TARNAME
#undef PACKAGE_URL
#undef PACKAGE_VERSION

#include <apr_shm.h>
#include <apr_strings.h>
#include <jansson.h>

#include "ap_mpm.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "ap_mpm.h"
#include "http_request.h"
#include "util_cfgtree.h"

#include "httpd_jwks.h"
#include "httpd_logno.h"
#include "httpd_startup.h"
#include "httpd_status.h"
#include "jwks_remote.h"
#include "reason.h"
#include "request_state.h"
#include "machine_token.h"
#include "token_cache.h"

APLOG_USE_MODULE(clerk_auth);

#define STATUS_HANDLER "clerk-status"
/* The name the specification gives the handler; both serve the same page. httpd lower-cases
 * SetHandler arguments, hence the case-blind comparison. */
#define STATUS_HANDLER_ALIAS "ClerkStatus"
/* The layout version is in the name too: a graceful restart into a newer module gets a segment
 * of its own layout instead of reading the old one. */
#define SHM_USERDATA "clerk_auth_status_shm4"
#define SHM_MAGIC    0x636c65726b737434ULL /* "clerkst4": layout version */
#define STRIPES      16

/* One stripe of the counters. Only ever added to; readers may see a sum mid-update, never a
 * torn word (64-bit atomics). */
typedef struct counters {
    uint64_t outcome[3]; /* by clerk_status: signed-in, signed-out, handshake */
    uint64_t preflight;
    uint64_t reason[CLERK_R__COUNT];
    uint64_t authz[3];        /* by clerk_status_authz_result */
    uint64_t cache[2];        /* verified-token cache look-ups: miss, hit */
    uint64_t key_fetch[2][2]; /* by CLERK_KEY_FETCH_* source, then failed/ok */
    /* Machine tokens (httpd_machine.c): decisions by type (0: none verified, then api_key,
     * m2m_token, oauth_token) and refused/signed-in; Backend API calls failed/ok; shared-cache
     * look-ups miss/hit. */
    uint64_t machine[4][2];
    uint64_t machine_call[2];
    uint64_t machine_cache[2];
} counters;

/* Padded to whole lines so two stripes never share one. */
typedef union padded_counters {
    counters c;
    char pad[(sizeof(counters) + 63) / 64 * 64];
} padded_counters;

typedef struct status_shared {
    uint64_t magic;
    int64_t started_at_s; /* when the parent created the segment */
    char pad[48];         /* stripes start on a line of their own */
    padded_counters stripe[STRIPES];
} status_shared;

static status_shared *shared;       /* NULL when the segment could not be made: counting is off */
static int64_t generation_loaded_s; /* when this configuration was loaded */
static apr_array_header_t *local_sources; /* struct local_source: ClerkJWTKey / ClerkJWKSFile */

typedef struct local_source {
    const char *kind;  /* "pem" or "jwks-file" */
    const char *file;  /* the file read, or NULL for PEM text in the configuration */
    const char *where; /* "<config file>:<line>" */
} local_source;

static void add(uint64_t *counter)
{
    __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

/* The stripe of the CPU the thread runs on (glibc reads it from rseq: no system call), so
 * requests on different cores add to different lines; a thread moved between the read and the
 * add only shares a line for that one add. */
static counters *mine(void)
{
    int cpu = sched_getcpu();
    return &shared->stripe[cpu >= 0 ? cpu % STRIPES : 0].c;
}

/* A counter summed over the stripes; offset of the counter within struct counters. */
static json_int_t load(size_t offset)
{
    uint64_t sum = 0;
    for (int i = 0; i < STRIPES; i++)
        sum += __atomic_load_n((const uint64_t *)((const char *)&shared->stripe[i].c + offset),
                               __ATOMIC_RELAXED);
    return (json_int_t)sum;
}

#define SUM(field) load(offsetof(counters, field))

void clerk_status_count_decision(int preflight, int status, int reason)
{
    if (!shared)
        return;
    counters *c = mine();
    if (preflight) {
        add(&c->preflight);
        return;
    }
    if (status >= 0 && status < 3)
        add(&c->outcome[status]);
    if (status != CLERK_SIGNED_IN && reason > CLERK_R_NONE && reason < CLERK_R__COUNT)
        add(&c->reason[reason]);
}

static int machine_index(unsigned type)
{
    return type == CLERK_TT_API_KEY ? 1 : type == CLERK_TT_M2M ? 2 : type == CLERK_TT_OAUTH ? 3 : 0;
}

void clerk_status_count_machine(unsigned type, int signed_in)
{
    if (shared)
        add(&mine()->machine[machine_index(type)][signed_in ? 1 : 0]);
}

void clerk_status_count_machine_call(int ok)
{
    if (shared)
        add(&mine()->machine_call[ok ? 1 : 0]);
}

void clerk_status_count_machine_cache(int hit)
{
    if (shared)
        add(&mine()->machine_cache[hit ? 1 : 0]);
}

static json_t *machine_json(void)
{
    static const char *const names[4] = {"not-verified", "api_key", "m2m_token", "oauth_token"};
    json_t *by_type = json_object();
    for (int i = 0; i < 4; i++)
        json_object_set_new(by_type, names[i],
                            json_pack("{s:I,s:I}", "signed-in", SUM(machine[i][1]), "signed-out",
                                      SUM(machine[i][0])));
    return json_pack("{s:o,s:{s:I,s:I},s:{s:I,s:I}}", "by_type", by_type, "backend_api_calls", "ok",
                     SUM(machine_call[1]), "failed", SUM(machine_call[0]), "shared_cache", "hits",
                     SUM(machine_cache[1]), "misses", SUM(machine_cache[0]));
}

void clerk_status_count_authz(int result)
{
    if (shared && result >= 0 && result < 3)
        add(&mine()->authz[result]);
}

void clerk_status_count_cache(int hit)
{
    if (shared)
        add(&mine()->cache[hit ? 1 : 0]);
}

void clerk_status_count_key_fetch(void *ctx, int ok)
{
    intptr_t source = (intptr_t)ctx;
    if (shared && source >= 0 && source < 2)
        add(&mine()->key_fetch[source][ok ? 1 : 0]);
}

/* ---- startup ------------------------------------------------------------------------------- */

/* The segment outlives configuration generations: it belongs to the process pool. */
static status_shared *shared_segment(server_rec *s)
{
    apr_pool_t *pp = s->process->pool;
    apr_shm_t *shm = NULL;
    apr_pool_userdata_get((void **)&shm, SHM_USERDATA, pp);
    if (!shm) {
        apr_status_t rv = apr_shm_create(&shm, sizeof(status_shared), NULL, pp);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                         CLERK_LOGNO(0701) "cannot create the shared memory for the status "
                                           "page counters; ClerkStatus shows no counters");
            return NULL;
        }
        status_shared *st = apr_shm_baseaddr_get(shm);
        memset(st, 0, sizeof(*st));
        st->magic = SHM_MAGIC;
        st->started_at_s = (int64_t)apr_time_sec(apr_time_now());
        apr_pool_userdata_set(shm, SHM_USERDATA, apr_pool_cleanup_null, pp);
    }
    status_shared *st = apr_shm_baseaddr_get(shm);
    return st->magic == SHM_MAGIC ? st : NULL;
}

/* The local key sources as configured. */
static void collect_local_source(void *ctx, const ap_directive_t *d, const ap_directive_t *vhost)
{
    apr_pool_t *p = ctx;
    int pem = strcasecmp(d->directive, "ClerkJWTKey") == 0;
    if (!pem && strcasecmp(d->directive, "ClerkJWKSFile") != 0)
        return;
    local_source *ls = apr_array_push(local_sources);
    const char *args = d->args;
    const char *first = ap_getword_conf(p, &args);
    ls->kind = pem ? "pem" : "jwks-file";
    ls->file = !pem ? first : strncmp(first, "file:", 5) == 0 ? first + 5 : NULL;
    ls->where = apr_psprintf(p, "%s:%d", d->filename, d->line_num);
}

static int status_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    (void)plog;
    (void)ptemp;
    shared = shared_segment(s);
    generation_loaded_s = (int64_t)apr_time_sec(apr_time_now());
    local_sources = apr_array_make(pconf, 4, sizeof(local_source));
    clerk_config_walk(collect_local_source, pconf);
    return OK;
}

/* ---- the page ------------------------------------------------------------------------------ */

static json_t *verifications_json(void)
{
    json_t *v = json_object(), *by_reason = json_object();
    json_int_t total = 0;
    static const char *const outcome_names[3] = {"signed-in", "signed-out", "handshake"};
    for (int i = 0; i < 3; i++) {
        json_int_t n = SUM(outcome[i]);
        total += n;
        json_object_set_new(v, outcome_names[i], json_integer(n));
    }
    json_object_set_new(v, "total", json_integer(total));
    json_object_set_new(v, "cors-preflight", json_integer(SUM(preflight)));
    for (int r = CLERK_R_NONE + 1; r < CLERK_R__COUNT; r++)
        json_object_set_new(by_reason, clerk_reason_str((clerk_reason)r),
                            json_integer(SUM(reason[r])));
    json_object_set_new(v, "by_reason", by_reason);
    return v;
}

static json_t *authz_json(void)
{
    return json_pack("{s:I,s:I,s:I}", "granted", SUM(authz[CLERK_AUTHZ_GRANTED]), "denied",
                     SUM(authz[CLERK_AUTHZ_DENIED]), "error", SUM(authz[CLERK_AUTHZ_ERROR]));
}

static json_t *token_cache_json(void)
{
    uint64_t hits = 0, misses = 0;
    size_t entries = 0;
    const clerk_token_cache *c = clerk_token_cache_current();
    if (c)
        clerk_token_cache_stats(c, &hits, &misses, &entries);
    json_t *o = json_pack("{s:s,s:i,s:b,s:I,s:I,s:I}", "scope", "this process", "pid",
                          (int)getpid(), "enabled", c != NULL, "hits", (json_int_t)hits, "misses",
                          (json_int_t)misses, "entries", (json_int_t)entries);
    if (hits + misses > 0)
        json_object_set_new(o, "hit_rate", json_real((double)hits / (double)(hits + misses)));
    else
        json_object_set_new(o, "hit_rate", json_null());
    return o;
}

/* show_path: ClerkStatusShowPaths On. A key file's path tells a reader of the page where to look
 * for a way in, so it is named only when the operator asks for it. */
static json_t *local_source_json(apr_pool_t *p, const local_source *ls, int64_t now, int show_path)
{
    json_t *o = json_pack("{s:s,s:s,s:I,s:I}", "source", ls->kind, "configured_at", ls->where,
                          "loaded_at", (json_int_t)generation_loaded_s, "age_s",
                          (json_int_t)(now - generation_loaded_s));
    if (ls->file) {
        apr_finfo_t fi;
        if (show_path)
            json_object_set_new(o, "file", json_string(ls->file));
        /* A file changed since it was read is served from memory until a graceful restart. */
        if (apr_stat(&fi, ls->file, APR_FINFO_MTIME, p) == APR_SUCCESS)
            json_object_set_new(o, "changed_on_disk_since_loaded",
                                json_boolean(apr_time_sec(fi.mtime) > generation_loaded_s));
        else
            json_object_set_new(o, "changed_on_disk_since_loaded", json_null());
    }
    return o;
}

static json_t *remote_source_json(const clerk_jwks_stats *st, int64_t now)
{
    json_t *o =
        json_pack("{s:s,s:s?,s:I,s:I,s:I,s:I,s:I}", "source", "remote", "url", st->url, "fetch_ok",
                  (json_int_t)st->fetch_ok, "fetch_failed", (json_int_t)st->fetch_failed,
                  "shared_fetch_ok", (json_int_t)st->shared_fetch_ok, "shared_fetch_failed",
                  (json_int_t)st->shared_fetch_failed, "keys", (json_int_t)st->keys);
    /* The URL only: ClerkOutgoingProxy never holds credentials, and the file's are not shown. */
    json_object_set_new(o, "outgoing_proxy", st->proxy ? json_string(st->proxy) : json_null());
    json_object_set_new(o, "fetched_at",
                        st->fetched_at > 0 ? json_integer(st->fetched_at) : json_null());
    json_object_set_new(o, "age_s",
                        st->fetched_at > 0 ? json_integer(now - st->fetched_at) : json_null());
    json_object_set_new(o, "last_attempt",
                        st->last_attempt > 0 ? json_integer(st->last_attempt) : json_null());
    json_object_set_new(o, "last_error_reason",
                        st->last_reason != CLERK_R_NONE
                            ? json_string(clerk_reason_str(st->last_reason))
                            : json_null());
    json_object_set_new(o, "last_error",
                        st->last_error[0] ? json_string(st->last_error) : json_null());
    return o;
}

/* Remote sources' URLs come redacted from the core (jwks_remote.h: no user:password, no query). */
static json_t *key_sources_json(apr_pool_t *p, int64_t now, int show_paths)
{
    json_t *a = json_array();
    for (int i = 0; local_sources && i < local_sources->nelts; i++)
        json_array_append_new(
            a,
            local_source_json(p, &APR_ARRAY_IDX(local_sources, i, local_source), now, show_paths));
    apr_array_header_t *remote = clerk_jwks_all_stats(p);
    for (int i = 0; remote && i < remote->nelts; i++)
        json_array_append_new(a,
                              remote_source_json(&APR_ARRAY_IDX(remote, i, clerk_jwks_stats), now));
    return a;
}

/* ---- the same counters in Prometheus' text format ---------------------------------------- */

/* `SetHandler clerk-metrics`, or the status page's URL with ?format=prometheus. */
#define METRICS_HANDLER "clerk-metrics"

static int wants_prometheus(const request_rec *r)
{
    for (const char *a = r->args; a && *a;) {
        size_t n = strcspn(a, "&");
        if (n == strlen("format=prometheus") && strncmp(a, "format=prometheus", n) == 0)
            return 1;
        a += n + (a[n] == '&');
    }
    return 0;
}

/* A label value as the text format quotes it: backslash, double quote and newline escaped. */
static const char *label_value(apr_pool_t *p, const char *v)
{
    char *out = apr_palloc(p, 2 * strlen(v) + 1), *o = out;
    for (; *v; v++) {
        if (*v == '\\' || *v == '"' || *v == '\n')
            *o++ = '\\';
        *o++ = *v == '\n' ? 'n' : *v;
    }
    *o = '\0';
    return out;
}

static void family(request_rec *r, const char *name, const char *type, const char *help)
{
    ap_rprintf(r, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* APR's formatter, not libc's: a 64-bit integer is APR_INT64_T_FMT. */
static void sample(request_rec *r, const char *name, const char *labels, json_int_t v)
{
    ap_rprintf(r, "%s%s%s%s %" APR_INT64_T_FMT "\n", name, labels ? "{" : "", labels ? labels : "",
               labels ? "}" : "", (apr_int64_t)v);
}

/* Every counter comes from the shared segment (all processes, kept across graceful restarts),
 * so each series only ever grows until httpd is stopped; nothing here names a URL, key or
 * token. */
static void prometheus_counters(request_rec *r)
{
    static const char *const outcome_names[3] = {"signed-in", "signed-out", "handshake"};
    static const char *const fetch_sources[2] = {"backend-api", "jwks-url"};

    family(r, "clerk_auth_decisions_total", "counter",
           "AuthType Clerk decisions by outcome, every process since httpd started.");
    for (int i = 0; i < 3; i++)
        sample(r, "clerk_auth_decisions_total",
               apr_psprintf(r->pool, "outcome=\"%s\"", outcome_names[i]), SUM(outcome[i]));
    family(r, "clerk_auth_cors_preflights_total", "counter",
           "CORS preflight requests passed without a challenge.");
    sample(r, "clerk_auth_cors_preflights_total", NULL, SUM(preflight));
    family(r, "clerk_auth_decision_reasons_total", "counter",
           "Signed-out and handshake decisions by Clerk's reason string.");
    for (int i = CLERK_R_NONE + 1; i < CLERK_R__COUNT; i++)
        sample(r, "clerk_auth_decision_reasons_total",
               apr_psprintf(r->pool, "reason=\"%s\"",
                            label_value(r->pool, clerk_reason_str((clerk_reason)i))),
               SUM(reason[i]));
    family(r, "clerk_auth_authorizations_total", "counter",
           "Require clerk-* results for a signed-in user by outcome.");
    sample(r, "clerk_auth_authorizations_total", "outcome=\"granted\"",
           SUM(authz[CLERK_AUTHZ_GRANTED]));
    sample(r, "clerk_auth_authorizations_total", "outcome=\"denied\"",
           SUM(authz[CLERK_AUTHZ_DENIED]));
    sample(r, "clerk_auth_authorizations_total", "outcome=\"error\"",
           SUM(authz[CLERK_AUTHZ_ERROR]));
    family(r, "clerk_auth_token_cache_lookups_total", "counter",
           "Verified-token cache look-ups of every process by outcome.");
    sample(r, "clerk_auth_token_cache_lookups_total", "outcome=\"hit\"", SUM(cache[1]));
    sample(r, "clerk_auth_token_cache_lookups_total", "outcome=\"miss\"", SUM(cache[0]));
    family(r, "clerk_auth_machine_verifications_total", "counter",
           "Machine-token decisions by token type and outcome.");
    {
        static const char *const names[4] = {"none", "api_key", "m2m_token", "oauth_token"};
        for (int i = 0; i < 4; i++)
            for (int ok = 1; ok >= 0; ok--)
                sample(r, "clerk_auth_machine_verifications_total",
                       apr_psprintf(r->pool, "type=\"%s\",outcome=\"%s\"", names[i],
                                    ok ? "signed-in" : "signed-out"),
                       SUM(machine[i][ok]));
    }
    family(r, "clerk_auth_machine_backend_api_calls_total", "counter",
           "Backend API verifications of opaque machine tokens by outcome.");
    sample(r, "clerk_auth_machine_backend_api_calls_total", "outcome=\"ok\"", SUM(machine_call[1]));
    sample(r, "clerk_auth_machine_backend_api_calls_total", "outcome=\"failed\"",
           SUM(machine_call[0]));
    family(r, "clerk_auth_machine_shared_cache_lookups_total", "counter",
           "Shared-cache look-ups of machine-token results by outcome.");
    sample(r, "clerk_auth_machine_shared_cache_lookups_total", "outcome=\"hit\"",
           SUM(machine_cache[1]));
    sample(r, "clerk_auth_machine_shared_cache_lookups_total", "outcome=\"miss\"",
           SUM(machine_cache[0]));
    family(r, "clerk_auth_key_fetches_total", "counter",
           "Remote JWKS fetch attempts by source and outcome.");
    for (int s = 0; s < 2; s++) {
        sample(r, "clerk_auth_key_fetches_total",
               apr_psprintf(r->pool, "source=\"%s\",outcome=\"ok\"", fetch_sources[s]),
               SUM(key_fetch[s][1]));
        sample(r, "clerk_auth_key_fetches_total",
               apr_psprintf(r->pool, "source=\"%s\",outcome=\"failed\"", fetch_sources[s]),
               SUM(key_fetch[s][0]));
    }
}

static int metrics_page(request_rec *r)
{
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (r->header_only)
        return OK;
    family(r, "clerk_auth_build_info", "gauge", "The module's version; always 1.");
    sample(r, "clerk_auth_build_info",
           apr_psprintf(r->pool, "version=\"%s\"", label_value(r->pool, module_version)), 1);
    family(r, "clerk_auth_config_load_time_seconds", "gauge",
           "When the running configuration was loaded (start or graceful restart), Unix time.");
    sample(r, "clerk_auth_config_load_time_seconds", NULL, (json_int_t)generation_loaded_s);
    int generation = 0;
    if (ap_mpm_query(AP_MPMQ_GENERATION, &generation) == APR_SUCCESS) {
        family(r, "clerk_auth_config_generation", "gauge",
               "The answering process' configuration generation: one more per graceful restart.");
        sample(r, "clerk_auth_config_generation", NULL, generation);
    }
    family(r, "clerk_auth_counters_available", "gauge",
           "1 when the shared counters exist; 0: the clerk_auth_*_total series are absent.");
    sample(r, "clerk_auth_counters_available", NULL, shared != NULL);
    if (!shared)
        return OK;
    family(r, "clerk_auth_start_time_seconds", "gauge",
           "When httpd started (the counters' origin), Unix time.");
    sample(r, "clerk_auth_start_time_seconds", NULL, (json_int_t)shared->started_at_s);
    prometheus_counters(r);
    return OK;
}

static int metrics_handler(request_rec *r)
{
    if (!r->handler || strcmp(r->handler, METRICS_HANDLER) != 0)
        return DECLINED;
    r->allowed |= (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    return metrics_page(r);
}

static int status_handler(request_rec *r)
{
    if (!r->handler || (strcmp(r->handler, STATUS_HANDLER) != 0 &&
                        strcasecmp(r->handler, STATUS_HANDLER_ALIAS) != 0))
        return DECLINED;
    r->allowed |= (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    if (wants_prometheus(r))
        return metrics_page(r);

    int64_t now = (int64_t)apr_time_sec(apr_time_now());
    json_t *page =
        json_pack("{s:s,s:s,s:I,s:I}", "module", "mod_clerk_auth", "version", module_version, "now",
                  (json_int_t)now, "config_loaded_at", (json_int_t)generation_loaded_s);
    /* httpd's own restart count as the answering child sees it: a graceful restart is an
     * event a client can observe, where loaded_at has only whole seconds. */
    int gen = 0;
    if (ap_mpm_query(AP_MPMQ_GENERATION, &gen) == APR_SUCCESS)
        json_object_set_new(page, "generation", json_integer(gen));
    if (shared) {
        json_object_set_new(page, "started_at", json_integer(shared->started_at_s));
        json_object_set_new(page, "uptime_s", json_integer(now - shared->started_at_s));
        json_object_set_new(page, "counters_scope",
                            json_string("every process since httpd started (graceful restarts "
                                        "keep counting)"));
        json_object_set_new(page, "verifications", verifications_json());
        json_object_set_new(page, "authorization", authz_json());
        json_object_set_new(page, "machine_tokens", machine_json());
    } else {
        json_object_set_new(page, "counters_scope", json_string("unavailable"));
    }
    json_object_set_new(page, "token_cache", token_cache_json());
    json_object_set_new(page, "key_sources",
                        key_sources_json(r->pool, now, clerk_status_show_paths(r->server)));

    char *text = json_dumps(page, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(page);
    if (!text)
        return HTTP_INTERNAL_SERVER_ERROR;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (!r->header_only) {
        ap_rputs(text, r);
        ap_rputs("\n", r);
    }
    free(text);
    return OK;
}

void clerk_status_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_post_config(status_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(metrics_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
