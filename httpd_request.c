/* One request's Clerk decision: its facts handed to the core (src/request_state.c decides
 * signed-in / signed-out / handshake exactly as Clerk's SDK does), the result applied as
 * r->user, x-clerk-auth-* headers, exports (httpd_export.c) and a log line, and the answer a
 * signed-out request gets (a sign-in redirect, a Bearer challenge or ClerkUnauthAction's
 * status). The hooks' order is drawn at the top of httpd_redirects.c. */
#include <errno.h>
#include <string.h>

#include <apr_atomic.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <openssl/evp.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include "httpd_config.h"
#include "httpd_export.h"
#include "httpd_handshake.h"
#include "httpd_jwks.h"
#include "httpd_logno.h"
#include "httpd_machine.h"
#include "httpd_preflight.h"
#include "httpd_redirects.h"
#include "httpd_request.h"
#include "httpd_startup.h"
#include "httpd_status.h"

#include "auth.h"
#include "authorization.h"
#include "claims.h"
#include "export.h"
#include "header_text.h"
#include "jwt.h"
#include "reason.h"
#include "request_state.h"
#include "signin_url.h"
#include "token.h"
#include "url.h"

APLOG_USE_MODULE(clerk_auth);

/* Per process: the "log once" flags of log_decision. */
static apr_uint32_t logged_remote_pending;
static apr_uint32_t logged_no_key_source;

/* First 8 hex digits of SHA-256(token): enough to correlate log lines with a client's token,
 * useless for replaying it. */
static const char *token_fingerprint(request_rec *r, const char *tok)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!tok || !EVP_Digest(tok, strlen(tok), md, &mdlen, EVP_sha256(), NULL) || mdlen < 4)
        return "-";
    return apr_psprintf(r->pool, "%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);
}

static const char *status_name(clerk_status s)
{
    return s == CLERK_SIGNED_IN ? "signed-in" : s == CLERK_HANDSHAKE ? "handshake" : "signed-out";
}

static const char *action_name(unauth_action a)
{
    static const char *const names[] = {"unset", "auth", "pass", "401", "403", "404"};
    return names[a];
}

static const char *source_name(clerk_token_source s)
{
    return s == CLERK_SRC_HEADER ? "header" : s == CLERK_SRC_COOKIE ? "cookie" : "none";
}

int clerk_is_auth_type(request_rec *r)
{
    const char *type = ap_auth_type(r);
    return type && strcasecmp(type, CLERK_AUTH_TYPE) == 0;
}

/* docs/design.md#header-scrubbing: nothing the client sends may look like what we export
 * (REMOTE_USER, AUTH_TYPE, CLERK_*, with or without X-, '-' and '_' alike). */
void clerk_scrub_reserved_headers(request_rec *r)
{
    const apr_array_header_t *h = apr_table_elts(r->headers_in);
    const apr_table_entry_t *e = (const apr_table_entry_t *)h->elts;
    apr_array_header_t *drop = NULL;

    for (int i = 0; i < h->nelts; i++)
        if (e[i].key && clerk_export_is_reserved_header(e[i].key)) {
            if (!drop)
                drop = apr_array_make(r->pool, 2, sizeof(const char *));
            APR_ARRAY_PUSH(drop, const char *) = e[i].key;
        }
    for (int i = 0; drop && i < drop->nelts; i++) {
        const char *name = APR_ARRAY_IDX(drop, i, const char *);
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      CLERK_LOGNO(0002) "removed client-sent header %.64s", name);
        apr_table_unset(r->headers_in, name);
    }
}

/* Browsers send no credentials on a CORS preflight, so challenging it breaks the real request. */
static int is_cors_preflight(const request_rec *r)
{
    return r->method_number == M_OPTIONS && apr_table_get(r->headers_in, "Origin") &&
           apr_table_get(r->headers_in, "Access-Control-Request-Method");
}

#ifdef CLERK_TEST_CLOCK
/* TEST BUILDS ONLY (configure --enable-test-clock; never the default, never CI's
 * --enable-werror build, and no directive or environment can turn it on): the conformance
 * suite pins "now" per request so a boundary case (exp exactly at the skew) is decided at the
 * same millisecond by the module and by Clerk's SDK. The header name is not in a production
 * .so (tests/e2e/test_03_test_clock.py checks). Not an X-Clerk-* name: those are scrubbed
 * before the decision. Anything but plain decimal digits is ignored. */
static int64_t test_clock_ms(request_rec *r, int64_t now_ms)
{
    const char *v = apr_table_get(r->headers_in, "X-Test-Now-Ms");
    char *end;
    if (!v || !apr_isdigit(*v))
        return now_ms;
    errno = 0;
    apr_int64_t ms = apr_strtoi64(v, &end, 10);
    return errno == 0 && *end == '\0' ? (int64_t)ms : now_ms;
}
#endif

static void fill_request_facts(request_rec *r, const clerk_resolved *rs, clerk_request *q)
{
    apr_table_t *h = r->headers_in;
    const char *host = apr_table_get(h, "Host");

    q->method = r->method;
    q->url.conn_scheme = ap_http_scheme(r);
    q->url.host = host ? host : r->hostname ? r->hostname : r->server->server_hostname;
    q->url.xf_host = apr_table_get(h, "X-Forwarded-Host");
    q->url.xf_proto = apr_table_get(h, "X-Forwarded-Proto");
    q->url.cf_proto = apr_table_get(h, "CloudFront-Forwarded-Proto");
    q->url.trust_forwarded = rs->trust_forwarded;
    q->url.path = r->parsed_uri.path ? r->parsed_uri.path : "/";
    q->url.query = r->parsed_uri.query;
    q->authorization = apr_table_get(h, "Authorization");
    q->cookie = apr_table_get(h, "Cookie");
    q->sec_fetch_dest = apr_table_get(h, "Sec-Fetch-Dest");
    q->accept = apr_table_get(h, "Accept");
    q->referer = apr_table_get(h, "Referer");
    q->now_ms = (int64_t)(apr_time_now() / 1000); /* the one "now" of every token decision */
#ifdef CLERK_TEST_CLOCK
    q->now_ms = test_clock_ms(r, q->now_ms);
#endif
}

/* REMOTE_USER from ClerkUserClaim (a claim name or a dotted path): the core's choice
 * (clerk_claims_user). NULL, with why, when the token has no usable value. */
static const char *user_from_token(request_rec *r, const clerk_token *t, const char *claim,
                                   clerk_user_claim_result *why)
{
    if (strcmp(claim, "sub") == 0) /* verification required a non-empty string sub */
        return t->claims.sub;
    char *buf = apr_palloc(r->pool, 24);
    const char *user;
    *why = clerk_claims_user(t->jwt->payload, claim, buf, 24, &user);
    return user;
}

static void log_decision(request_rec *r, const clerk_resolved *rs, const clerk_req *rq)
{
    const clerk_state *st = &rq->st;

    if (st->status == CLERK_SIGNED_IN && rq->machine)
        return; /* logged by httpd_machine.c (CLERK2008) */
    if (st->status == CLERK_SIGNED_IN) {
        const char *sid = st->token->claims.sid;
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      CLERK_LOGNO(0003) "signed-in: user=%s sid=%s carrier=%s kid=%.64s", rq->user,
                      sid ? sid : "-", source_name(st->source), st->kid ? st->kid : "-");
        return;
    }
    if (st->source != CLERK_SRC_NONE) {
        const char *tok = st->source == CLERK_SRC_HEADER
                              ? clerk_authorization_token(r->pool, rq->facts.authorization)
                              : st->session_token;
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      CLERK_LOGNO(0004) "token rejected: reason=%s kid=%.64s sha256=%s "
                                        "carrier=%s: %s",
                      clerk_reason_str(st->reason), st->kid ? st->kid : "-",
                      token_fingerprint(r, tok), source_name(st->source), st->message);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  CLERK_LOGNO(0005) "%s: reason=%s carrier=%s action=%s", status_name(st->status),
                  clerk_reason_str(st->reason), source_name(st->source), action_name(rs->action));

    if (st->reason == CLERK_R_JWK_FAILED_TO_RESOLVE) {
        if (rs->remote && apr_atomic_cas32(&logged_remote_pending, 1, 0) == 0)
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          CLERK_LOGNO(0006) "this location's remote key source "
                                            "(ClerkSecretKey/ClerkJWKSURL) could not be set up "
                                            "(see CLERK0402): every token is signed out "
                                            "(jwk-failed-to-resolve). Logged once per process.");
        else if (!rs->remote && apr_atomic_cas32(&logged_no_key_source, 1, 0) == 0)
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          CLERK_LOGNO(0007) "AuthType Clerk without any key source for %s: "
                                            "every token is signed out (jwk-failed-to-resolve). "
                                            "Set ClerkJWTKey or ClerkJWKSFile. Logged once per "
                                            "process.",
                          r->uri);
    }
}

/* The request's record, created on first use; the client's headers are scrubbed then, before
 * anything reads them. */
clerk_req *clerk_request_record(request_rec *r)
{
    clerk_req *rq = ap_get_module_config(r->request_config, &clerk_auth_module);
    if (!rq) {
        rq = apr_pcalloc(r->pool, sizeof(*rq));
        rq->conf = r->per_dir_config;
        ap_set_module_config(r->request_config, &clerk_auth_module, rq);
        clerk_scrub_reserved_headers(r);
        if (r->main)
            clerk_keep_for_main(r, rq);
    }
    return rq;
}

/* A remote location's keys for one request: its local JWKS file first, then the fetched set. */
typedef struct remote_keys {
    const clerk_resolved *rs;
    clerk_key_source remote;
} remote_keys;

static const clerk_key *lookup_key_remote(void *ctx, const char *kid, clerk_error *err)
{
    const remote_keys *rk = ctx;
    const clerk_key *k = rk->rs->jwks && kid ? clerk_keyset_find(rk->rs->jwks, kid) : NULL;
    return k ? k : rk->remote.lookup(rk->remote.ctx, kid, err);
}

/* The request's decision, made at most once per request_rec. */
clerk_req *clerk_decide(request_rec *r, const clerk_resolved *rs)
{
    clerk_req *rq = clerk_request_record(r);
    if (rq->decided)
        return rq;
    rq->decided = 1;
    if (rs->preflight != CLERK_PREFLIGHT_AUTHENTICATE && is_cors_preflight(r)) {
        rq->preflight = 1;
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      CLERK_LOGNO(0008) "CORS preflight passed without a challenge");
        clerk_status_count_decision(1, 0, 0);
        return rq;
    }

    if (clerk_key_refusal(r, rs)) { /* nothing is verified with another instance's keys */
        rq->st.status = CLERK_SIGNED_OUT;
        rq->st.reason = CLERK_R_JWK_FAILED_TO_RESOLVE;
        return rq;
    }
    fill_request_facts(r, rs, &rq->facts);
    clerk_config cc = rs->core; /* shared settings; only the per-request fields differ */
    cc.cache = clerk_token_cache_current();
    cc.log_ctx = r;
    clerk_handshake_request_config(r, &cc);
    if (rs->remote && !rs->pem) { /* Clerk's order: a PEM key wins and nothing is fetched */
        remote_keys *rk = apr_palloc(r->pool, sizeof(*rk));
        rk->rs = rs;
        if (clerk_jwks_request_keys(r, rs->secret_key, rs->jwks_url, &rk->remote) == 0) {
            cc.keys.lookup = lookup_key_remote;
            cc.keys.ctx = rk;
        }
    }
    /* ClerkAcceptsToken: a machine token is decided by httpd_machine.c, the rest here. */
    cc.verify.now_ms = rq->facts.now_ms;
    if (clerk_machine_decide(r, rs->machine, rs->secret_key, rq->facts.authorization, &cc.verify,
                             &cc.keys, &rq->st, &rq->machine)) {
        if (rq->st.status == CLERK_SIGNED_IN)
            rq->user = rq->machine->subject;
        else
            rq->machine = NULL;
        goto decided;
    }
    clerk_request_state(r->pool, &rq->facts, &cc, &rq->st);

    if (rq->st.status == CLERK_SIGNED_IN) {
        clerk_token *t = rq->st.token;
        clerk_user_claim_result why = CLERK_USER_CLAIM_OK;
        rq->user = user_from_token(r, t, rs->user_claim, &why);
        /* A token seen before gets its variables made once and kept; a first sighting (maybe the
         * only one) exports from its auth object directly, which costs less than keeping. */
        int usable;
        if (rq->st.token_cached || clerk_token_memo(t) || rs->pass_nested) {
            rq->exports = clerk_export_token_vars(r->pool, t);
            usable = rq->exports && rq->exports->ok;
        } else {
            usable = clerk_auth_from_claims(r->pool, t->jwt->payload, &rq->auth) == 0;
            rq->auth_made = usable;
        }
        if (!rq->user || !usable) {
            /* Nothing of the token may reach the application of a signed-out request. */
            rq->auth_made = 0;
            rq->exports = NULL;
            rq->st.status = CLERK_SIGNED_OUT;
            rq->st.reason = CLERK_R_TOKEN_VERIFICATION_FAILED;
            rq->st.message = rq->user ? "The session token's claims cannot be read."
                                      : apr_psprintf(r->pool,
                                                     "The session token's '%s' claim %s: it is "
                                                     "REMOTE_USER (ClerkUserClaim); add it to the "
                                                     "session token in Clerk.",
                                                     rs->user_claim, clerk_user_claim_problem(why));
            /* The core names the public URL only for its own signed-out decisions; the
             * sign-in redirect needs it for this one too. */
            rq->st.public_url = clerk_public_url(r->pool, &rq->facts.url);
        }
    }
decided:
    log_decision(r, rs, rq);
    clerk_status_count_decision(0, rq->st.status, rq->st.reason);

    if (rq->st.status == CLERK_SIGNED_IN) {
        r->user = (char *)rq->user;
        r->ap_auth_type = (char *)CLERK_AUTH_TYPE;
    } else {
        apr_table_setn(r->err_headers_out, "x-clerk-auth-status", status_name(rq->st.status));
        apr_table_setn(r->err_headers_out, "x-clerk-auth-reason", clerk_reason_str(rq->st.reason));
        if (rs->debug_headers && *rq->st.message)
            apr_table_setn(r->err_headers_out, "x-clerk-auth-message",
                           clerk_header_safe(r->pool, rq->st.message));
    }
    clerk_handshake_apply_headers(r, &rq->st);
    clerk_export_decision(r, rs, rq);
    return rq;
}

/* RFC 6750 §3: the realm always; error and error_description only when a token was sent. */
static void set_challenge(request_rec *r)
{
    const clerk_req *rq = ap_get_module_config(r->request_config, &clerk_auth_module);
    const char *realm = ap_auth_name(r);
    if (!realm)
        realm = r->hostname ? r->hostname : r->server->server_hostname;
    int described = rq && rq->decided && !rq->preflight && rq->st.status != CLERK_SIGNED_IN &&
                    rq->st.source != CLERK_SRC_NONE;
    const char *value =
        clerk_bearer_challenge(r->pool, realm, described ? clerk_reason_str(rq->st.reason) : NULL);
    apr_table_setn(r->err_headers_out, "WWW-Authenticate", value);
}

static int respond_signed_out(request_rec *r, const clerk_resolved *rs, const clerk_req *rq)
{
    switch (rs->action) {
    case ACTION_401:
        return HTTP_UNAUTHORIZED;
    case ACTION_403:
        return HTTP_FORBIDDEN;
    case ACTION_404:
        return HTTP_NOT_FOUND;
    default: /* auth, and pass when a Require needs a user */
        break;
    }
    /* No Location past the URL bounds of url.h (no public URL): the 401 below instead. */
    const char *loc = rs->sign_in_url && clerk_is_document_request(&rq->facts)
                          ? clerk_sign_in_location(r->pool, rs->sign_in_url, rq->st.public_url)
                          : NULL;
    if (loc) {
        apr_table_setn(r->headers_out, "Location", loc);
        apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
        return HTTP_TEMPORARY_REDIRECT;
    }
    set_challenge(r);
    return HTTP_UNAUTHORIZED;
}

/* ---- hooks --------------------------------------------------------------------------------- */

/* r's resolved record when r is an AuthType Clerk request that may be decided, else NULL with
 * *rc: DECLINED for any other AuthType, 500 for a key source that belongs to another instance,
 * found only when a request merged the records (an .htaccess, or sections the startup check does
 * not pair): such a request is never signed in, and the log says why. */
static const clerk_resolved *decidable_conf(request_rec *r, int *rc)
{
    *rc = DECLINED;
    if (!clerk_is_auth_type(r))
        return NULL;
    const clerk_resolved *rs = clerk_request_conf(r);
    const char *why = clerk_key_refusal(r, rs);
    if (!why)
        return rs;
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, CLERK_LOGNO(1101) "refusing the request (500): %s",
                  why);
    *rc = HTTP_INTERNAL_SERVER_ERROR;
    return NULL;
}

/* Runs first among access checkers, before mod_authz_core decides whether authentication is
 * needed at all: headers are scrubbed on every Clerk request, and a `ClerkUnauthAction pass`
 * location decides here, because with `Require all granted` check_authn never runs. */
int clerk_check_access(request_rec *r)
{
    int rc;
    const clerk_resolved *rs = decidable_conf(r, &rc);
    if (!rs)
        return rc;
    if (rs->action == ACTION_PASS) {
        /* A handshake (or a development handshake's clean-up) redirects pass pages too. */
        rc = clerk_handshake_response(r, &clerk_decide(r, rs)->st);
        if (rc != DECLINED)
            return rc;
    } else
        clerk_request_record(r);
    return DECLINED;
}

/* ClerkScrubHeaders On: the client's look-alikes of our exports are removed from every request
 * of the server as soon as it is read, whatever section it lands in, so a back end that an
 * `AuthType Clerk` section feeds X-Remote-User / X-Clerk-* cannot be fed them by a sibling
 * section that does no authentication. The per-directory record at this point is the server's
 * own, where the directive lives. Internal redirects and sub-requests carry the original's
 * (already scrubbed) headers, and our exports. */
int clerk_post_read_request(request_rec *r)
{
    if (r->main || r->prev || !clerk_request_conf(r)->scrub_all)
        return DECLINED;
    clerk_scrub_reserved_headers(r);
    return DECLINED;
}

/* Returns OK with r->user set for a signed-in request, the configured status for a signed-out
 * one, DECLINED for any AuthType but Clerk. */
int clerk_check_authn(request_rec *r)
{
    int rc;
    const clerk_resolved *rs = decidable_conf(r, &rc);
    if (!rs)
        return rc;
    const clerk_req *rq = clerk_decide(r, rs);

    /* A preflight never needs a user: clerk_preflight_access let it through unless a rule that
     * needs none denied it. Reaching here means something forced authentication anyway; it
     * must not go on without a user, nor with one. */
    if (rq->preflight)
        return HTTP_FORBIDDEN;
    /* A handshake (@clerk/backend tokens/handshake.ts buildRedirectToHandshake), or a development
     * handshake's clean-up whatever its outcome (resolveHandshake, same file): a 307 with the
     * decision's headers. */
    if (rq->st.location)
        return clerk_handshake_response(r, &rq->st);
    if (rq->st.status == CLERK_SIGNED_IN)
        return OK;
    return respond_signed_out(r, rs, rq);
}

int clerk_preflight_mode(request_rec *r)
{
    if (!clerk_is_auth_type(r) || !is_cors_preflight(r))
        return 0;
    return clerk_request_conf(r)->preflight;
}

int clerk_preflight_decide(request_rec *r)
{
    int mode = clerk_preflight_mode(r);
    if (mode == CLERK_PREFLIGHT_RESPOND || mode == CLERK_PREFLIGHT_HANDLER)
        clerk_decide(r, clerk_request_conf(r));
    return mode;
}

const char *clerk_request_signed_in_by(request_rec *r)
{
    const clerk_req *rq = ap_get_module_config(r->request_config, &clerk_auth_module);
    if (!rq || !rq->decided || rq->preflight || rq->st.status != CLERK_SIGNED_IN)
        return NULL;
    return rq->st.source == CLERK_SRC_HEADER ? "Authorization" : "Cookie";
}

int clerk_request_identity(request_rec *r, clerk_identity *id)
{
    clerk_req *rq = ap_get_module_config(r->request_config, &clerk_auth_module);
    if (!rq || !rq->decided)
        return CLERK_IDENTITY_NONE;
    if (rq->preflight)
        return CLERK_IDENTITY_PREFLIGHT;
    if (rq->st.status != CLERK_SIGNED_IN)
        return CLERK_IDENTITY_NONE;
    if (rq->machine)
        return CLERK_IDENTITY_MACHINE;
    /* Made only when a Require line asks: Require valid-user never pays for it. The decision
     * already checked that it can be made (clerk_token_exports.ok). */
    if (!rq->auth_made) {
        if (clerk_auth_from_claims(r->pool, rq->st.token->jwt->payload, &rq->auth) != 0)
            return CLERK_IDENTITY_NONE;
        rq->auth_made = 1;
    }
    id->auth = &rq->auth;
    id->payload = rq->st.token->jwt->payload;
    id->now_ms = rq->facts.now_ms;
    return CLERK_IDENTITY_SIGNED_IN;
}

/* mod_authz_core asks for our challenge when it denies with 401. */
const clerk_machine *clerk_request_machine(request_rec *r)
{
    const clerk_req *rq = ap_get_module_config(r->request_config, &clerk_auth_module);
    return rq && rq->decided && !rq->preflight && rq->st.status == CLERK_SIGNED_IN ? rq->machine
                                                                                   : NULL;
}

int clerk_note_auth_failure(request_rec *r, const char *auth_type)
{
    if (strcasecmp(auth_type, CLERK_AUTH_TYPE) != 0)
        return DECLINED;
    set_challenge(r);
    return OK;
}
