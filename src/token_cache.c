/* A set-associative cache of verified tokens: a token's SHA-256 picks a set of WAYS slots, so
 * get and put scan a fixed number of entries (O(1)) and memory is fixed at creation. Sets are
 * guarded by a stripe of mutexes so threads working on different tokens rarely contend. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "token_cache.h"

#define WAYS    8  /* slots per set; the oldest of a full set is evicted */
#define STRIPES 64 /* mutexes; set i uses stripe i % STRIPES */

typedef struct slot {
    unsigned char key[32]; /* SHA-256 of the token text */
    clerk_token *tok;      /* NULL: free */
    int64_t exp_ms;
    uint64_t seq; /* insertion order within the cache, for eviction */
} slot;

struct clerk_token_cache {
    /* Fetched once: EVP_sha256() would make every EVP_Digest fetch the provider's implementation
     * again, under a lock all threads share (measured: the largest cost of a cache hit). */
    EVP_MD *sha256;
    size_t nsets;
    slot *slots; /* nsets * WAYS */
    pthread_mutex_t locks[STRIPES];
    atomic_uint_fast64_t hits, misses, seq;
    atomic_size_t entries;
};

clerk_token_cache *clerk_token_cache_create(size_t capacity)
{
    if (capacity == 0)
        capacity = 1;
    clerk_token_cache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->nsets = (capacity + WAYS - 1) / WAYS;
    c->slots = calloc(c->nsets * WAYS, sizeof *c->slots);
    c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (c->slots == NULL || c->sha256 == NULL) {
        EVP_MD_free(c->sha256);
        free(c->slots);
        free(c);
        return NULL;
    }
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    atomic_init(&c->hits, 0);
    atomic_init(&c->misses, 0);
    atomic_init(&c->seq, 0);
    atomic_init(&c->entries, 0);
    return c;
}

/* One digest context per thread, reused for every look-up: EVP_Digest would allocate and free
 * two contexts per call (measured: half of its cost under httpd). Freed when the thread ends. */
static pthread_key_t md_ctx_key;
static pthread_once_t md_ctx_once = PTHREAD_ONCE_INIT;
static int md_ctx_key_ok;

static void md_ctx_free(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void md_ctx_key_init(void)
{
    md_ctx_key_ok = pthread_key_create(&md_ctx_key, md_ctx_free) == 0;
}

static EVP_MD_CTX *thread_md_ctx(void)
{
    pthread_once(&md_ctx_once, md_ctx_key_init);
    if (!md_ctx_key_ok)
        return NULL;
    EVP_MD_CTX *ctx = pthread_getspecific(md_ctx_key);
    if (ctx == NULL && (ctx = EVP_MD_CTX_new()) != NULL &&
        pthread_setspecific(md_ctx_key, ctx) != 0) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

/* The digest of the token and the index of its set; -1 when hashing fails. */
static int locate(const clerk_token_cache *c, const char *tok, size_t len, unsigned char key[32],
                  size_t *set)
{
    unsigned int n = 0;
    EVP_MD_CTX *ctx = thread_md_ctx();
    int ok = ctx != NULL
                 ? EVP_DigestInit_ex2(ctx, c->sha256, NULL) == 1 &&
                       EVP_DigestUpdate(ctx, tok, len) == 1 && EVP_DigestFinal_ex(ctx, key, &n) == 1
                 : EVP_Digest(tok, len, key, &n, c->sha256, NULL) == 1;
    if (!ok || n != 32)
        return -1;
    uint64_t h;
    memcpy(&h, key, sizeof h);
    *set = (size_t)(h % c->nsets);
    return 0;
}

static int expired(int64_t exp_ms, int64_t now_ms, int64_t max_skew_ms)
{
    return exp_ms <= now_ms - max_skew_ms;
}

clerk_token *clerk_token_cache_get(clerk_token_cache *c, const char *tok, size_t len,
                                   int64_t now_ms, int64_t max_skew_ms)
{
    if (c == NULL || tok == NULL)
        return NULL;
    unsigned char key[32];
    size_t set;
    if (locate(c, tok, len, key, &set) != 0) {
        atomic_fetch_add(&c->misses, 1);
        return NULL;
    }
    clerk_token *found = NULL, *dropped = NULL;
    pthread_mutex_t *lock = &c->locks[set % STRIPES];
    pthread_mutex_lock(lock);
    slot *s = &c->slots[set * WAYS];
    for (int i = 0; i < WAYS; i++) {
        if (s[i].tok == NULL || memcmp(s[i].key, key, sizeof key) != 0)
            continue;
        if (expired(s[i].exp_ms, now_ms, max_skew_ms)) {
            dropped = s[i].tok;
            s[i].tok = NULL;
            atomic_fetch_sub(&c->entries, 1);
        } else {
            found = clerk_token_ref(s[i].tok);
        }
        break;
    }
    pthread_mutex_unlock(lock);
    /* Freeing a token walks its JSON: done outside the lock. */
    clerk_token_release(dropped);
    atomic_fetch_add(found != NULL ? &c->hits : &c->misses, 1);
    return found;
}

void clerk_token_cache_put(clerk_token_cache *c, const char *tok, size_t len, clerk_token *t)
{
    if (c == NULL || tok == NULL || t == NULL || t->verified_fp == 0 || !t->claims.has_exp ||
        t->claims.bad_exp)
        return;
    unsigned char key[32];
    size_t set;
    if (locate(c, tok, len, key, &set) != 0)
        return;
    clerk_token *old = NULL;
    pthread_mutex_t *lock = &c->locks[set % STRIPES];
    pthread_mutex_lock(lock);
    slot *s = &c->slots[set * WAYS];
    /* Same token again: replace it (never two copies); else a free slot; else the oldest. */
    int victim = -1;
    for (int i = 0; i < WAYS && victim < 0; i++)
        if (s[i].tok != NULL && memcmp(s[i].key, key, sizeof key) == 0)
            victim = i;
    for (int i = 0; i < WAYS && victim < 0; i++)
        if (s[i].tok == NULL)
            victim = i;
    if (victim < 0) {
        victim = 0;
        for (int i = 1; i < WAYS; i++)
            if (s[i].seq < s[victim].seq)
                victim = i;
    }
    old = s[victim].tok;
    if (old == NULL)
        atomic_fetch_add(&c->entries, 1);
    memcpy(s[victim].key, key, sizeof key);
    s[victim].tok = clerk_token_ref(t);
    s[victim].exp_ms = t->claims.exp * 1000;
    s[victim].seq = atomic_fetch_add(&c->seq, 1);
    pthread_mutex_unlock(lock);
    clerk_token_release(old);
}

void clerk_token_cache_stats(const clerk_token_cache *c, uint64_t *hits, uint64_t *misses,
                             size_t *entries)
{
    clerk_token_cache *m = (clerk_token_cache *)c; /* atomics are read, not changed */
    if (hits != NULL)
        *hits = c != NULL ? atomic_load(&m->hits) : 0;
    if (misses != NULL)
        *misses = c != NULL ? atomic_load(&m->misses) : 0;
    if (entries != NULL)
        *entries = c != NULL ? atomic_load(&m->entries) : 0;
}

void clerk_token_cache_destroy(clerk_token_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nsets * WAYS; i++)
        clerk_token_release(c->slots[i].tok);
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&c->locks[i]);
    EVP_MD_free(c->sha256);
    free(c->slots);
    free(c);
}
