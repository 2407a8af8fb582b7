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
    uint32_t len;     /* length of the token text */
    const char *text; /* the token's own copy of its text (tok->jwt), for the exact comparison */
    clerk_token *tok; /* NULL: free */
    int64_t exp_ms;
    uint64_t seq; /* insertion order within the cache, for eviction */
} slot;

/* A header segment of a verified token and its decoded object, kept for the cache's life. */
typedef struct known_header {
    json_t *header;
    size_t len;
    char seg[];
} known_header;

/* An instance signs with one header per key: a handful covers key rotation. Entries are only
 * ever added, so readers need no lock and no reference on the entry itself. */
#define KNOWN_HEADERS 8

struct clerk_token_cache {
    _Atomic(known_header *) headers[KNOWN_HEADERS];
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

/* The text pointer sits in the slot so a look-up reads the set, then the text, without first
 * walking token -> jwt; the text's lines are requested together because with thousands of
 * tokens cached it is rarely in a near cache, and one by one each line waits for the last. */
static int same_text(const slot *s, uint32_t h, const char *tok, size_t len)
{
    if (s->hash != h || s->len != len)
        return 0;
    for (size_t i = 0; i < sizeof(clerk_token); i += 64)
        __builtin_prefetch((const char *)s->tok + i);
    for (size_t i = 0; i < len; i += 64)
        __builtin_prefetch(s->text + i);
    return memcmp(s->text, tok, len) == 0;
}

/* What a request reads of a cached token after the look-up: its decoded JWT, the claim strings
 * the checks compare, and the exported variables. With thousands of tokens cached each sits in
 * its own cold line; asking for them together costs one wait instead of one each. */
static void prefetch_token(const clerk_token *t)
{
    __builtin_prefetch(t->jwt);
    __builtin_prefetch(t->claims.sub);
    __builtin_prefetch(t->claims.azp);
    if (t->claims.sts != NULL)
        __builtin_prefetch(t->claims.sts);
    void *memo = atomic_load_explicit((_Atomic(void *) *)&t->memo, memory_order_acquire);
    if (memo != NULL)
        __builtin_prefetch(memo);
}

json_t *clerk_token_cache_known_header(void *cache, const char *seg, size_t len)
{
    clerk_token_cache *c = cache;
    for (int i = 0; c != NULL && i < KNOWN_HEADERS; i++) {
        known_header *k = atomic_load_explicit(&c->headers[i], memory_order_acquire);
        if (k == NULL)
            break;
        if (k->len == len && memcmp(k->seg, seg, len) == 0)
            return json_incref(k->header);
    }
    return NULL;
}

/* Keeps the header of a token just stored, when it is new and there is room. */
static void remember_header(clerk_token_cache *c, const clerk_jwt *jwt)
{
    const char *dot = memchr(jwt->signing_input, '.', jwt->signing_len);
    if (dot == NULL || jwt->header == NULL)
        return;
    size_t len = (size_t)(dot - jwt->signing_input);
    json_t *have = clerk_token_cache_known_header(c, jwt->signing_input, len);
    if (have != NULL) {
        json_decref(have);
        return;
    }
    known_header *k = malloc(sizeof *k + len);
    if (k == NULL)
        return;
    k->header = json_incref(jwt->header);
    k->len = len;
    memcpy(k->seg, jwt->signing_input, len);
    for (int i = 0; i < KNOWN_HEADERS; i++) {
        known_header *expect = NULL;
        if (atomic_compare_exchange_strong_explicit(&c->headers[i], &expect, k,
                                                    memory_order_acq_rel, memory_order_acquire))
            return;
        /* Two threads may add the same header at once: one copy is enough. */
        if (expect->len == len && memcmp(expect->seg, k->seg, len) == 0)
            break;
    }
    json_decref(k->header);
    free(k);
}

static int expired(int64_t exp_ms, int64_t now_ms, int64_t max_skew_ms)
{
    return exp_ms <= now_ms - max_skew_ms;
}

clerk_token *clerk_token_cache_get(clerk_token_cache *c, const char *tok, size_t len,
                                   int64_t now_ms, int64_t max_skew_ms)
{
    if (c == NULL || tok == NULL || len > UINT32_MAX)
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
            prefetch_token(found);
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
    if (c == NULL || tok == NULL || len > UINT32_MAX || t == NULL || t->verified_fp == 0 ||
        !t->claims.has_exp || t->claims.bad_exp || t->jwt == NULL || t->jwt->text_len != len ||
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
    s[victim].len = (uint32_t)len;
    s[victim].text = t->jwt->signing_input;
    s[victim].tok = clerk_token_ref(t);
    s[victim].exp_ms = t->claims.exp * 1000;
    s[victim].seq = atomic_fetch_add(&c->seq, 1);
    pthread_mutex_unlock(lock);
    clerk_token_release(old);
    remember_header(c, t->jwt);
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
    for (int i = 0; i < KNOWN_HEADERS; i++) {
        known_header *k = atomic_load(&c->headers[i]);
        if (k != NULL) {
            json_decref(k->header);
            free(k);
        }
    }
    free(c->slots);
    free(c);
}
