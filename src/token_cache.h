/* Per-process cache of verified tokens, keyed by the exact token text, bounded. */
#ifndef CLERK_TOKEN_CACHE_H
#define CLERK_TOKEN_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include "token.h"

typedef struct clerk_token_cache clerk_token_cache;

/* A cache holding at most capacity tokens; NULL on allocation failure. Thread-safe. */
clerk_token_cache *clerk_token_cache_create(size_t capacity);

/* The cached verified token for tok (a new reference), or NULL. Entries whose exp is more than
 * max_skew_ms before now_ms are dropped and not returned. */
clerk_token *clerk_token_cache_get(clerk_token_cache *c, const char *tok, size_t len,
                                   int64_t now_ms, int64_t max_skew_ms);

/* As clerk_token_cache_get, but counts no look-up: for reading a token before it is known
 * whether it will be verified at all. */
clerk_token *clerk_token_cache_peek(clerk_token_cache *c, const char *tok, size_t len,
                                    int64_t now_ms, int64_t max_skew_ms);

/* Counts one hit for tok, as clerk_token_cache_get would: the verification of a token found
 * earlier with clerk_token_cache_peek. */
void clerk_token_cache_count_hit(clerk_token_cache *c, const char *tok, size_t len);

/* Stores a verified token (takes its own reference); evicts the oldest entry of its bucket when
 * full. Unverified tokens, and a token whose text is not tok, are ignored. */
void clerk_token_cache_put(clerk_token_cache *c, const char *tok, size_t len, clerk_token *t);

/* A clerk_jwt_header_lookup over the headers of tokens stored so far (ctx: the cache): a new
 * reference to the JSON object of a header segment byte-identical to a stored token's, or NULL.
 * At most a few headers are kept (the first ones seen), for the cache's life; lock-free. */
json_t *clerk_token_cache_known_header(void *cache, const char *seg, size_t len);

/* Has count(hit) called after every look-up, outside the cache's locks, from the looking-up
 * thread (so count must be thread-safe, e.g. atomic adds to counters other processes share);
 * NULL stops it. Set before the cache is shared between threads. */
void clerk_token_cache_set_counter(clerk_token_cache *c, void (*count)(int hit));

/* Counters since creation. */
void clerk_token_cache_stats(const clerk_token_cache *c, uint64_t *hits, uint64_t *misses,
                             size_t *entries);

/* Frees the cache and drops its references. NULL is ignored. */
void clerk_token_cache_destroy(clerk_token_cache *c);

#endif
