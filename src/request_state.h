/* Clerk's authenticateRequest: a request's facts in, signed-in / signed-out / handshake out
 * (@clerk/backend tokens/request.ts; docs/design.md#decision), satellite domains, proxyUrl and
 * organization sync included (docs/design.md#multi-domain). Session refresh is not supported:
 * expired tokens report the "non-eligible" refresh reasons, as Clerk's SDK does without a
 * refresh cookie. */
#ifndef CLERK_REQUEST_STATE_H
#define CLERK_REQUEST_STATE_H

#include <stdint.h>
#include <apr_pools.h>
#include "claims.h"
#include "handshake.h"
#include "org_sync.h"
#include "publishable_key.h"
#include "reason.h"
#include "token.h"
#include "token_cache.h"
#include "url.h"

typedef enum clerk_status { CLERK_SIGNED_IN = 0, CLERK_SIGNED_OUT, CLERK_HANDSHAKE } clerk_status;

typedef enum clerk_token_source {
    CLERK_SRC_NONE = 0,
    CLERK_SRC_HEADER,
    CLERK_SRC_COOKIE
} clerk_token_source;

/* Log levels for the core's log callback (glue maps them onto httpd's). */
enum { CLERK_LOG_ERR = 3, CLERK_LOG_WARN = 4, CLERK_LOG_INFO = 6, CLERK_LOG_DEBUG = 7 };
typedef void (*clerk_log_fn)(void *ctx, int level, const char *msg);

/* What one location decides with; built once at configuration time, read-only after. */
typedef struct clerk_config {
    const clerk_publishable_key *pk; /* NULL: no instance known (PEM-only set-up): production
                                        rules, unsuffixed cookies, no handshake */
    clerk_verify_opts verify;        /* now_ms is ignored here: the request's now is used */
    int accept_pending;              /* ClerkAcceptPending */
    clerk_key_source keys;
    clerk_token_cache *cache; /* NULL: no verified-token cache */
    clerk_log_fn log;         /* may be NULL */
    void *log_ctx;
    /* Handshake (docs/design.md#handshake); all zero: handshakes on, Frontend API from pk, no
     * nonce. */
    int handshake_off;        /* 1: would-be handshakes are signed-out, payloads ignored */
    const char *frontend_api; /* redirect target host or URL; NULL: pk->fapi_host */
    const char *secret_key;   /* for the nonce exchange; NULL: the redirect asks for a JWT */
    const char *api_url;      /* Backend API base; NULL: CLERK_HANDSHAKE_DEFAULT_API_URL */
    clerk_handshake_get_fn handshake_get; /* nonce exchange transport; NULL: no exchange */
    void *handshake_get_ctx;
    /* Multi-domain (docs/design.md#multi-domain; the SDK's isSatellite, domain, proxyUrl,
     * signInUrl, satelliteAutoSync, organizationSyncOptions); all zero: a primary domain. */
    int is_satellite;
    const char *domain;      /* satellite's host[:port]: production handshakes go to clerk.<it> */
    const char *proxy_url;   /* http(s) URL, or a path resolved against the public origin;
                                replaces the Frontend API wherever the SDK uses proxyUrl */
    const char *sign_in_url; /* satellite: the primary's absolute sign-in URL */
    int satellite_auto_sync; /* 1: a cookie-less satellite visit is sent to sync */
    const clerk_org_sync *org_sync; /* NULL: no organization sync */
} clerk_config;

/* The facts of one request the decision reads. Header values are NULL when absent. */
typedef struct clerk_request {
    const char *method;
    clerk_url_in url;
    const char *authorization;
    const char *cookie;
    const char *sec_fetch_dest;
    const char *accept;
    const char *referer;
    int64_t now_ms;
} clerk_request;

typedef struct clerk_state {
    clerk_status status;
    clerk_reason reason;       /* CLERK_R_NONE when signed in */
    const char *message;       /* Clerk's message; "" when none; never NULL */
    clerk_token_source source; /* where a token was found (NONE: none presented) */
    const char *kid;           /* kid of the presented token if it decoded, else NULL */
    clerk_token *token;        /* signed in: the verified token; released by a pool cleanup */
    int token_cached;          /* the token came from the verified-token cache (seen before) */
    /* Inputs of the handshake redirect (tokens/handshake.ts buildRedirectToHandshake), set for
     * every decision. */
    int eligible_for_handshake; /* GET document request */
    int suffixed_cookies;
    const char *session_token; /* raw token string (cookie preferred, else header), or NULL */
    const char *dev_browser;   /* __clerk_db_jwt (query, then cookie), or NULL */
    double redirect_count;     /* Number(__clerk_redirect_count) || 0, always finite */
    const char *public_url;    /* clerk_public_url() of the request; NULL when signed in
                                  without a redirect (nothing needs it then) */
    /* What the response must carry (tokens/request.ts handleMaybeHandshakeStatus,
     * tokens/handshake.ts resolveHandshake). */
    const char *location;            /* 307 target: the handshake URL (status handshake) or,
                                        after a development handshake, the cleaned URL */
    apr_array_header_t *set_cookies; /* const char * Set-Cookie values; NULL when none */
    int handshake_resolved;          /* a returning handshake was applied: send
                                        Access-Control-Allow-Origin: null and -Credentials */
} clerk_state;

/* 1 when the request is a GET document navigation (Sec-Fetch-Dest document|iframe, or none and
 * Accept starting with text/html), as tokens/request.ts handleMaybeHandshakeStatus. */
int clerk_is_document_request(const clerk_request *req);

/* Decides the request's state. Everything is allocated from p (the request pool); never fails:
 * any internal error is signed-out unexpected-error. */
void clerk_request_state(apr_pool_t *p, const clerk_request *req, const clerk_config *cfg,
                         clerk_state *out);

#endif
