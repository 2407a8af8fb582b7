/* A set-associative cache of verified tokens: a hash of the token text picks a set of WAYS
 * slots, so get and put scan a fixed number of entries (O(1)) and memory is fixed at creation.
 * Sets are guarded by a stripe of mutexes so threads working on different tokens rarely
 * contend; the hit and miss counters live with the stripes and are counted under the lock
 * already held, so no cache line is written by every request of every thread. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <apr_hash.h>
#include "token_cache.h"

#define WAYS        8  /* slots per set; the oldest of a full set is evicted */
#define STRIPES     64 /* mutexes; set i uses stripe i % STRIPES */
#define HASHED_TAIL 32 /* trailing characters of the token text that pick its set */

/* One entry of a set; tok NULL: free. */
typedef struct slot {
    const char *text; /* the token's own copy of its text (tok->jwt), for the exact comparison */
    clerk_token *tok;
    int64_t exp_ms;
    uint64_t seq; /* insertion order within the cache, for eviction */
} slot;

/* A look-up reads the first line (every way's hash and length) and then only the way that
 * matches: with thousands of tokens cached the sets are cold, and each line read is a wait. */
typedef struct set {
    uint32_t hash[WAYS]; /* text_hash of the way's token text */
    uint32_t len[WAYS];  /* its length; 0 when free */
    slot s[WAYS];
} set;

typedef struct stripe {
    pthread_mutex_t lock;
    uint64_t hits, misses; /* counted under lock */
} stripe;

/* Stripes padded to a line so two threads' locks never share one. */
typedef union padded_stripe {
    stripe st;
    char pad[(sizeof(stripe) + 63) / 64 * 64];
} padded_stripe;

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
    set *sets; /* nsets, line-aligned */
    padded_stripe *stripes;
    atomic_uint_fast64_t seq;
    atomic_size_t entries;
    void (*count)(int hit); /* clerk_token_cache_set_counter */
};

clerk_token_cache *clerk_token_cache_create(size_t capacity)
{
    if (capacity == 0)
        capacity = 1;
    clerk_token_cache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->nsets = (capacity + WAYS - 1) / WAYS;
    c->sets = aligned_alloc(64, (c->nsets * sizeof(set) + 63) / 64 * 64);
    c->stripes = aligned_alloc(64, STRIPES * sizeof(padded_stripe));
    if (c->sets == NULL || c->stripes == NULL) {
        free(c->sets);
        free(c->stripes);
        free(c);
        return NULL;
    }
    memset(c->sets, 0, c->nsets * sizeof(set));
    memset(c->stripes, 0, STRIPES * sizeof(padded_stripe));
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&c->stripes[i].st.lock, NULL);
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

/* The way of set q holding exactly tok, or -1. The text's lines are requested together (and
 * the token's, which a hit reads next) because with thousands of tokens cached they are rarely
 * in a near cache, and one by one each line waits for the last. */
static int find_way(const set *q, uint32_t h, const char *tok, size_t len)
{
    for (int i = 0; i < WAYS; i++) {
        if (q->hash[i] != h || q->len[i] != len || q->s[i].tok == NULL)
            continue;
        const slot *s = &q->s[i];
        for (size_t k = 0; k < sizeof(clerk_token); k += 64)
            __builtin_prefetch((const char *)s->tok + k);
        for (size_t k = 0; k < len; k += 64)
            __builtin_prefetch(s->text + k);
        if (memcmp(s->text, tok, len) == 0)
            return i;
    }
    return -1;
}

/* Empties way i of q; returns the token it held, to be released outside the lock. */
static clerk_token *take(clerk_token_cache *c, set *q, int i)
{
    clerk_token *old = q->s[i].tok;
    q->s[i].tok = NULL;
    q->s[i].text = NULL;
    q->hash[i] = 0;
    q->len[i] = 0;
    if (old != NULL)
        atomic_fetch_sub(&c->entries, 1);
    return old;
}

/* What a request reads of a cached token after the look-up: its decoded JWT, the claim strings
 * the checks compare, and the exported variables. With thousands of tokens cached each sits in
 * its own cold line; asking for them together costs one wait instead of one each. */
static void prefetch_token(clerk_token *t)
{
    /* A prefetch of NULL (an absent claim, no variables yet) is a no-op. */
    __builtin_prefetch(t->jwt);
    __builtin_prefetch(t->claims.sub);
    __builtin_prefetch(t->claims.azp);
    __builtin_prefetch(t->claims.sts);
    __builtin_prefetch(clerk_token_memo(t));
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

static clerk_token *lookup(clerk_token_cache *c, const char *tok, size_t len, int64_t now_ms,
                           int64_t max_skew_ms, int counted)
{
    if (c == NULL || tok == NULL || len == 0 || len > UINT32_MAX)
        return NULL;
    uint32_t h = text_hash(tok, len);
    size_t si = h % c->nsets;
    set *q = &c->sets[si];
    stripe *st = &c->stripes[si % STRIPES].st;
    clerk_token *found = NULL, *dropped = NULL;
    pthread_mutex_lock(&st->lock);
    int i = find_way(q, h, tok, len);
    if (i >= 0 && expired(q->s[i].exp_ms, now_ms, max_skew_ms)) {
        dropped = take(c, q, i);
    } else if (i >= 0) {
        found = clerk_token_ref(q->s[i].tok);
        prefetch_token(found);
    }
    if (counted && found != NULL)
        st->hits++;
    else if (counted)
        st->misses++;
    pthread_mutex_unlock(&st->lock);
    /* Freeing a token walks its JSON: done outside the lock. */
    clerk_token_release(dropped);
    if (counted && c->count != NULL)
        c->count(found != NULL);
    return found;
}

clerk_token *clerk_token_cache_get(clerk_token_cache *c, const char *tok, size_t len,
                                   int64_t now_ms, int64_t max_skew_ms)
{
    return lookup(c, tok, len, now_ms, max_skew_ms, 1);
}

clerk_token *clerk_token_cache_peek(clerk_token_cache *c, const char *tok, size_t len,
                                    int64_t now_ms, int64_t max_skew_ms)
{
    return lookup(c, tok, len, now_ms, max_skew_ms, 0);
}

void clerk_token_cache_count_hit(clerk_token_cache *c, const char *tok, size_t len)
{
    if (c == NULL || tok == NULL || len == 0 || len > UINT32_MAX)
        return;
    stripe *st = &c->stripes[(text_hash(tok, len) % c->nsets) % STRIPES].st;
    pthread_mutex_lock(&st->lock);
    st->hits++;
    pthread_mutex_unlock(&st->lock);
    if (c->count != NULL)
        c->count(1);
}

void clerk_token_cache_set_counter(clerk_token_cache *c, void (*count)(int hit))
{
    if (c != NULL)
        c->count = count;
}

void clerk_token_cache_put(clerk_token_cache *c, const char *tok, size_t len, clerk_token *t)
{
    if (c == NULL || tok == NULL || len == 0 || len > UINT32_MAX || t == NULL || !t->verified ||
        !t->claims.has_exp || t->claims.bad_exp || t->jwt == NULL || t->jwt->text_len != len ||
        memcmp(t->jwt->signing_input, tok, len) != 0)
        return;
    uint32_t h = text_hash(tok, len);
    size_t si = h % c->nsets;
    set *q = &c->sets[si];
    stripe *st = &c->stripes[si % STRIPES].st;
    pthread_mutex_lock(&st->lock);
    /* Same token again: replace it (never two copies); else a free way; else the oldest. */
    int victim = find_way(q, h, tok, len);
    for (int i = 0; i < WAYS && victim < 0; i++)
        if (q->s[i].tok == NULL)
            victim = i;
    if (victim < 0) {
        victim = 0;
        for (int i = 1; i < WAYS; i++)
            if (q->s[i].seq < q->s[victim].seq)
                victim = i;
    }
    clerk_token *old = take(c, q, victim);
    atomic_fetch_add(&c->entries, 1);
    q->hash[victim] = h;
    q->len[victim] = (uint32_t)len;
    q->s[victim].text = t->jwt->signing_input;
    q->s[victim].tok = clerk_token_ref(t);
    q->s[victim].exp_ms = t->claims.exp * 1000;
    q->s[victim].seq = atomic_fetch_add(&c->seq, 1);
    pthread_mutex_unlock(&st->lock);
    clerk_token_release(old);
    remember_header(c, t->jwt);
}

void clerk_token_cache_stats(const clerk_token_cache *c, uint64_t *hits, uint64_t *misses,
                             size_t *entries)
{
    uint64_t h = 0, m = 0;
    for (int i = 0; c != NULL && i < STRIPES; i++) {
        stripe *st = &c->stripes[i].st;
        pthread_mutex_lock(&st->lock);
        h += st->hits;
        m += st->misses;
        pthread_mutex_unlock(&st->lock);
    }
    if (hits != NULL)
        *hits = h;
    if (misses != NULL)
        *misses = m;
    if (entries != NULL)
        *entries = c != NULL ? atomic_load(&((clerk_token_cache *)c)->entries) : 0;
}

void clerk_token_cache_destroy(clerk_token_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nsets; i++)
        for (int w = 0; w < WAYS; w++)
            clerk_token_release(c->sets[i].s[w].tok);
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&c->stripes[i].st.lock);
    for (int i = 0; i < KNOWN_HEADERS; i++) {
        known_header *k = atomic_load(&c->headers[i]);
        if (k != NULL) {
            json_decref(k->header);
            free(k);
        }
    }
    free(c->sets);
    free(c->stripes);
    free(c);
}
