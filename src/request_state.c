/* Clerk's authenticateRequest decision tree (@clerk/backend tokens/request.ts authenticateRequest;
 * docs/design.md#decision), with satellite domains, proxyUrl and organization sync
 * (docs/design.md#multi-domain).
 *
 * Not supported (by design, see request_state.h): session refresh through the Backend API.
 * Resolving a returning handshake (__clerk_handshake /
 * __clerk_handshake_nonce) is resolve_handshake() over src/handshake.c. */
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <apr_strings.h>
#include "authorization.h"
#include "cookies.h"
#include "js_number.h"
#include "jwt.h"
#include "nonce_guard.h"
#include "request_state.h"

#define COOKIE_SESSION        "__session"
#define COOKIE_CLIENT_UAT     "__client_uat"
#define COOKIE_DEV_BROWSER    "__clerk_db_jwt"
#define COOKIE_REDIRECT_COUNT "__clerk_redirect_count"
#define COOKIE_HANDSHAKE      "__clerk_handshake"
#define COOKIE_HS_NONCE       "__clerk_handshake_nonce"
/* Every cookie read below (suffixed names included) starts with one of these. */
static const char *const clerk_cookie_prefixes[] = {COOKIE_SESSION, COOKIE_CLIENT_UAT, "__clerk_",
                                                    NULL};
#define QUERY_DEV_BROWSER  "__clerk_db_jwt"
#define QUERY_REDIRECT_URL "__clerk_redirect_url"
#define QUERY_HANDSHAKE    "__clerk_handshake"
#define QUERY_HS_NONCE     "__clerk_handshake_nonce"
#define QUERY_SYNCED       "__clerk_synced"

/* Clerk stops redirecting at this many handshakes in a row; we stop at this or more, and at a
 * count that cannot grow (docs/design.md#deliberate-differences: the SDK stops only at exactly 3,
 * so a forged higher or hugely negative count would loop forever there). */
/* differences.h: redirect-count-over-3 */
#define REDIRECT_LOOP_LIMIT 3

/* Clerk's message for the cross-origin referrer handshake (JS request.ts). */
#define MSG_CROSS_ORIGIN "Cross-origin request from satellite domain requires handshake"

/* Ours: the only reason Clerk does not have. */
#define MSG_PENDING "The session is pending (sts=pending); ClerkAcceptPending On accepts it."

/* Ours: a development __clerk_redirect_url that is neither this site nor an authorized party. */
#define MSG_FOREIGN_REDIRECT                                                                       \
    "__clerk_redirect_url is neither this origin nor one of ClerkAuthorizedParties; not followed."

/* At most this many parent domains get a deletion of a failed nonce cookie (a cookie planted
 * from a sibling subdomain carries Domain=<a parent>, and only a deletion naming that same
 * domain removes it). */
#define NONCE_DELETE_MAX_PARENTS 4

/* Clerk warns once per process when a cookie token has no azp (@clerk/backend tokens/request.ts
 * authenticateRequestWithTokenInCookie). */
static atomic_int azp_warned;

/* Everything one decision reads, computed once. */
typedef struct ctx {
    apr_pool_t *p;
    const clerk_request *req;
    const clerk_config *cfg;
    clerk_state *out;
    apr_table_t *cookies;
    int dev; /* pk_test_ instance */
    int is_get;
    const char *session_cookie; /* chosen __session(_sfx), NULL when absent or empty */
    int64_t client_uat;
    /* A cached verified token found while peeking at a cookie (suffix choice), and its text:
     * get_token takes it instead of a second cache look-up, and peeking never parses it. */
    const char *peeked;
    clerk_token *peeked_tok;
    int nonce_cookie; /* the request carried a __clerk_handshake_nonce cookie */
} ctx;

static void logmsg(const ctx *c, int level, const char *msg)
{
    if (c->cfg->log)
        c->cfg->log(c->cfg->log_ctx, level, msg);
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

static void finish(ctx *c, clerk_status status, clerk_reason reason, const char *message)
{
    c->out->status = status;
    c->out->reason = reason;
    c->out->message = apr_pstrdup(c->p, message ? message : "");
}

static void signed_out(ctx *c, clerk_reason reason, const char *message)
{
    finish(c, CLERK_SIGNED_OUT, reason, message);
}

/* The redirect asks FAPI for a nonce only when it can be exchanged (a secret key and a
 * transport); otherwise for the handshake JWT, which the configured keys verify. */
static int wants_nonce(const clerk_config *cfg)
{
    return cfg->secret_key && *cfg->secret_key && cfg->handshake_get;
}

static void add_set_cookie(ctx *c, const char *value)
{
    if (!c->out->set_cookies)
        c->out->set_cookies = apr_array_make(c->p, 4, sizeof(const char *));
    APR_ARRAY_PUSH(c->out->set_cookies, const char *) = value;
}

/* The public URL is built only when a redirect may need it: a signed-in request never does, and
 * building it is a fair share of a cache hit's cost. */
static const char *need_public_url(ctx *c)
{
    if (!c->out->public_url)
        c->out->public_url = clerk_public_url(c->p, &c->req->url);
    return c->out->public_url;
}

/* Clerk's handleMaybeHandshakeStatus (@clerk/backend tokens/request.ts): a handshake only for a GET
 * document request below the loop limit, and (ours) only when an instance is known to send it to.
 * The 307 goes to location when given (Clerk's preset headers), else to the handshake URL. */
/* The SDK's frontendApi where it is not the publishable key's (authenticateContext.ts
 * initPublishableKeyValues, @clerk/shared keys.ts parsePublishableKey): proxyUrl (a path is
 * resolved against the request's public origin), else "clerk.<domain>" for a production
 * satellite. NULL: the publishable key's host. */
static const char *sdk_frontend_api(ctx *c)
{
    const clerk_config *cfg = c->cfg;
    if (cfg->proxy_url && *cfg->proxy_url) {
        if (cfg->proxy_url[0] != '/')
            return cfg->proxy_url;
        const char *origin = clerk_public_origin(c->p, &c->req->url);
        return origin ? apr_pstrcat(c->p, origin, cfg->proxy_url, NULL) : NULL;
    }
    if (cfg->pk && cfg->pk->production && cfg->is_satellite && cfg->domain && *cfg->domain)
        return apr_pstrcat(c->p, "clerk.", cfg->domain, NULL);
    return NULL;
}

/* Where the handshake goes: the SDK's frontendApi, else ClerkFrontendAPI, else the
 * publishable key's host. */
static const char *handshake_target(ctx *c)
{
    const char *sdk = sdk_frontend_api(c);
    return sdk ? sdk : c->cfg->frontend_api ? c->cfg->frontend_api : c->cfg->pk->fapi_host;
}

/* The organization the request's path names (tokens/handshake.ts getOrganizationSyncTarget). */
static clerk_org_target org_target(ctx *c)
{
    return clerk_org_sync_target(c->p, c->cfg->org_sync, c->req->url.path);
}

static void maybe_handshake_to(ctx *c, clerk_reason reason, const char *message,
                               const char *location)
{
    if (!c->out->eligible_for_handshake || !c->cfg->pk || c->cfg->handshake_off) {
        signed_out(c, reason, message);
        return;
    }
    /* A count too large in magnitude to grow (-1e300) would never reach the limit. */
    double count = c->out->redirect_count;
    if (count >= REDIRECT_LOOP_LIMIT || count + 1 == count) {
        logmsg(c, CLERK_LOG_WARN,
               reason == CLERK_R_SATELLITE_NEEDS_SYNCING
                   ? "Clerk: Satellite-domain authentication resulted in an infinite redirect "
                     "loop. Check that this request is using a configured primary or satellite "
                     "domain for the production instance. For preview deployments, use a "
                     "development/staging Clerk instance or a supported configured preview-domain "
                     "setup."
                   : "Clerk: Refreshing the session token resulted in an infinite redirect loop. "
                     "This usually means that your Clerk instance keys do not match - make sure "
                     "to copy the correct publishable and secret keys from the Clerk dashboard.");
        signed_out(c, reason, message);
        return;
    }
    if (!location && !need_public_url(c)) {
        logmsg(c, CLERK_LOG_INFO, CLERK_URL_TOO_LONG_MSG);
        signed_out(c, reason, message);
        return;
    }
    finish(c, CLERK_HANDSHAKE, reason, message);
    const clerk_config *cfg = c->cfg;
    clerk_state *o = c->out;
    need_public_url(c);
    o->location = location ? location
                           : clerk_handshake_url(c->p, handshake_target(c), o->public_url,
                                                 o->suffixed_cookies, clerk_reason_str(reason),
                                                 wants_nonce(cfg), o->session_token,
                                                 c->dev ? o->dev_browser : NULL);
    if (!location && cfg->org_sync) {
        /* buildRedirectToHandshake: the organization the URL names goes last. */
        clerk_org_target t = org_target(c);
        const char *org = clerk_org_sync_param(&t);
        if (org)
            o->location = apr_pstrcat(c->p, o->location,
                                      "&organization_id=", clerk_form_encode(c->p, org), NULL);
    }
    add_set_cookie(c, clerk_handshake_counter_cookie(c->p, o->redirect_count));
}

static void maybe_handshake(ctx *c, clerk_reason reason, const char *message)
{
    maybe_handshake_to(c, reason, message, NULL);
}

/* @clerk/backend tokens/request.ts authenticateRequestWithTokenInCookie: a development primary
 * sends the browser back to the satellite's
 * __clerk_redirect_url with the dev-browser token appended and __clerk_synced=true (replacing
 * any earlier value), the fragment kept last. */
static const char *satellite_return_url(ctx *c, const char *back)
{
    static const char *const synced[] = {"__clerk_synced", NULL};
    const char *hash = strchr(back, '#');
    const char *base = hash ? apr_pstrmemdup(c->p, back, (apr_size_t)(hash - back)) : back;
    const char *u = clerk_url_strip_params(c->p, base, synced);
    if (!u)
        u = base;
    const char *sep = strchr(u, '?') ? (u[strlen(u) - 1] == '?' ? "" : "&") : "?";
    const char *dev = c->out->dev_browser;
    if (dev)
        return apr_pstrcat(c->p, u, sep, "__clerk_db_jwt=", clerk_url_encode(c->p, dev),
                           "&__clerk_synced=true", hash ? hash : "", NULL);
    return apr_pstrcat(c->p, u, sep, "__clerk_synced=true", hash ? hash : "", NULL);
}

/* Clerk's handleSessionTokenError (@clerk/backend tokens/request.ts) with refresh never attempted:
 * an expired token reports the non-eligible refresh reason, non-GET checked first as Clerk does. */
static void token_error(ctx *c, const clerk_error *err, const char *carrier)
{
    if (!clerk_reason_is_token_error(err->reason)) {
        signed_out(c, CLERK_R_UNEXPECTED_ERROR, "");
        return;
    }
    char full[CLERK_ERROR_MESSAGE_MAX + 256];
    clerk_error_full_message(err, carrier, full, sizeof(full));
    switch (err->reason) {
    case CLERK_R_TOKEN_EXPIRED:
        maybe_handshake(c,
                        c->is_get ? CLERK_R_SESSION_TOKEN_EXPIRED_NO_REFRESH_COOKIE
                                  : CLERK_R_SESSION_TOKEN_EXPIRED_NON_GET,
                        full);
        break;
    case CLERK_R_TOKEN_NOT_ACTIVE_YET:
        maybe_handshake(c, CLERK_R_SESSION_TOKEN_NBF, full);
        break;
    case CLERK_R_TOKEN_IAT_IN_THE_FUTURE:
        maybe_handshake(c, CLERK_R_SESSION_TOKEN_IAT_IN_THE_FUTURE, full);
        break;
    default:
        signed_out(c, err->reason, full);
        break;
    }
}

static size_t max_token_len(const ctx *c)
{
    return c->cfg->verify.max_token_size ? c->cfg->verify.max_token_size
                                         : CLERK_JWT_DEFAULT_MAX_LEN;
}

static apr_status_t release_token(void *data)
{
    clerk_token_release((clerk_token *)data);
    return APR_SUCCESS;
}

/* Decodes tok, or takes the cached verified token for the same text (skipping decode and the
 * signature; clerk_token_verify still re-applies every claim). *cached says which. The token
 * is released with the request pool. */
static clerk_token *get_token(ctx *c, const char *tok, int *cached, clerk_error *err)
{
    size_t len = strlen(tok);
    clerk_token *t = NULL;
    *cached = 0;
    if (c->peeked_tok && strcmp(tok, c->peeked) == 0) {
        /* The look-up this verification makes, done early by peek_token. */
        t = clerk_token_ref(c->peeked_tok);
        *cached = 1;
        clerk_token_cache_count_hit(c->cfg->cache, tok, len);
    } else if (c->cfg->cache) {
        t = clerk_token_cache_get(c->cfg->cache, tok, len, c->req->now_ms, c->cfg->verify.skew_ms);
        *cached = t != NULL;
    }
    if (!t && clerk_token_decode_with(tok, len, max_token_len(c),
                                      c->cfg->cache ? clerk_token_cache_known_header : NULL,
                                      c->cfg->cache, &t, err) != 0)
        return NULL;
    if (!t) {
        clerk_error_set(err, CLERK_R_UNEXPECTED_ERROR, "token decode returned nothing");
        return NULL;
    }
    apr_pool_cleanup_register(c->p, t, release_token, apr_pool_cleanup_null);
    c->out->token_cached = *cached;
    if (t->jwt && t->jwt->kid)
        c->out->kid = apr_pstrdup(c->p, t->jwt->kid);
    return t;
}

/* clerk_token_verify with the request's now, then the cache put. 0 or -1 with err. */
static int verify(ctx *c, const char *tok, clerk_token *t, int cached, clerk_error *err)
{
    clerk_verify_opts o = c->cfg->verify;
    o.now_ms = c->req->now_ms;
    if (clerk_token_verify(t, &o, &c->cfg->keys, err) != 0)
        return -1;
    if (c->cfg->cache && !cached)
        clerk_token_cache_put(c->cfg->cache, tok, strlen(tok), t);
    return 0;
}

/* The verified token becomes the state, unless its session is pending and not accepted. */
static void signed_in(ctx *c, clerk_token *t)
{
    const char *sts = t->claims.sts;
    if (sts && strcmp(sts, "pending") == 0 && !c->cfg->accept_pending) {
        signed_out(c, CLERK_R_SESSION_PENDING, MSG_PENDING);
        return;
    }
    c->out->token = t;
    finish(c, CLERK_SIGNED_IN, CLERK_R_NONE, "");
}

/* ---- cookie selection (tokens/authenticateContext.ts usesSuffixedCookies)
 * ---------------------------------------------- */

/* A decoded-only view of a cookie token for the suffix choice. */
typedef struct peek {
    int decoded;
    const json_t *iss;
    int64_t iat; /* 0 when absent or not a number, as `payload.iat || 0` */
    int has_exp;
    double exp;
    clerk_jwt *jwt; /* owned when the token was decoded here; NULL when read from the cache */
} peek;

static void peek_token(ctx *c, const char *tok, peek *pk)
{
    memset(pk, 0, sizeof(*pk));
    clerk_error e;
    const clerk_jwt *jwt = NULL;
    clerk_token *t = NULL;
    /* A token verified before is read from the cache, not parsed again on every request. Not
     * counted as a look-up: get_token counts the one the verification makes (a peeked token
     * may never be verified, and a miss here is looked up again there). */
    if (tok && *tok && c->cfg->cache && !c->peeked_tok)
        t = clerk_token_cache_peek(c->cfg->cache, tok, strlen(tok), c->req->now_ms,
                                   c->cfg->verify.skew_ms);
    if (t) {
        apr_pool_cleanup_register(c->p, t, release_token, apr_pool_cleanup_null);
        c->peeked = tok;
        c->peeked_tok = t;
        jwt = t->jwt;
    } else if (tok && *tok &&
               clerk_jwt_decode(tok, strlen(tok), max_token_len(c), &pk->jwt, &e) == 0) {
        jwt = pk->jwt;
    }
    if (!jwt)
        return;
    pk->decoded = 1;
    pk->iss = json_object_get(jwt->payload, "iss");
    const json_t *iat = json_object_get(jwt->payload, "iat");
    if (json_is_number(iat))
        pk->iat = (int64_t)json_number_value(iat);
    const json_t *exp = json_object_get(jwt->payload, "exp");
    if (json_is_number(exp)) {
        pk->has_exp = 1;
        pk->exp = json_number_value(exp);
    }
}

/* iss with every http:// and https:// (any case) removed equals the Frontend API host. */
static int iss_is_instance(apr_pool_t *p, const json_t *iss, const char *fapi)
{
    if (!json_is_string(iss))
        return 0;
    const char *s = json_string_value(iss);
    size_t n = json_string_length(iss);
    if (strlen(s) != n) /* an embedded NUL never names a host */
        return 0;
    char *buf = apr_palloc(p, n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        /* Most characters are not an 'h': only those start a scheme worth comparing. */
        if ((s[i] | 0x20) == 'h' && strncasecmp(s + i, "https://", 8) == 0)
            i += 8;
        else if ((s[i] | 0x20) == 'h' && strncasecmp(s + i, "http://", 7) == 0)
            i += 7;
        else
            buf[o++] = s[i++];
    }
    buf[o] = '\0';
    return strcmp(buf, fapi) == 0;
}

/* "<base>_<suffix>" in buf (cookie names are short and fixed: no pool copy per request). */
static const char *suffixed_name(char buf[64], const char *base, const char *sfx)
{
    size_t b = strlen(base), n = strlen(sfx);
    if (b + 1 + n + 1 > 64)
        return base; /* cannot happen: our names and an 8-character suffix */
    memcpy(buf, base, b);
    buf[b] = '_';
    memcpy(buf + b + 1, sfx, n + 1);
    return buf;
}

static int uses_suffixed_cookies(ctx *c)
{
    const clerk_publishable_key *pk = c->cfg->pk;
    if (!pk || !c->cookies || apr_is_empty_table(c->cookies)) /* no cookie: rule 3, cheaply */
        return 0;
    const char *sfx = pk->suffix;
    char name[64];
    const char *us =
        nonempty(clerk_cookie_get(c->cookies, suffixed_name(name, COOKIE_CLIENT_UAT, sfx)));
    const char *u = nonempty(clerk_cookie_get(c->cookies, COOKIE_CLIENT_UAT));
    const char *ss =
        nonempty(clerk_cookie_get(c->cookies, suffixed_name(name, COOKIE_SESSION, sfx)));
    const char *s = nonempty(clerk_cookie_get(c->cookies, COOKIE_SESSION));
    peek ps, pss;
    int result;

    peek_token(c, s, &ps);
    memset(&pss, 0, sizeof(pss));
    if (s && !(ps.decoded && clerk_js_truthy(ps.iss))) { /* 1 */
        result = 0;
        goto done;
    }
    /* The SDK's originalFrontendApi: clerk.<domain> on a production satellite (its tokens are
     * issued there), never the proxy. */
    const char *instance = pk->production && c->cfg->is_satellite && c->cfg->domain
                               ? apr_pstrcat(c->p, "clerk.", c->cfg->domain, NULL)
                               : pk->fapi_host;
    if (s && !iss_is_instance(c->p, ps.iss, instance)) { /* 2 */
        result = 1;
        goto done;
    }
    if (!us && !ss) { /* 3 */
        result = 0;
        goto done;
    }
    peek_token(c, ss, &pss);
    int us_zero = us && strcmp(us, "0") == 0;
    int u_zero = u && strcmp(u, "0") == 0;
    if (!us_zero && !u_zero && ps.iat > pss.iat) { /* 4 */
        result = 0;
        goto done;
    }
    if (us_zero && !u_zero) { /* 5 */
        result = 0;
        goto done;
    }
    if (!pk->production) { /* 6 */
        int expired = pss.decoded && pss.has_exp && pss.exp <= (double)(c->req->now_ms / 1000);
        if (!us_zero && u_zero && expired) {
            result = 0;
            goto done;
        }
    }
    if (!us && ss) { /* 7 */
        result = 0;
        goto done;
    }
    result = 1; /* 8 */
done:
    clerk_jwt_free(ps.jwt);
    clerk_jwt_free(pss.jwt);
    return result;
}

/* The cookie named base, suffixed or not per the choice above. */
static const char *suffixed_or_not(ctx *c, const char *base)
{
    char name[64];
    if (c->out->suffixed_cookies)
        return clerk_cookie_get(c->cookies, suffixed_name(name, base, c->cfg->pk->suffix));
    return clerk_cookie_get(c->cookies, base);
}

/* Number(cookie) || 0 for the redirect counter, kept as JavaScript has it (the next counter is
 * printed from it); infinities, which no loop reaches either way, become large finite values. */
static double parse_redirect_count(const char *s)
{
    if (!s)
        return 0;
    double v = clerk_js_number(s);
    if (isnan(v))
        return 0;
    return v > 1e300 ? 1e300 : v < -1e300 ? -1e300 : v;
}

/* ---- referrer rules (tokens/authenticateContext.ts isCrossOriginReferrer)
 * ------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Clerk's development Account Portal hosts (legacy and current). */
static int is_dev_account_portal(apr_pool_t *p, const char *host)
{
    static const char *const legacy[] = {".lcl.dev", ".lclstage.dev", ".lclclerk.com"};
    static const char *const current[] = {".accounts.dev", ".accountsstage.dev",
                                          ".accounts.lclclerk.com"};
    for (size_t i = 0; i < 3; i++)
        if (strncmp(host, "accounts.", 9) == 0 && ends_with(host, legacy[i]))
            return 1;
    for (size_t i = 0; i < 3; i++)
        if (ends_with(host, current[i]) &&
            !ends_with(host, apr_pstrcat(p, ".clerk", current[i], NULL)))
            return 1;
    return 0;
}

/* Clerk's buildAccountsBaseUrl: the first "clerk.accountsstage." becomes "accountsstage.", then
 * the first "clerk.accounts." or "clerk." becomes "accounts.". */
static const char *accounts_origin(apr_pool_t *p, const char *fapi)
{
    const char *h = fapi;
    const char *m = strstr(h, "clerk.accountsstage.");
    if (m)
        h = apr_pstrcat(p, apr_pstrmemdup(p, h, (size_t)(m - h)), "accountsstage.", m + 20, NULL);
    m = strstr(h, "clerk.");
    if (m) {
        size_t skip = strncmp(m, "clerk.accounts.", 15) == 0 ? 15 : 6;
        h = apr_pstrcat(p, apr_pstrmemdup(p, h, (size_t)(m - h)), "accounts.", m + skip, NULL);
    }
    return clerk_url_origin(p, apr_pstrcat(p, "https://", h, NULL));
}

/* Clerk's isKnownClerkReferrer: the Frontend API itself, (development only) an Account Portal
 * host, or the production Account Portal derived from the Frontend API. */
static int is_known_clerk_referrer(ctx *c, const char *ref_origin, const char *hostname)
{
    const clerk_publishable_key *pk = c->cfg->pk;
    const char *fapi = sdk_frontend_api(c);
    const char *fapi_host = fapi ? fapi : pk->fapi_host;
    if (fapi && strncmp(fapi, "http", 4) == 0) {
        /* A proxy URL: its hostname. */
        const char *origin = clerk_url_origin(c->p, fapi);
        const char *h = origin ? strstr(origin, "://") + 3 : "";
        const char *colon = strrchr(h, ':'), *bracket = strrchr(h, ']');
        fapi_host = colon && (!bracket || colon > bracket)
                        ? apr_pstrmemdup(c->p, h, (size_t)(colon - h))
                        : h;
    }
    if (*fapi_host && strcasecmp(hostname, fapi_host) == 0)
        return 1;
    if (!pk->production && is_dev_account_portal(c->p, hostname))
        return 1;
    /* buildAccountsBaseUrl of a URL ("https://https://...") names no origin a referrer has. */
    if (fapi && strncmp(fapi, "http", 4) == 0)
        return 0;
    const char *acc = accounts_origin(c->p, fapi_host);
    return acc && strcmp(acc, ref_origin) == 0;
}

/* Clerk's primary-domain-cross-origin-sync condition (tokens/request.ts
 * authenticateRequestWithTokenInCookie). */
static int needs_cross_origin_sync(ctx *c)
{
    const clerk_request *r = c->req;
    if (!c->cfg->pk || c->cfg->is_satellite || !c->is_get || !r->sec_fetch_dest ||
        strcmp(r->sec_fetch_dest, "document") != 0 || c->out->redirect_count != 0)
        return 0;
    const char *ref = clerk_url_origin(c->p, r->referer);
    if (!ref) {
        /* An app's or a file's URL (origin "null"), or ws:/ftp:: never the request's origin. */
        const char *host = clerk_url_foreign_origin_host(c->p, r->referer);
        return host && !is_known_clerk_referrer(c, "null", host);
    }
    const char *self = clerk_url_origin(c->p, clerk_public_origin(c->p, &r->url));
    if (!self || strcmp(ref, self) == 0)
        return 0;
    const char *host = strstr(ref, "://") + 3;
    const char *colon = strrchr(host, ':');
    const char *bracket = strrchr(host, ']');
    if (colon && (!bracket || colon > bracket))
        host = apr_pstrmemdup(c->p, host, (size_t)(colon - host));
    return !is_known_clerk_referrer(c, ref, host);
}

/* ---- the two paths ------------------------------------------------------------------- */

static void header_path(ctx *c, const char *tok)
{
    clerk_error err = {0};
    int cached;
    clerk_token *t = get_token(c, tok, &cached, &err);
    if (!t) {
        token_error(c, &err, "header");
        return;
    }
    if (clerk_token_is_wrong_type(t)) {
        signed_out(c, CLERK_R_TOKEN_TYPE_MISMATCH, "");
        return;
    }
    if (verify(c, tok, t, cached, &err) != 0) {
        token_error(c, &err, "header");
        return;
    }
    signed_in(c, t);
}

/* Set-Cookie values deleting __clerk_handshake_nonce: host-only, and with Domain= each parent
 * domain of the request's host that still has a dot (a browser ignores one it would not accept,
 * such as a public suffix). An IP address host has no parents. */
static void delete_nonce_cookie(ctx *c)
{
    static const char del[] = COOKIE_HS_NONCE "=; Path=/; Max-Age=0";
    add_set_cookie(c, del);
    const char *origin = clerk_public_origin(c->p, &c->req->url);
    const char *host = origin ? strstr(origin, "://") : NULL;
    if (!host || host[3] == '[')
        return;
    host = apr_pstrndup(c->p, host + 3, strcspn(host + 3, ":/"));
    if (host[strspn(host, "0123456789.")] == '\0')
        return;
    const char *d = strchr(host, '.');
    for (int n = 0; d && strchr(d + 1, '.') && n < NONCE_DELETE_MAX_PARENTS; n++) {
        add_set_cookie(c, apr_pstrcat(c->p, del, "; Domain=", d + 1, NULL));
        d = strchr(d + 1, '.');
    }
}

/* Exchanges nonce through the Backend API behind the per-process guard (nonce_guard.h): a
 * malformed, recently failed or over-the-bound nonce makes no call. 0 with *out, or -1. */
static int exchange_nonce(ctx *c, const char *nonce, apr_array_header_t **out)
{
    const clerk_config *cfg = c->cfg;
    if (!wants_nonce(cfg)) {
        logmsg(c, CLERK_LOG_ERR,
               "Clerk: unable to exchange the handshake nonce: no secret key to exchange the "
               "handshake nonce with");
        return -1;
    }
    /* differences.h: nonce-guard */
    clerk_nonce_verdict v = clerk_nonce_guard_begin(nonce, c->req->now_ms);
    if (v != CLERK_NONCE_GO) {
        logmsg(c,
               v == CLERK_NONCE_TOO_MANY_NOW || v == CLERK_NONCE_TOO_MANY_SECOND ? CLERK_LOG_WARN
                                                                                 : CLERK_LOG_INFO,
               apr_psprintf(c->p, "Clerk: handshake nonce not exchanged (%s); no Backend API call",
                            clerk_nonce_verdict_str(v)));
        return -1;
    }
    char ferr[CLERK_ERROR_MESSAGE_MAX];
    int rc = clerk_handshake_fetch_payload(c->p, cfg->handshake_get, cfg->handshake_get_ctx,
                                           cfg->api_url, cfg->secret_key, nonce, out, ferr,
                                           sizeof(ferr));
    clerk_nonce_guard_end(nonce, rc != 0, c->req->now_ms);
    if (rc != 0)
        logmsg(c, CLERK_LOG_ERR,
               apr_psprintf(c->p, "Clerk: unable to exchange the handshake nonce: %s", ferr));
    return rc;
}

/* The handshake payload a returning request carries: the nonce exchanged through the Backend
 * API (it wins over a JWT; a failed exchange is an empty list, as Clerk logs and goes on, and
 * the response deletes a nonce cookie so that it fails once, not on every request), or the
 * handshake JWT. Returns 0 with *out, or -1 with err when the JWT fails verification. */
static int handshake_directives(ctx *c, const char *hs, const char *nonce, apr_array_header_t **out,
                                clerk_error *err)
{
    const clerk_config *cfg = c->cfg;
    if (nonce) {
        if (exchange_nonce(c, nonce, out) != 0) {
            *out = apr_array_make(c->p, 1, sizeof(const char *));
            /* differences.h: nonce-guard */
            if (c->nonce_cookie)
                delete_nonce_cookie(c);
        }
        return 0;
    }
    return clerk_handshake_verify_jwt(c->p, hs, cfg->verify.algs, &cfg->keys, out, err);
}

/* tokens/request.ts authenticateRequestWithTokenInCookie and tokens/handshake.ts resolveHandshake:
 * applies a returning handshake. Returns 1 when it decided the request (with Set-Cookie headers,
 * and in development the 307 to the cleaned URL), 0 when it failed and the cookie rules decide
 * instead (nothing of the attempt is kept, as Clerk's thrown error drops its headers). A handshake
 * JWT failing verification in development is a hard failure (signed-out with its reason): it
 * usually means switched keys. */
static int resolve_handshake(ctx *c, const char *hs, const char *nonce)
{
    clerk_state *o = c->out;
    clerk_error err = {0};
    apr_array_header_t *dirs = NULL;
    const clerk_token_source source0 = o->source;
    const char *session_token0 = o->session_token;

    if (c->cfg->handshake_off || !c->cfg->pk)
        return 0;
    if (handshake_directives(c, hs, nonce, &dirs, &err) != 0) {
        if (c->dev && clerk_reason_is_token_error(err.reason)) {
            char full[CLERK_ERROR_MESSAGE_MAX + 256];
            const char *msg =
                err.reason == CLERK_R_TOKEN_INVALID_SIGNATURE
                    ? CLERK_HS_MSG_DEV_SIGNATURE
                    : apr_psprintf(c->p,
                                   "Clerk: Handshake token verification failed: "
                                   "%s.",
                                   clerk_error_full_message(&err, "cookie", full, sizeof(full)));
            logmsg(c, CLERK_LOG_ERR, msg);
            signed_out(c, err.reason, msg);
            return 1;
        }
        logmsg(c, CLERK_LOG_INFO,
               apr_psprintf(c->p, "Clerk: handshake token ignored (reason=%s): %s",
                            clerk_reason_str(err.reason), err.message));
        return 0;
    }

    for (int i = 0; i < dirs->nelts; i++)
        add_set_cookie(c, APR_ARRAY_IDX(dirs, i, const char *));
    o->handshake_resolved = 1;
    if (c->dev)
        o->location = clerk_handshake_clean_url(c->p, need_public_url(c));

    const char *tok = clerk_handshake_session_token(c->p, dirs);
    if (!tok || !*tok) {
        signed_out(c, CLERK_R_SESSION_TOKEN_MISSING, "");
        return 1;
    }
    o->source = CLERK_SRC_COOKIE;
    o->session_token = tok;
    int cached;
    clerk_token *t = get_token(c, tok, &cached, &err);
    if (t && verify(c, tok, t, cached, &err) == 0) {
        signed_in(c, t);
        return 1;
    }
    if (t && c->dev &&
        (err.reason == CLERK_R_TOKEN_EXPIRED || err.reason == CLERK_R_TOKEN_NOT_ACTIVE_YET ||
         err.reason == CLERK_R_TOKEN_IAT_IN_THE_FUTURE)) {
        char full[CLERK_ERROR_MESSAGE_MAX + 256];
        clerk_error_full_message(&err, "cookie", full, sizeof(full));
        /* differences.h: dev-skew-retry. Clerk's SDK signs in when a day of skew passes; here the
         * retry only tells a wrong clock apart from a bad token, and never signs anybody in. */
        clerk_verify_opts opts = c->cfg->verify;
        opts.now_ms = c->req->now_ms;
        opts.skew_ms = INT64_C(86400000);
        clerk_error retry = {0};
        int day_ok = clerk_token_verify(t, &opts, &c->cfg->keys, &retry) == 0;
        logmsg(c, CLERK_LOG_WARN,
               apr_psprintf(c->p,
                            "Clerk: Clock skew detected. This usually means that your system "
                            "clock is inaccurate. %s The token %s; it is not accepted: set this "
                            "server's clock right.",
                            full,
                            day_ok ? "would pass with a day of clock skew"
                                   : "fails even with a day of clock skew"));
    }
    logmsg(c, CLERK_LOG_INFO,
           apr_psprintf(c->p, "Clerk: the session token from the handshake failed (reason=%s): %s",
                        clerk_reason_str(err.reason), err.message));
    o->set_cookies = NULL;
    o->location = NULL;
    o->handshake_resolved = 0;
    o->source = source0;
    o->session_token = session_token0;
    o->kid = NULL;
    return 0;
}

/* differences.h: dev-redirect-origin. A development primary follows __clerk_redirect_url (with
 * the visitor's dev-browser token appended) only to its own origin or an authorized party's:
 * Clerk's SDK follows any absolute URL, an open redirect that hands the token to anybody. A
 * value with white space, control bytes or a backslash is refused outright, so that the origin
 * checked here is the one a browser reads. */
static int redirect_allowed(ctx *c, const char *back)
{
    for (const unsigned char *b = (const unsigned char *)back; *b; b++)
        if (*b <= 0x20 || *b == 0x7f || *b == '\\')
            return 0;
    const char *origin = clerk_url_origin(c->p, back);
    if (!origin)
        return 0;
    const char *self = clerk_url_origin(c->p, clerk_public_origin(c->p, &c->req->url));
    if (self && strcmp(origin, self) == 0)
        return 1;
    for (size_t i = 0; i < c->cfg->verify.n_azp; i++) {
        const char *party = clerk_url_origin(c->p, c->cfg->verify.azp[i]);
        if (party && strcmp(origin, party) == 0)
            return 1;
    }
    return 0;
}

/* The development satellite's sync redirect: the primary's sign-in URL with the page to come
 * back to appended as URLSearchParams appends it (the query re-serialized, before a
 * fragment). */
static const char *satellite_sign_in_url(ctx *c, const char *back)
{
    static const char *const none[] = {NULL};
    const char *u = clerk_url_strip_params(c->p, c->cfg->sign_in_url, none);
    const char *hash = strchr(u, '#');
    const char *base = hash ? apr_pstrmemdup(c->p, u, (apr_size_t)(hash - u)) : u;
    return apr_pstrcat(c->p, base, strchr(base, '?') ? "&" : "?",
                       "__clerk_redirect_url=", clerk_form_encode(c->p, back), hash ? hash : "",
                       NULL);
}

/* tokens/request.ts authenticateRequestWithTokenInCookie, the satellite's multi-domain sync: a
 * GET navigation (Sec-Fetch-Dest document only) on a satellite whose __clerk_synced is not
 * "true". Without cookies it is signed out unless ClerkSatelliteAutoSync is on or
 * __clerk_synced=false asks for the sync; with cookies only __clerk_synced=false syncs. The sync
 * is a handshake (production) or the primary's sign-in URL (development). 1 when it decided. */
static int satellite_sync(ctx *c)
{
    const clerk_config *cfg = c->cfg;
    const clerk_request *r = c->req;
    if (!cfg->is_satellite || !cfg->pk || !c->is_get || !r->sec_fetch_dest ||
        strcmp(r->sec_fetch_dest, "document") != 0)
        return 0;
    const char *synced = clerk_query_get(c->p, r->url.query, QUERY_SYNCED);
    if (synced && strcmp(synced, "true") == 0)
        return 0;
    int needs_sync = synced && strcmp(synced, "false") == 0;
    int has_cookies = c->session_cookie != NULL || c->client_uat != 0;
    if (!cfg->satellite_auto_sync && !has_cookies && !needs_sync) {
        signed_out(c, CLERK_R_SESSION_TOKEN_AND_UAT_MISSING, "");
        return 1;
    }
    if (has_cookies && !needs_sync)
        return 0;
    if (!c->dev) {
        maybe_handshake(c, CLERK_R_SATELLITE_NEEDS_SYNCING, "");
        return 1;
    }
    const char *back = need_public_url(c);
    if (!back || !cfg->sign_in_url) {
        logmsg(c, CLERK_LOG_INFO,
               back ? "Clerk: a satellite needs ClerkSignInURL to sync" : CLERK_URL_TOO_LONG_MSG);
        signed_out(c, CLERK_R_SATELLITE_NEEDS_SYNCING, "");
        return 1;
    }
    maybe_handshake_to(c, CLERK_R_SATELLITE_NEEDS_SYNCING, "", satellite_sign_in_url(c, back));
    return 1;
}

/* tokens/request.ts handleMaybeOrganizationSyncHandshake: a signed-in GET navigation whose path
 * names another organization (or the personal account) than the session's active one goes
 * through a handshake that activates it. Never after 3 handshakes in a row, and never where no
 * handshake can be sent: then the request stays signed in (the SDK's null). 1 when it
 * redirected. */
static int org_sync_handshake(ctx *c, const clerk_token *t)
{
    const clerk_config *cfg = c->cfg;
    if (!cfg->org_sync || !t->claims.sub || !*t->claims.sub)
        return 0;
    if (t->claims.sts && strcmp(t->claims.sts, "pending") == 0)
        return 0; /* toAuth() of a pending session has no userId */
    clerk_org_target target = org_target(c);
    if (!clerk_org_sync_must_activate(&target, t->claims.payload))
        return 0;
    double count = c->out->redirect_count;
    if (count >= REDIRECT_LOOP_LIMIT) {
        logmsg(c, CLERK_LOG_WARN,
               "Clerk: Organization activation handshake loop detected. This is likely due to an "
               "invalid organization ID or slug. Skipping organization activation.");
        return 0;
    }
    if (!c->out->eligible_for_handshake || !cfg->pk || cfg->handshake_off || count + 1 == count ||
        !need_public_url(c))
        return 0;
    maybe_handshake(c, CLERK_R_ACTIVE_ORGANIZATION_MISMATCH, "");
    return c->out->status == CLERK_HANDSHAKE;
}

static void cookie_path(ctx *c)
{
    const char *query = c->req->url.query;
    const char *hs = nonempty(clerk_query_get(c->p, query, QUERY_HANDSHAKE));
    if (!hs)
        hs = nonempty(clerk_cookie_get(c->cookies, COOKIE_HANDSHAKE));
    const char *nonce_cookie = nonempty(clerk_cookie_get(c->cookies, COOKIE_HS_NONCE));
    const char *nonce = nonempty(clerk_query_get(c->p, query, QUERY_HS_NONCE));
    if (!nonce)
        nonce = nonce_cookie;
    c->nonce_cookie = nonce_cookie != NULL;
    /* differences.h: nonce-document-only. Only a GET document request can complete a handshake
     * (Set-Cookie on a navigation); elsewhere the nonce is left for the next one. */
    if (nonce && !c->out->eligible_for_handshake)
        nonce = NULL;
    if ((hs || nonce) && resolve_handshake(c, hs, nonce)) /* 1 */
        return;

    if (satellite_sync(c)) /* 2-3 */
        return;

    if (c->dev && !c->cfg->is_satellite) { /* 4 */
        const char *back = nonempty(clerk_query_get(c->p, query, QUERY_REDIRECT_URL));
        /* Clerk throws on a URL it cannot parse; we just skip the rule. */
        if (back && clerk_url_origin(c->p, back)) {
            if (!redirect_allowed(c, back)) {
                logmsg(c, CLERK_LOG_WARN, "Clerk: " MSG_FOREIGN_REDIRECT);
                signed_out(c, CLERK_R_PRIMARY_RESPONDS_TO_SYNCING, MSG_FOREIGN_REDIRECT);
                return;
            }
            maybe_handshake_to(c, CLERK_R_PRIMARY_RESPONDS_TO_SYNCING, "",
                               satellite_return_url(c, back));
            return;
        }
    }
    if (c->dev && clerk_query_get(c->p, query, QUERY_DEV_BROWSER)) { /* 6 */
        maybe_handshake(c, CLERK_R_DEV_BROWSER_SYNC, "");
        return;
    }
    if (c->dev && !c->out->dev_browser) { /* 7 */
        maybe_handshake(c, CLERK_R_DEV_BROWSER_MISSING, "");
        return;
    }
    int has_client = c->client_uat != 0;
    const char *tok = c->session_cookie;
    if (!has_client && !tok) { /* 8 */
        signed_out(c, CLERK_R_SESSION_TOKEN_AND_UAT_MISSING, "");
        return;
    }
    if (!has_client) { /* 9 */
        maybe_handshake(c, CLERK_R_SESSION_TOKEN_BUT_NO_CLIENT_UAT, "");
        return;
    }
    if (!tok) { /* 10 */
        maybe_handshake(c, CLERK_R_CLIENT_UAT_BUT_NO_SESSION_TOKEN, "");
        return;
    }

    clerk_error err = {0}; /* 11 */
    int cached;
    clerk_token *t = get_token(c, tok, &cached, &err);
    if (!t) {
        token_error(c, &err, "cookie");
        return;
    }
    if (clerk_token_is_wrong_type(t)) {
        signed_out(c, CLERK_R_TOKEN_TYPE_MISMATCH, "");
        return;
    }
    if (t->claims.has_iat && !t->claims.bad_iat && t->claims.iat < c->client_uat) {
        maybe_handshake(c, CLERK_R_SESSION_TOKEN_IAT_BEFORE_CLIENT_UAT, "");
        return;
    }

    if (verify(c, tok, t, cached, &err) != 0) { /* 12 */
        token_error(c, &err, "cookie");
        return;
    }
    if (!t->claims.azp && atomic_exchange(&azp_warned, 1) == 0)
        logmsg(c, CLERK_LOG_WARN,
               "Clerk: a session token from a cookie has no azp claim; set "
               "ClerkAuthorizedParties to the origins of your application (logged once)");
    if (needs_cross_origin_sync(c)) {
        maybe_handshake(c, CLERK_R_PRIMARY_DOMAIN_CROSS_ORIGIN_SYNC, MSG_CROSS_ORIGIN);
        return;
    }
    if (org_sync_handshake(c, t))
        return;
    signed_in(c, t);
}

int clerk_is_document_request(const clerk_request *req)
{
    if (!req || !req->method || strcmp(req->method, "GET") != 0)
        return 0;
    const char *dest = nonempty(req->sec_fetch_dest);
    if (dest)
        return strcmp(dest, "document") == 0 || strcmp(dest, "iframe") == 0;
    const char *accept = nonempty(req->accept);
    return accept && strncmp(accept, "text/html", 9) == 0;
}

void clerk_request_state(apr_pool_t *p, const clerk_request *req, const clerk_config *cfg,
                         clerk_state *out)
{
    memset(out, 0, sizeof(*out));
    out->status = CLERK_SIGNED_OUT;
    out->reason = CLERK_R_UNEXPECTED_ERROR;
    out->message = "";
    if (!p || !req || !cfg)
        return;

    ctx c = {.p = p, .req = req, .cfg = cfg, .out = out};
    c.dev = cfg->pk && !cfg->pk->production;
    c.is_get = req->method && strcmp(req->method, "GET") == 0;
    c.cookies = req->cookie ? clerk_cookies_parse(p, req->cookie, clerk_cookie_prefixes)
                            : NULL; /* get reads NULL */

    out->eligible_for_handshake = clerk_is_document_request(req);
    out->redirect_count = parse_redirect_count(clerk_cookie_get(c.cookies, COOKIE_REDIRECT_COUNT));
    out->suffixed_cookies = uses_suffixed_cookies(&c);
    c.session_cookie = nonempty(suffixed_or_not(&c, COOKIE_SESSION));
    c.client_uat = clerk_js_parse_int(suffixed_or_not(&c, COOKIE_CLIENT_UAT));
    out->dev_browser = nonempty(clerk_query_get(p, req->url.query, QUERY_DEV_BROWSER));
    if (!out->dev_browser)
        out->dev_browser = nonempty(suffixed_or_not(&c, COOKIE_DEV_BROWSER));

    const char *header_tok = nonempty(clerk_authorization_token(p, req->authorization));
    out->session_token = c.session_cookie ? c.session_cookie : header_tok;

    if (header_tok) {
        out->source = CLERK_SRC_HEADER;
        header_path(&c, header_tok);
    } else {
        if (c.session_cookie)
            out->source = CLERK_SRC_COOKIE;
        cookie_path(&c);
    }
    if (out->status != CLERK_SIGNED_IN)
        need_public_url(&c);
}
