/* Remote JWKS: the refresh policy against an in-memory store and a scripted fetch (no network),
 * and http_fetch against a tiny HTTP server forked on 127.0.0.1 with a dynamic port. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_pools.h>
#include <apr_time.h>
#include <curl/curl.h>
#include <openssl/ssl.h>

#include "http_fetch.h"
#include "jwks_remote.h"
#include "mint.h"
#include "unit.h"

#define URL "https://api.example.test/v1/jwks"
#define SK  "sk_test_c2VjcmV0LWtleS1mb3ItdGVzdHM"
#define T0  1000000

/* ---- in-memory store: one "server" shared by several policy instances ---------------------- */

#define MEM_SLOTS 4
typedef struct mem_store {
    struct {
        char key[128];
        unsigned char *val;
        size_t len;
        int64_t expires_at;
    } slot[MEM_SLOTS];
    int64_t *now;
    int busy; /* trylock answers "held by someone else" */
    int locked;
    int gets, sets, trylocks;
    int64_t newest; /* the host-wide floor (clerk_jwks_store.newest), one source */
    int fail_sets;  /* set refuses (a record too large for the store) */
} mem_store;

/* Like the shmcb store's data mutex: two policy instances on two threads share one store. */
static pthread_mutex_t mem_mu = PTHREAD_MUTEX_INITIALIZER;

static int mem_get(void *ctx, const char *key, unsigned char *buf, size_t cap, size_t *len)
{
    mem_store *m = ctx;
    int rc = 1;
    pthread_mutex_lock(&mem_mu);
    m->gets++;
    for (int i = 0; i < MEM_SLOTS; i++) {
        if (m->slot[i].val != NULL && strcmp(m->slot[i].key, key) == 0) {
            if (m->slot[i].expires_at > *m->now && m->slot[i].len <= cap) {
                memcpy(buf, m->slot[i].val, m->slot[i].len);
                *len = m->slot[i].len;
                rc = 0;
            }
            break;
        }
    }
    pthread_mutex_unlock(&mem_mu);
    return rc;
}

static int mem_set(void *ctx, const char *key, const unsigned char *val, size_t len,
                   int64_t expires_at)
{
    mem_store *m = ctx;
    pthread_mutex_lock(&mem_mu);
    m->sets++;
    if (m->fail_sets) {
        pthread_mutex_unlock(&mem_mu);
        return -1;
    }
    int free_slot = -1;
    for (int i = 0; i < MEM_SLOTS; i++) {
        if (m->slot[i].val != NULL && strcmp(m->slot[i].key, key) == 0) {
            free_slot = i;
            break;
        }
        if (m->slot[i].val == NULL && free_slot < 0)
            free_slot = i;
    }
    ck_assert_int_ge(free_slot, 0);
    free(m->slot[free_slot].val);
    m->slot[free_slot].val = malloc(len);
    memcpy(m->slot[free_slot].val, val, len);
    m->slot[free_slot].len = len;
    m->slot[free_slot].expires_at = expires_at;
    snprintf(m->slot[free_slot].key, sizeof m->slot[free_slot].key, "%s", key);
    pthread_mutex_unlock(&mem_mu);
    return 0;
}

static int mem_trylock(void *ctx, const char *key)
{
    mem_store *m = ctx;
    pthread_mutex_lock(&mem_mu);
    m->trylocks++;
    int rc = m->busy || m->locked ? 1 : 0;
    if (rc == 0)
        m->locked = 1;
    pthread_mutex_unlock(&mem_mu);
    return rc;
}

static void mem_unlock(void *ctx, const char *key)
{
    mem_store *m = ctx;
    pthread_mutex_lock(&mem_mu);
    int was = m->locked;
    m->locked = 0;
    pthread_mutex_unlock(&mem_mu);
    ck_assert_int_eq(was, 1);
}

static int64_t mem_newest(void *ctx, const char *key)
{
    mem_store *m = ctx;
    pthread_mutex_lock(&mem_mu);
    int64_t v = m->newest;
    pthread_mutex_unlock(&mem_mu);
    return v;
}

static void mem_installed(void *ctx, const char *key, int64_t t)
{
    mem_store *m = ctx;
    pthread_mutex_lock(&mem_mu);
    if (t > m->newest)
        m->newest = t;
    pthread_mutex_unlock(&mem_mu);
}

static void mem_free(mem_store *m)
{
    for (int i = 0; i < MEM_SLOTS; i++)
        free(m->slot[i].val);
}

/* ---- scripted fetch ---------------------------------------------------------------------- */

#define SCRIPT_MAX 16
typedef struct script_step {
    int rc; /* what the fetch returns */
    long status;
    const char *body; /* copied into the response */
    const char *err;  /* message when rc is -1 */
} script_step;

typedef struct script {
    script_step step[SCRIPT_MAX];
    int n, calls;
    char last_headers[512];
    mem_store *store;
} script;

static int scripted_fetch(void *ctx, const clerk_http_request *req, clerk_http_response *resp,
                          clerk_error *err)
{
    script *s = ctx;
    ck_assert_str_eq(req->url, URL);
    s->last_headers[0] = '\0';
    for (const char *const *h = req->headers; h && *h; h++) {
        strncat(s->last_headers, *h, sizeof s->last_headers - strlen(s->last_headers) - 2);
        strcat(s->last_headers, "\n");
    }
    if (s->store != NULL)
        ck_assert_msg(s->store->locked, "fetched without holding the store lock");
    ck_assert_msg(s->calls < s->n, "unexpected fetch #%d", s->calls + 1);
    const script_step *st = &s->step[s->calls++];
    memset(resp, 0, sizeof *resp);
    resp->status = st->status;
    if (st->body != NULL && st->rc == 0) {
        resp->body = strdup(st->body);
        resp->body_len = strlen(st->body);
    }
    if (st->rc != 0)
        clerk_error_set(err, CLERK_R_NONE, "%s", st->err ? st->err : "scripted failure");
    return st->rc;
}

static void push(script *s, int rc, long status, const char *body, const char *err)
{
    ck_assert_int_lt(s->n, SCRIPT_MAX);
    s->step[s->n++] = (script_step){rc, status, body, err};
}

/* ---- fixture ----------------------------------------------------------------------------- */

static apr_pool_t *pool;
static EVP_PKEY *k1, *k2;
static char *jwks_k1, *jwks_k1k2, *jwks_k2;
static int64_t now;
static mem_store store;
static script sc;
static char logbuf[2048];

static char *jwks_of(EVP_PKEY *a, const char *kida, EVP_PKEY *b, const char *kidb)
{
    char *ja = mint_public_jwk(a, kida, "RS256");
    char *jb = b ? mint_public_jwk(b, kidb, "RS256") : NULL;
    size_t n = strlen(ja) + (jb ? strlen(jb) : 0) + 32;
    char *out = malloc(n);
    snprintf(out, n, "{\"keys\":[%s%s%s]}", ja, jb ? "," : "", jb ? jb : "");
    free(ja);
    free(jb);
    return out;
}

static void capture_log(void *ctx, int level, const char *msg)
{
    size_t used = strlen(logbuf);
    snprintf(logbuf + used, sizeof logbuf - used, "%d %s\n", level, msg);
}

/* Keys are made once per test case (RSA generation is slow, more so under valgrind). */
static void keys_setup(void)
{
    k1 = mint_keygen("rsa2048");
    k2 = mint_keygen("rsa2048");
    jwks_k1 = jwks_of(k1, "ins_k1", NULL, NULL);
    jwks_k1k2 = jwks_of(k2, "ins_k2", k1, "ins_k1");
    jwks_k2 = jwks_of(k2, "ins_k2", NULL, NULL);
}

static void keys_teardown(void)
{
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    free(jwks_k1);
    free(jwks_k1k2);
    free(jwks_k2);
}

static void setup(void)
{
    apr_pool_create(&pool, NULL);
    now = T0;
    memset(&store, 0, sizeof store);
    store.now = &now;
    memset(&sc, 0, sizeof sc);
    sc.store = &store;
    logbuf[0] = '\0';
}

static void teardown(void)
{
    apr_pool_destroy(pool);
    mem_free(&store);
}

static void mem_clock_back(void *ctx, const char *key, int64_t t)
{
    mem_store *m = ctx;
    pthread_mutex_lock(&mem_mu);
    if (m->newest > t)
        m->newest = t;
    pthread_mutex_unlock(&mem_mu);
}

static const clerk_jwks_store mem_iface = {mem_get,    mem_set,       mem_trylock,    mem_unlock,
                                           mem_newest, mem_installed, mem_clock_back, &store};

static clerk_jwks_remote *make_remote(void)
{
    clerk_jwks_remote_opts o = {
        .url = URL,
        .secret_key = SK,
        .store = &mem_iface,
        .fetch = scripted_fetch,
        .fetch_ctx = &sc,
        .log = capture_log,
    };
    clerk_error err = {0};
    clerk_jwks_remote *r = clerk_jwks_remote_create(pool, &o, &err);
    ck_assert_msg(r != NULL, "%s", err.message);
    return r;
}

/* Looks kid up at the fixture's now; returns 1 found, 0 not (err filled). */
static int find(clerk_jwks_remote *r, const char *kid, clerk_error *err)
{
    clerk_jwks_request rq;
    clerk_jwks_request_init(&rq, r, now);
    clerk_key_source src = clerk_jwks_request_source(&rq);
    clerk_error e = {0};
    const clerk_key *k = src.lookup(src.ctx, kid, &e);
    if (k != NULL)
        ck_assert_str_eq(k->kid, kid);
    clerk_jwks_request_release(&rq);
    if (err != NULL)
        *err = e;
    return k != NULL;
}

/* ---- policy tests ------------------------------------------------------------------------ */

START_TEST(fresh_set_answers_without_fetch_or_store_access)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    clerk_jwks_remote *r = make_remote();
    clerk_error e;
    ck_assert_int_eq(clerk_jwks_remote_preload(r, now, &e), 0);
    ck_assert_int_eq(sc.calls, 1);
    int gets = store.gets, trylocks = store.trylocks;
    for (int i = 0; i < 100; i++) {
        now = T0 + i * 2;
        ck_assert(find(r, "ins_k1", NULL));
    }
    ck_assert_int_eq(sc.calls, 1);
    ck_assert_int_eq(store.gets, gets);
    ck_assert_int_eq(store.trylocks, trylocks);
}
END_TEST

START_TEST(set_is_refetched_once_refresh_interval_passed)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    push(&sc, 0, 200, jwks_k1, NULL);
    clerk_jwks_remote *r = make_remote();
    ck_assert_int_eq(clerk_jwks_remote_preload(r, now, NULL), 0);
    now = T0 + 299;
    ck_assert(find(r, "ins_k1", NULL));
    ck_assert_int_eq(sc.calls, 1);
    now = T0 + 300;
    ck_assert(find(r, "ins_k1", NULL));
    ck_assert_int_eq(sc.calls, 2);
    ck_assert(find(r, "ins_k1", NULL));
    ck_assert_int_eq(sc.calls, 2);
}
END_TEST

START_TEST(secret_key_and_api_version_are_sent)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    clerk_jwks_remote *r = make_remote();
    ck_assert(find(r, "ins_k1", NULL));
    ck_assert_str_eq(sc.last_headers,
                     "Authorization: Bearer " SK "\nClerk-API-Version: 2026-05-12\n");
}
END_TEST

START_TEST(unknown_kid_fetches_once_and_a_flood_within_min_refresh_fetches_no_more)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    push(&sc, 0, 200, jwks_k1, NULL);
    push(&sc, 0, 200, jwks_k1, NULL);
    clerk_jwks_remote *r = make_remote();
    ck_assert_int_eq(clerk_jwks_remote_preload(r, now, NULL), 0);
    now = T0 + 20;
    clerk_error e;
    ck_assert(!find(r, "ins_unknown", &e));
    ck_assert_int_eq(sc.calls, 2);
    ck_assert_int_eq(e.reason, CLERK_R_JWK_KID_MISMATCH);
    for (int i = 0; i < 200; i++) {
        char kid[32];
        snprintf(kid, sizeof kid, "ins_flood_%d", i);
        now = T0 + 20 + i / 25; /* spread over 8 s < min_refresh */
        ck_assert(!find(r, kid, &e));
        ck_assert_int_eq(e.reason, CLERK_R_JWK_KID_MISMATCH);
    }
    ck_assert_int_eq(sc.calls, 2);
    ck_assert(find(r, "ins_k1", NULL));
    now = T0 + 30;
    ck_assert(!find(r, "ins_other", &e));
    ck_assert_int_eq(sc.calls, 3);
}
END_TEST

START_TEST(kid_mismatch_has_clerks_message_with_sorted_kids)
{
    push(&sc, 0, 200, jwks_k1k2, NULL);
    push(&sc, 0, 200, jwks_k1k2, NULL);
    clerk_jwks_remote *r = make_remote();
    now = T0;
    clerk_error e;
    ck_assert(!find(r, "ins_zz", &e));
    ck_assert_int_eq(e.reason, CLERK_R_JWK_KID_MISMATCH);
    ck_assert_str_eq(e.message,
                     "Unable to find a signing key in JWKS that matches the kid='ins_zz' of the "
                     "provided session token. Please make sure that the __session cookie or the "
                     "HTTP authorization header contain a Clerk-generated session JWT.");
}
END_TEST

START_TEST(rotated_key_is_accepted_after_one_fetch)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    push(&sc, 0, 200, jwks_k1k2, NULL);
    clerk_jwks_remote *r = make_remote();
    ck_assert_int_eq(clerk_jwks_remote_preload(r, now, NULL), 0);
    now = T0 + 100;
    ck_assert(find(r, "ins_k2", NULL));
    ck_assert_int_eq(sc.calls, 2);
    ck_assert(find(r, "ins_k1", NULL));
    ck_assert(find(r, "ins_k2", NULL));
    ck_assert_int_eq(sc.calls, 2);
}
END_TEST

START_TEST(outage_keeps_last_good_set_until_max_stale_then_fails_to_load)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    for (int i = 0; i < 12; i++)
        push(&sc, 0, 503, "upstream down", NULL);
    clerk_jwks_remote *r = make_remote();
    ck_assert_int_eq(clerk_jwks_remote_preload(r, now, NULL), 0);
    now = T0 + 300;
    ck_assert(find(r, "ins_k1", NULL)); /* stale: one failed attempt, old key still serves */
    ck_assert_int_eq(sc.calls, 2);
    now = T0 + 305;
    ck_assert(find(r, "ins_k1", NULL));
    ck_assert_int_eq(sc.calls, 2); /* retries wait min_refresh */
    now = T0 + 3600;
    ck_assert(find(r, "ins_k1", NULL));
    int calls = sc.calls;
    now = T0 + 3601; /* past max_stale, and the last attempt was < min_refresh ago */
    clerk_error e;
    ck_assert(!find(r, "ins_k1", &e));
    ck_assert_int_eq(e.reason, CLERK_R_JWK_REMOTE_FAILED_TO_LOAD);
    ck_assert_str_eq(e.message, "Error loading Clerk JWKS from " URL " with code=503");
    ck_assert_int_eq(sc.calls, calls);
    now = T0 + 3615; /* next attempt fails too: same answer */
    ck_assert(!find(r, "ins_k1", &e));
    ck_assert_int_eq(e.reason, CLERK_R_JWK_REMOTE_FAILED_TO_LOAD);
    ck_assert_str_eq(e.message, "Error loading Clerk JWKS from " URL " with code=503");
    ck_assert_int_eq(sc.calls, calls + 1);
    ck_assert_ptr_nonnull(strstr(logbuf, "code=503"));
}
END_TEST

START_TEST(clerk_key_invalid_body_is_secret_key_invalid)
{
    push(&sc, 0, 401,
         "{\"errors\":[{\"message\":\"The provided Clerk Secret Key is invalid.\","
         "\"long_message\":\"x\",\"code\":\"clerk_key_invalid\"}]}",
         NULL);
    clerk_jwks_remote *r = make_remote();
    clerk_error e;
    ck_assert(!find(r, "ins_k1", &e));
    ck_assert_int_eq(e.reason, CLERK_R_SECRET_KEY_INVALID);
    ck_assert_str_eq(e.message, "The provided Clerk Secret Key is invalid.");
    ck_assert_ptr_nonnull(strstr(logbuf, "ClerkSecretKey"));
    ck_assert_ptr_null(strstr(logbuf, SK));
    now = T0 + 1; /* another process, same answer from the shared record without a fetch */
    clerk_jwks_remote *r2 = make_remote();
    ck_assert(!find(r2, "ins_k1", &e));
    ck_assert_int_eq(e.reason, CLERK_R_SECRET_KEY_INVALID);
    ck_assert_int_eq(sc.calls, 1);
}
END_TEST

START_TEST(other_error_codes_are_clerks_failed_to_load_message)
{
    push(&sc, 0, 401, "{\"errors\":[{\"code\":\"authorization_invalid\"}]}", NULL);
    clerk_jwks_remote *r = make_remote();
    clerk_error e;
    ck_assert(!find(r, "ins_k1", &e));
    ck_assert_int_eq(e.reason, CLERK_R_JWK_REMOTE_FAILED_TO_LOAD);
    ck_assert_str_eq(e.message, "Error loading Clerk JWKS from " URL " with code=401");
}
END_TEST

START_TEST(redirect_is_a_failed_load_with_its_code)
{
    push(&sc, -1, 302, NULL, "redirect not followed (HTTP 302)");
    clerk_jwks_remote *r = make_remote();
    clerk_error e;
    ck_assert(!find(r, "ins_k1", &e));
    ck_assert_int_eq(e.reason, CLERK_R_JWK_REMOTE_FAILED_TO_LOAD);
    ck_assert_str_eq(e.message, "Error loading Clerk JWKS from " URL " with code=302");
}
END_TEST

START_TEST(empty_keys_is_failed_to_load_with_clerks_message)
{
    push(&sc, 0, 200, "{\"keys\":[]}", NULL);
    clerk_jwks_remote *r = make_remote();
    clerk_error e;
    ck_assert(!find(r, "ins_k1", &e));
    ck_assert_int_eq(e.reason, CLERK_R_JWK_REMOTE_FAILED_TO_LOAD);
    ck_assert_str_eq(
        e.message,
        "The JWKS endpoint did not contain any signing keys. Contact support@clerk.com.");
}
END_TEST

START_TEST(garbage_or_oversized_body_keeps_last_good_set)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    push(&sc, 0, 200, "<html>not json</html>", NULL);
    push(&sc, -1, 200, NULL, "response body larger than 65536 bytes");
    clerk_jwks_remote *r = make_remote();
    ck_assert_int_eq(clerk_jwks_remote_preload(r, now, NULL), 0);
    now = T0 + 300;
    ck_assert(find(r, "ins_k1", NULL));
    now = T0 + 310;
    ck_assert(find(r, "ins_k1", NULL));
    ck_assert_int_eq(sc.calls, 3);
    clerk_jwks_stats st;
    clerk_jwks_remote_stats(r, now, &st);
    ck_assert_int_eq(st.fetch_ok, 1);
    ck_assert_int_eq(st.fetch_failed, 2);
    ck_assert_int_eq(st.fetched_at, T0);
    ck_assert_int_eq(st.age_s, 310);
    ck_assert_int_eq(st.keys, 1);
    ck_assert_int_eq(st.last_reason, CLERK_R_JWK_REMOTE_FAILED_TO_LOAD);
    ck_assert_str_eq(st.last_error, "Error loading Clerk JWKS from " URL
                                    ": response body larger than 65536 bytes");
    ck_assert_str_eq(st.url, URL);
    /* a kid the stale set lacks reports the failed refresh, not a mismatch */
    now = T0 + 320;
    push(&sc, 0, 500, "", NULL);
    clerk_error e;
    ck_assert(!find(r, "ins_k2", &e));
    ck_assert_int_eq(e.reason, CLERK_R_JWK_REMOTE_FAILED_TO_LOAD);
}
END_TEST

START_TEST(two_processes_sharing_a_store_fetch_once)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    push(&sc, 0, 200, jwks_k1k2, NULL);
    clerk_jwks_remote *a = make_remote(), *b = make_remote();
    ck_assert(find(a, "ins_k1", NULL));
    ck_assert(find(b, "ins_k1", NULL));
    ck_assert_int_eq(sc.calls, 1);
    now = T0 + 50; /* rotation: a sees the new kid first, b adopts a's copy */
    ck_assert(find(a, "ins_k2", NULL));
    now = T0 + 51;
    ck_assert(find(b, "ins_k2", NULL));
    ck_assert_int_eq(sc.calls, 2);
    now = T0 + 350; /* periodic: a refreshes... (script has no more: b must not fetch) */
    push(&sc, 0, 200, jwks_k1k2, NULL);
    ck_assert(find(a, "ins_k1", NULL));
    ck_assert(find(b, "ins_k1", NULL));
    ck_assert_int_eq(sc.calls, 3);
    clerk_jwks_stats st;
    clerk_jwks_remote_stats(b, now, &st);
    ck_assert_int_eq(st.fetch_ok, 0);
    ck_assert_int_eq(st.shared_fetch_ok, 3);
    ck_assert_int_eq(st.fetched_at, T0 + 350);
}
END_TEST

START_TEST(busy_lock_loser_never_blocks_and_answers_with_what_it_has)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    clerk_jwks_remote *r = make_remote();
    ck_assert_int_eq(clerk_jwks_remote_preload(r, now, NULL), 0);
    store.busy = 1; /* another process holds the refresh lock (and never finishes) */
    now = T0 + 400;
    ck_assert(find(r, "ins_k1", NULL)); /* stale set serves */
    clerk_error e;
    ck_assert(!find(r, "ins_k2", &e));
    ck_assert_int_eq(e.reason, CLERK_R_JWK_KID_MISMATCH);
    ck_assert_int_eq(sc.calls, 1);
    ck_assert_int_gt(store.trylocks, 0);
    /* preload never waits, even with nothing to serve */
    clerk_jwks_remote *r2 = make_remote();
    mem_free(&store);
    memset(store.slot, 0, sizeof store.slot);
    apr_time_t t0 = apr_time_now();
    ck_assert_int_eq(clerk_jwks_remote_preload(r2, now, &e), -1);
    ck_assert_int_lt(apr_time_now() - t0, apr_time_from_msec(500));
    ck_assert_int_eq(sc.calls, 1);
}
END_TEST

/* ---- waiting for someone else's fetch (two threads, as two processes or two workers) ------- */

/* A fetch that stops until the test opens the gate: a policy instance "mid-fetch". */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered, open;
    long delay_ms; /* the opener's pause */
} gate;
static gate gt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};

static int gated_fetch(void *ctx, const clerk_http_request *req, clerk_http_response *resp,
                       clerk_error *err)
{
    pthread_mutex_lock(&gt.mu);
    gt.entered = 1;
    pthread_cond_broadcast(&gt.cv);
    while (!gt.open)
        pthread_cond_wait(&gt.cv, &gt.mu);
    pthread_mutex_unlock(&gt.mu);
    return scripted_fetch(ctx, req, resp, err);
}

static void gate_reset(void)
{
    gt.entered = gt.open = 0;
}

static void gate_wait_entered(void)
{
    pthread_mutex_lock(&gt.mu);
    while (!gt.entered)
        pthread_cond_wait(&gt.cv, &gt.mu);
    pthread_mutex_unlock(&gt.mu);
}

static void gate_open(void)
{
    pthread_mutex_lock(&gt.mu);
    gt.open = 1;
    pthread_cond_broadcast(&gt.cv);
    pthread_mutex_unlock(&gt.mu);
}

static void *gate_opener(void *arg)
{
    usleep((useconds_t)gt.delay_ms * 1000);
    gate_open();
    return NULL;
}

static clerk_jwks_remote *make_remote_with(clerk_jwks_fetch_fn fetch, long timeout_ms)
{
    clerk_jwks_remote_opts o = {
        .url = URL,
        .secret_key = SK,
        .timeout_ms = timeout_ms,
        .store = &mem_iface,
        .fetch = fetch,
        .fetch_ctx = &sc,
        .log = capture_log,
    };
    clerk_error err = {0};
    clerk_jwks_remote *r = clerk_jwks_remote_create(pool, &o, &err);
    ck_assert_msg(r != NULL, "%s", err.message);
    return r;
}

typedef struct finder {
    clerk_jwks_remote *r;
    const char *kid;
    int found;
    pthread_t th;
} finder;

static void *finder_main(void *arg)
{
    finder *f = arg;
    f->found = find(f->r, f->kid, NULL);
    return NULL;
}

/* Starts a lookup on its own thread and returns once it is inside the gated fetch. */
static void start_fetching(finder *f, clerk_jwks_remote *r, const char *kid)
{
    gate_reset();
    f->r = r;
    f->kid = kid;
    f->found = -1;
    ck_assert_int_eq(pthread_create(&f->th, NULL, finder_main, f), 0);
    gate_wait_entered();
}

/* Looks kid up on this thread while the gate opens after delay_ms; returns the time taken. */
static apr_interval_time_t timed_find(clerk_jwks_remote *r, const char *kid, long delay_ms,
                                      int *found, clerk_error *e)
{
    pthread_t opener;
    gt.delay_ms = delay_ms;
    ck_assert_int_eq(pthread_create(&opener, NULL, gate_opener, NULL), 0);
    apr_time_t t0 = apr_time_now();
    *found = find(r, kid, e);
    apr_interval_time_t took = apr_time_now() - t0;
    pthread_join(opener, NULL);
    return took;
}

START_TEST(process_without_keys_waits_for_another_process_fetch_and_gets_its_keys)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    clerk_jwks_remote *a = make_remote_with(gated_fetch, 5000);
    clerk_jwks_remote *b = make_remote_with(gated_fetch, 5000);
    finder fa;
    start_fetching(&fa, a, "ins_k1"); /* a holds the store lock, its fetch in flight */
    int found;
    clerk_error e = {0};
    apr_interval_time_t took = timed_find(b, "ins_k1", 200, &found, &e);
    pthread_join(fa.th, NULL);
    ck_assert_int_eq(fa.found, 1);
    ck_assert_msg(found, "b answered %s: %s", clerk_reason_str(e.reason), e.message);
    ck_assert_int_ge(took, apr_time_from_msec(150)); /* it did wait for a's fetch */
    ck_assert_int_lt(took, apr_time_from_msec(3000));
    ck_assert_int_eq(sc.calls, 1); /* b took a's copy from the store, never fetched itself */
}
END_TEST

START_TEST(thread_without_keys_waits_for_the_thread_fetching_in_its_process)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    clerk_jwks_remote *a = make_remote_with(gated_fetch, 5000);
    finder fa;
    start_fetching(&fa, a, "ins_k1");
    int found;
    clerk_error e = {0};
    apr_interval_time_t took = timed_find(a, "ins_k1", 200, &found, &e);
    pthread_join(fa.th, NULL);
    ck_assert_int_eq(fa.found, 1);
    ck_assert_msg(found, "second thread answered %s: %s", clerk_reason_str(e.reason), e.message);
    ck_assert_int_ge(took, apr_time_from_msec(150));
    ck_assert_int_eq(sc.calls, 1);
}
END_TEST

START_TEST(process_with_keys_never_waits_for_another_process_fetch)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    push(&sc, 0, 200, jwks_k1k2, NULL);
    clerk_jwks_remote *a = make_remote_with(gated_fetch, 5000);
    clerk_jwks_remote *b = make_remote_with(gated_fetch, 5000);
    gt.open = 1;
    ck_assert(find(b, "ins_k1", NULL)); /* b has a set */
    now = T0 + 400;                     /* due for a refresh everywhere */
    finder fa;
    start_fetching(&fa, a, "ins_k1");
    int found;
    clerk_error e = {0};
    /* the gate stays shut far longer than any wait b could make */
    apr_interval_time_t took = timed_find(b, "ins_k1", 2500, &found, &e);
    ck_assert(found); /* serves what it has */
    ck_assert_int_lt(took, apr_time_from_msec(1000));
    apr_time_t t0 = apr_time_now();
    ck_assert(!find(b, "ins_k2", &e)); /* unknown kid: its own set's answer, at once */
    ck_assert_int_eq(e.reason, CLERK_R_JWK_KID_MISMATCH);
    ck_assert_int_lt(apr_time_now() - t0, apr_time_from_msec(1000));
    pthread_join(fa.th, NULL);
    ck_assert_int_eq(sc.calls, 2);
}
END_TEST

START_TEST(outage_without_a_running_fetch_makes_nobody_wait)
{
    push(&sc, -1, 0, NULL, "Connection refused");
    clerk_jwks_remote *a = make_remote_with(scripted_fetch, 5000);
    clerk_jwks_remote *b = make_remote_with(scripted_fetch, 5000);
    clerk_error e;
    ck_assert(!find(a, "ins_k1", &e));
    ck_assert_int_eq(e.reason, CLERK_R_JWK_REMOTE_FAILED_TO_LOAD);
    for (int i = 0; i < 3; i++) {
        clerk_jwks_remote *who = i == 1 ? a : b;
        apr_time_t t0 = apr_time_now();
        ck_assert(!find(who, "ins_k1", &e));
        ck_assert_int_lt(apr_time_now() - t0, apr_time_from_msec(500));
        ck_assert_int_eq(e.reason, CLERK_R_JWK_REMOTE_FAILED_TO_LOAD);
        ck_assert_ptr_nonnull(strstr(e.message, "Connection refused"));
    }
    ck_assert_int_eq(sc.calls, 1); /* min_refresh holds for every process */
    ck_assert_int_eq(store.locked, 0);
}
END_TEST

START_TEST(wait_for_a_fetch_that_never_ends_stops_at_the_fetch_timeout)
{
    clerk_jwks_remote *r = make_remote_with(scripted_fetch, 300);
    store.busy = 1; /* another process holds the refresh lock and never finishes */
    clerk_error e;
    apr_time_t t0 = apr_time_now();
    ck_assert(!find(r, "ins_k1", &e));
    apr_interval_time_t took = apr_time_now() - t0;
    ck_assert_int_ge(took, apr_time_from_msec(250));
    ck_assert_int_lt(took, apr_time_from_msec(1500));
    ck_assert_int_eq(e.reason, CLERK_R_JWK_REMOTE_FAILED_TO_LOAD);
    ck_assert_str_eq(e.message, "Failed to load JWKS from Clerk Backend or Frontend API.");
    ck_assert_int_eq(sc.calls, 0);
}
END_TEST

START_TEST(tampered_shared_record_is_ignored)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    push(&sc, 0, 200, jwks_k2, NULL);
    clerk_jwks_remote *a = make_remote();
    ck_assert(find(a, "ins_k1", NULL));
    /* someone with write access to the cache but not the secret key swaps the JWKS text */
    ck_assert_ptr_nonnull(store.slot[0].val);
    unsigned char *v = store.slot[0].val;
    size_t len = store.slot[0].len;
    unsigned char *hit = memmem(v, len, "ins_k1", 6);
    ck_assert_ptr_nonnull(hit);
    memcpy(hit, "ins_kX", 6);
    clerk_jwks_remote *b = make_remote();
    clerk_error e;
    ck_assert(!find(b, "ins_kX", &e)); /* b fetched its own copy (k2 only) */
    ck_assert_int_eq(sc.calls, 2);
    ck_assert_ptr_nonnull(strstr(logbuf, "does not check out"));
}
END_TEST

static clerk_jwks_remote *make_remote_keyed(const char *secret, const char *mac_key)
{
    clerk_jwks_remote_opts o = {
        .url = URL,
        .secret_key = secret,
        .store = &mem_iface,
        .mac_key = (const unsigned char *)mac_key,
        .mac_key_len = mac_key ? strlen(mac_key) : 0,
        .fetch = scripted_fetch,
        .fetch_ctx = &sc,
        .log = capture_log,
    };
    clerk_error err = {0};
    clerk_jwks_remote *r = clerk_jwks_remote_create(pool, &o, &err);
    ck_assert_msg(r != NULL, "%s", err.message);
    return r;
}

#define MAC_A "0123456789abcdef0123456789abcdef-a"
#define MAC_B "0123456789abcdef0123456789abcdef-b"

/* A writer that lacks the MAC key (it knows the URL, from which the key used to be derived)
 * cannot make a record anyone adopts. */
START_TEST(record_under_another_mac_key_is_ignored)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    push(&sc, 0, 200, jwks_k2, NULL);
    clerk_jwks_remote *a = make_remote_keyed(NULL, MAC_A);
    ck_assert(find(a, "ins_k1", NULL));
    clerk_jwks_remote *b = make_remote_keyed(NULL, MAC_B);
    ck_assert(!find(b, "ins_k1", NULL)); /* b fetched its own copy (k2 only) */
    ck_assert_int_eq(sc.calls, 2);
    ck_assert_ptr_nonnull(strstr(logbuf, "does not check out"));
    /* a short key is refused outright */
    clerk_jwks_remote_opts o = {.url = URL,
                                .store = &mem_iface,
                                .mac_key = (const unsigned char *)"short",
                                .mac_key_len = 5};
    clerk_error err = {0};
    ck_assert_ptr_null(clerk_jwks_remote_create(pool, &o, &err));
    ck_assert_str_eq(err.message, "the record MAC key has 5 bytes; at least 32 are needed");
    /* a URL source with neither a MAC key nor a secret key shares nothing */
    clerk_jwks_remote *c = make_remote_keyed(NULL, NULL);
    ck_assert(!clerk_jwks_remote_shared(c));
}
END_TEST

/* A record is bound to its source: copied under another source's key it does not check out. */
START_TEST(record_moved_to_another_source_is_ignored)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    push(&sc, 0, 200, jwks_k2, NULL);
    clerk_jwks_remote *a = make_remote_keyed(NULL, MAC_A);
    clerk_jwks_remote *b = make_remote_keyed(SK, MAC_A);
    ck_assert(find(a, "ins_k1", NULL));
    /* the attacker copies a's record into b's slot */
    ck_assert_ptr_nonnull(store.slot[0].val);
    snprintf(store.slot[1].key, sizeof store.slot[1].key, "%s", clerk_jwks_remote_store_key(b));
    store.slot[1].val = malloc(store.slot[0].len);
    memcpy(store.slot[1].val, store.slot[0].val, store.slot[0].len);
    store.slot[1].len = store.slot[0].len;
    store.slot[1].expires_at = store.slot[0].expires_at;
    ck_assert(!find(b, "ins_k1", NULL));
    ck_assert_int_eq(sc.calls, 2);
    ck_assert_ptr_nonnull(strstr(logbuf, "does not check out"));
}
END_TEST

/* An authentic record older than a set some process here installed is a replay: a process that
 * starts later (no keys of its own yet) does not take it, it fetches. */
START_TEST(replayed_older_record_is_refused)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    push(&sc, 0, 200, jwks_k2, NULL);
    push(&sc, 0, 200, jwks_k2, NULL);
    clerk_jwks_remote *a = make_remote();
    ck_assert(find(a, "ins_k1", NULL));
    size_t oldlen = store.slot[0].len;
    unsigned char *old = malloc(oldlen);
    memcpy(old, store.slot[0].val, oldlen);
    now = T0 + 100;                     /* beyond CLERK_JWKS_REPLAY_SLACK_S */
    ck_assert(find(a, "ins_k2", NULL)); /* k1 rotated out: an unknown kid refetched */
    ck_assert_int_eq(store.newest, T0 + 100);
    /* someone writes the first record back */
    free(store.slot[0].val);
    store.slot[0].val = old;
    store.slot[0].len = oldlen;
    now = T0 + 101; /* the old record is well within the refresh interval */
    clerk_jwks_remote *fresh = make_remote();
    clerk_error e;
    ck_assert(!find(fresh, "ins_k1", &e));
    ck_assert_int_eq(sc.calls, 3);
    ck_assert_ptr_nonnull(strstr(logbuf, "(replayed)"));
}
END_TEST

/* The floor rises only with a record actually written: when the store refused the newer record,
 * the older one it still holds is the current one, not a replay. */
START_TEST(floor_stays_when_the_newer_record_is_not_stored)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    push(&sc, 0, 200, jwks_k2, NULL);
    clerk_jwks_remote *a = make_remote();
    ck_assert(find(a, "ins_k1", NULL));
    ck_assert_int_eq(store.newest, T0);
    store.fail_sets = 1;
    now = T0 + 100; /* well past the slack */
    ck_assert(find(a, "ins_k2", NULL));
    ck_assert_int_eq(sc.calls, 2);
    ck_assert_int_eq(store.newest, T0);
    store.fail_sets = 0;
    now = T0 + 101;
    clerk_jwks_remote *fresh = make_remote();
    ck_assert(find(fresh, "ins_k1", NULL)); /* from the stored record, no fetch */
    ck_assert_int_eq(sc.calls, 2);
    ck_assert_ptr_null(strstr(logbuf, "(replayed)"));
}
END_TEST

/* Another host whose clock runs behind writes a newer fetch with an earlier time: up to
 * CLERK_JWKS_REPLAY_SLACK_S below the floor is taken, more is a replay. */
START_TEST(floor_allows_slack_for_another_hosts_clock)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    push(&sc, 0, 200, jwks_k2, NULL);
    now = T0 + 80;
    clerk_jwks_remote *other = make_remote();
    ck_assert(find(other, "ins_k1", NULL));             /* record fetched at T0 + 80 */
    store.newest = T0 + 80 + CLERK_JWKS_REPLAY_SLACK_S; /* this host installed "later" */
    now = store.newest;
    clerk_jwks_remote *fresh = make_remote();
    ck_assert(find(fresh, "ins_k1", NULL));
    ck_assert_int_eq(sc.calls, 1);
    ck_assert_ptr_null(strstr(logbuf, "(replayed)"));
    store.newest = T0 + 81 + CLERK_JWKS_REPLAY_SLACK_S;
    now = store.newest;
    clerk_jwks_remote *late = make_remote();
    ck_assert(find(late, "ins_k2", NULL)); /* refused the record, fetched */
    ck_assert_int_eq(sc.calls, 2);
    ck_assert_ptr_nonnull(strstr(logbuf, "(replayed)"));
}
END_TEST

/* A floor ahead of now (the clock stepped back) drops to now: records written from now on are
 * taken, and the store's floor is lowered for every process. */
START_TEST(floor_in_the_future_is_reset_to_now)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    push(&sc, 0, 200, jwks_k2, NULL);
    clerk_jwks_remote *a = make_remote();
    ck_assert(find(a, "ins_k1", NULL)); /* record fetched at T0 */
    store.newest = T0 + 3600;           /* installed before the clock went back an hour */
    now = T0 + 5;
    clerk_jwks_remote *fresh = make_remote();
    ck_assert(find(fresh, "ins_k1", NULL));
    ck_assert_int_eq(sc.calls, 1);
    ck_assert_ptr_null(strstr(logbuf, "(replayed)"));
    ck_assert_int_eq(store.newest, T0 + 5);
}
END_TEST

START_TEST(held_key_survives_a_swap_until_release)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    push(&sc, 0, 200, jwks_k2, NULL);
    clerk_jwks_remote *r = make_remote();
    clerk_jwks_request rq;
    clerk_jwks_request_init(&rq, r, now);
    clerk_error e;
    const clerk_key *k = clerk_jwks_request_lookup(&rq, "ins_k1", &e);
    ck_assert_ptr_nonnull(k);
    now = T0 + 300;
    ck_assert(find(r, "ins_k2", NULL)); /* the set k came from is replaced */
    ck_assert_str_eq(k->kid, "ins_k1"); /* still readable: rq holds its set */
    ck_assert_int_gt(EVP_PKEY_get_bits(k->pkey), 0);
    const clerk_key *again = clerk_jwks_request_lookup(&rq, "ins_k1", &e);
    ck_assert_ptr_null(again); /* the request's own now is fixed; the new set lacks k1 */
    clerk_jwks_request_release(&rq);
}
END_TEST

/* What the count callback reported: [0] failed, [1] ok; the ctx it was given. */
static int fetch_counts[2];
static void *fetch_count_ctx;

static void count_fetch(void *ctx, int ok)
{
    fetch_counts[ok ? 1 : 0]++;
    fetch_count_ctx = ctx;
}

START_TEST(every_fetch_attempt_is_counted_with_its_result)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    push(&sc, 0, 503, "upstream down", NULL);
    push(&sc, 0, 200, "not json", NULL);
    fetch_counts[0] = fetch_counts[1] = 0;
    fetch_count_ctx = NULL;
    static int tag;
    clerk_jwks_remote_opts o = {.url = URL,
                                .secret_key = SK,
                                .store = &mem_iface,
                                .fetch = scripted_fetch,
                                .fetch_ctx = &sc,
                                .count = count_fetch,
                                .count_ctx = &tag};
    clerk_error err = {0};
    clerk_jwks_remote *r = clerk_jwks_remote_create(pool, &o, &err);
    ck_assert_msg(r != NULL, "%s", err.message);
    ck_assert_int_eq(clerk_jwks_remote_preload(r, now, NULL), 0);
    ck_assert_int_eq(fetch_counts[1], 1);
    ck_assert_int_eq(fetch_counts[0], 0);
    ck_assert_ptr_eq(fetch_count_ctx, &tag);
    now = T0 + 300; /* stale: one failed attempt (503) */
    ck_assert(find(r, "ins_k1", NULL));
    ck_assert_int_eq(fetch_counts[0], 1);
    now = T0 + 600; /* a 200 that is not a key set fails too */
    ck_assert(find(r, "ins_k1", NULL));
    ck_assert_int_eq(sc.calls, 3);
    ck_assert_int_eq(fetch_counts[0], 2);
    ck_assert_int_eq(fetch_counts[1], 1);
}
END_TEST

START_TEST(without_a_store_the_process_fetches_alone)
{
    push(&sc, 0, 200, jwks_k1, NULL);
    sc.store = NULL;
    clerk_jwks_remote_opts o = {
        .url = URL, .fetch = scripted_fetch, .fetch_ctx = &sc, .refresh_s = 60};
    clerk_error err = {0};
    clerk_jwks_remote *r = clerk_jwks_remote_create(pool, &o, &err);
    ck_assert_ptr_nonnull(r);
    ck_assert(find(r, "ins_k1", NULL));
    ck_assert_str_eq(sc.last_headers, ""); /* no secret key: no Authorization header */
    now = T0 + 59;
    ck_assert(find(r, "ins_k1", NULL));
    ck_assert_int_eq(sc.calls, 1);
}
END_TEST

START_TEST(bapi_url_joins_with_one_slash)
{
    ck_assert_str_eq(clerk_jwks_bapi_url(pool, "https://api.clerk.com"),
                     "https://api.clerk.com/v1/jwks");
    ck_assert_str_eq(clerk_jwks_bapi_url(pool, "https://api.clerk.com//"),
                     "https://api.clerk.com/v1/jwks");
    clerk_jwks_remote *r = make_remote();
    const char *key = clerk_jwks_remote_store_key(r);
    ck_assert_int_eq(strncmp(key, "clerk-jwks:", 11), 0);
    ck_assert_int_eq(strlen(key), 11 + 64);
    ck_assert_ptr_null(strstr(key, "sk_test"));
}
END_TEST

/* ---- http_fetch against a loopback server -------------------------------------------------- */

typedef enum srv_mode { SRV_OK, SRV_404, SRV_302, SRV_BIG, SRV_BIG_CL, SRV_SLOW } srv_mode;

typedef struct srv {
    pid_t pid;
    int port;
    int reqfd; /* read end: the request the server received */
} srv;

static void serve(int ls, int wfd, srv_mode mode)
{
    int c = accept(ls, NULL, NULL);
    if (c < 0)
        _exit(1);
    char req[4096];
    size_t n = unit_read_request_head(c, req, sizeof req);
    if (write(wfd, req, n) < 0)
        _exit(1);
    close(wfd);
    char head[256];
    static char big[20000];
    memset(big, 'x', sizeof big);
    switch (mode) {
    case SRV_OK:
        snprintf(head, sizeof head,
                 "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"keys\":[]}");
        break;
    case SRV_404:
        snprintf(
            head, sizeof head,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot here!");
        break;
    case SRV_302:
        snprintf(head, sizeof head,
                 "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\n"
                 "Content-Length: 0\r\nConnection: close\r\n\r\n");
        break;
    case SRV_BIG:
        snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        break;
    case SRV_BIG_CL:
        snprintf(head, sizeof head,
                 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", sizeof big);
        break;
    case SRV_SLOW:
        sleep(3);
        head[0] = '\0';
        break;
    }
    if (write(c, head, strlen(head)) < 0)
        _exit(0);
    if (mode == SRV_BIG || mode == SRV_BIG_CL)
        if (write(c, big, sizeof big) < 0)
            _exit(0);
    close(c);
    _exit(0);
}

static srv srv_start(srv_mode mode)
{
    srv s = {0};
    int ls = unit_listen_loopback(4, &s.port);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    s.pid = fork();
    ck_assert_int_ge(s.pid, 0);
    if (s.pid == 0) {
        close(p[0]);
        serve(ls, p[1], mode);
    }
    close(p[1]);
    close(ls);
    s.reqfd = p[0];
    return s;
}

/* Stops the server and returns the request it saw (static buffer). */
static const char *srv_stop(srv *s)
{
    static char req[4096];
    size_t n = 0;
    ssize_t got;
    kill(s->pid, SIGKILL); /* SIGKILL: the child inherited Check's SIGTERM handler */
    while (n < sizeof req - 1 && (got = read(s->reqfd, req + n, sizeof req - 1 - n)) > 0)
        n += (size_t)got;
    req[n] = '\0';
    close(s->reqfd);
    waitpid(s->pid, NULL, 0);
    return req;
}

static void url_of(const srv *s, char *buf, size_t n)
{
    snprintf(buf, n, "http://127.0.0.1:%d/v1/jwks", s->port);
}

static void http_setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void http_teardown(void)
{
    curl_global_cleanup();
}

START_TEST(http_status_body_and_request_headers)
{
    srv s = srv_start(SRV_OK);
    char url[128];
    clerk_error err = {0};
    url_of(&s, url, sizeof url);
    const char *hdrs[] = {"Authorization: Bearer sk_test_abc", "Clerk-API-Version: 2026-05-12",
                          NULL};
    clerk_http_request rq = {.url = url, .headers = hdrs};
    clerk_http_response rs;
    ck_assert_int_eq(clerk_http_get(&rq, &rs, &err), 0);
    ck_assert_int_eq(rs.status, 200);
    ck_assert_str_eq(rs.body, "{\"keys\":[]}");
    ck_assert_int_eq(rs.body_len, 11);
    clerk_http_response_free(&rs);
    const char *seen = srv_stop(&s);
    ck_assert_ptr_nonnull(strstr(seen, "GET /v1/jwks HTTP/1.1\r\n"));
    ck_assert_ptr_nonnull(strstr(seen, "\r\nUser-Agent: mod_clerk_auth/"));
    ck_assert_ptr_nonnull(strstr(seen, "\r\nAuthorization: Bearer sk_test_abc\r\n"));
    ck_assert_ptr_nonnull(strstr(seen, "\r\nClerk-API-Version: 2026-05-12\r\n"));
}
END_TEST

START_TEST(http_error_status_is_returned_with_its_body)
{
    srv s = srv_start(SRV_404);
    char url[128];
    clerk_error err = {0};
    url_of(&s, url, sizeof url);
    clerk_http_request rq = {.url = url};
    clerk_http_response rs;
    ck_assert_int_eq(clerk_http_get(&rq, &rs, &err), 0);
    ck_assert_int_eq(rs.status, 404);
    ck_assert_str_eq(rs.body, "not here!");
    clerk_http_response_free(&rs);
    srv_stop(&s);
}
END_TEST

START_TEST(http_redirect_is_not_followed)
{
    srv s = srv_start(SRV_302);
    char url[128];
    clerk_error err = {0};
    url_of(&s, url, sizeof url);
    clerk_http_request rq = {.url = url};
    clerk_http_response rs;
    ck_assert_int_eq(clerk_http_get(&rq, &rs, &err), -1);
    ck_assert_int_eq(rs.status, 302);
    ck_assert_str_eq(err.message, "redirect not followed (HTTP 302)");
    clerk_http_response_free(&rs);
    srv_stop(&s);
}
END_TEST

START_TEST(http_body_over_cap_is_refused)
{
    srv_mode modes[] = {SRV_BIG, SRV_BIG_CL};
    for (int i = 0; i < 2; i++) {
        srv s = srv_start(modes[i]);
        char url[128];
        clerk_error err = {0};
        url_of(&s, url, sizeof url);
        clerk_http_request rq = {.url = url, .max_body = 1000};
        clerk_http_response rs;
        ck_assert_int_eq(clerk_http_get(&rq, &rs, &err), -1);
        ck_assert_str_eq(err.message, "response body larger than 1000 bytes");
        ck_assert_ptr_null(rs.body);
        clerk_http_response_free(&rs);
        srv_stop(&s);
    }
}
END_TEST

START_TEST(http_slow_server_times_out)
{
    srv s = srv_start(SRV_SLOW);
    char url[128];
    clerk_error err = {0};
    url_of(&s, url, sizeof url);
    clerk_http_request rq = {.url = url, .timeout_ms = 300};
    clerk_http_response rs;
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    ck_assert_int_eq(clerk_http_get(&rq, &rs, &err), -1);
    gettimeofday(&t1, NULL);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
    ck_assert_int_lt(ms, 2000);
    ck_assert_int_eq(rs.status, 0);
    ck_assert_ptr_nonnull(strstr(err.message, "Timeout"));
    clerk_http_response_free(&rs);
    srv_stop(&s);
}
END_TEST

START_TEST(http_other_schemes_are_refused)
{
    clerk_error err = {0};
    clerk_http_request rq = {.url = "file:///etc/hostname"};
    clerk_http_response rs;
    ck_assert_int_eq(clerk_http_get(&rq, &rs, &err), -1);
    ck_assert_ptr_null(rs.body);
    ck_assert_int_eq(rs.status, 0);
    clerk_http_response_free(&rs);
}
END_TEST

START_TEST(http_error_never_echoes_a_header_value)
{
    clerk_error err = {0};
    /* libcurl names the host it could not reach; here the host carries the header's value */
    const char *hdrs[] = {"Authorization: Bearer sk-test-topsecretvalue", NULL};
    clerk_http_request rq = {
        .url = "http://sk-test-topsecretvalue.invalid/", .headers = hdrs, .timeout_ms = 2000};
    clerk_http_response rs;
    ck_assert_int_eq(clerk_http_get(&rq, &rs, &err), -1);
    ck_assert_ptr_null(strstr(err.message, "topsecret"));
    ck_assert_ptr_nonnull(strstr(err.message, "[redacted]"));
    clerk_http_response_free(&rs);
}
END_TEST

START_TEST(ca_file_check_refuses_a_file_without_certificates)
{
    clerk_error err = {0};
    ck_assert_int_eq(clerk_http_ca_file_check("/nonexistent/ca.pem", &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "no readable PEM certificate"));
    ck_assert_str_eq(clerk_http_user_agent(), "mod_clerk_auth/" PACKAGE_VERSION);
}
END_TEST

/* ---- TLS: verification is on, and ClerkCABundle adds a trust anchor ------------------------ */

static char tls_dir[64];

/* A self-signed P-256 certificate for IP 127.0.0.1, made with the openssl CLI. */
static int tls_make_cert(void)
{
    snprintf(tls_dir, sizeof tls_dir, "/tmp/clerk-jwks-tls-XXXXXX");
    if (mkdtemp(tls_dir) == NULL)
        return -1;
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
             "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout %s/key.pem "
             "-out %s/cert.pem >/dev/null 2>&1",
             tls_dir, tls_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void tls_cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tls_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tls_dir);
}

static void tls_serve(int ls)
{
    char cert[128], key[128];
    snprintf(cert, sizeof cert, "%s/cert.pem", tls_dir);
    snprintf(key, sizeof key, "%s/key.pem", tls_dir);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        _exit(1);
    for (int i = 0; i < 2; i++) { /* one refused handshake, one good request */
        int c = accept(ls, NULL, NULL);
        if (c < 0)
            _exit(1);
        SSL *ssl = SSL_new(ctx);
        SSL_set_fd(ssl, c);
        if (SSL_accept(ssl) == 1) {
            char req[2048];
            int n = SSL_read(ssl, req, sizeof req - 1);
            (void)n;
            const char *resp =
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
            SSL_write(ssl, resp, (int)strlen(resp));
            SSL_shutdown(ssl);
        }
        SSL_free(ssl);
        close(c);
    }
    _exit(0);
}

START_TEST(tls_is_verified_and_ca_file_adds_a_trust_anchor)
{
    ck_assert_int_eq(tls_make_cert(), 0);
    int port;
    int ls = unit_listen_loopback(4, &port);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        tls_serve(ls);
    close(ls);
    char url[128], ca[128];
    clerk_error err = {0};
    snprintf(url, sizeof url, "https://127.0.0.1:%d/v1/jwks", port);
    snprintf(ca, sizeof ca, "%s/cert.pem", tls_dir);
    clerk_http_response rs;
    clerk_http_request rq = {.url = url, .timeout_ms = 60000};
    int rc1 = clerk_http_get(&rq, &rs, &err);
    char err1[256];
    snprintf(err1, sizeof err1, "%.255s", err.message);
    clerk_http_response_free(&rs);
    rq.ca_file = ca;
    int rc2 = clerk_http_get(&rq, &rs, &err);
    long st2 = rs.status;
    char body2[8];
    snprintf(body2, sizeof body2, "%s", rs.body ? rs.body : "");
    clerk_http_response_free(&rs);
    int ca_ok = clerk_http_ca_file_check(ca, &err);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    tls_cleanup();
    ck_assert_int_eq(rc1, -1);
    ck_assert_msg(strstr(err1, "certificate") != NULL, "%s", err1);
    ck_assert_int_eq(rc2, 0);
    ck_assert_int_eq(st2, 200);
    ck_assert_str_eq(body2, "ok");
    ck_assert_int_eq(ca_ok, 0);
}
END_TEST

Suite *jwks_remote_suite(void)
{
    Suite *s = suite_create("jwks_remote");
    TCase *tc = tcase_create("policy");
    tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fresh_set_answers_without_fetch_or_store_access);
    tcase_add_test(tc, set_is_refetched_once_refresh_interval_passed);
    tcase_add_test(tc, secret_key_and_api_version_are_sent);
    tcase_add_test(tc, unknown_kid_fetches_once_and_a_flood_within_min_refresh_fetches_no_more);
    tcase_add_test(tc, kid_mismatch_has_clerks_message_with_sorted_kids);
    tcase_add_test(tc, rotated_key_is_accepted_after_one_fetch);
    tcase_add_test(tc, outage_keeps_last_good_set_until_max_stale_then_fails_to_load);
    tcase_add_test(tc, clerk_key_invalid_body_is_secret_key_invalid);
    tcase_add_test(tc, other_error_codes_are_clerks_failed_to_load_message);
    tcase_add_test(tc, redirect_is_a_failed_load_with_its_code);
    tcase_add_test(tc, empty_keys_is_failed_to_load_with_clerks_message);
    tcase_add_test(tc, garbage_or_oversized_body_keeps_last_good_set);
    tcase_add_test(tc, two_processes_sharing_a_store_fetch_once);
    tcase_add_test(tc, busy_lock_loser_never_blocks_and_answers_with_what_it_has);
    tcase_add_test(tc, process_without_keys_waits_for_another_process_fetch_and_gets_its_keys);
    tcase_add_test(tc, thread_without_keys_waits_for_the_thread_fetching_in_its_process);
    tcase_add_test(tc, process_with_keys_never_waits_for_another_process_fetch);
    tcase_add_test(tc, outage_without_a_running_fetch_makes_nobody_wait);
    tcase_add_test(tc, wait_for_a_fetch_that_never_ends_stops_at_the_fetch_timeout);
    tcase_add_test(tc, tampered_shared_record_is_ignored);
    tcase_add_test(tc, record_under_another_mac_key_is_ignored);
    tcase_add_test(tc, record_moved_to_another_source_is_ignored);
    tcase_add_test(tc, replayed_older_record_is_refused);
    tcase_add_test(tc, floor_stays_when_the_newer_record_is_not_stored);
    tcase_add_test(tc, floor_allows_slack_for_another_hosts_clock);
    tcase_add_test(tc, floor_in_the_future_is_reset_to_now);
    tcase_add_test(tc, held_key_survives_a_swap_until_release);
    tcase_add_test(tc, without_a_store_the_process_fetches_alone);
    tcase_add_test(tc, every_fetch_attempt_is_counted_with_its_result);
    tcase_add_test(tc, bapi_url_joins_with_one_slash);
    suite_add_tcase(s, tc);

    TCase *th = tcase_create("http_fetch");
    tcase_add_checked_fixture(th, http_setup, http_teardown);
    tcase_set_timeout(th, 150); /* valgrind runs the TLS handshakes slowly */
    tcase_add_test(th, http_status_body_and_request_headers);
    tcase_add_test(th, http_error_status_is_returned_with_its_body);
    tcase_add_test(th, http_redirect_is_not_followed);
    tcase_add_test(th, http_body_over_cap_is_refused);
    tcase_add_test(th, http_slow_server_times_out);
    tcase_add_test(th, http_other_schemes_are_refused);
    tcase_add_test(th, http_error_never_echoes_a_header_value);
    tcase_add_test(th, ca_file_check_refuses_a_file_without_certificates);
    tcase_add_test(th, tls_is_verified_and_ca_file_adds_a_trust_anchor);
    suite_add_tcase(s, th);
    return s;
}
