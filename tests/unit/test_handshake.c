/* Clerk's handshake (@clerk/backend tokens/handshake.ts): the redirect URL parameter for parameter,
 * the counter cookie, the handshake JWT rules, the nonce exchange through a scripted fetch, and how
 * a returning request is decided (or falls through to the cookie rules). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>
#include "unit.h"
#include "mint.h"
#include "jwk.h"
#include "handshake.h"
#include "nonce_guard.h"
#include "request_state.h"

#define NOW_MS  INT64_C(1700000000000)
#define NOW_S   1700000000L
#define KID     "ins_test"
#define LIVE_PK "pk_live_Y2xlcmsuZXhhbXBsZS5jb20k" /* clerk.example.com */
#define TEST_PK                                                                                    \
    "pk_test_Zm9vLWJhci0xMy5jbGVyay5hY2NvdW50cy5kZXYk" /* foo-bar-13.clerk.accounts.dev */
#define LIVE_ISS  "https://clerk.example.com"
#define TEST_ISS  "https://foo-bar-13.clerk.accounts.dev"
#define HDR_RS256 "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"" KID "\"}"
#define SK        "sk_live_secret123"
#define API       "https://api.example.test"

static EVP_PKEY *key, *other_key, *ec_key;
static apr_pool_t *pool;
static clerk_keyset *keyset;
static clerk_publishable_key *live_pk, *test_pk;
static clerk_config cfg;
static clerk_request req;
static char last_log[1024];
static char log_all[8192]; /* every line of one test, for checks that span several */

/* The scripted Backend API. */
static struct {
    int calls;
    const char *url;
    const char *headers[8];
    int rc;
    long status;
    const char *body;
} bapi;

static void make_keys(void)
{
    key = mint_keygen("rsa2048");
    other_key = mint_keygen("rsa2048");
    ec_key = mint_keygen("ec256");
}

static void free_keys(void)
{
    EVP_PKEY_free(key);
    EVP_PKEY_free(other_key);
    EVP_PKEY_free(ec_key);
}

static const clerk_key *lookup(void *ctx, const char *kid, clerk_error *err)
{
    const clerk_key *k = clerk_keyset_find(ctx, kid);
    if (!k)
        clerk_error_set(err, CLERK_R_JWK_KID_MISMATCH, "no key for kid");
    return k;
}

static void log_cb(void *ctx, int level, const char *msg)
{
    snprintf(last_log, sizeof(last_log), "%s", msg);
    size_t n = strlen(log_all);
    snprintf(log_all + n, sizeof(log_all) - n, "%s\n", msg);
}

static int scripted_get(void *ctx, apr_pool_t *p, const char *url, const char *const *headers,
                        long *status, const char **body, clerk_error *err)
{
    bapi.calls++;
    bapi.url = apr_pstrdup(p, url);
    for (int i = 0; i < 7 && headers[i]; i++)
        bapi.headers[i] = apr_pstrdup(p, headers[i]);
    if (bapi.rc != 0) {
        clerk_error_set(err, CLERK_R_NONE, "connection refused");
        return -1;
    }
    *status = bapi.status;
    *body = bapi.body;
    return 0;
}

static void setup(void)
{
    clerk_error err = {0};
    apr_pool_create(&pool, NULL);
    keyset = clerk_keyset_new();
    unit_add_jwk(keyset, key, KID, "RS256");
    unit_add_jwk(keyset, ec_key, "ins_ec", NULL);
    ck_assert_int_eq(clerk_publishable_key_parse(pool, LIVE_PK, &live_pk, &err), 0);
    ck_assert_int_eq(clerk_publishable_key_parse(pool, TEST_PK, &test_pk, &err), 0);

    memset(&cfg, 0, sizeof(cfg));
    cfg.pk = live_pk;
    cfg.verify.skew_ms = 5000;
    cfg.verify.algs = CLERK_ALGS_DEFAULT;
    cfg.keys.lookup = lookup;
    cfg.keys.ctx = keyset;
    cfg.log = log_cb;

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.sec_fetch_dest = "document";
    req.url.conn_scheme = "https";
    req.url.host = "app.example.com";
    req.url.path = "/dashboard";
    req.now_ms = NOW_MS;
    last_log[0] = '\0';
    log_all[0] = '\0';
    memset(&bapi, 0, sizeof(bapi));
    bapi.status = 200;
}

static void teardown(void)
{
    apr_pool_destroy(pool);
    clerk_keyset_unref(keyset);
}

static const char *sign(EVP_PKEY *k, const char *alg, const char *header, const char *payload)
{
    char *t = mint_sign(k, alg, header, payload);
    ck_assert_ptr_nonnull(t);
    const char *out = apr_pstrdup(pool, t);
    free(t);
    return out;
}

/* A session token with iat/exp offsets from NOW_S. */
static const char *session(const char *iss, long iat_off, long exp_off)
{
    return sign(key, "RS256", HDR_RS256,
                apr_psprintf(pool,
                             "{\"sub\":\"user_2\",\"sid\":\"sess_2\",\"iss\":\"%s\",\"iat\":%ld,"
                             "\"nbf\":%ld,\"exp\":%ld}",
                             iss, NOW_S + iat_off, NOW_S + iat_off - 10, NOW_S + exp_off));
}

/* A handshake JWT carrying directives (a JSON array text). */
static const char *handshake_jwt(EVP_PKEY *k, const char *directives_json)
{
    return sign(k, "RS256", HDR_RS256,
                apr_psprintf(pool, "{\"handshake\":%s,\"exp\":%ld}", directives_json,
                             NOW_S - 3600)); /* long expired: claims are not checked */
}

static const char *fresh_directives(const char *tok)
{
    return apr_psprintf(pool,
                        "[\"__session=%s; Path=/; Secure; SameSite=Lax\",\"__client_uat=%ld; "
                        "Path=/; Secure; SameSite=Lax\",\"__clerk_handshake=; Max-Age=0; Path=/\"]",
                        tok, NOW_S - 5);
}

static clerk_state decide(void)
{
    clerk_state st;
    clerk_request_state(pool, &req, &cfg, &st);
    return st;
}

static void assert_state(const clerk_state *st, clerk_status status, clerk_reason reason)
{
    ck_assert_msg(st->status == status && st->reason == reason,
                  "expected status %d reason %s, got status %d reason %s (%s)", status,
                  clerk_reason_str(reason), st->status, clerk_reason_str(st->reason), st->message);
}

static const char *cookie_at(const clerk_state *st, int i)
{
    ck_assert_ptr_nonnull(st->set_cookies);
    ck_assert_int_gt(st->set_cookies->nelts, i);
    return APR_ARRAY_IDX(st->set_cookies, i, const char *);
}

/* ---- the redirect (buildRedirectToHandshake) ---- */

START_TEST(handshake_url_has_clerks_parameters_in_order)
{
    const char *u = clerk_handshake_url(pool, "clerk.example.com",
                                        "https://app.example.com/a/b?x=1&y=two words", 1,
                                        "session-token-expired-refresh-non-eligible-no-refresh-"
                                        "cookie",
                                        1, "aaa.bbb.ccc", NULL);
    ck_assert_str_eq(u, "https://clerk.example.com/v1/client/handshake"
                        "?redirect_url=https%3A%2F%2Fapp.example.com%2Fa%2Fb%3Fx%3D1%26y%3Dtwo%2B"
                        "words"
                        "&__clerk_api_version=2026-05-12"
                        "&suffixed_cookies=true"
                        "&__clerk_hs_reason=session-token-expired-refresh-non-eligible-no-"
                        "refresh-cookie"
                        "&format=nonce"
                        "&__session=aaa.bbb.ccc");
}
END_TEST

START_TEST(handshake_url_for_development_strips_dev_browser_from_redirect_and_appends_it)
{
    const char *u =
        clerk_handshake_url(pool, "foo-bar-13.clerk.accounts.dev/",
                            "http://localhost:8080/p?__clerk_db_jwt=dvb_1&keep=1&__dev_session=old",
                            0, "dev-browser-sync", 1, NULL, "dvb_1");
    ck_assert_str_eq(u, "https://foo-bar-13.clerk.accounts.dev/v1/client/handshake"
                        "?redirect_url=http%3A%2F%2Flocalhost%3A8080%2Fp%3Fkeep%3D1"
                        "&__clerk_api_version=2026-05-12&suffixed_cookies=false"
                        "&__clerk_hs_reason=dev-browser-sync&format=nonce"
                        "&__clerk_db_jwt=dvb_1");
}
END_TEST

START_TEST(handshake_endpoint_keeps_http_urls_and_trims_slashes)
{
    ck_assert_str_eq(clerk_handshake_endpoint(pool, "http://127.0.0.1:9000//"),
                     "http://127.0.0.1:9000/v1/client/handshake");
    ck_assert_str_eq(clerk_handshake_endpoint(pool, "https://proxy.example.com/__clerk/"),
                     "https://proxy.example.com/__clerk/v1/client/handshake");
    ck_assert_str_eq(clerk_handshake_endpoint(pool, "clerk.example.com"),
                     "https://clerk.example.com/v1/client/handshake");
}
END_TEST

START_TEST(form_encoding_matches_url_search_params)
{
    ck_assert_str_eq(clerk_form_encode(pool, "a b~c*d-e.f_g/h?i=j&k%l+m\xc3\xa9"),
                     "a+b%7Ec*d-e.f_g%2Fh%3Fi%3Dj%26k%25l%2Bm%C3%A9");
}
END_TEST

START_TEST(counter_cookie_is_incremented_lax_httponly_two_seconds)
{
    ck_assert_str_eq(clerk_handshake_counter_cookie(pool, 0),
                     "__clerk_redirect_count=1; SameSite=Lax; HttpOnly; Max-Age=2");
    ck_assert_str_eq(clerk_handshake_counter_cookie(pool, 2),
                     "__clerk_redirect_count=3; SameSite=Lax; HttpOnly; Max-Age=2");
}
END_TEST

START_TEST(clean_url_drops_the_four_handshake_parameters)
{
    ck_assert_str_eq(
        clerk_handshake_clean_url(pool, "https://a.test/p?__clerk_handshake=x&a=1&__clerk_help=1"
                                        "&__clerk_db_jwt=d&__clerk_handshake_nonce=n&b=2"),
        "https://a.test/p?a=1&b=2");
    ck_assert_str_eq(clerk_handshake_clean_url(pool, "https://a.test/p?__clerk_handshake=x"),
                     "https://a.test/p");
}
END_TEST

/* Each reason the core sends to a handshake, through the real decision (tokens/request.ts
 * authenticateRequestWithTokenInCookie, handleMaybeHandshakeStatus). */
START_TEST(every_handshake_reason_builds_the_exact_url_and_counter)
{
    const char *expired = session(LIVE_ISS, -120, -60);
    const char *fresh = session(LIVE_ISS, -5, 55);
    struct {
        const char *cookie;
        const char *reason;
        const char *session;
    } cases[] = {
        {apr_psprintf(pool, "__session=%s; __client_uat=%ld", expired, NOW_S - 200),
         "session-token-expired-refresh-non-eligible-no-refresh-cookie", expired},
        {apr_psprintf(pool, "__session=%s", fresh), "session-token-but-no-client-uat", fresh},
        {apr_psprintf(pool, "__client_uat=%ld", NOW_S), "client-uat-but-no-session-token", NULL},
        {apr_psprintf(pool, "__session=%s; __client_uat=%ld", fresh, NOW_S),
         "session-token-iat-before-client-uat", fresh},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        req.cookie = apr_pstrcat(pool, cases[i].cookie, "; __clerk_redirect_count=1", NULL);
        clerk_state st = decide();
        ck_assert_int_eq(st.status, CLERK_HANDSHAKE);
        ck_assert_str_eq(clerk_reason_str(st.reason), cases[i].reason);
        const char *want = apr_pstrcat(
            pool,
            "https://clerk.example.com/v1/client/handshake?redirect_url=https%3A%2F%2Fapp."
            "example.com%2Fdashboard&__clerk_api_version=2026-05-12&suffixed_cookies=false"
            "&__clerk_hs_reason=",
            cases[i].reason, cases[i].session ? "&__session=" : "",
            cases[i].session ? cases[i].session : "", NULL);
        ck_assert_str_eq(st.location, want);
        ck_assert_int_eq(st.set_cookies->nelts, 1);
        ck_assert_str_eq(cookie_at(&st, 0),
                         "__clerk_redirect_count=2; SameSite=Lax; HttpOnly; Max-Age=2");
    }
}
END_TEST

START_TEST(secret_key_and_transport_ask_for_a_nonce)
{
    cfg.secret_key = SK;
    cfg.handshake_get = scripted_get;
    req.cookie = apr_psprintf(pool, "__client_uat=%ld", NOW_S);
    clerk_state st = decide();
    ck_assert_int_eq(st.status, CLERK_HANDSHAKE);
    ck_assert_ptr_nonnull(strstr(st.location, "&__clerk_hs_reason=client-uat-but-no-session-"
                                              "token&format=nonce"));
    ck_assert_int_eq(bapi.calls, 0);
}
END_TEST

START_TEST(development_reasons_carry_the_dev_browser_and_frontend_api_override)
{
    cfg.pk = test_pk;
    cfg.frontend_api = "http://127.0.0.1:9000";
    clerk_state st = decide();
    ck_assert_int_eq(st.status, CLERK_HANDSHAKE);
    ck_assert_str_eq(st.location, "http://127.0.0.1:9000/v1/client/handshake?redirect_url=https%"
                                  "3A%2F%2Fapp.example.com%2Fdashboard&__clerk_api_version=2026-"
                                  "05-12&suffixed_cookies=false&__clerk_hs_reason=dev-browser-"
                                  "missing");
    req.url.query = "__clerk_db_jwt=dvb_9&x=1";
    st = decide();
    ck_assert_str_eq(clerk_reason_str(st.reason), "dev-browser-sync");
    ck_assert_str_eq(st.location, "http://127.0.0.1:9000/v1/client/handshake?redirect_url=https%"
                                  "3A%2F%2Fapp.example.com%2Fdashboard%3Fx%3D1&__clerk_api_version"
                                  "=2026-05-12&suffixed_cookies=false&__clerk_hs_reason=dev-"
                                  "browser-sync&__clerk_db_jwt=dvb_9");
}
END_TEST

START_TEST(handshake_off_answers_signed_out_without_location)
{
    cfg.handshake_off = 1;
    req.cookie = apr_psprintf(pool, "__client_uat=%ld", NOW_S);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_CLIENT_UAT_BUT_NO_SESSION_TOKEN);
    ck_assert_ptr_null(st.location);
    ck_assert_ptr_null(st.set_cookies);
}
END_TEST

START_TEST(loop_stop_at_three_has_no_location_or_counter)
{
    req.cookie = apr_psprintf(pool, "__client_uat=%ld; __clerk_redirect_count=3", NOW_S);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_CLIENT_UAT_BUT_NO_SESSION_TOKEN);
    ck_assert_ptr_null(st.location);
    ck_assert_ptr_null(st.set_cookies);
}
END_TEST

/* ---- handshake JWT (verifyHandshakeToken) ---- */

START_TEST(handshake_jwt_yields_its_directives_without_claim_checks)
{
    apr_array_header_t *d = NULL;
    clerk_error err = {0};
    const char *t = handshake_jwt(key, "[\"a=1; Path=/\",\"b=2\"]");
    ck_assert_int_eq(clerk_handshake_verify_jwt(pool, t, CLERK_ALGS_DEFAULT, &cfg.keys, &d, &err),
                     0);
    ck_assert_int_eq(d->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(d, 0, const char *), "a=1; Path=/");
    ck_assert_str_eq(APR_ARRAY_IDX(d, 1, const char *), "b=2");
}
END_TEST

START_TEST(handshake_jwt_signed_by_another_key_is_invalid_signature)
{
    apr_array_header_t *d = NULL;
    clerk_error err = {0};
    const char *t = handshake_jwt(other_key, "[\"a=1\"]");
    ck_assert_int_eq(clerk_handshake_verify_jwt(pool, t, 0, &cfg.keys, &d, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_INVALID_SIGNATURE);
    ck_assert_str_eq(err.message, "Handshake signature is invalid.");
    ck_assert_ptr_null(d);
}
END_TEST

START_TEST(handshake_jwt_header_rules_typ_alg_cat)
{
    apr_array_header_t *d = NULL;
    clerk_error err = {0};
    const char *pl = "{\"handshake\":[]}";
    const char *t =
        sign(key, "RS256", "{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"" KID "\"}", pl);
    ck_assert_int_eq(clerk_handshake_verify_jwt(pool, t, 0, &cfg.keys, &d, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_INVALID);
    t = sign(key, "PS256", "{\"alg\":\"PS256\",\"kid\":\"" KID "\"}", pl);
    ck_assert_int_eq(clerk_handshake_verify_jwt(pool, t, CLERK_ALGS_ALL, &cfg.keys, &d, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_INVALID_ALGORITHM);
    t = sign(ec_key, "ES256", "{\"alg\":\"ES256\",\"kid\":\"ins_ec\"}", pl);
    ck_assert_int_eq(clerk_handshake_verify_jwt(pool, t, CLERK_ALGS_ALL, &cfg.keys, &d, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_INVALID_ALGORITHM);
    t = sign(key, "RS384", "{\"alg\":\"RS384\",\"kid\":\"" KID "\"}", pl);
    ck_assert_int_eq(clerk_handshake_verify_jwt(pool, t, 0, &cfg.keys, &d, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_INVALID_ALGORITHM);
    /* RS384 when allowed, with a key not restricted to RS256 by its JWK "alg" */
    clerk_error perr;
    char *pem = mint_public_pem(key);
    clerk_keyset *pemset = clerk_keyset_new();
    ck_assert_int_eq(clerk_keyset_add_pem(pemset, pem, strlen(pem), &perr), 0);
    free(pem);
    clerk_key_source pemsrc = {lookup, pemset};
    int rc =
        clerk_handshake_verify_jwt(pool, t, CLERK_ALG_RS256 | CLERK_ALG_RS384, &pemsrc, &d, &err);
    clerk_keyset_unref(pemset);
    ck_assert_int_eq(rc, 0);
    t = sign(key, "RS256", "{\"alg\":\"RS256\",\"kid\":\"" KID "\",\"cat\":\"cl_B7d4PD333AAA\"}",
             pl);
    ck_assert_int_eq(clerk_handshake_verify_jwt(pool, t, 0, &cfg.keys, &d, &err), -1);
    ck_assert_str_eq(err.message, "Invalid handshake token category.");
    t = sign(key, "RS256", "{\"alg\":\"RS256\",\"kid\":\"" KID "\",\"cat\":\"cl_B7d4PD111AAA\"}",
             pl);
    ck_assert_int_eq(clerk_handshake_verify_jwt(pool, t, 0, &cfg.keys, &d, &err), 0);
    t = sign(key, "none", "{\"alg\":\"none\",\"kid\":\"" KID "\"}", pl);
    ck_assert_int_eq(clerk_handshake_verify_jwt(pool, t, 0, &cfg.keys, &d, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_INVALID_ALGORITHM);
}
END_TEST

START_TEST(handshake_payload_must_be_a_bounded_string_array)
{
    apr_array_header_t *d = NULL;
    clerk_error err = {0};
    const char *bad[] = {"\"a=1\"", "[1]", "[\"a=1\\r\\nX: y\"]", "[\"\"]", "{}", NULL};
    for (int i = 0; bad[i]; i++) {
        const char *t = handshake_jwt(key, bad[i]);
        ck_assert_int_eq(clerk_handshake_verify_jwt(pool, t, 0, &cfg.keys, &d, &err), -1);
        ck_assert_int_eq(err.reason, CLERK_R_UNEXPECTED_ERROR);
    }
    const char *many = "[\"a=1\"";
    for (int i = 1; i <= CLERK_HANDSHAKE_MAX_DIRECTIVES; i++)
        many = apr_pstrcat(pool, many, ",\"a=1\"", NULL);
    many = apr_pstrcat(pool, many, "]", NULL);
    ck_assert_int_eq(
        clerk_handshake_verify_jwt(pool, handshake_jwt(key, many), 0, &cfg.keys, &d, &err), -1);
    char *longd = apr_palloc(pool, CLERK_HANDSHAKE_MAX_DIRECTIVE_LEN + 8);
    memset(longd, 'x', CLERK_HANDSHAKE_MAX_DIRECTIVE_LEN + 1);
    longd[CLERK_HANDSHAKE_MAX_DIRECTIVE_LEN + 1] = '\0';
    ck_assert_int_eq(clerk_handshake_verify_jwt(
                         pool, handshake_jwt(key, apr_psprintf(pool, "[\"a=%s\"]", longd)), 0,
                         &cfg.keys, &d, &err),
                     -1);
    clerk_error perr;
    ck_assert_int_eq(clerk_handshake_parse_payload(pool,
                                                   "{\"directives\":[\"a=1\"],"
                                                   "\"directives\":[]}",
                                                   38, &d, &perr),
                     -1);
    ck_assert_int_eq(clerk_handshake_parse_payload(pool, "[]", 2, &d, &perr), -1);
    const char *ok = "{\"object\":\"handshake_payload\",\"directives\":[\"a=1\"]}";
    ck_assert_int_eq(clerk_handshake_parse_payload(pool, ok, strlen(ok), &d, &perr), 0);
    ck_assert_int_eq(d->nelts, 1);
}
END_TEST

START_TEST(session_token_is_the_last_session_directive)
{
    apr_array_header_t *d = apr_array_make(pool, 4, sizeof(const char *));
    ck_assert_ptr_null(clerk_handshake_session_token(pool, d));
    APR_ARRAY_PUSH(d, const char *) = "__client_uat=1; Path=/";
    ck_assert_ptr_null(clerk_handshake_session_token(pool, d));
    APR_ARRAY_PUSH(d, const char *) = "__session=aaa.bbb.ccc; Path=/";
    APR_ARRAY_PUSH(d, const char *) = "__session_Abc123xy=ddd.eee.fff; Path=/; Secure";
    ck_assert_str_eq(clerk_handshake_session_token(pool, d), "ddd.eee.fff");
    APR_ARRAY_PUSH(d, const char *) = "__session=x=y; Path=/";
    ck_assert_str_eq(clerk_handshake_session_token(pool, d), "x");
    APR_ARRAY_PUSH(d, const char *) = "__session=; Max-Age=0";
    ck_assert_str_eq(clerk_handshake_session_token(pool, d), "");
    APR_ARRAY_PUSH(d, const char *) = "__sessionless=1";
    ck_assert_str_eq(clerk_handshake_session_token(pool, d), "1");
    APR_ARRAY_PUSH(d, const char *) = "_session=zzz";
    ck_assert_str_eq(clerk_handshake_session_token(pool, d), "1");
}
END_TEST

/* ---- resolving a returning request (resolveHandshake) ---- */

START_TEST(production_handshake_jwt_in_query_signs_in_with_its_cookies)
{
    const char *tok = session(LIVE_ISS, -2, 58);
    req.url.query = apr_pstrcat(
        pool, "__clerk_handshake=", handshake_jwt(key, fresh_directives(tok)), "&x=1", NULL);
    req.cookie = apr_psprintf(pool, "__session=%s; __client_uat=%ld", session(LIVE_ISS, -200, -140),
                              NOW_S - 200);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_str_eq(st.token->claims.sub, "user_2");
    ck_assert_int_eq(st.handshake_resolved, 1);
    ck_assert_ptr_null(st.location);
    ck_assert_int_eq(st.set_cookies->nelts, 3);
    ck_assert_str_eq(cookie_at(&st, 0),
                     apr_pstrcat(pool, "__session=", tok, "; Path=/; Secure; SameSite=Lax", NULL));
    ck_assert_str_eq(cookie_at(&st, 2), "__clerk_handshake=; Max-Age=0; Path=/");
    ck_assert_str_eq(st.session_token, tok);
}
END_TEST

START_TEST(production_handshake_jwt_in_cookie_is_read_too)
{
    const char *tok = session(LIVE_ISS, -2, 58);
    req.cookie =
        apr_pstrcat(pool, "__clerk_handshake=", handshake_jwt(key, fresh_directives(tok)), NULL);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_int_eq(st.handshake_resolved, 1);
}
END_TEST

START_TEST(development_handshake_redirects_to_the_cleaned_url)
{
    cfg.pk = test_pk;
    const char *tok = session(TEST_ISS, -2, 58);
    req.url.query =
        apr_pstrcat(pool, "a=1&__clerk_handshake=", handshake_jwt(key, fresh_directives(tok)),
                    "&__clerk_help=1&__clerk_db_jwt=dvb&b=2", NULL);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_str_eq(st.location, "https://app.example.com/dashboard?a=1&b=2");
    ck_assert_int_eq(st.set_cookies->nelts, 3);
}
END_TEST

START_TEST(nonce_is_exchanged_with_the_secret_key_and_wins_over_the_jwt)
{
    const char *tok = session(LIVE_ISS, -2, 58);
    cfg.secret_key = SK;
    cfg.api_url = API "/";
    cfg.handshake_get = scripted_get;
    bapi.body = apr_psprintf(pool, "{\"directives\":%s}", fresh_directives(tok));
    req.url.query = apr_pstrcat(pool, "__clerk_handshake_nonce=n%2B1/2&__clerk_handshake=",
                                handshake_jwt(other_key, "[\"x=1\"]"), NULL);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_int_eq(bapi.calls, 1);
    ck_assert_str_eq(bapi.url, API "/v1/clients/handshake_payload?nonce=n%2B1%2F2");
    ck_assert_str_eq(bapi.headers[0], "Authorization: Bearer " SK);
    ck_assert_str_eq(bapi.headers[1], "Clerk-API-Version: 2026-05-12");
    ck_assert_int_eq(st.set_cookies->nelts, 3);
    ck_assert_int_eq(st.handshake_resolved, 1);
}
END_TEST

START_TEST(nonce_cookie_is_read_when_the_query_has_none)
{
    cfg.secret_key = SK;
    cfg.handshake_get = scripted_get;
    bapi.body =
        apr_psprintf(pool, "{\"directives\":%s}", fresh_directives(session(LIVE_ISS, -2, 58)));
    req.cookie = "__clerk_handshake_nonce=abc";
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_str_eq(bapi.url,
                     CLERK_HANDSHAKE_DEFAULT_API_URL "/v1/clients/handshake_payload?nonce=abc");
}
END_TEST

START_TEST(failed_nonce_exchange_is_signed_out_session_token_missing)
{
    cfg.secret_key = SK;
    cfg.handshake_get = scripted_get;
    req.url.query = "__clerk_handshake_nonce=abc";
    bapi.rc = -1;
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_MISSING);
    ck_assert_ptr_null(st.set_cookies);
    ck_assert_ptr_nonnull(strstr(last_log, "connection refused"));
    bapi.rc = 0;
    bapi.status = 404;
    bapi.body = "{\"errors\":[]}";
    req.url.query = "__clerk_handshake_nonce=abd"; /* abc is remembered as failed */
    st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_MISSING);
    ck_assert_ptr_nonnull(strstr(last_log, "HTTP 404"));
    cfg.handshake_get = NULL; /* no transport: nothing to exchange with */
    st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_MISSING);
    ck_assert_int_eq(bapi.calls, 2);
}
END_TEST

/* Only a GET document request can complete a handshake: elsewhere the nonce is not exchanged
 * (no Backend API call) and the cookie rules decide as if it were absent. */
START_TEST(nonce_is_exchanged_on_get_document_requests_only)
{
    cfg.secret_key = SK;
    cfg.handshake_get = scripted_get;
    bapi.body =
        apr_psprintf(pool, "{\"directives\":%s}", fresh_directives(session(LIVE_ISS, -2, 58)));
    req.cookie = "__clerk_handshake_nonce=nonce_1";
    req.method = "POST";
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_AND_UAT_MISSING);
    ck_assert_ptr_null(st.set_cookies);
    req.method = "GET";
    req.sec_fetch_dest = "empty";
    req.url.query = "__clerk_handshake_nonce=nonce_2";
    st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_AND_UAT_MISSING);
    req.sec_fetch_dest = NULL;
    req.accept = "application/json";
    st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_AND_UAT_MISSING);
    ck_assert_int_eq(bapi.calls, 0);
    /* the same request as a navigation exchanges it */
    req.accept = "text/html";
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_int_eq(bapi.calls, 1);
}
END_TEST

START_TEST(malformed_nonce_makes_no_backend_api_call)
{
    cfg.secret_key = SK;
    cfg.handshake_get = scripted_get;
    char *long_nonce = apr_palloc(pool, CLERK_NONCE_MAX_LEN + 2);
    memset(long_nonce, 'a', CLERK_NONCE_MAX_LEN + 1);
    long_nonce[CLERK_NONCE_MAX_LEN + 1] = '\0';
    const char *bad[] = {"a%20b", "%3Cscript%3E", "n%22", "a%0Db", "caf%C3%A9", long_nonce};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        req.url.query = apr_pstrcat(pool, "__clerk_handshake_nonce=", bad[i], NULL);
        clerk_state st = decide();
        /* as a failed exchange: Clerk's empty directive list */
        assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_MISSING);
        ck_assert_msg(strstr(last_log, "not exchanged (malformed)") != NULL, "%s: %s", bad[i],
                      last_log);
    }
    ck_assert_int_eq(bapi.calls, 0);
    ck_assert_int_eq(clerk_nonce_shape_ok(long_nonce), 0);
    long_nonce[CLERK_NONCE_MAX_LEN] = '\0';
    ck_assert_int_eq(clerk_nonce_shape_ok(long_nonce), 1);
    ck_assert_int_eq(clerk_nonce_shape_ok("AZaz09+/=-_."), 1);
    ck_assert_int_eq(clerk_nonce_shape_ok(""), 0);
}
END_TEST

START_TEST(failed_nonce_is_remembered_and_its_cookie_deleted)
{
    cfg.secret_key = SK;
    cfg.handshake_get = scripted_get;
    bapi.status = 404;
    bapi.body = "{\"errors\":[]}";
    req.url.host = "app.shop.example.com:8443";
    req.cookie = "__clerk_handshake_nonce=planted_1";
    for (int i = 0; i < 3; i++) {
        clerk_state st = decide();
        assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_MISSING);
        ck_assert_int_eq(st.set_cookies->nelts, 3);
        ck_assert_str_eq(cookie_at(&st, 0), "__clerk_handshake_nonce=; Path=/; Max-Age=0");
        ck_assert_str_eq(cookie_at(&st, 1),
                         "__clerk_handshake_nonce=; Path=/; Max-Age=0; Domain=shop.example.com");
        ck_assert_str_eq(cookie_at(&st, 2),
                         "__clerk_handshake_nonce=; Path=/; Max-Age=0; Domain=example.com");
    }
    ck_assert_int_eq(bapi.calls, 1); /* the repeats were answered from memory */
    ck_assert_ptr_nonnull(strstr(last_log, "not exchanged (failed-before)"));
    /* a nonce that only came in the query leaves no cookie to delete; an IP host no parent */
    req.cookie = NULL;
    req.url.query = "__clerk_handshake_nonce=planted_2";
    clerk_state st = decide();
    ck_assert_ptr_null(st.set_cookies);
    req.url.query = NULL;
    req.url.host = "127.0.0.1:8080";
    req.cookie = "__clerk_handshake_nonce=planted_3";
    st = decide();
    ck_assert_int_eq(st.set_cookies->nelts, 1);
    ck_assert_int_eq(bapi.calls, 3);
    /* the memory lasts CLERK_NONCE_FAILED_TTL_MS */
    req.cookie = "__clerk_handshake_nonce=planted_1";
    req.now_ms = NOW_MS + CLERK_NONCE_FAILED_TTL_MS + 1000;
    decide();
    ck_assert_int_eq(bapi.calls, 4);
}
END_TEST

START_TEST(nonce_guard_bounds_exchanges_in_flight_and_per_second)
{
    int64_t t = NOW_MS + 7 * 86400000LL; /* a second no other check of this process used */
    char n[32];
    for (int i = 0; i < CLERK_NONCE_MAX_IN_FLIGHT; i++) {
        snprintf(n, sizeof n, "f%d", i);
        ck_assert_int_eq(clerk_nonce_guard_begin(n, t), CLERK_NONCE_GO);
    }
    ck_assert_int_eq(clerk_nonce_guard_begin("one_more", t), CLERK_NONCE_TOO_MANY_NOW);
    clerk_nonce_guard_end("f0", 0, t);
    ck_assert_int_eq(clerk_nonce_guard_begin("one_more", t), CLERK_NONCE_GO);
    for (int i = 1; i < CLERK_NONCE_MAX_IN_FLIGHT; i++) {
        snprintf(n, sizeof n, "f%d", i);
        clerk_nonce_guard_end(n, 0, t);
    }
    clerk_nonce_guard_end("one_more", 0, t);
    /* CLERK_NONCE_MAX_IN_FLIGHT + 1 started in this second so far */
    int started = CLERK_NONCE_MAX_IN_FLIGHT + 1;
    for (; started < CLERK_NONCE_MAX_PER_SECOND; started++) {
        ck_assert_int_eq(clerk_nonce_guard_begin("s", t + 999), CLERK_NONCE_GO);
        clerk_nonce_guard_end("s", 0, t + 999);
    }
    ck_assert_int_eq(clerk_nonce_guard_begin("s", t + 999), CLERK_NONCE_TOO_MANY_SECOND);
    /* a late request stamped with the second before does not reset the count */
    ck_assert_int_eq(clerk_nonce_guard_begin("s", t - 1), CLERK_NONCE_TOO_MANY_SECOND);
    ck_assert_int_eq(clerk_nonce_guard_begin("s", t + 1000), CLERK_NONCE_GO);
    clerk_nonce_guard_end("s", 0, t + 1000);
    /* the clock stepping back an hour starts afresh instead of blocking for that hour */
    ck_assert_int_eq(clerk_nonce_guard_begin("s", t - 3600000), CLERK_NONCE_GO);
    clerk_nonce_guard_end("s", 0, t - 3600000);
    /* a bound refused exchange is a failed one for the request: no call */
    cfg.secret_key = SK;
    cfg.handshake_get = scripted_get;
    req.now_ms = t + 2000;
    for (int i = 0; i < CLERK_NONCE_MAX_IN_FLIGHT; i++) {
        snprintf(n, sizeof n, "busy%d", i);
        ck_assert_int_eq(clerk_nonce_guard_begin(n, req.now_ms), CLERK_NONCE_GO);
    }
    req.url.query = "__clerk_handshake_nonce=valid_but_busy";
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_MISSING);
    ck_assert_int_eq(bapi.calls, 0);
    ck_assert_ptr_nonnull(strstr(last_log, "not exchanged (too-many-in-flight)"));
}
END_TEST

START_TEST(signed_out_at_clerk_clears_cookies_and_is_session_token_missing)
{
    const char *d = "[\"__session=; Path=/; Max-Age=0\",\"__client_uat=0; Path=/\"]";
    req.url.query = apr_pstrcat(pool, "__clerk_handshake=", handshake_jwt(key, d), NULL);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_MISSING);
    ck_assert_int_eq(st.set_cookies->nelts, 2);
    ck_assert_int_eq(st.handshake_resolved, 1);
    ck_assert_ptr_null(st.location);
}
END_TEST

START_TEST(forged_handshake_jwt_in_production_falls_through_to_the_cookie_rules)
{
    const char *forged = handshake_jwt(other_key, fresh_directives(session(LIVE_ISS, -2, 58)));
    req.url.query = apr_pstrcat(pool, "__clerk_handshake=", forged, NULL);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_AND_UAT_MISSING);
    ck_assert_ptr_null(st.set_cookies);
    ck_assert_int_eq(st.handshake_resolved, 0);
    ck_assert_ptr_nonnull(strstr(last_log, "token-invalid-signature"));
    /* with an expired cookie the fall-through is another handshake (bounded by the counter) */
    req.cookie = apr_psprintf(pool, "__session=%s; __client_uat=%ld", session(LIVE_ISS, -200, -140),
                              NOW_S - 200);
    st = decide();
    ck_assert_int_eq(st.status, CLERK_HANDSHAKE);
    ck_assert_int_eq(st.set_cookies->nelts, 1);
    ck_assert_int_eq(st.source, CLERK_SRC_COOKIE);
}
END_TEST

START_TEST(forged_handshake_jwt_in_development_is_a_hard_failure)
{
    cfg.pk = test_pk;
    req.url.query = apr_pstrcat(
        pool, "__clerk_handshake=", handshake_jwt(other_key, "[\"__session=x.y.z\"]"), NULL);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_TOKEN_INVALID_SIGNATURE);
    ck_assert_str_eq(st.message,
                     "Clerk: Handshake token verification failed due to an invalid signature. If "
                     "you have switched Clerk keys locally, clear your cookies and try again.");
    ck_assert_ptr_null(st.location);
    ck_assert_ptr_null(st.set_cookies);
    /* a payload that is not an array is not a token error: it falls through */
    req.url.query = apr_pstrcat(pool, "__clerk_handshake=", handshake_jwt(key, "\"x\""), NULL);
    st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_DEV_BROWSER_MISSING);
}
END_TEST

START_TEST(expired_session_in_production_payload_falls_through)
{
    const char *stale = session(LIVE_ISS, -200, -140);
    req.url.query =
        apr_pstrcat(pool, "__clerk_handshake=", handshake_jwt(key, fresh_directives(stale)), NULL);
    req.cookie = apr_psprintf(pool, "__session=%s; __client_uat=%ld", stale, NOW_S - 300);
    clerk_state st = decide();
    ck_assert_int_eq(st.status, CLERK_HANDSHAKE);
    ck_assert_str_eq(clerk_reason_str(st.reason),
                     "session-token-expired-refresh-non-eligible-no-refresh-cookie");
    ck_assert_int_eq(st.handshake_resolved, 0);
    ck_assert_int_eq(st.set_cookies->nelts, 1); /* only the counter */
}
END_TEST

/* Clerk's SDK signs in when a day of skew passes; here the retry only names the clock problem
 * and the handshake falls through to the cookie rules, never signed in. */
START_TEST(development_skew_retry_names_the_clock_but_never_signs_in)
{
    cfg.pk = test_pk;
    const char *skewed = session(TEST_ISS, -4000, -3000); /* expired 50 min ago */
    req.url.query =
        apr_pstrcat(pool, "__clerk_handshake=", handshake_jwt(key, fresh_directives(skewed)), NULL);
    clerk_state st = decide();
    ck_assert_int_ne(st.status, CLERK_SIGNED_IN);
    ck_assert_int_eq(st.handshake_resolved, 0);
    ck_assert_ptr_null(st.token);
    ck_assert_ptr_nonnull(strstr(log_all, "Clock skew detected"));
    ck_assert_ptr_nonnull(strstr(log_all, "would pass with a day of clock skew"));
    /* not yet valid (iat and nbf in the future) and with the dev browser: still not signed in */
    const char *future = session(TEST_ISS, 3000, 6000);
    req.cookie = "__clerk_db_jwt=dvb_1";
    req.url.query =
        apr_pstrcat(pool, "__clerk_handshake=", handshake_jwt(key, fresh_directives(future)), NULL);
    st = decide();
    ck_assert_int_ne(st.status, CLERK_SIGNED_IN);
    ck_assert_ptr_null(st.token);
    req.cookie = NULL;
    const char *ancient = session(TEST_ISS, -200000, -100000); /* beyond a day */
    req.url.query = apr_pstrcat(
        pool, "__clerk_handshake=", handshake_jwt(key, fresh_directives(ancient)), NULL);
    st = decide();
    ck_assert_int_ne(st.status, CLERK_SIGNED_IN);
    ck_assert_int_eq(st.handshake_resolved, 0);
}
END_TEST

START_TEST(handshake_off_ignores_returning_payloads)
{
    cfg.handshake_off = 1;
    req.url.query = apr_pstrcat(
        pool, "__clerk_handshake=", handshake_jwt(key, fresh_directives(session(LIVE_ISS, -2, 58))),
        NULL);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_AND_UAT_MISSING);
    ck_assert_ptr_null(st.set_cookies);
}
END_TEST

Suite *handshake_suite(void)
{
    Suite *s = suite_create("handshake");
    TCase *tc = tcase_create("handshake");
    tcase_set_timeout(tc, 30);
    tcase_add_unchecked_fixture(tc, make_keys, free_keys);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, handshake_url_has_clerks_parameters_in_order);
    tcase_add_test(tc,
                   handshake_url_for_development_strips_dev_browser_from_redirect_and_appends_it);
    tcase_add_test(tc, handshake_endpoint_keeps_http_urls_and_trims_slashes);
    tcase_add_test(tc, form_encoding_matches_url_search_params);
    tcase_add_test(tc, counter_cookie_is_incremented_lax_httponly_two_seconds);
    tcase_add_test(tc, clean_url_drops_the_four_handshake_parameters);
    tcase_add_test(tc, every_handshake_reason_builds_the_exact_url_and_counter);
    tcase_add_test(tc, secret_key_and_transport_ask_for_a_nonce);
    tcase_add_test(tc, development_reasons_carry_the_dev_browser_and_frontend_api_override);
    tcase_add_test(tc, handshake_off_answers_signed_out_without_location);
    tcase_add_test(tc, loop_stop_at_three_has_no_location_or_counter);
    tcase_add_test(tc, handshake_jwt_yields_its_directives_without_claim_checks);
    tcase_add_test(tc, handshake_jwt_signed_by_another_key_is_invalid_signature);
    tcase_add_test(tc, handshake_jwt_header_rules_typ_alg_cat);
    tcase_add_test(tc, handshake_payload_must_be_a_bounded_string_array);
    tcase_add_test(tc, session_token_is_the_last_session_directive);
    tcase_add_test(tc, production_handshake_jwt_in_query_signs_in_with_its_cookies);
    tcase_add_test(tc, production_handshake_jwt_in_cookie_is_read_too);
    tcase_add_test(tc, development_handshake_redirects_to_the_cleaned_url);
    tcase_add_test(tc, nonce_is_exchanged_with_the_secret_key_and_wins_over_the_jwt);
    tcase_add_test(tc, nonce_cookie_is_read_when_the_query_has_none);
    tcase_add_test(tc, failed_nonce_exchange_is_signed_out_session_token_missing);
    tcase_add_test(tc, nonce_is_exchanged_on_get_document_requests_only);
    tcase_add_test(tc, malformed_nonce_makes_no_backend_api_call);
    tcase_add_test(tc, failed_nonce_is_remembered_and_its_cookie_deleted);
    tcase_add_test(tc, nonce_guard_bounds_exchanges_in_flight_and_per_second);
    tcase_add_test(tc, signed_out_at_clerk_clears_cookies_and_is_session_token_missing);
    tcase_add_test(tc, forged_handshake_jwt_in_production_falls_through_to_the_cookie_rules);
    tcase_add_test(tc, forged_handshake_jwt_in_development_is_a_hard_failure);
    tcase_add_test(tc, expired_session_in_production_payload_falls_through);
    tcase_add_test(tc, development_skew_retry_names_the_clock_but_never_signs_in);
    tcase_add_test(tc, handshake_off_ignores_returning_payloads);
    suite_add_tcase(s, tc);
    return s;
}
