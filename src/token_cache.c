/* A set-associative cache of verified tokens: a hash of the token text picks a set of WAYS
 * slots, so get and put scan a fixed number of entries (O(1)) and memory is fixed at creation.
 * Sets are guarded by a stripe of mutexes so threads working on different tokens rarely
 * contend. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <apr_hash.h>
#include "token_cache.h"

#define WAYS        8  /* slots per set; the oldest of a full set is evicted */
#define STRIPES     64 /* mutexes; set i uses stripe i % STRIPES */
#define HASHED_TAIL 32 /* trailing characters of the token text that pick its set */

typedef struct slot {
    uint32_t hash;    /* text_hash of the token text */
    clerk_token *tok; /* NULL: free; its jwt holds the whole text for the exact comparison */
    int64_t exp_ms;
    uint64_t seq; /* insertion order within the cache, for eviction */
} slot;

struct clerk_token_cache {
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
    if (c->slots == NULL) {
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

/* The set of a token text. Only verified tokens are ever stored, and a token's last characters
 * are its signature's, which a client cannot choose for a token that verifies: hashing them is
 * enough to spread stored tokens evenly, and costs a fraction of hashing the whole text. A
 * look-up then compares the whole text, so two tokens are never confused. */
static uint32_t text_hash(const char *tok, size_t len)
{
    size_t n = len < HASHED_TAIL ? len : HASHED_TAIL;
    apr_ssize_t klen = (apr_ssize_t)n;
    return (uint32_t)apr_hashfunc_default(tok + len - n, &klen);
}

static int same_text(const slot *s, uint32_t h, const char *tok, size_t len)
{
    const clerk_jwt *j = s->tok->jwt;
    return s->hash == h && j->text_len == len && memcmp(j->signing_input, tok, len) == 0;
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
    uint32_t h = text_hash(tok, len);
    size_t set = h % c->nsets;
    clerk_token *found = NULL, *dropped = NULL;
    pthread_mutex_t *lock = &c->locks[set % STRIPES];
    pthread_mutex_lock(lock);
    slot *s = &c->slots[set * WAYS];
    for (int i = 0; i < WAYS; i++) {
        if (s[i].tok == NULL || !same_text(&s[i], h, tok, len))
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
        t->claims.bad_exp || t->jwt == NULL || t->jwt->text_len != len ||
        memcmp(t->jwt->signing_input, tok, len) != 0)
        return;
    uint32_t h = text_hash(tok, len);
    size_t set = h % c->nsets;
    clerk_token *old = NULL;
    pthread_mutex_t *lock = &c->locks[set % STRIPES];
    pthread_mutex_lock(lock);
    slot *s = &c->slots[set * WAYS];
    /* Same token again: replace it (never two copies); else a free slot; else the oldest. */
    int victim = -1;
    for (int i = 0; i < WAYS && victim < 0; i++)
        if (s[i].tok != NULL && same_text(&s[i], h, tok, len))
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
    s[victim].hash = h;
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
    free(c->slots);
    free(c);
}
