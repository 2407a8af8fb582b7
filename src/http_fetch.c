/* One bounded GET with libcurl's easy API (see http_fetch.h for the rules it keeps). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include "http_fetch.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define USER_AGENT "mod_clerk_auth/" PACKAGE_VERSION

/* Header values shorter than this are not worth redacting (and would mangle messages). */
#define REDACT_MIN_LEN 4
/* Words of a header value this long are redacted on their own (the key inside "Bearer <key>"). */
#define REDACT_MIN_WORD 8

typedef struct body_buf {
    char *data;
    size_t len, cap, max;
    int too_big;
} body_buf;

/* The process's shares (see http_fetch.h), one per distinct ca_file (a connection verified
 * against one operator's extra CA must never serve a request that does not trust it), made
 * under table_lock on first use. A share holds the DNS cache and TLS sessions only: libcurl
 * does not support sharing a connection cache between threads that transfer at the same time.
 * Keep-alive comes instead from each slot's idle easy handles (each keeps its own connection
 * cache across curl_easy_reset): a call takes one, or makes one when none is idle, and gives it
 * back, so a handle is only ever used by one thread at a time. At most POOL_MAX idle handles
 * are kept per slot (more are cleaned up), so a burst leaves a bounded number of sockets. The
 * per-kind share locks are libcurl's, taken through share_lock/share_unlock; shares have them
 * in common, which only serialises a little more. */
#define SHARES_MAX 8 /* distinct ca_file values with a share; more connect afresh */
#define POOL_MAX   8 /* idle handles kept per share: the handshake's exchanges in flight */

typedef struct share_slot {
    int used;
    char *ca_file; /* malloc'd; NULL: the system store only */
    CURLSH *sh;
    CURL *idle[POOL_MAX]; /* under table_lock */
    int n_idle;
} share_slot;

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
static share_slot shares[SHARES_MAX];
static pid_t shares_pid; /* the process the table belongs to; 0: not set up yet */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *u)
{
    (void)h;
    (void)access;
    (void)u;
    pthread_mutex_lock(&share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *u)
{
    (void)h;
    (void)u;
    pthread_mutex_unlock(&share_locks[data]);
}

static CURLSH *new_share(void)
{
    CURLSH *s = curl_share_init();
    if (s && (curl_share_setopt(s, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
              curl_share_setopt(s, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
              curl_share_setopt(s, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
              curl_share_setopt(s, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)) {
        curl_share_cleanup(s);
        s = NULL;
    }
    return s;
}

/* Resets the table when this process did not make it. A table inherited from a parent is
 * forgotten, not cleaned up: cleaning would close sockets the parent still uses. */
static void table_for_this_process(void)
{
    if (shares_pid != getpid()) {
        memset(shares, 0, sizeof shares);
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
            pthread_mutex_init(&share_locks[i], NULL);
        shares_pid = getpid();
    }
}

/* The slot for ca_file in this process, or NULL (then the call connects afresh). */
static share_slot *process_slot(const char *ca_file)
{
    share_slot *found = NULL;
    pthread_mutex_lock(&table_lock);
    table_for_this_process();
    for (int i = 0; i < SHARES_MAX; i++) {
        share_slot *sl = &shares[i];
        if (sl->used) {
            if (ca_file ? sl->ca_file && strcmp(sl->ca_file, ca_file) == 0 : !sl->ca_file) {
                found = sl;
                break;
            }
            continue;
        }
        char *key = ca_file ? strdup(ca_file) : NULL;
        CURLSH *sh = (!ca_file || key) ? new_share() : NULL;
        if (sh) {
            *sl = (share_slot){.used = 1, .ca_file = key, .sh = sh};
            found = sl;
        } else {
            free(key);
        }
        break;
    }
    pthread_mutex_unlock(&table_lock);
    return found;
}

/* An idle handle of sl (its options reset, its connections kept) or a new one; NULL when out of
 * memory. The caller owns it until give_back. */
static CURL *take_handle(share_slot *sl)
{
    CURL *c = NULL;
    if (sl != NULL) {
        pthread_mutex_lock(&table_lock);
        table_for_this_process();
        if (sl->used && sl->n_idle > 0)
            c = sl->idle[--sl->n_idle];
        pthread_mutex_unlock(&table_lock);
    }
    return c != NULL ? c : curl_easy_init();
}

/* Keeps c idle in sl for the next call when there is room (and the table is still this
 * process's), else cleans it up. c's options are reset first: they point at the caller's
 * buffers. */
static void give_back(share_slot *sl, CURL *c)
{
    if (sl != NULL) {
        curl_easy_reset(c);
        pthread_mutex_lock(&table_lock);
        if (shares_pid == getpid() && sl->used && sl->n_idle < POOL_MAX) {
            sl->idle[sl->n_idle++] = c;
            c = NULL;
        }
        pthread_mutex_unlock(&table_lock);
    }
    curl_easy_cleanup(c);
}

const char *clerk_http_user_agent(void)
{
    return USER_AGENT;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    body_buf *b = userdata;
    size_t n = size * nmemb;
    if (n > b->max - b->len) {
        /* Returning less than n makes libcurl abort the transfer with CURLE_WRITE_ERROR. */
        b->too_big = 1;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > b->max + 1)
            cap = b->max + 1;
        char *d = realloc(b->data, cap);
        if (d == NULL)
            return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* libcurl has already loaded its default CA store into ctx when it calls this, so adding the
 * operator's file here trusts both (CURLOPT_CAINFO would replace the system store instead). */
static CURLcode add_ca_file(CURL *curl, void *sslctx, void *parm)
{
    (void)curl;
    X509_STORE *st = SSL_CTX_get_cert_store((SSL_CTX *)sslctx);
    if (st == NULL || X509_STORE_load_file(st, (const char *)parm) != 1)
        return CURLE_SSL_CACERT_BADFILE;
    return CURLE_OK;
}

/* Replaces every occurrence of s[0..n) in msg by "[redacted]". */
static void redact_one(char *msg, size_t msgcap, const char *s, size_t n)
{
    static const char mark[] = "[redacted]";
    const size_t mlen = sizeof mark - 1;
    char *from = msg, *hit;
    while ((hit = memmem(from, strlen(from), s, n)) != NULL) {
        size_t head = (size_t)(hit - msg);
        size_t tail = strlen(hit + n);
        if (head + mlen >= msgcap) {
            *hit = '\0';
            return;
        }
        if (head + mlen + tail >= msgcap)
            tail = msgcap - head - mlen - 1;
        memmove(hit + mlen, hit + n, tail);
        memcpy(hit, mark, mlen);
        hit[mlen + tail] = '\0';
        from = hit + mlen;
    }
}

/* Redacts each header value, whole and word by word, from msg: a libcurl message that happened
 * to echo a header (the secret key) never leaves this unit. */
static void redact(char *msg, size_t msgcap, const char *const *headers)
{
    for (const char *const *h = headers; h != NULL && *h != NULL; h++) {
        const char *v = strchr(*h, ':');
        if (v == NULL)
            continue;
        v++;
        v += strspn(v, " \t");
        if (strlen(v) >= REDACT_MIN_LEN)
            redact_one(msg, msgcap, v, strlen(v));
        while (*v != '\0') {
            size_t w = strcspn(v, " \t");
            if (w >= REDACT_MIN_WORD)
                redact_one(msg, msgcap, v, w);
            v += w;
            v += strspn(v, " \t");
        }
    }
}

static int fail(char *err, size_t errlen, const char *const *headers, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, const char *const *headers, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        redact(err, errlen, headers);
    }
    return -1;
}

static int perform(const clerk_http_request *req, int post, clerk_http_response *resp, char *err,
                   size_t errlen);

int clerk_http_get(const clerk_http_request *req, clerk_http_response *resp, char *err,
                   size_t errlen)
{
    return perform(req, 0, resp, err, errlen);
}

int clerk_http_post(const clerk_http_request *req, clerk_http_response *resp, char *err,
                    size_t errlen)
{
    if (req != NULL && req->post_body == NULL) {
        if (resp != NULL)
            memset(resp, 0, sizeof *resp);
        return fail(err, errlen, NULL, "no body to post");
    }
    return perform(req, 1, resp, err, errlen);
}

static int perform(const clerk_http_request *req, int post, clerk_http_response *resp, char *err,
                   size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (resp == NULL)
        return fail(err, errlen, NULL, "no response holder");
    memset(resp, 0, sizeof *resp);
    if (req == NULL || req->url == NULL)
        return fail(err, errlen, NULL, "no URL to fetch");

    body_buf b = {.max = req->max_body ? req->max_body : CLERK_HTTP_DEFAULT_MAX_BODY};
    char cerr[CURL_ERROR_SIZE] = "";
    struct curl_slist *hl = NULL;
    int rc = -1;

    share_slot *slot = req->reuse_connections ? process_slot(req->ca_file) : NULL;
    CURL *c = take_handle(slot);
    if (c == NULL)
        return fail(err, errlen, NULL, "libcurl could not create a handle");

    for (const char *const *h = req->headers; h != NULL && *h != NULL; h++) {
        struct curl_slist *n = curl_slist_append(hl, *h);
        if (n == NULL) {
            fail(err, errlen, NULL, "out of memory for request headers");
            goto out;
        }
        hl = n;
    }

    CURLcode sc = CURLE_OK;
#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        if (sc == CURLE_OK)                                                                        \
            sc = curl_easy_setopt(c, opt, val);                                                    \
    } while (0)
    SETOPT(CURLOPT_URL, req->url);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms > 0
                                          ? req->connect_timeout_ms
                                          : CLERK_HTTP_DEFAULT_CONNECT_TIMEOUT_MS);
    SETOPT(CURLOPT_TIMEOUT_MS,
           req->timeout_ms > 0 ? req->timeout_ms : CLERK_HTTP_DEFAULT_TIMEOUT_MS);
    SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)b.max);
    SETOPT(CURLOPT_USERAGENT, USER_AGENT);
    SETOPT(CURLOPT_HTTPHEADER, hl);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, &b);
    SETOPT(CURLOPT_ERRORBUFFER, cerr);
    if (slot != NULL)
        SETOPT(CURLOPT_SHARE, slot->sh);
    if (post) {
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->post_len);
        SETOPT(CURLOPT_POSTFIELDS, req->post_body);
    }
    if (strncasecmp(req->url, "http://", 7) == 0) {
        /* Cleartext is allowed to loopback only (the startup rule), and loopback never leaves
         * the host: no proxy, ours or the environment's, may see the request, which would carry
         * the secret key in the clear and let the proxy answer with keys of its own. */
        SETOPT(CURLOPT_PROXY, "");
    } else if (req->proxy != NULL) {
        SETOPT(CURLOPT_PROXY, req->proxy);
        /* "" overrides a no_proxy in httpd's environment: with a proxy configured, every fetch
         * takes it. Custom headers (the secret key) stay off the CONNECT request, which is
         * libcurl's default (CURLHEADER_SEPARATE), set again here so it cannot change. */
        SETOPT(CURLOPT_NOPROXY, "");
        SETOPT(CURLOPT_HEADEROPT, (long)CURLHEADER_SEPARATE);
        if (req->proxy_user != NULL) {
            SETOPT(CURLOPT_PROXYAUTH, (long)CURLAUTH_BASIC);
            SETOPT(CURLOPT_PROXYUSERNAME, req->proxy_user);
            SETOPT(CURLOPT_PROXYPASSWORD, req->proxy_password ? req->proxy_password : "");
        }
    }
    if (req->ca_file != NULL) {
        SETOPT(CURLOPT_SSL_CTX_FUNCTION, add_ca_file);
        SETOPT(CURLOPT_SSL_CTX_DATA, (void *)req->ca_file);
    }
#undef SETOPT
    if (sc != CURLE_OK) {
        fail(err, errlen, NULL, "libcurl refused an option: %s", curl_easy_strerror(sc));
        goto out;
    }

    CURLcode pc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    resp->status = status;
    const char *ct = NULL;
    if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != NULL)
        snprintf(resp->content_type, sizeof resp->content_type, "%s", ct);

    if (b.too_big || pc == CURLE_FILESIZE_EXCEEDED) {
        fail(err, errlen, NULL, "response body larger than %zu bytes", b.max);
        goto out;
    }
    if (pc != CURLE_OK) {
        fail(err, errlen, req->headers, "%s: %s", curl_easy_strerror(pc),
             cerr[0] ? cerr : "no detail");
        /* Any length: a short password mangles the message, which is better than showing it. */
        if (req->proxy_password != NULL && req->proxy_password[0] != '\0' && err != NULL &&
            errlen > 0)
            redact_one(err, errlen, req->proxy_password, strlen(req->proxy_password));
        goto out;
    }
    if (status >= 300 && status < 400) {
        fail(err, errlen, NULL, "redirect not followed (HTTP %ld)", status);
        goto out;
    }
    resp->body = b.data;
    resp->body_len = b.len;
    b.data = NULL;
    if (resp->body == NULL) {
        resp->body = calloc(1, 1);
        if (resp->body == NULL) {
            fail(err, errlen, NULL, "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    free(b.data);
    give_back(slot, c);
    curl_slist_free_all(hl);
    return rc;
}

void clerk_http_response_free(clerk_http_response *resp)
{
    if (resp == NULL)
        return;
    free(resp->body);
    memset(resp, 0, sizeof *resp);
}

int clerk_http_ca_file_check(const char *ca_file, char *err, size_t errlen)
{
    const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
    if (vi == NULL || vi->ssl_version == NULL || strncmp(vi->ssl_version, "OpenSSL", 7) != 0) {
        snprintf(err, errlen, "adding a CA bundle needs libcurl built with OpenSSL (this one: %s)",
                 vi != NULL && vi->ssl_version != NULL ? vi->ssl_version : "no TLS");
        return -1;
    }
    X509_STORE *st = X509_STORE_new();
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int ok = X509_STORE_load_file(st, ca_file) == 1;
    int n = 0;
    if (ok) {
        STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(st);
        for (int i = 0; i < sk_X509_OBJECT_num(objs); i++)
            if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objs, i)) == X509_LU_X509)
                n++;
    }
    X509_STORE_free(st);
    ERR_clear_error();
    if (!ok || n == 0) {
        snprintf(err, errlen, "%s holds no readable PEM certificate", ca_file);
        return -1;
    }
    return 0;
}
