/* micro: the core alone, in ns per call, beside the RSA-2048 verify limit.
 *   micro [ITERATIONS [OPENSSL_RSA2048_VERIFIES_PER_S]]
 * Rows: verify-only (clerk_token_verify with its signature check forced), cache hit
 * (clerk_request_state, Bearer, token cache warm), 1,000 rotating tokens (warm), cache miss
 * (clerk_request_state with tokens that cannot be in the cache: 4,000 distinct tokens cycled
 * through a 256-entry cache), cookie flow hit, and the decision alone (no token presented).
 * Each request gets its own APR pool, cleared after the call, as httpd does. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "jwk.h"
#include "mint.h"
#include "publishable_key.h"
#include "request_state.h"
#include "token.h"
#include "token_cache.h"

#define MISS_CACHE 256
#define ROT_TOKENS 1000

static const clerk_key *find_key(void *ctx, const char *kid, clerk_error *err)
{
    const clerk_key *k = clerk_keyset_find(ctx, kid);
    if (k == NULL)
        clerk_error_set(err, CLERK_R_JWK_KID_MISMATCH, "no key");
    return k;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: robust on a busy machine */
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static char *mint_one(EVP_PKEY *k, long i, long long now)
{
    char payload[512];
    snprintf(payload, sizeof payload,
             "{\"azp\":\"https://app.bench.test\",\"exp\":%lld,\"fva\":[3,-1],\"iat\":%lld,"
             "\"iss\":\"https://clerk.bench.test\",\"nbf\":%lld,\"sid\":\"sess_bench%010ld\","
             "\"sts\":\"active\",\"sub\":\"user_bench%010ld\",\"v\":2}",
             now + 3600, now, now - 10, i, i);
    char *t =
        mint_sign(k, "RS256", "{\"alg\":\"RS256\",\"kid\":\"ins_bench\",\"typ\":\"JWT\"}", payload);
    if (t == NULL) {
        fprintf(stderr, "micro: signing failed\n");
        exit(1);
    }
    return t;
}

typedef struct bench {
    apr_pool_t *pool;
    clerk_config cfg;
    clerk_request req;
    long signed_in, calls;
} bench;

/* One decision per call on a fresh request pool; the answer is counted so a broken set-up
 * cannot look fast. */
static void decide(bench *b, const char *auth, const char *cookie)
{
    apr_pool_t *p;
    apr_pool_create(&p, b->pool);
    clerk_request q = b->req;
    q.authorization = auth;
    q.cookie = cookie;
    clerk_state st;
    clerk_request_state(p, &q, &b->cfg, &st);
    b->signed_in += st.status == CLERK_SIGNED_IN;
    if (st.status != CLERK_SIGNED_IN && getenv("MICRO_DEBUG"))
        fprintf(stderr, "%d %s %s\n", st.status, clerk_reason_str(st.reason), st.message);
    b->calls++;
    apr_pool_destroy(p);
}

/* MICRO_ONLY=verify|hit|miss runs one phase (for a profiler); unset runs all. */
static int want(const char *phase)
{
    const char *only = getenv("MICRO_ONLY");
    return only == NULL || strcmp(only, phase) == 0;
}

static void row(const char *name, double ns, long ok, long calls, const char *note)
{
    printf("%-34s %10.0f ns/call %9.0f calls/s  signed-in %ld/%ld%s%s\n", name, ns, 1e9 / ns, ok,
           calls, note ? "  " : "", note ? note : "");
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    if (iters < 1000)
        iters = 1000;
    apr_initialize();
    apr_pool_t *root;
    apr_pool_create(&root, NULL);

    EVP_PKEY *k = mint_keygen("rsa2048");
    char *pem = mint_public_pem(k);
    clerk_keyset *ks = clerk_keyset_new();
    clerk_error err = {0};
    if (clerk_keyset_add_pem(ks, pem, strlen(pem), &err) != 0) {
        fprintf(stderr, "micro: %s\n", err.message);
        return 1;
    }
    /* MICRO_TOKENS (default 4000, at least 1,000) shortens minting under a profiler. */
    long MISS_TOKENS = getenv("MICRO_TOKENS") ? strtol(getenv("MICRO_TOKENS"), NULL, 10) : 4000;
    if (MISS_TOKENS < ROT_TOKENS)
        MISS_TOKENS = ROT_TOKENS;
    long long now = (long long)time(NULL);
    char **toks = malloc(sizeof(char *) * MISS_TOKENS);
    char **auth = malloc(sizeof(char *) * MISS_TOKENS);
    char **cook = malloc(sizeof(char *) * MISS_TOKENS);
    for (long i = 0; i < MISS_TOKENS; i++) {
        toks[i] = mint_one(k, i, now);
        auth[i] = apr_pstrcat(root, "Bearer ", toks[i], NULL);
        char uat[32]; /* apr_psprintf has no %lld */
        snprintf(uat, sizeof uat, "%lld", now);
        cook[i] = apr_pstrcat(root, "__session=", toks[i], "; __client_uat=", uat, NULL);
    }

    bench b = {.pool = root};
    b.cfg.verify.skew_ms = 5000;
    b.cfg.verify.algs = CLERK_ALGS_DEFAULT;
    b.cfg.keys.lookup = find_key;
    b.cfg.keys.ctx = ks;
    b.cfg.cache = clerk_token_cache_create(4096);
    /* A production instance whose Frontend API issued the tokens, as the load benchmark uses:
     * the cookie path then makes its suffix choice from the token's iss. */
    clerk_publishable_key *pk = NULL;
    clerk_error perr;
    if (clerk_publishable_key_parse(root, "pk_live_Y2xlcmsuYmVuY2gudGVzdCQ", &pk, &perr) != 0) {
        fprintf(stderr, "micro: %s\n", perr.message);
        return 1;
    }
    b.cfg.pk = pk;
    b.req.method = "GET";
    b.req.url.conn_scheme = "http";
    b.req.url.host = "127.0.0.1:8080";
    b.req.url.path = "/api/data";
    b.req.sec_fetch_dest = "empty";
    b.req.accept = "*/*";
    b.req.now_ms = now * 1000;

    double verify_ns = 0, hit_ns = 0, miss_ns = 0, t0;
    if (want("verify")) {
        /* decode once, then clerk_token_verify with the signature forced each time. */
        clerk_token *t;
        clerk_error e;
        if (clerk_token_decode(toks[0], strlen(toks[0]), 0, &t, &e) != 0) {
            fprintf(stderr, "micro: decode: %s\n", e.message);
            return 1;
        }
        clerk_verify_opts o = b.cfg.verify;
        o.now_ms = b.req.now_ms;
        long vit = iters / 10, vok = 0;
        t0 = now_ns();
        for (long i = 0; i < vit; i++) {
            t->verified = 0;
            vok += clerk_token_verify(t, &o, &b.cfg.keys, &e) == 0;
        }
        verify_ns = (now_ns() - t0) / (double)vit;
        clerk_token_release(t);
        row("verify-only (one RSA verify)", verify_ns, vok, vit, NULL);
    }

    if (want("verify")) {
        /* decode alone: base64url and the two JSON objects of a fresh token */
        long dit = iters / 4, dok = 0;
        t0 = now_ns();
        for (long i = 0; i < dit; i++) {
            clerk_token *t;
            clerk_error e;
            const char *x = toks[i % MISS_TOKENS];
            if (clerk_token_decode(x, strlen(x), 0, &t, &e) == 0) {
                dok++;
                clerk_token_release(t);
            }
        }
        row("decode only (fresh token)", (now_ns() - t0) / (double)dit, dok, dit, NULL);
    }

    if (want("hit")) {
        decide(&b, auth[0], NULL); /* one token, cache warm */
        b.signed_in = b.calls = 0;
        t0 = now_ns();
        for (long i = 0; i < iters; i++)
            decide(&b, auth[0], NULL);
        hit_ns = (now_ns() - t0) / (double)iters;
        row("cache hit (Bearer, one token)", hit_ns, b.signed_in, b.calls, NULL);

        for (long i = 0; i < ROT_TOKENS; i++) /* 1,000 rotating tokens, all cached */
            decide(&b, auth[i], NULL);
        b.signed_in = b.calls = 0;
        t0 = now_ns();
        for (long i = 0; i < iters; i++)
            decide(&b, auth[i % ROT_TOKENS], NULL);
        row("cache hit (1,000 rotating tokens)", (now_ns() - t0) / (double)iters, b.signed_in,
            b.calls, NULL);

        b.signed_in = b.calls = 0;
        t0 = now_ns();
        for (long i = 0; i < iters; i++)
            decide(&b, NULL, cook[i % ROT_TOKENS]);
        row("cache hit (cookie flow)", (now_ns() - t0) / (double)iters, b.signed_in, b.calls, NULL);

        b.signed_in = b.calls = 0; /* the decision alone: no token */
        t0 = now_ns();
        for (long i = 0; i < iters; i++)
            decide(&b, NULL, NULL);
        row("decision, no token (signed-out)", (now_ns() - t0) / (double)iters, b.signed_in,
            b.calls, NULL);
    }

    if (want("miss")) {
        /* more distinct tokens than a small cache can keep, cycled: every lookup misses */
        clerk_token_cache_destroy(b.cfg.cache);
        b.cfg.cache = clerk_token_cache_create(MISS_CACHE);
        long mit = iters / 10;
        b.signed_in = b.calls = 0;
        t0 = now_ns();
        for (long i = 0; i < mit; i++)
            decide(&b, auth[i % MISS_TOKENS], NULL);
        miss_ns = (now_ns() - t0) / (double)mit;
        uint64_t hits, misses;
        clerk_token_cache_stats(b.cfg.cache, &hits, &misses, NULL);
        char note[64];
        snprintf(note, sizeof note, "cache hits %" PRIu64 " misses %" PRIu64, hits, misses);
        row("cache miss (fresh token)", miss_ns, b.signed_in, b.calls, note);
    }

    if (verify_ns > 0 && miss_ns > 0)
        printf("ratio miss / verify-only row: %.2f\n", miss_ns / verify_ns);
    double limit = argc > 2 ? strtod(argv[2], NULL) : 0;
    if (limit > 0 && miss_ns > 0)
        printf("openssl speed rsa2048: %.0f verify/s = %.0f ns per verify (the limit); "
               "ratio miss / one RSA verify: %.2f\n",
               limit, 1e9 / limit, miss_ns / (1e9 / limit));
    if (hit_ns > 0)
        printf("cache hit: %.2f us\n", hit_ns / 1000.0);

    clerk_token_cache_destroy(b.cfg.cache);
    clerk_keyset_unref(ks);
    EVP_PKEY_free(k);
    free(pem);
    for (long i = 0; i < MISS_TOKENS; i++)
        free(toks[i]);
    free(toks);
    free(auth);
    free(cook);
    apr_pool_destroy(root);
    apr_terminate();
    return 0;
}
