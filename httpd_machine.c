/* Machine tokens in httpd (docs/design.md#machine-tokens): the request decision for
 * ClerkAcceptsToken and its siblings (their directives: httpd_machine_config.c), the Backend API
 * verification of opaque tokens, its one-per-fleet cache on the socache store
 * the key sets use, single-flight per process, and `Require clerk-token-type|clerk-scope`.
 * Every rule of Clerk's lives in src/machine_token.c; this file moves bytes. */
#include <stdint.h>
#include <string.h>

#include <apr_atomic.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_request.h"

#include "authorization.h"
#include "http_fetch.h"
#include "httpd_jwks.h"
#include "httpd_logno.h"
#include "httpd_request.h"
#include "httpd_status.h"
#include "httpd_machine.h"
#include "httpd_machine_impl.h"
#include "jwks_remote.h"
#include "machine_guard.h"
#include "machine_jwt.h"
#include "machine_token.h"
#include "request_state.h"

APLOG_USE_MODULE(clerk_auth);

#define DEFAULT_TTL_S     60
#define DEFAULT_NEG_TTL_S 10
#define MAX_ANSWER_BYTES  ((size_t)32 * 1024) /* machine_token.c refuses more anyway */
#define INFLIGHT_MAX      1024
#define WAIT_EXTRA_MS     1000
/* A record handed to this process's waiters only: no lifetime of its own (2^52: still exact
 * in JSON). */
#define FLIGHT_UNTIL_MS ((int64_t)1 << 52)

/* ---- single flight ------------------------------------------------------------------------- */

/* One verification in progress in this process: later requests for the same token wait for its
 * record instead of calling the Backend API again. Guarded by flight_mu; freed by whoever leaves
 * it last (the verifier or the last waiter). */
typedef struct inflight {
    char key[CLERK_MACHINE_CACHE_KEY_LEN + 1];
    int done;
    unsigned char *rec; /* malloc'd record, NULL when none could be made */
    size_t len;
    int waiters;
} inflight;

static apr_thread_mutex_t *flight_mu;
static apr_thread_cond_t *flight_cv;
static apr_hash_t *flights; /* cache key -> inflight * */
/* Per process: records handed to waiters when no store key exists. */
static unsigned char process_key[32];

/* The configuration errors this process has reported (an instance key with its API URL the
 * Backend API refused with HTTP 401; a section with no key to verify with): each is reported once,
 * as anyone can send tokens that make it happen again (the status page keeps counting). Guarded
 * by refusal_mu; at most REFUSALS_MAX, then nothing more is reported. */
#define REFUSALS_MAX 64
static apr_thread_mutex_t *refusal_mu;
static apr_hash_t *refusals;      /* SHA-256(api_url LF key) -> "" */
static apr_uint32_t refusal_once; /* when refusal_mu could not be made */

static void flight_free(inflight *f)
{
    free(f->rec);
    free(f);
}

static void machine_child_init(apr_pool_t *pchild, server_rec *s)
{
    if (apr_thread_mutex_create(&flight_mu, APR_THREAD_MUTEX_DEFAULT, pchild) != APR_SUCCESS ||
        apr_thread_cond_create(&flight_cv, pchild) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     CLERK_LOGNO(2000) "cannot create the machine-token single-flight lock: "
                                       "each request verifies on its own");
        flight_mu = NULL;
        flight_cv = NULL;
    }
    /* Each table grows (hash entries, its array, refusal ids) from a pool of its own, used only
     * under that table's mutex: pchild is shared with other tables and their mutexes. */
    apr_pool_t *fp = clerk_table_pool(pchild), *rp = clerk_table_pool(pchild);
    flights = fp ? apr_hash_make(fp) : NULL;
    if (!flights)
        flight_mu = NULL;
    if (apr_thread_mutex_create(&refusal_mu, APR_THREAD_MUTEX_DEFAULT, pchild) != APR_SUCCESS)
        refusal_mu = NULL;
    refusals = rp ? apr_hash_make(rp) : NULL;
    if (RAND_bytes(process_key, sizeof process_key) != 1)
        flight_mu = NULL; /* no key to hand records over with: no single flight */
}

/* ---- the Backend API ----------------------------------------------------------------------- */

static int is_json_type(const char *ct)
{
    static const char want[] = "application/json";
    size_t n = sizeof want - 1;
    return strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* 1 the first time this process reports the condition (what, about) */
static int first_report(request_rec *r, const char *what, const char *about)
{
    if (!refusal_mu || !refusals)
        return apr_atomic_cas32(&refusal_once, 1, 0) == 0;
    unsigned char id[SHA256_DIGEST_LENGTH];
    char *both = apr_pstrcat(r->pool, what, "\n", about, NULL);
    SHA256((const unsigned char *)both, strlen(both), id);
    OPENSSL_cleanse(both, strlen(both));
    int first = 0;
    if (apr_thread_mutex_lock(refusal_mu) != APR_SUCCESS)
        return 0;
    if (!apr_hash_get(refusals, id, sizeof id) && apr_hash_count(refusals) < REFUSALS_MAX) {
        void *k = apr_pmemdup(apr_hash_pool_get(refusals), id, sizeof id);
        apr_hash_set(refusals, k, sizeof id, "");
        first = 1;
    }
    apr_thread_mutex_unlock(refusal_mu);
    return first;
}

/* POSTs the token to the configured Backend API. Returns 0 with *resource (pool copy of the
 * answer's JSON) and *m, or -1 with err. Never logs the token or the key. */
static int call_backend_api(request_rec *r, unsigned type, const char *tok, const char *auth_key,
                            int64_t now_ms, const char **resource, clerk_machine *m,
                            clerk_error *err)
{
    clerk_fetch_settings fs;
    clerk_server_fetch_settings(r->server, &fs);
    size_t ul = strlen(fs.api_url);
    const char *base =
        ul && fs.api_url[ul - 1] == '/' ? apr_pstrndup(r->pool, fs.api_url, ul - 1) : fs.api_url;
    const char *url = apr_pstrcat(r->pool, base, clerk_machine_verify_path(type), NULL);
    char *body = clerk_machine_verify_body(type, tok, strlen(tok));
    if (!body)
        return clerk_error_set(err, CLERK_R_UNEXPECTED_ERROR, "Unexpected error: out of memory.");
    const char *headers[] = {apr_pstrcat(r->pool, "Authorization: Bearer ", auth_key, NULL),
                             "Content-Type: application/json", "Accept: application/json",
                             "Clerk-API-Version: 2026-05-12", NULL};
    clerk_http_request req = {
        .url = url,
        .headers = headers,
        .ca_file = fs.ca_file,
        .connect_timeout_ms = fs.connect_timeout_ms,
        .timeout_ms = fs.timeout_ms,
        .max_body = MAX_ANSWER_BYTES,
        .reuse_connections = 1,
        .proxy = fs.proxy,
        .proxy_user = fs.proxy_user,
        .proxy_password = fs.proxy_password,
        .post_body = body,
        .post_len = strlen(body),
    };
    clerk_http_response resp;
    clerk_error why = {0};
    int rc = clerk_http_post(&req, &resp, &why);
    OPENSSL_cleanse(body, strlen(body));
    free(body);
    clerk_status_count_machine_call(rc == 0 && resp.status >= 200 && resp.status < 300);
    const char *shown = clerk_url_redact(r->pool, url);
    if (rc != 0) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      CLERK_LOGNO(2001) "%s verification at %s failed: %s (signed out: "
                                        "unexpected-error)",
                      clerk_token_type_name(type), shown, why.message);
        clerk_http_response_free(&resp);
        return clerk_error_set(err, CLERK_R_UNEXPECTED_ERROR,
                               "Unexpected error: the Backend API could not be reached.");
    }
    if (resp.status < 200 || resp.status > 299) {
        clerk_machine_status_error(type, resp.status, err);
        if (resp.status == 401 && first_report(r, fs.api_url, auth_key))
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          CLERK_LOGNO(2002) "the Backend API at %s refused this location's secret "
                                            "key (HTTP 401): every %s is signed out "
                                            "(secret-key-invalid); check ClerkSecretKey%s",
                          shown, clerk_token_type_name(type),
                          type == CLERK_TT_M2M ? " / ClerkMachineSecretKey" : "");
        else if (resp.status != 404)
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                          CLERK_LOGNO(2003) "%s verification at %s answered HTTP %ld (signed "
                                            "out: unexpected-error)",
                          clerk_token_type_name(type), shown, resp.status);
        clerk_http_response_free(&resp);
        return -1;
    }
    if (!is_json_type(resp.content_type)) { /* differences.h: machine-answer-checked */
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      CLERK_LOGNO(2004) "%s verification at %s answered with Content-Type "
                                        "'%.64s', not JSON (signed out: unexpected-error)",
                      clerk_token_type_name(type), shown, resp.content_type);
        clerk_http_response_free(&resp);
        return clerk_error_set(err, CLERK_R_UNEXPECTED_ERROR,
                               "Unexpected error: the Backend API's answer is not JSON.");
    }
    rc = clerk_machine_from_json(r->pool, type, resp.body, resp.body_len, now_ms, m, err);
    if (rc == 0)
        *resource = apr_pstrmemdup(r->pool, resp.body, resp.body_len);
    else if (err->reason == CLERK_R_UNEXPECTED_ERROR)
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      CLERK_LOGNO(2005) "%s verification at %s: %s", clerk_token_type_name(type),
                      shown, err->message);
    clerk_http_response_free(&resp);
    return rc;
}

/* ---- verification with the fleet cache ----------------------------------------------------- */

typedef struct store_view {
    clerk_jwks_store store;
    int usable;
    unsigned char key[32]; /* the instance key (clerk_machine_instance_key) */
} store_view;

/* The store and the key this request's records use; usable 0 when results stay in-process. */
static void store_view_of(request_rec *r, const char *auth_key, store_view *v)
{
    int on_host = 0;
    const unsigned char *mk = NULL;
    size_t mkl = 0;
    clerk_fetch_settings fs;
    clerk_server_fetch_settings(r->server, &fs);
    v->usable = 0;
    if (clerk_jwks_shared_store(r->server, &v->store, &on_host, &mk, &mkl) == 0) {
        /* Across hosts every server must hold the MAC key: ClerkCacheKeyFile, else the secret
         * key itself (as the key-set records). */
        if (!mk) {
            mk = (const unsigned char *)auth_key;
            mkl = strlen(auth_key);
        }
        v->usable = clerk_machine_instance_key(mk, mkl, fs.api_url, auth_key, v->key) == 0;
    }
    if (!v->usable &&
        clerk_machine_instance_key(process_key, sizeof process_key, fs.api_url, auth_key, v->key))
        memset(v->key, 0, sizeof v->key);
}

/* The section's TTLs in milliseconds: how long it trusts a verified / refused answer. */
static int64_t ttl_ms(const clerk_machine_dir *md)
{
    return (md->ttl_s >= 0 ? md->ttl_s : DEFAULT_TTL_S) * 1000;
}

static int64_t neg_ttl_ms(const clerk_machine_dir *md)
{
    return (md->neg_ttl_s >= 0 ? md->neg_ttl_s : DEFAULT_NEG_TTL_S) * 1000;
}

/* A record another section wrote is trusted for this section's TTLs only (decode compares the
 * answer's age with them); with both 0 the store is not read at all. */
static int read_store(request_rec *r, const clerk_machine_dir *md, const store_view *v,
                      const char *ck, unsigned type, int64_t now_ms, clerk_machine *m,
                      clerk_error *err)
{
    if (!v->usable || (ttl_ms(md) == 0 && neg_ttl_ms(md) == 0))
        return -1;
    size_t cap = 64 * 1024, len = 0;
    unsigned char *buf = apr_palloc(r->pool, cap);
    if (v->store.get(v->store.ctx, ck, buf, cap, &len) != 0)
        return -1;
    return clerk_machine_record_decode(r->pool, v->key, sizeof v->key, ck, type, buf, len, now_ms,
                                       ttl_ms(md), neg_ttl_ms(md), m, err);
}

static apr_uint32_t guard_min; /* the minute (of the request clock) CLERK2010 was last logged */

/* Verifies tok (of type) for r: the shared cache, else one Backend API call per process at a
 * time for this token. Returns 0 signed in (*m), -1 refused (err). */
static int verify_opaque(request_rec *r, const clerk_machine_dir *md, unsigned type,
                         const char *tok, const char *auth_key, int64_t now_ms, clerk_machine *m,
                         clerk_error *err, const char **how)
{
    store_view v;
    store_view_of(r, auth_key, &v);
    char ck[CLERK_MACHINE_CACHE_KEY_LEN + 1];
    if (clerk_machine_cache_key(v.key, sizeof v.key, type, tok, strlen(tok), ck) != 0)
        return clerk_error_set(err, CLERK_R_UNEXPECTED_ERROR, "Unexpected error: no cache key.");
    *how = apr_pstrndup(r->pool, ck + 1, 12);

    int got = read_store(r, md, &v, ck, type, now_ms, m, err);
    if (got >= 0) {
        clerk_status_count_machine_cache(1);
        *how = apr_pstrcat(r->pool, *how, " (shared cache)", NULL);
        return got == 1 ? 0 : -1;
    }
    clerk_status_count_machine_cache(0);

    /* Single flight: wait for a verification of the same token already under way here. */
    inflight *f = NULL;
    if (flight_mu && apr_thread_mutex_lock(flight_mu) == APR_SUCCESS) {
        f = apr_hash_get(flights, ck, APR_HASH_KEY_STRING);
        if (f) {
            f->waiters++;
            clerk_fetch_settings fs;
            clerk_server_fetch_settings(r->server, &fs);
            apr_time_t until = apr_time_now() + apr_time_from_msec(fs.connect_timeout_ms +
                                                                   fs.timeout_ms + WAIT_EXTRA_MS);
            while (!f->done && apr_time_now() < until)
                apr_thread_cond_timedwait(flight_cv, flight_mu, until - apr_time_now());
            unsigned char *rec = f->done && f->rec ? apr_pmemdup(r->pool, f->rec, f->len) : NULL;
            size_t len = f->len;
            int done = f->done;
            if (--f->waiters == 0 && done)
                flight_free(f);
            apr_thread_mutex_unlock(flight_mu);
            if (!done) {
                ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                              CLERK_LOGNO(2006) "gave up waiting for another request's %s "
                                                "verification (key %s)",
                              clerk_token_type_name(type), *how);
                return clerk_error_set(err, CLERK_R_UNEXPECTED_ERROR,
                                       "Unexpected error: the verification did not finish.");
            }
            /* This answer came after this request asked: fresh for any TTL. */
            int rc = rec ? clerk_machine_record_decode(r->pool, v.key, sizeof v.key, ck, type, rec,
                                                       len, now_ms, INT64_MAX, INT64_MAX, m, err)
                         : -1;
            if (rc < 0)
                return clerk_error_set(err, CLERK_R_UNEXPECTED_ERROR,
                                       "Unexpected error: the verification failed.");
            *how = apr_pstrcat(r->pool, *how, " (single flight)", NULL);
            return rc == 1 ? 0 : -1;
        }
        if (apr_hash_count(flights) < INFLIGHT_MAX && (f = calloc(1, sizeof *f)) != NULL) {
            memcpy(f->key, ck, sizeof f->key);
            apr_hash_set(flights, f->key, APR_HASH_KEY_STRING, f);
        }
        apr_thread_mutex_unlock(flight_mu);
    }

    const char *resource = NULL;
    int rc;
    /* A burst of new tokens waits for a slot as long as the call itself may take. */
    clerk_fetch_settings gfs;
    clerk_server_fetch_settings(r->server, &gfs);
    clerk_bound_verdict gv =
        clerk_machine_guard_begin(now_ms, gfs.connect_timeout_ms + gfs.timeout_ms);
    if (gv == CLERK_BOUND_GO) {
        rc = call_backend_api(r, type, tok, auth_key, now_ms, &resource, m, err);
        clerk_machine_guard_end();
        *how = apr_pstrcat(r->pool, *how, " (Backend API)", NULL);
    } else {
        /* Any client can send fresh tokens: one line a minute per process says it happens. */
        apr_uint32_t minute = (apr_uint32_t)(now_ms / 60000), last = apr_atomic_read32(&guard_min);
        int max_in_flight, max_per_second;
        clerk_machine_guard_limits(&max_in_flight, &max_per_second);
        if (last != minute && apr_atomic_cas32(&guard_min, minute, last) == last)
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                          CLERK_LOGNO(2010) "%s not verified: this process already runs %d "
                                            "Backend API verifications or started %d this second "
                                            "(%s; signed out: unexpected-error; logged once a "
                                            "minute)",
                          clerk_token_type_name(type), max_in_flight, max_per_second,
                          clerk_bound_verdict_str(gv));
        rc = clerk_error_set(err, CLERK_R_UNEXPECTED_ERROR,
                             "Unexpected error: too many Backend API verifications at once.");
        *how = apr_pstrcat(r->pool, *how, " (refused: ", clerk_bound_verdict_str(gv), ")", NULL);
    }

    /* Shared: a verified token until min(its expiry, the TTL); a token Clerk does not know, or
     * refuses, for the short negative TTL. Outages and key failures are never cached. */
    unsigned char *rec = NULL;
    size_t len = 0;
    int64_t until_ms = now_ms + (rc == 0 ? ttl_ms(md) : neg_ttl_ms(md));
    if (rc == 0 && m->expiration_ms >= 0 && m->expiration_ms < until_ms)
        until_ms = m->expiration_ms;
    int cacheable = rc == 0 || err->reason == CLERK_R_TOKEN_INVALID;
    if (cacheable && v.usable && until_ms > now_ms) {
        rec = clerk_machine_record_encode(v.key, sizeof v.key, ck, type, rc == 0 ? resource : NULL,
                                          rc == 0 ? NULL : err, now_ms, until_ms, &len);
        if (rec)
            v.store.set(v.store.ctx, ck, rec, len, (until_ms + 999) / 1000);
        free(rec);
        rec = NULL;
    }
    /* The waiters of this process take this very answer, whatever the TTL (an outage's too:
     * they asked at the same time). */
    if (f)
        rec = clerk_machine_record_encode(v.key, sizeof v.key, ck, type, rc == 0 ? resource : NULL,
                                          rc == 0 ? NULL : err, now_ms, FLIGHT_UNTIL_MS, &len);

    if (f) {
        apr_thread_mutex_lock(flight_mu);
        apr_hash_set(flights, f->key, APR_HASH_KEY_STRING, NULL);
        f->done = 1;
        f->rec = rec;
        f->len = len;
        rec = NULL;
        apr_thread_cond_broadcast(flight_cv);
        if (f->waiters == 0)
            flight_free(f);
        apr_thread_mutex_unlock(flight_mu);
    }
    free(rec);
    return rc;
}

int clerk_machine_decide(request_rec *r, const clerk_machine_dir *md, const char *secret_key,
                         const char *authorization, const clerk_verify_opts *verify,
                         const clerk_key_source *keys, clerk_state *st, const clerk_machine **out)
{
    if (!md || !md->accepts)
        return 0;
    const char *tok = clerk_authorization_token(r->pool, authorization);
    clerk_accepts a = {md->accepts, md->accepts_list};
    unsigned type = 0;
    clerk_reason why = CLERK_R_NONE;
    clerk_machine_route route =
        clerk_machine_route_request(&a, tok, tok ? strlen(tok) : 0, &type, &why);
    if (route == CLERK_ROUTE_SESSION)
        return 0;

    memset(st, 0, sizeof(*st));
    st->status = CLERK_SIGNED_OUT;
    st->message = "";
    st->source = tok ? CLERK_SRC_HEADER : CLERK_SRC_NONE;
    if (route == CLERK_ROUTE_SIGNED_OUT) {
        st->reason = why;
        clerk_status_count_machine(0, 0);
        return 1;
    }

    clerk_error err = {0};
    const int64_t now_ms = verify->now_ms;
    clerk_machine *m = apr_pcalloc(r->pool, sizeof(*m));
    const char *auth_key =
        type == CLERK_TT_M2M && md->machine_secret_key ? md->machine_secret_key : secret_key;
    const char *how = "-";
    int rc;
    if (!clerk_machine_token_sendable(tok, strlen(tok)))
        rc = clerk_error_set(&err, CLERK_R_TOKEN_INVALID,
                             "The %s is longer than %d bytes or holds characters no Clerk token "
                             "has.",
                             clerk_token_type_name(type), CLERK_MACHINE_TOKEN_MAX);
    else if (clerk_machine_is_jwt_format(tok, strlen(tok))) {
        /* Verified here with the instance's keys, no Backend API call. */
        rc = clerk_machine_jwt_verify(r->pool, tok, strlen(tok), verify, keys, m, &type, &err);
        how = "local JWT";
    } else if (!auth_key) {
        if (first_report(r, "no key for the section", apr_psprintf(r->pool, "%pp", (void *)md)))
            ap_log_rerror(
                APLOG_MARK, APLOG_ERR, 0, r,
                CLERK_LOGNO(2007) "ClerkAcceptsToken accepts %s at %s but no ClerkSecretKey "
                                  "(or ClerkMachineSecretKey for m2m_token) is set there: "
                                  "every such token is signed out",
                clerk_token_type_name(type), r->uri);
        rc = clerk_error_set(&err, CLERK_R_UNEXPECTED_ERROR,
                             "Machine token authentication requires either a Machine secret key "
                             "or a Clerk secret key.");
    } else {
        rc = verify_opaque(r, md, type, tok, auth_key, now_ms, m, &err, &how);
        /* The audience is this section's (ClerkAudience), so checked after the shared cache. */
        if (rc == 0 && type == CLERK_TT_OAUTH)
            rc = clerk_machine_oauth_audience(m, verify->aud, verify->n_aud, &err);
    }

    clerk_status_count_machine(type, rc == 0);
    if (rc != 0) {
        st->reason = err.reason;
        st->message = apr_pstrdup(r->pool, err.message);
        return 1;
    }
    st->status = CLERK_SIGNED_IN;
    st->reason = CLERK_R_NONE;
    *out = m;
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  CLERK_LOGNO(2008) "signed-in: %s subject=%s key=%s", clerk_token_type_name(type),
                  m->subject, how);
    return 1;
}

void clerk_machine_register_hooks(apr_pool_t *p)
{
    ap_hook_child_init(machine_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    clerk_machine_register_authz_providers(p);
}
