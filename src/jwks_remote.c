/* Remote JWKS refresh policy: one shared record per source, one parsed key set per process. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_time.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "jwks_remote.h"
#include "url.h"

/* A process re-reads the shared record at most this often while it has nothing fresh, so a
 * flood of unknown kids or an outage costs no store access per request. */
#define STORE_RECHECK_S 1
/* A process with no keys polls the store this often (doubling up to the cap) while another
 * process fetches: a loopback or nearby Clerk answers in a few milliseconds. */
#define AWAIT_FIRST_US (5 * 1000)
#define AWAIT_MAX_US   (50 * 1000)
/* A record claiming a fetch further in the future than this is not trusted. */
#define FUTURE_SLACK_S 300
/* The record outlives max_stale by this much, so the last error stays visible. */
#define RECORD_EXTRA_TTL_S 3600
/* Longest kid quoted in a message (a hostile token may carry a huge one). */
#define MSG_KID_MAX 128
/* Longest text taken from Clerk's error body. */
#define CLERK_MSG_MAX 300
/* Version 2: MAC keyed by a key the store's other writers do not hold, over the source's store
 * key too. A record of another version (an older build's) is ignored like an absent one. */
#define RECORD_MAGIC  "CJR2 "
#define MAC_KEY_LABEL "mod_clerk_auth JWKS record MAC v2"
#define HMAC_HEX      64

/* @clerk/backend 3.25's text (tokens/keys.ts), compared with the SDK's in tests/conformance: it
 * no longer lists the kids the set holds. */
#define KID_MISMATCH_FMT                                                                           \
    "Unable to find a signing key in JWKS that matches the kid='%.*s' of the provided session "    \
    "token. Please make sure that the __session cookie or the HTTP authorization header contain "  \
    "a Clerk-generated session JWT."

struct clerk_jwks_remote {
    const char *url, *secret, *ca_file, *key;
    const char *proxy, *proxy_user, *proxy_password;
    const char *shown; /* url redacted, for every message */
    unsigned char mac_key[32];
    const char *headers[3];
    long connect_timeout_ms, timeout_ms;
    size_t max_body;
    int64_t refresh, min_refresh, max_stale;
    clerk_jwks_store store;
    int has_store;
    clerk_jwks_fetch_fn fetch;
    void *fetch_ctx;
    clerk_log_fn log;
    void *log_ctx;
    void (*count)(void *ctx, int ok);
    void *count_ctx;
    apr_thread_mutex_t *mu;
    apr_thread_cond_t *idle; /* signalled when busy drops */
    /* Everything below is guarded by mu. */
    clerk_keyset *ks;   /* the set requests use (one reference owned here) */
    int64_t fetched_at; /* fetch time ks was built from (the shared record's when shared) */
    int64_t last_attempt;
    int64_t next_store_check;
    int busy; /* one thread of this process is in the slow path */
    clerk_error last_err;
    uint64_t n_ok, n_fail, shared_ok, shared_fail;
};

/* The shared record, decoded; err and json point into the buffer it came from. */
typedef struct record {
    int64_t fetched_at, last_attempt;
    int reason;
    uint64_t n_ok, n_fail;
    const char *err;
    size_t errlen;
    const char *json;
    size_t jsonlen;
} record;

static void lock(clerk_jwks_remote *r)
{
    apr_thread_mutex_lock(r->mu);
}

static void unlock(clerk_jwks_remote *r)
{
    apr_thread_mutex_unlock(r->mu);
}

static void logf_(clerk_jwks_remote *r, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void logf_(clerk_jwks_remote *r, int level, const char *fmt, ...)
{
    if (r->log == NULL)
        return;
    char msg[CLERK_ERROR_MESSAGE_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->log(r->log_ctx, level, msg);
}

const char *clerk_jwks_bapi_url(apr_pool_t *p, const char *api_url)
{
    size_t n = strlen(api_url);
    while (n > 0 && api_url[n - 1] == '/')
        n--;
    return apr_psprintf(p, "%.*s/v1/jwks", (int)n, api_url);
}

int clerk_jwks_fetch_http(void *ctx, const clerk_http_request *req, clerk_http_response *resp,
                          clerk_error *err)
{
    return clerk_http_get(req, resp, err);
}

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static apr_status_t remote_cleanup(void *data)
{
    clerk_jwks_remote *r = data;
    clerk_keyset_unref(r->ks);
    r->ks = NULL;
    return APR_SUCCESS;
}

clerk_jwks_remote *clerk_jwks_remote_create(apr_pool_t *p, const clerk_jwks_remote_opts *o,
                                            clerk_error *err)
{
    if (o == NULL || o->url == NULL || o->url[0] == '\0') {
        clerk_error_set(err, CLERK_R_NONE, "no JWKS URL");
        return NULL;
    }
    clerk_jwks_remote *r = apr_pcalloc(p, sizeof *r);
    r->url = apr_pstrdup(p, o->url);
    r->shown = clerk_url_redact(p, r->url);
    r->secret = o->secret_key ? apr_pstrdup(p, o->secret_key) : NULL;
    r->ca_file = o->ca_file ? apr_pstrdup(p, o->ca_file) : NULL;
    r->proxy = o->proxy ? apr_pstrdup(p, o->proxy) : NULL;
    r->proxy_user = o->proxy_user ? apr_pstrdup(p, o->proxy_user) : NULL;
    r->proxy_password = o->proxy_password ? apr_pstrdup(p, o->proxy_password) : NULL;
    r->connect_timeout_ms = o->connect_timeout_ms;
    r->timeout_ms = o->timeout_ms;
    r->max_body = o->max_body ? o->max_body : CLERK_JWKS_DEFAULT_MAX_BODY;
    r->refresh = o->refresh_s > 0 ? o->refresh_s : CLERK_JWKS_DEFAULT_REFRESH_S;
    r->min_refresh = o->min_refresh_s > 0 ? o->min_refresh_s : CLERK_JWKS_DEFAULT_MIN_REFRESH_S;
    r->max_stale = o->max_stale_s > 0 ? o->max_stale_s : CLERK_JWKS_DEFAULT_MAX_STALE_S;
    if (r->max_stale < r->refresh)
        r->max_stale = r->refresh;
    /* The record MAC key: the given one, else one derived from the secret key (a process that
     * holds neither shares nothing). Either way reduced to 32 bytes under a label of its own, so
     * the key never doubles as anything else. */
    const unsigned char *mk = o->mac_key;
    size_t mklen = o->mac_key_len;
    if (mk != NULL && mklen < CLERK_JWKS_MAC_KEY_MIN) {
        clerk_error_set(err, CLERK_R_NONE,
                        "the record MAC key has %zu bytes; at least %d are needed", mklen,
                        CLERK_JWKS_MAC_KEY_MIN);
        return NULL;
    }
    if (mk == NULL && r->secret != NULL) {
        mk = (const unsigned char *)r->secret;
        mklen = strlen(r->secret);
    }
    if (o->store != NULL && o->store->get != NULL && o->store->set != NULL && mk != NULL) {
        unsigned int n = 0;
        if (HMAC(EVP_sha256(), mk, (int)mklen, (const unsigned char *)MAC_KEY_LABEL,
                 sizeof MAC_KEY_LABEL - 1, r->mac_key, &n) == NULL ||
            n != sizeof r->mac_key) {
            clerk_error_set(err, CLERK_R_NONE, "HMAC-SHA256 failed");
            return NULL;
        }
        r->store = *o->store;
        r->has_store = 1;
    }
    r->fetch = o->fetch ? o->fetch : clerk_jwks_fetch_http;
    r->fetch_ctx = o->fetch_ctx;
    r->log = o->log;
    r->log_ctx = o->log_ctx;
    r->count = o->count;
    r->count_ctx = o->count_ctx;
    if (r->secret != NULL) {
        r->headers[0] = apr_pstrcat(p, "Authorization: Bearer ", r->secret, NULL);
        r->headers[1] = "Clerk-API-Version: " CLERK_JWKS_API_VERSION;
    }

    /* The store key names the source without revealing the secret key. */
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    int ok = mc != NULL && EVP_DigestInit_ex(mc, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(mc, r->url, strlen(r->url) + 1) == 1 &&
             (r->secret == NULL || EVP_DigestUpdate(mc, r->secret, strlen(r->secret)) == 1) &&
             EVP_DigestFinal_ex(mc, md, &mdlen) == 1;
    EVP_MD_CTX_free(mc);
    if (!ok) {
        clerk_error_set(err, CLERK_R_NONE, "SHA-256 failed");
        return NULL;
    }
    char h[65];
    hex(md, sizeof md, h);
    r->key = apr_pstrcat(p, "clerk-jwks:", h, NULL);

    if (apr_thread_mutex_create(&r->mu, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS ||
        apr_thread_cond_create(&r->idle, p) != APR_SUCCESS) {
        clerk_error_set(err, CLERK_R_NONE, "cannot create a thread mutex or condition");
        return NULL;
    }
    apr_pool_cleanup_register(p, r, remote_cleanup, apr_pool_cleanup_null);
    return r;
}

const char *clerk_jwks_remote_store_key(const clerk_jwks_remote *r)
{
    return r->key;
}

int clerk_jwks_remote_shared(const clerk_jwks_remote *r)
{
    return r->has_store;
}

/* ---- the shared record -------------------------------------------------------------------- */

/* Record layout: "CJR2 " <hex MAC> "\n" <fetched_at> <last_attempt> <reason> <n_ok> <n_fail>
 * <errlen> <jsonlen> "\n" <err bytes> <json bytes>. The MAC is HMAC-SHA256 under r->mac_key
 * (see clerk_jwks_remote_opts.mac_key) over the magic, this source's store key and the rest, so a
 * record is bound to its source and its fetch time: whoever can write the store but lacks the
 * key can neither plant keys nor move a record to another source. */
static int record_mac(const clerk_jwks_remote *r, const unsigned char *data, size_t len,
                      char out[HMAC_HEX + 1])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    size_t ml = sizeof RECORD_MAGIC - 1, kl = strlen(r->key) + 1;
    unsigned char *in = malloc(ml + kl + len);
    if (in == NULL)
        return -1;
    memcpy(in, RECORD_MAGIC, ml);
    memcpy(in + ml, r->key, kl);
    if (len)
        memcpy(in + ml + kl, data, len);
    int ok = HMAC(EVP_sha256(), r->mac_key, (int)sizeof r->mac_key, in, ml + kl + len, mac,
                  &maclen) != NULL &&
             maclen == 32;
    free(in);
    if (!ok)
        return -1;
    hex(mac, 32, out);
    return 0;
}

static int store_put(clerk_jwks_remote *r, int64_t now, const record *rec)
{
    char head[160];
    int hl =
        snprintf(head, sizeof head, "%" PRId64 " %" PRId64 " %d %" PRIu64 " %" PRIu64 " %zu %zu\n",
                 rec->fetched_at, rec->last_attempt, rec->reason, rec->n_ok, rec->n_fail,
                 rec->errlen, rec->jsonlen);
    if (hl < 0 || (size_t)hl >= sizeof head)
        return -1;
    size_t restlen = (size_t)hl + rec->errlen + rec->jsonlen;
    size_t total = sizeof RECORD_MAGIC - 1 + HMAC_HEX + 1 + restlen;
    unsigned char *buf = malloc(total);
    if (buf == NULL)
        return -1;
    unsigned char *rest = buf + sizeof RECORD_MAGIC - 1 + HMAC_HEX + 1;
    memcpy(rest, head, (size_t)hl);
    if (rec->errlen)
        memcpy(rest + hl, rec->err, rec->errlen);
    if (rec->jsonlen)
        memcpy(rest + hl + rec->errlen, rec->json, rec->jsonlen);
    char mac[HMAC_HEX + 1];
    int rc = -1;
    if (record_mac(r, rest, restlen, mac) == 0) {
        memcpy(buf, RECORD_MAGIC, sizeof RECORD_MAGIC - 1);
        memcpy(buf + sizeof RECORD_MAGIC - 1, mac, HMAC_HEX);
        buf[sizeof RECORD_MAGIC - 1 + HMAC_HEX] = '\n';
        rc =
            r->store.set(r->store.ctx, r->key, buf, total, now + r->max_stale + RECORD_EXTRA_TTL_S);
    }
    free(buf);
    if (rc != 0)
        logf_(r, CLERK_LOG_WARN,
              "JWKS for %s: the shared cache refused a %zu-byte record; processes will "
              "fetch on their own",
              r->shown, total);
    return rc;
}

static int parse_u64(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (s >= end || *s < '0' || *s > '9')
        return -1;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    *p = s;
    return 0;
}

/* Reads and checks this source's record into *buf (caller frees). Returns 1 found, 0 none. */
static int store_read(clerk_jwks_remote *r, int64_t now, unsigned char **bufp, record *rec)
{
    size_t cap = r->max_body + CLERK_JWKS_RECORD_OVERHEAD;
    unsigned char *buf = malloc(cap);
    *bufp = buf;
    size_t len = 0;
    if (buf == NULL || r->store.get(r->store.ctx, r->key, buf, cap, &len) != 0 || len > cap)
        return 0;
    size_t pre = sizeof RECORD_MAGIC - 1 + HMAC_HEX + 1;
    if (len >= 4 && memcmp(buf, "CJR", 3) == 0 && memcmp(buf, RECORD_MAGIC, 4) != 0)
        return 0; /* another build's record version: as if absent */
    if (len < pre || memcmp(buf, RECORD_MAGIC, sizeof RECORD_MAGIC - 1) != 0 ||
        buf[pre - 1] != '\n')
        goto bad;
    char mac[HMAC_HEX + 1];
    if (record_mac(r, buf + pre, len - pre, mac) != 0 ||
        CRYPTO_memcmp(mac, buf + sizeof RECORD_MAGIC - 1, HMAC_HEX) != 0)
        goto bad;
    const char *p = (const char *)buf + pre, *end = (const char *)buf + len;
    uint64_t v[7];
    for (int i = 0; i < 7; i++) {
        if (parse_u64(&p, end, &v[i]) != 0 || p >= end || *p != (i == 6 ? '\n' : ' '))
            goto bad;
        p++;
    }
    if (v[0] > INT64_MAX || v[1] > INT64_MAX || v[2] >= CLERK_R__COUNT ||
        v[5] > (uint64_t)(end - p) || v[6] != (uint64_t)(end - p) - v[5])
        goto bad;
    rec->fetched_at = (int64_t)v[0];
    rec->last_attempt = (int64_t)v[1];
    rec->reason = (int)v[2];
    rec->n_ok = v[3];
    rec->n_fail = v[4];
    rec->err = p;
    rec->errlen = (size_t)v[5];
    rec->json = p + v[5];
    rec->jsonlen = (size_t)v[6];
    if (rec->fetched_at > now + FUTURE_SLACK_S || rec->errlen >= CLERK_ERROR_MESSAGE_MAX ||
        (rec->fetched_at > 0) != (rec->jsonlen > 0))
        goto bad;
    /* Authentic but older than a set some process here already installed (less the slack for
     * another host's clock): a replay (someone wrote back a record read earlier, e.g. with a key
     * since rotated out). A floor ahead of now is a clock stepped back: it drops to now, or no
     * record written from now on would be taken until the clock caught up. */
    int64_t floor = r->store.newest != NULL ? r->store.newest(r->store.ctx, r->key) : 0;
    if (floor > now) {
        if (r->store.clock_back != NULL)
            r->store.clock_back(r->store.ctx, r->key, now);
        floor = now;
    }
    if (rec->jsonlen > 0 && rec->fetched_at < floor - CLERK_JWKS_REPLAY_SLACK_S) {
        logf_(r, CLERK_LOG_WARN,
              "JWKS for %s: ignoring a shared cache record fetched at %" PRId64
              ", older than the set fetched at %" PRId64 " (replayed)",
              r->shown, rec->fetched_at, floor);
        return 0;
    }
    return 1;
bad:
    logf_(r, CLERK_LOG_WARN, "JWKS for %s: ignoring a shared cache record that does not check out",
          r->shown);
    return 0;
}

/* ---- building a key set ------------------------------------------------------------------- */

/* Parses a JWKS body into a new set; -1 with Clerk's reason and a message otherwise. */
static int build_set(clerk_jwks_remote *r, const char *json, size_t len, clerk_keyset **ksp,
                     clerk_error *e)
{
    *ksp = NULL;
    json_error_t je;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    const json_t *keys = json_object_get(doc, "keys");
    if (json_is_array(keys) && json_array_size(keys) == 0) {
        json_decref(doc);
        return clerk_error_set(e, CLERK_R_JWK_REMOTE_FAILED_TO_LOAD, "%s", CLERK_JWKS_MSG_NO_KEYS);
    }
    clerk_error jerr = {0};
    clerk_keyset *ks = clerk_keyset_new();
    if (ks == NULL || doc == NULL || clerk_keyset_add_jwks(ks, json, len, &jerr) < 0) {
        if (doc == NULL)
            clerk_error_set(&jerr, CLERK_R_NONE, "JWKS does not parse");
        if (ks == NULL)
            clerk_error_set(&jerr, CLERK_R_NONE, "out of memory");
        clerk_keyset_unref(ks);
        json_decref(doc);
        /* At most 199 bytes of the key set's message, as always. */
        return clerk_error_set(e, CLERK_R_JWK_REMOTE_FAILED_TO_LOAD,
                               "Error loading Clerk JWKS from %s: %.199s", r->shown, jerr.message);
    }
    json_decref(doc);
    *ksp = ks;
    return 0;
}

/* Makes ks (built from a fetch at fetched_at) the set this process uses; takes ownership. */
static void install(clerk_jwks_remote *r, clerk_keyset *ks, int64_t fetched_at)
{
    lock(r);
    clerk_keyset *old = r->ks;
    r->ks = ks;
    r->fetched_at = fetched_at;
    unlock(r);
    clerk_keyset_unref(old);
}

/* Tells the server-wide floor (clerk_jwks_store.newest) that a set fetched at t is installed;
 * called only after the record holding it is written: when the write failed, the store still
 * holds the previous record, which is then no replay. */
static void raise_floor(clerk_jwks_remote *r, int64_t t)
{
    if (r->has_store && r->store.installed != NULL && t > 0)
        r->store.installed(r->store.ctx, r->key, t);
}

/* Takes the shared record's view: its attempt, error and counters, and its key set when it is
 * newer than the one this process has. */
static void adopt(clerk_jwks_remote *r, const record *rec)
{
    lock(r);
    int newer = rec->jsonlen > 0 && rec->fetched_at > r->fetched_at;
    if (rec->last_attempt > r->last_attempt)
        r->last_attempt = rec->last_attempt;
    r->last_err.reason = (clerk_reason)rec->reason;
    snprintf(r->last_err.message, sizeof r->last_err.message, "%.*s", (int)rec->errlen, rec->err);
    r->shared_ok = rec->n_ok;
    r->shared_fail = rec->n_fail;
    unlock(r);
    if (!newer)
        return;
    clerk_keyset *ks;
    clerk_error e;
    if (build_set(r, rec->json, rec->jsonlen, &ks, &e) == 0) {
        install(r, ks, rec->fetched_at);
        raise_floor(r, rec->fetched_at);
    } else
        logf_(r, CLERK_LOG_WARN, "JWKS for %s: the shared copy does not load: %s", r->shown,
              e.message);
}

/* ---- fetching ----------------------------------------------------------------------------- */

/* Copies printable ASCII of s (Clerk's error text, untrusted) into out. */
static void printable(const char *s, char *out, size_t outlen)
{
    size_t j = 0;
    for (; s != NULL && *s != '\0' && j + 1 < outlen && j < CLERK_MSG_MAX; s++)
        if (*s >= 0x20 && *s < 0x7f)
            out[j++] = *s;
    out[j] = '\0';
}

/* 1 when Clerk's error body names clerk_key_invalid; its message goes to msg. */
static int secret_key_rejected(const char *body, size_t len, char *msg, size_t msglen)
{
    json_error_t je;
    json_t *doc = body ? json_loadb(body, len, 0, &je) : NULL;
    const json_t *errors = json_object_get(doc, "errors");
    size_t i;
    const json_t *eo;
    int found = 0;
    json_array_foreach(errors, i, eo)
    {
        const char *code = json_string_value(json_object_get(eo, "code"));
        if (code != NULL && strcmp(code, "clerk_key_invalid") == 0) {
            printable(json_string_value(json_object_get(eo, "message")), msg, msglen);
            found = 1;
            break;
        }
    }
    json_decref(doc);
    if (found && msg[0] == '\0')
        snprintf(msg, msglen, "Clerk rejected the secret key (clerk_key_invalid)");
    return found;
}

/* One GET; on 2xx *body is the malloc'd document. */
static int fetch_once(clerk_jwks_remote *r, char **body, size_t *len, clerk_error *e)
{
    clerk_http_request req = {
        .url = r->url, /* the only use of the unredacted URL */
        .headers = r->headers,
        .ca_file = r->ca_file,
        .proxy = r->proxy,
        .proxy_user = r->proxy_user,
        .proxy_password = r->proxy_password,
        .connect_timeout_ms = r->connect_timeout_ms,
        .timeout_ms = r->timeout_ms,
        .max_body = r->max_body,
    };
    clerk_http_response resp = {0};
    clerk_error ferr = {0};
    int rc = r->fetch(r->fetch_ctx, &req, &resp, &ferr);
    *body = NULL;
    *len = 0;
    if (rc == 0 && resp.status >= 200 && resp.status < 300) {
        *body = resp.body;
        *len = resp.body_len;
        resp.body = NULL;
        clerk_http_response_free(&resp);
        return 0;
    }
    if (rc == 0) {
        char msg[CLERK_MSG_MAX + 1];
        if (secret_key_rejected(resp.body, resp.body_len, msg, sizeof msg)) {
            logf_(r, CLERK_LOG_ERR, "ClerkSecretKey was rejected by %s (clerk_key_invalid): %s",
                  r->shown, msg);
            clerk_error_set(e, CLERK_R_SECRET_KEY_INVALID, "%s", msg);
        } else {
            clerk_error_set(e, CLERK_R_JWK_REMOTE_FAILED_TO_LOAD,
                            "Error loading Clerk JWKS from %s with code=%ld", r->shown,
                            resp.status);
        }
    } else if (resp.status >= 300 && resp.status < 400) {
        clerk_error_set(e, CLERK_R_JWK_REMOTE_FAILED_TO_LOAD,
                        "Error loading Clerk JWKS from %s with code=%ld", r->shown, resp.status);
    } else {
        clerk_error_set(e, CLERK_R_JWK_REMOTE_FAILED_TO_LOAD,
                        "Error loading Clerk JWKS from %s: %.*s", r->shown,
                        /* at most what the transport's message always had room for */
                        CLERK_ERROR_MESSAGE_MAX - 65,
                        ferr.message[0] ? ferr.message : "fetch failed");
    }
    clerk_http_response_free(&resp);
    return -1;
}

/* 1 when this process should fetch now (kid: the unknown kid of a forced refresh). */
static int fetch_due(clerk_jwks_remote *r, int64_t now, const char *kid, int forced)
{
    lock(r);
    int due;
    if (r->last_attempt > 0 && now < r->last_attempt + r->min_refresh)
        due = 0;
    else if (forced)
        due = r->ks == NULL || clerk_keyset_find(r->ks, kid) == NULL;
    else
        due = r->ks == NULL || now - r->fetched_at >= r->refresh;
    unlock(r);
    return due;
}

/* How long a request with no keys may wait for someone else's fetch: that fetch's own bound. */
static apr_interval_time_t wait_budget(const clerk_jwks_remote *r)
{
    long ms = r->timeout_ms > 0 ? r->timeout_ms : CLERK_HTTP_DEFAULT_TIMEOUT_MS;
    return apr_time_from_msec(ms);
}

static int has_keys(clerk_jwks_remote *r)
{
    lock(r);
    int has = r->ks != NULL;
    unlock(r);
    return has;
}

/* Another process holds the refresh lock and this one has no keys: polls the store until that
 * fetch's record appears (1: keys adopted), the lock comes free (0: now held by us, -1: trylock
 * failed) or the deadline passes (1 too: answer with nothing). bufp and rec hold the last read. */
static int await_other_fetch(clerk_jwks_remote *r, int64_t now, apr_time_t deadline,
                             unsigned char **bufp, record *rec)
{
    apr_interval_time_t pause = AWAIT_FIRST_US;
    for (;;) {
        apr_interval_time_t left = deadline - apr_time_now();
        if (left <= 0)
            return 1;
        apr_sleep(pause < left ? pause : left);
        pause = pause * 2 < AWAIT_MAX_US ? pause * 2 : AWAIT_MAX_US;
        free(*bufp);
        *bufp = NULL;
        memset(rec, 0, sizeof *rec);
        if (store_read(r, now, bufp, rec))
            adopt(r, rec);
        if (has_keys(r))
            return 1;
        int t = r->store.trylock(r->store.ctx, r->key);
        if (t != 1)
            return t;
    }
}

/* What one trip through the slow path read and took, from claim to release. */
typedef struct refresh_claim {
    int busy;           /* this thread set r->busy */
    int locked;         /* this thread holds the store's lock */
    unsigned char *buf; /* the last shared record read; rec points into it */
    record rec;
    record next; /* the record this fetch publishes */
} refresh_claim;

/* Claims the fetch: becomes this process's one thread in the slow path, adopts the shared copy,
 * and takes the store's lock when a fetch is due. Returns 1 when the caller must fetch, 0 when it
 * answers with what it has. c is released by release_claim either way.
 *
 * A caller whose process has keys never waits: it answers with them. With may_wait and no keys,
 * a caller that finds a fetch running (another thread of this process in the slow path, or
 * another process holding the store lock) waits for its result, at most the fetch timeout;
 * during an outage no fetch runs (min_refresh), so nobody waits. */
static int claim(clerk_jwks_remote *r, int64_t now, const char *kid, int forced, int may_wait,
                 refresh_claim *c)
{
    apr_time_t deadline = may_wait ? apr_time_now() + wait_budget(r) : 0;
    lock(r);
    while (r->busy) {
        apr_interval_time_t left = deadline - apr_time_now();
        if (!may_wait || r->ks != NULL || left <= 0) {
            unlock(r);
            return 0;
        }
        apr_thread_cond_timedwait(r->idle, r->mu, left);
    }
    r->busy = c->busy = 1;
    /* Without keys the store is the first place they can come from: read it every time. */
    int check_store = r->has_store && (r->ks == NULL || now >= r->next_store_check);
    if (check_store)
        r->next_store_check = now + STORE_RECHECK_S;
    unlock(r);

    if (check_store && store_read(r, now, &c->buf, &c->rec))
        adopt(r, &c->rec);
    /* Not due may mean another process's attempt marker throttles us while its fetch runs: a
     * process with no keys asks the lock whether that fetch is still running. */
    if (!fetch_due(r, now, kid, forced) &&
        !(may_wait && r->has_store && r->store.trylock != NULL && !has_keys(r)))
        return 0;
    if (!r->has_store)
        return 1;
    if (r->store.trylock != NULL) {
        int t = r->store.trylock(r->store.ctx, r->key);
        if (t == 1 && may_wait && !has_keys(r))
            t = await_other_fetch(r, now, deadline, &c->buf, &c->rec);
        if (t == 1)
            return 0; /* another process is fetching: answer with what we have */
        c->locked = t == 0;
    }
    /* Someone may have finished a fetch between our read and the lock. */
    free(c->buf);
    c->buf = NULL;
    memset(&c->rec, 0, sizeof c->rec);
    if (store_read(r, now, &c->buf, &c->rec))
        adopt(r, &c->rec);
    return fetch_due(r, now, kid, forced);
}

/* Marks the attempt (no one on this server fetches again for min_refresh, whatever happens),
 * then fetches and parses the set. Returns 1 with *ks and *body (the caller's), or 0 with
 * e. */
static int fetch(clerk_jwks_remote *r, int64_t now, refresh_claim *c, char **body, size_t *blen,
                 clerk_keyset **ks, clerk_error *e)
{
    lock(r);
    r->last_attempt = now;
    unlock(r);
    c->next = c->rec;
    c->next.last_attempt = now;
    if (r->has_store)
        store_put(r, now, &c->next);
    *body = NULL;
    *blen = 0;
    return fetch_once(r, body, blen, e) == 0 && build_set(r, *body, *blen, ks, e) == 0;
}

/* Installs the fetched set in this process, or records the failure (ferr gets it), and writes the
 * outcome to the shared record. Returns 1 installed, -1 failed. Frees body. */
static int publish(clerk_jwks_remote *r, int64_t now, refresh_claim *c, int ok, char *body,
                   size_t blen, clerk_keyset *ks, const clerk_error *e, clerk_error *ferr)
{
    record *next = &c->next;
    int result;
    if (ok) {
        size_t n = clerk_keyset_count(ks);
        install(r, ks, now);
        lock(r);
        r->n_ok++;
        r->last_err.reason = CLERK_R_NONE;
        r->last_err.message[0] = '\0';
        unlock(r);
        next->fetched_at = now;
        next->json = body;
        next->jsonlen = blen;
        next->reason = CLERK_R_NONE;
        next->err = NULL;
        next->errlen = 0;
        logf_(r, CLERK_LOG_INFO, "JWKS fetched from %s: %zu keys", r->shown, n);
        result = 1;
    } else {
        lock(r);
        r->n_fail++;
        r->last_err = *e;
        unlock(r);
        next->reason = (int)e->reason;
        next->err = e->message;
        next->errlen = strlen(e->message);
        if (e->reason != CLERK_R_SECRET_KEY_INVALID)
            logf_(r, CLERK_LOG_ERR, "JWKS refresh failed (%s): %s", clerk_reason_str(e->reason),
                  e->message);
        if (ferr != NULL)
            *ferr = *e;
        result = -1;
    }
    if (r->count != NULL)
        r->count(r->count_ctx, ok);
    lock(r);
    if (r->has_store) {
        next->n_ok = ok ? r->shared_ok + 1 : r->shared_ok;
        next->n_fail = ok ? r->shared_fail : r->shared_fail + 1;
        r->shared_ok = next->n_ok;
        r->shared_fail = next->n_fail;
    }
    unlock(r);
    if (r->has_store && store_put(r, now, next) == 0 && ok)
        raise_floor(r, now);
    free(body);
    return result;
}

/* Gives back what claim took: the store's lock, the record read, the busy flag. */
static void release_claim(clerk_jwks_remote *r, refresh_claim *c)
{
    if (c->locked)
        r->store.unlock(r->store.ctx, r->key);
    free(c->buf);
    if (!c->busy)
        return;
    lock(r);
    r->busy = 0;
    apr_thread_cond_broadcast(r->idle);
    unlock(r);
}

/* The slow path: adopt the shared copy, and fetch when due and this caller wins the lock.
 * Returns 1 fetched, 0 nothing fetched, -1 a fetch failed (its error in *ferr). */
static int refresh_step(clerk_jwks_remote *r, int64_t now, const char *kid, int forced,
                        int may_wait, clerk_error *ferr)
{
    refresh_claim c = {0};
    int result = 0;
    if (claim(r, now, kid, forced, may_wait, &c)) {
        char *body;
        size_t blen;
        clerk_error e = {0};
        clerk_keyset *ks = NULL;
        int ok = fetch(r, now, &c, &body, &blen, &ks, &e);
        result = publish(r, now, &c, ok, body, blen, ks, &e, ferr);
    }
    release_claim(r, &c);
    return result;
}

/* ---- lookups ------------------------------------------------------------------------------ */

static clerk_keyset *snapshot(clerk_jwks_remote *r, int64_t *fetched_at)
{
    lock(r);
    clerk_keyset *ks = r->ks ? clerk_keyset_ref(r->ks) : NULL;
    *fetched_at = r->fetched_at;
    unlock(r);
    return ks;
}

void clerk_jwks_request_init(clerk_jwks_request *rq, clerk_jwks_remote *r, int64_t now_s)
{
    memset(rq, 0, sizeof *rq);
    rq->remote = r;
    rq->now_s = now_s;
}

clerk_key_source clerk_jwks_request_source(clerk_jwks_request *rq)
{
    clerk_key_source s = {clerk_jwks_request_lookup, rq};
    return s;
}

void clerk_jwks_request_release(clerk_jwks_request *rq)
{
    if (rq == NULL)
        return;
    for (int i = 0; i < CLERK_JWKS_REQUEST_HOLD; i++) {
        clerk_keyset_unref(rq->held[i]);
        rq->held[i] = NULL;
    }
}

/* Keeps ks (one reference, handed over) in rq for as long as the request runs. */
static const clerk_key *hold(clerk_jwks_request *rq, clerk_keyset *ks, const clerk_key *k,
                             clerk_error *err)
{
    for (int i = 0; i < CLERK_JWKS_REQUEST_HOLD; i++) {
        if (rq->held[i] == ks) {
            clerk_keyset_unref(ks);
            return k;
        }
        if (rq->held[i] == NULL) {
            rq->held[i] = ks;
            return k;
        }
    }
    clerk_keyset_unref(ks);
    clerk_error_set(err, CLERK_R_JWK_REMOTE_FAILED_TO_LOAD,
                    "too many key sets held by one request");
    return NULL;
}

static const clerk_key *kid_mismatch(clerk_jwks_remote *r, clerk_keyset *ks, const char *kid,
                                     clerk_error *err)
{
    const char *shown = kid ? kid : "undefined";
    int kl = (int)strnlen(shown, MSG_KID_MAX);
    clerk_error_set(err, CLERK_R_JWK_KID_MISMATCH, KID_MISMATCH_FMT, kl, shown);
    clerk_keyset_unref(ks);
    return NULL;
}

const clerk_key *clerk_jwks_request_lookup(void *ctx, const char *kid, clerk_error *err)
{
    clerk_jwks_request *rq = ctx;
    clerk_jwks_remote *r = rq->remote;
    int64_t now = rq->now_s ? rq->now_s : (int64_t)time(NULL);
    int64_t fetched_at;

    clerk_keyset *ks = snapshot(r, &fetched_at);
    int forced = 0;
    if (ks != NULL && now - fetched_at < r->refresh) {
        const clerk_key *k = clerk_keyset_find(ks, kid);
        if (k != NULL)
            return hold(rq, ks, k, err);
        if (kid == NULL)
            return kid_mismatch(r, ks, kid, err);
        forced = 1;
    }
    clerk_keyset_unref(ks);

    clerk_error ferr = {0};
    int fr = refresh_step(r, now, kid, forced, 1, &ferr);

    ks = snapshot(r, &fetched_at);
    if (ks != NULL && now - fetched_at <= r->max_stale) {
        const clerk_key *k = clerk_keyset_find(ks, kid);
        if (k != NULL)
            return hold(rq, ks, k, err);
        if (fr < 0) {
            clerk_keyset_unref(ks);
            if (err != NULL)
                *err = ferr;
            return NULL;
        }
        return kid_mismatch(r, ks, kid, err);
    }
    clerk_keyset_unref(ks);
    if (fr < 0) {
        if (err != NULL)
            *err = ferr;
        return NULL;
    }
    lock(r);
    clerk_error last = r->last_err;
    unlock(r);
    if (last.reason == CLERK_R_SECRET_KEY_INVALID ||
        last.reason == CLERK_R_JWK_REMOTE_FAILED_TO_LOAD) {
        if (err != NULL)
            *err = last;
    } else {
        clerk_error_set(err, CLERK_R_JWK_REMOTE_FAILED_TO_LOAD, "%s",
                        CLERK_JWKS_MSG_FAILED_TO_LOAD);
    }
    return NULL;
}

int clerk_jwks_remote_preload(clerk_jwks_remote *r, int64_t now_s, clerk_error *err)
{
    clerk_jwks_request rq;
    clerk_jwks_request_init(&rq, r, now_s);
    int64_t now = rq.now_s ? rq.now_s : (int64_t)time(NULL);
    clerk_error ferr = {0};
    /* Startup must not wait: the child serves unprotected content meanwhile, and its requests
     * wait for the running fetch themselves. */
    int fr = refresh_step(r, now, NULL, 0, 0, &ferr);
    int64_t fetched_at;
    clerk_keyset *ks = snapshot(r, &fetched_at);
    int usable = ks != NULL && now - fetched_at <= r->max_stale;
    clerk_keyset_unref(ks);
    if (usable)
        return 0;
    if (fr < 0) {
        if (err != NULL)
            *err = ferr;
    } else {
        clerk_error_set(err, CLERK_R_JWK_REMOTE_FAILED_TO_LOAD,
                        "no keys yet from %s (another process is fetching them)", r->shown);
    }
    return -1;
}

void clerk_jwks_remote_stats(clerk_jwks_remote *r, int64_t now_s, clerk_jwks_stats *st)
{
    memset(st, 0, sizeof *st);
    int64_t now = now_s ? now_s : (int64_t)time(NULL);
    unsigned char *buf = NULL;
    record rec = {0};
    int have = r->has_store && store_read(r, now, &buf, &rec);
    lock(r);
    st->url = r->shown;
    st->proxy = r->proxy;
    st->fetch_ok = r->n_ok;
    st->fetch_failed = r->n_fail;
    st->shared_fetch_ok = have ? rec.n_ok : r->shared_ok;
    st->shared_fetch_failed = have ? rec.n_fail : r->shared_fail;
    st->fetched_at = r->ks ? r->fetched_at : 0;
    st->age_s = r->ks ? now - r->fetched_at : -1;
    st->keys = r->ks ? clerk_keyset_count(r->ks) : 0;
    st->last_attempt =
        have && rec.last_attempt > r->last_attempt ? rec.last_attempt : r->last_attempt;
    if (have) {
        st->last_reason = (clerk_reason)rec.reason;
        snprintf(st->last_error, sizeof st->last_error, "%.*s", (int)rec.errlen, rec.err);
    } else {
        st->last_reason = r->last_err.reason;
        snprintf(st->last_error, sizeof st->last_error, "%s", r->last_err.message);
    }
    unlock(r);
    free(buf);
}
