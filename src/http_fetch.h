/* One bounded HTTP(S) GET with libcurl, for fetching JWKS documents and exchanging handshake
 * nonces.
 *
 * Thread-safe once libcurl is initialised: curl_global_init(CURL_GLOBAL_DEFAULT) is the glue's
 * job, once, at startup (post_config) before any thread calls clerk_http_get; this unit never
 * calls it. Each call uses an easy handle no other thread uses meanwhile, and no signals
 * (CURLOPT_NOSIGNAL). A request with reuse_connections set takes its handle from a small
 * process-wide pool of idle handles (at most 8 kept per distinct ca_file), whose connection
 * caches give keep-alive to later calls from any thread, and uses a process-wide libcurl share
 * of DNS cache and TLS sessions (never the connection cache: libcurl does not support sharing
 * it between concurrent threads), guarded by one mutex per kind of shared data; pools and
 * shares inherited across fork() are never used (their sockets are the parent's).
 *
 * Rules that always hold: TLS peer and host verification on; only http and https; redirects
 * never followed (a 3xx is reported as an error with its status); the body is capped. */
#ifndef CLERK_HTTP_FETCH_H
#define CLERK_HTTP_FETCH_H

#include <stddef.h>

#define CLERK_HTTP_DEFAULT_CONNECT_TIMEOUT_MS 3000L
#define CLERK_HTTP_DEFAULT_TIMEOUT_MS         10000L
#define CLERK_HTTP_DEFAULT_MAX_BODY           ((size_t)256 * 1024)

typedef struct clerk_http_request {
    const char *url;            /* http:// or https:// */
    const char *const *headers; /* extra "Name: value" lines, NULL-terminated; may be NULL */
    const char *ca_file;        /* extra trusted CA certificates (PEM file) ADDED to the system
                                   store, not replacing it; NULL: system store only */
    long connect_timeout_ms;    /* 0: CLERK_HTTP_DEFAULT_CONNECT_TIMEOUT_MS */
    long timeout_ms;            /* whole transfer; 0: CLERK_HTTP_DEFAULT_TIMEOUT_MS */
    size_t max_body;            /* bytes; 0: CLERK_HTTP_DEFAULT_MAX_BODY */
    int reuse_connections;      /* 1: keep the connection for later calls (process-wide pool) */
    const char *proxy;          /* "http://host:port" every https request goes through (with
                                   CONNECT; no_proxy ignored); NULL: none of ours, libcurl's
                                   environment variables apply. An http:// url (loopback only)
                                   never takes a proxy, this one or the environment's */
    const char *proxy_user;     /* Basic credentials for proxy, or NULL */
    const char *proxy_password; /* never part of a message */
    const char *post_body;      /* non-NULL: POST these post_len bytes (clerk_http_post only) */
    size_t post_len;
} clerk_http_request;

typedef struct clerk_http_response {
    long status; /* HTTP status; 0 when no response was received */
    char *body;  /* malloc'd, NUL-terminated (NUL not counted in body_len); NULL if none */
    size_t body_len;
    char content_type[96]; /* the response's Content-Type, truncated; "" when none */
} clerk_http_response;

/* The User-Agent every request sends: "mod_clerk_auth/<version>". */
const char *clerk_http_user_agent(void);

/* GETs req->url. Returns 0 when a 2xx or 4xx/5xx response was read completely (status and body
 * in *resp), -1 otherwise with a message in err: transport, TLS or timeout failures (status 0),
 * a body over max_body, or a 3xx (status set: not followed). The message never contains a
 * request header value (so never the secret key) nor the proxy password. Free resp with
 * clerk_http_response_free whatever the result. */
int clerk_http_get(const clerk_http_request *req, clerk_http_response *resp, char *err,
                   size_t errlen);

/* As clerk_http_get, but POSTs req->post_body (post_len bytes) with the headers given (the
 * caller names its Content-Type among them). The body is never part of a message. */
int clerk_http_post(const clerk_http_request *req, clerk_http_response *resp, char *err,
                    size_t errlen);

/* Frees the body and zeroes resp; NULL is ignored. */
void clerk_http_response_free(clerk_http_response *resp);

/* Checks at configuration time that ca_file can be added to libcurl's TLS store: the file holds
 * at least one PEM certificate and libcurl uses OpenSSL. Returns 0, or -1 with err. */
int clerk_http_ca_file_check(const char *ca_file, char *err, size_t errlen);

#endif
