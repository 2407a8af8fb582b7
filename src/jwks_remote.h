/* A remote JWKS (Clerk Backend API /v1/jwks, or a JWKS URL): when to fetch, how processes share
 * one copy, and the key lookup verification uses (docs/design.md#remote-jwks, @clerk/backend
 * tokens/keys.ts).
 *
 * Shared state lives in a small store the glue binds to httpd's socache, one record per source
 * (keyed by a hash of URL and secret key) holding the JWKS text, its fetch time, the last
 * attempt and the last error. Each process keeps the parsed key set built from that record and
 * rebuilds it only when the record's fetch time changes, so a fresh hit touches neither the
 * store nor any lock but one short thread mutex.
 *
 * Policy: refetch when the set is `refresh_s` old; on an unknown kid, at most one fetch per
 * `min_refresh_s` per server (the record's last_attempt is the marker); concurrent misses are
 * coalesced by the store's try-lock (a loser with keys never waits: it answers with them; a loser
 * with no keys, e.g. a process just started, waits for the running fetch's result, re-reading the
 * store, at most the fetch timeout; with no fetch running, as in an outage, nobody waits);
 * after failures the last good set serves until `max_stale_s` past its fetch
 * time, then every lookup fails with the last error (jwk-remote-failed-to-load, or
 * secret-key-invalid when Clerk said so). No retries within a request: the next attempt comes
 * min_refresh_s later. */
#ifndef CLERK_JWKS_REMOTE_H
#define CLERK_JWKS_REMOTE_H

#include <stddef.h>
#include <stdint.h>
#include <apr_pools.h>
#include "http_fetch.h"
#include "jwk.h"
#include "logging.h"
#include "reason.h"
#include "token.h"

#define CLERK_JWKS_DEFAULT_REFRESH_S     300
#define CLERK_JWKS_DEFAULT_MIN_REFRESH_S 10
#define CLERK_JWKS_DEFAULT_MAX_STALE_S   3600
#define CLERK_JWKS_DEFAULT_MAX_BODY      ((size_t)64 * 1024)
/* Clerk-API-Version sent with the secret key (@clerk/backend tokens/keys.ts fetchJWKSFromBAPI). */
#define CLERK_JWKS_API_VERSION "2026-05-12"
/* Bytes a stored record takes beyond the JWKS text: the store must hold values this much larger
 * than max_body (shmcb: size the cache so one entry of max_body + this fits). */
#define CLERK_JWKS_RECORD_OVERHEAD (CLERK_ERROR_MESSAGE_MAX + 256)

/* Clerk's messages (@clerk/backend tokens/keys.ts), byte for byte. */
#define CLERK_JWKS_MSG_NO_KEYS                                                                     \
    "The JWKS endpoint did not contain any signing keys. Contact support@clerk.com."
#define CLERK_JWKS_MSG_FAILED_TO_LOAD "Failed to load JWKS from Clerk Backend or Frontend API."

/* A shared record fetched up to this many seconds before the newest set installed here is not a
 * replay: on a fleet sharing a network cache, another host whose clock runs a little behind
 * writes a newer fetch with an earlier time. Older records are refused. */
#define CLERK_JWKS_REPLAY_SLACK_S 30

/* The cross-process store; the glue binds it to socache (+ a global mutex). Every function must
 * be callable from any thread and must not wait long: get/set may take a short blocking mutex
 * around the socache call (shmcb needs one), trylock must never wait. Keys are short ASCII
 * strings (< 100 bytes); values are bytes. */
typedef struct clerk_jwks_store {
    /* Copies the unexpired value under key into buf[0..cap) and its length to *len. Returns 0
     * found, 1 absent (or larger than cap), -1 store failure. */
    int (*get)(void *ctx, const char *key, unsigned char *buf, size_t cap, size_t *len);
    /* Stores val[0..len) under key until expires_at (Unix seconds), replacing any value.
     * Returns 0, or -1 (e.g. too large for the store: processes then fetch on their own). */
    int (*set)(void *ctx, const char *key, const unsigned char *val, size_t len,
               int64_t expires_at);
    /* Takes the cross-process refresh lock for key without waiting. Returns 0 taken, 1 held by
     * someone else, -1 failure (the caller then fetches without coalescing). May be NULL: no
     * cross-process coalescing. One lock for all keys is allowed (then a refresh of one source
     * makes another source's concurrent miss answer with what it has). */
    int (*trylock)(void *ctx, const char *key);
    /* Releases what trylock returned 0 for. */
    void (*unlock)(void *ctx, const char *key);
    /* Optional (may be NULL): the newest fetch time any process of this server has installed
     * for key, kept where the store's other writers cannot reach it (0: none known). A record
     * fetched more than CLERK_JWKS_REPLAY_SLACK_S before this is a replay and is never
     * installed. */
    int64_t (*newest)(void *ctx, const char *key);
    /* Optional: raises what newest returns for key to fetched_at (never lowers it). */
    void (*installed)(void *ctx, const char *key, int64_t fetched_at);
    /* Optional: lowers what newest returns for key to t when it is above t (the clock was
     * stepped back past it); never raises it. */
    void (*clock_back)(void *ctx, const char *key, int64_t t);
    void *ctx;
} clerk_jwks_store;

/* Performs one GET (production: clerk_jwks_fetch_http). Same contract as clerk_http_get. */
typedef int (*clerk_jwks_fetch_fn)(void *ctx, const clerk_http_request *req,
                                   clerk_http_response *resp, clerk_error *err);

typedef struct clerk_jwks_remote_opts {
    const char *url;        /* the JWKS URL, e.g. clerk_jwks_bapi_url(p, "https://api.clerk.com") */
    const char *secret_key; /* sent as Bearer with Clerk-API-Version; NULL for a public URL */
    const char *ca_file;    /* ClerkCABundle (added to the system store), or NULL */
    const char *proxy;      /* ClerkOutgoingProxy ("http://host:port"), or NULL */
    const char *proxy_user, *proxy_password; /* ClerkOutgoingProxyAuthFile, or NULL */
    long connect_timeout_ms, timeout_ms;     /* 0: http_fetch defaults */
    size_t max_body;                         /* 0: CLERK_JWKS_DEFAULT_MAX_BODY */
    int64_t refresh_s; /* 0: defaults as above; max_stale_s is raised to refresh_s */
    int64_t min_refresh_s;
    int64_t max_stale_s;
    const clerk_jwks_store *store; /* NULL: this process alone (nothing shared) */
    /* The key shared records are authenticated with (HMAC-SHA256, >= 32 bytes): whoever can
     * write the store but does not hold it cannot plant a record. NULL: derived from secret_key;
     * with neither, the store is not used (each process fetches on its own). */
    const unsigned char *mac_key;
    size_t mac_key_len;
    clerk_jwks_fetch_fn fetch; /* NULL: clerk_jwks_fetch_http */
    void *fetch_ctx;
    clerk_log_fn log; /* may be NULL */
    void *log_ctx;
    /* Called once per fetch attempt of this process with its result (1: a key set was
     * installed, 0: failed), from the fetching thread; may be NULL. */
    void (*count)(void *ctx, int ok);
    void *count_ctx;
} clerk_jwks_remote_opts;

typedef struct clerk_jwks_remote clerk_jwks_remote;

/* The Backend API JWKS URL for api_url: "<api_url>/v1/jwks" (one '/' between). Pool copy. */
const char *clerk_jwks_bapi_url(apr_pool_t *p, const char *api_url);

/* Production fetch: clerk_http_get (ctx unused). */
int clerk_jwks_fetch_http(void *ctx, const clerk_http_request *req, clerk_http_response *resp,
                          clerk_error *err);

/* A source for o (strings and the store struct are copied into p; the store's ctx must outlive
 * p). Its key set is released by a cleanup on p. Returns NULL with err when o->url is missing or
 * a mutex cannot be made. Thread-safe once created. */
clerk_jwks_remote *clerk_jwks_remote_create(apr_pool_t *p, const clerk_jwks_remote_opts *o,
                                            clerk_error *err);

/* The smallest mac_key_len clerk_jwks_remote_create accepts. */
#define CLERK_JWKS_MAC_KEY_MIN 32

/* 1 when r shares its keys through a store (a store and a MAC key were given), else 0. */
int clerk_jwks_remote_shared(const clerk_jwks_remote *r);

/* The store key of this source ("clerk-jwks:" + hex SHA-256 of URL and secret key). */
const char *clerk_jwks_remote_store_key(const clerk_jwks_remote *r);

/* Loads keys at startup (child_init, or post_config after the store exists): adopts the shared
 * record when there is one, else fetches unless another process holds the lock. Never waits for
 * another process (the first requests do) and never makes startup fail: returns 0 when a usable
 * set is loaded, else -1 with err for a warning. */
int clerk_jwks_remote_preload(clerk_jwks_remote *r, int64_t now_s, clerk_error *err);

/* What one request holds: the key sets its lookups returned stay referenced until
 * clerk_jwks_request_release, so keys stay valid while the request uses them. */
#define CLERK_JWKS_REQUEST_HOLD 4
typedef struct clerk_jwks_request {
    clerk_jwks_remote *remote;
    int64_t now_s; /* the request's time; 0: time(NULL) at each lookup */
    clerk_keyset *held[CLERK_JWKS_REQUEST_HOLD];
} clerk_jwks_request;

/* Prepares rq for one request (nothing held yet). */
void clerk_jwks_request_init(clerk_jwks_request *rq, clerk_jwks_remote *r, int64_t now_s);

/* The key source verification calls: {clerk_jwks_request_lookup, rq}. */
clerk_key_source clerk_jwks_request_source(clerk_jwks_request *rq);

/* clerk_key_source.lookup over a clerk_jwks_request (ctx): the key for kid, refreshing per the
 * policy above (blocks at most the fetch timeout, and only while the process has no keys); NULL
 * with err (jwk-kid-mismatch with Clerk's message, jwk-remote-failed-to-load, secret-key-invalid).
 * The returned key's set is held by rq. */
const clerk_key *clerk_jwks_request_lookup(void *ctx, const char *kid, clerk_error *err);

/* Drops every reference rq holds (a pool cleanup in the glue); rq can be reused after init. */
void clerk_jwks_request_release(clerk_jwks_request *rq);

/* Numbers for a status page. */
typedef struct clerk_jwks_stats {
    const char *url;                 /* redacted: no user:password, no query (clerk_url_redact) */
    const char *proxy;               /* the outgoing proxy's URL (never credentials), or NULL */
    uint64_t fetch_ok, fetch_failed; /* by this process */
    uint64_t shared_fetch_ok, shared_fetch_failed; /* by every process, from the store record */
    int64_t fetched_at;       /* fetch time of the set this process uses; 0: none */
    int64_t age_s;            /* now - fetched_at; -1: no set */
    size_t keys;              /* keys in that set */
    int64_t last_attempt;     /* last fetch attempt known (shared when available); 0: none */
    clerk_reason last_reason; /* CLERK_R_NONE when the last attempt succeeded */
    char last_error[CLERK_ERROR_MESSAGE_MAX]; /* "" when none */
} clerk_jwks_stats;

/* Fills st (reads the store once, never locks it, never fetches). */
void clerk_jwks_remote_stats(clerk_jwks_remote *r, int64_t now_s, clerk_jwks_stats *st);

#endif
