/* Clerk's authenticateRequest decision tree (@clerk/backend tokens/request.ts) over minted tokens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>
#include "unit.h"
#include "mint.h"
#include "jwk.h"
#include "request_state.h"
#include "url.h"

#define NOW_MS  INT64_C(1700000000000)
#define NOW_S   1700000000L
#define KID     "ins_test"
#define LIVE_PK "pk_live_Y2xlcmsuZXhhbXBsZS5jb20k" /* clerk.example.com */
#define TEST_PK                                                                                    \
    "pk_test_Zm9vLWJhci0xMy5jbGVyay5hY2NvdW50cy5kZXYk" /* foo-bar-13.clerk.accounts.dev */
#define LIVE_ISS  "https://clerk.example.com"
#define TEST_ISS  "https://foo-bar-13.clerk.accounts.dev"
#define HDR_RS256 "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"" KID "\"}"

static EVP_PKEY *key;       /* made once per test case, before the tests fork */
static EVP_PKEY *other_key; /* signs tokens the key set does not know */
static apr_pool_t *pool;
static clerk_keyset *keyset;
static clerk_publishable_key *live_pk, *test_pk;
static clerk_config cfg;
static clerk_request req;
static int warnings;
static char last_log[512];

static void make_keys(void)
{
    key = mint_keygen("rsa2048");
    other_key = mint_keygen("rsa2048");
}

static void free_keys(void)
{
    EVP_PKEY_free(key);
    EVP_PKEY_free(other_key);
}

static const clerk_key *lookup(void *ctx, const char *kid, clerk_error *err)
{
    const clerk_key *k = clerk_keyset_find(ctx, kid);
    if (!k)
        clerk_error_set(err, CLERK_R_JWK_KID_MISMATCH,
                        "Unable to find a signing key in JWKS that matches the kid='%s' of the "
                        "provided session token.",
                        kid ? kid : "");
    return k;
}

static void log_cb(void *ctx, int level, const char *msg)
{
    if (level == CLERK_LOG_WARN)
        warnings++;
    snprintf(last_log, sizeof(last_log), "%s", msg);
}

static void setup(void)
{
    clerk_error err = {0};
    apr_pool_create(&pool, NULL);
    keyset = clerk_keyset_new();
    unit_add_jwk(keyset, key, KID, "RS256");
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
    req.url.conn_scheme = "https";
    req.url.host = "app.example.com";
    req.url.path = "/dashboard";
    req.now_ms = NOW_MS;
    warnings = 0;
    last_log[0] = '\0';
}

static void teardown(void)
{
    apr_pool_destroy(pool);
    clerk_keyset_unref(keyset);
}

/* A signed token: payload fields from iat/exp offsets (seconds from NOW_S) plus extra JSON
 * members (leading comma included by the caller when non-empty). */
static const char *mint_with(EVP_PKEY *k, const char *header, const char *iss, long iat_off,
                             long exp_off, const char *extra)
{
    char *payload = apr_psprintf(
        pool,
        "{\"sub\":\"user_1\",\"sid\":\"sess_1\",\"iss\":\"%s\",\"iat\":%ld,"
        "\"nbf\":%ld,\"exp\":%ld%s}",
        iss, NOW_S + iat_off, NOW_S + iat_off - 10, NOW_S + exp_off, extra ? extra : "");
    char *t = mint_sign(k, "RS256", header, payload);
    ck_assert_ptr_nonnull(t);
    const char *out = apr_pstrdup(pool, t);
    free(t);
    return out;
}

static const char *good_token(void)
{
    return mint_with(key, HDR_RS256, LIVE_ISS, -5, 55, ",\"azp\":\"https://app.example.com\"");
}

static const char *expired_token(void)
{
    return mint_with(key, HDR_RS256, LIVE_ISS, -120, -60, NULL);
}

static void document_request(void)
{
    req.method = "GET";
    req.sec_fetch_dest = "document";
}

static clerk_state decide(void)
{
    clerk_state st;
    clerk_request_state(pool, &req, &cfg, &st);
    ck_assert_ptr_nonnull(st.message);
    /* Built only when a redirect may need it: never for a plain signed-in request. */
    if (st.status != CLERK_SIGNED_IN || st.location)
        ck_assert_ptr_nonnull(st.public_url);
    else
        ck_assert_ptr_null(st.public_url);
    return st;
}

static void assert_state(const clerk_state *st, clerk_status status, clerk_reason reason)
{
    ck_assert_msg(st->status == status && st->reason == reason,
                  "expected status %d reason %s, got status %d reason %s (%s)", status,
                  clerk_reason_str(reason), st->status, clerk_reason_str(st->reason), st->message);
}

static const char *session_cookies(const char *token, const char *uat)
{
    return apr_psprintf(pool, "__session=%s; __client_uat=%s", token, uat);
}

/* ---- document request eligibility (handleMaybeHandshakeStatus) ---- */

START_TEST(document_request_needs_get_and_a_document_destination)
{
    clerk_request r = {.method = "GET", .sec_fetch_dest = "document"};
    ck_assert_int_eq(clerk_is_document_request(&r), 1);
    r.sec_fetch_dest = "iframe";
    ck_assert_int_eq(clerk_is_document_request(&r), 1);
    r.sec_fetch_dest = "empty";
    r.accept = "text/html";
    ck_assert_int_eq(clerk_is_document_request(&r), 0);
    r.sec_fetch_dest = NULL;
    ck_assert_int_eq(clerk_is_document_request(&r), 1);
    r.sec_fetch_dest = "";
    r.accept = "text/html,application/xhtml+xml";
    ck_assert_int_eq(clerk_is_document_request(&r), 1);
    r.accept = "application/json, text/html";
    ck_assert_int_eq(clerk_is_document_request(&r), 0);
    r.accept = "Text/HTML";
    ck_assert_int_eq(clerk_is_document_request(&r), 0);
    r.accept = NULL;
    ck_assert_int_eq(clerk_is_document_request(&r), 0);
    r.method = "POST";
    r.sec_fetch_dest = "document";
    ck_assert_int_eq(clerk_is_document_request(&r), 0);
    r.method = "HEAD";
    ck_assert_int_eq(clerk_is_document_request(&r), 0);
    ck_assert_int_eq(clerk_is_document_request(NULL), 0);
}
END_TEST

/* ---- header path (authenticateRequestWithTokenInHeader) ---- */

START_TEST(bearer_token_is_signed_in_from_header)
{
    const char *t = good_token();
    req.authorization = apr_pstrcat(pool, "Bearer ", t, NULL);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_int_eq(st.source, CLERK_SRC_HEADER);
    ck_assert_ptr_nonnull(st.token);
    ck_assert_str_eq(st.token->claims.sub, "user_1");
    ck_assert_str_eq(st.kid, KID);
    ck_assert_str_eq(st.session_token, t);
    ck_assert_str_eq(st.message, "");
}
END_TEST

START_TEST(raw_token_without_scheme_is_signed_in)
{
    req.authorization = good_token();
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_int_eq(st.source, CLERK_SRC_HEADER);
}
END_TEST

START_TEST(bearer_with_trailing_pieces_uses_the_first)
{
    req.authorization = apr_pstrcat(pool, "Bearer ", good_token(), " trailing junk", NULL);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
}
END_TEST

START_TEST(lowercase_bearer_falls_back_to_cookie_path)
{
    req.authorization = apr_pstrcat(pool, "bearer ", good_token(), NULL);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_AND_UAT_MISSING);
    ck_assert_int_eq(st.source, CLERK_SRC_NONE);
    ck_assert_ptr_null(st.session_token);
}
END_TEST

START_TEST(basic_auth_falls_back_to_cookie_session)
{
    req.authorization = "Basic dXNlcjpwYXNz";
    req.cookie = session_cookies(good_token(), "1");
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_int_eq(st.source, CLERK_SRC_COOKIE);
}
END_TEST

START_TEST(header_token_takes_precedence_over_cookies)
{
    /* a bad header token is judged alone, even next to a valid cookie session */
    req.authorization =
        apr_pstrcat(pool, "Bearer ", mint_with(other_key, HDR_RS256, LIVE_ISS, -5, 55, NULL), NULL);
    req.cookie = session_cookies(good_token(), "1");
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_TOKEN_INVALID_SIGNATURE);
    ck_assert_int_eq(st.source, CLERK_SRC_HEADER);
    ck_assert_ptr_nonnull(strstr(st.message, "token-carrier=header"));
    /* and a good header token wins over a garbage cookie */
    req.authorization = apr_pstrcat(pool, "Bearer ", good_token(), NULL);
    req.cookie = "__session=garbage; __client_uat=1";
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_int_eq(st.source, CLERK_SRC_HEADER);
    /* the handshake input prefers the cookie token */
    ck_assert_str_eq(st.session_token, "garbage");
}
END_TEST

START_TEST(undecodable_header_token_is_token_invalid)
{
    req.authorization = "Bearer not-a-jwt";
    document_request();
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_TOKEN_INVALID);
    ck_assert_ptr_null(st.kid);
    ck_assert_ptr_nonnull(strstr(st.message, "(reason=token-invalid, token-carrier=header)"));
}
END_TEST

START_TEST(bearer_with_two_spaces_verifies_the_word_bearer)
{
    req.authorization = apr_pstrcat(pool, "Bearer  ", good_token(), NULL);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_TOKEN_INVALID);
    ck_assert_str_eq(st.session_token, "Bearer");
}
END_TEST

START_TEST(machine_tokens_in_header_are_token_type_mismatch)
{
    req.authorization = mint_with(key, "{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"" KID "\"}",
                                  LIVE_ISS, -5, 55, NULL);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_TOKEN_TYPE_MISMATCH);
    ck_assert_str_eq(st.message, "");
    req.authorization =
        mint_with(key, "{\"alg\":\"RS256\",\"kid\":\"" KID "\",\"cat\":\"cl_B7d4PD333AAA\"}",
                  LIVE_ISS, -5, 55, NULL);
    st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_TOKEN_TYPE_MISMATCH);
}
END_TEST

START_TEST(header_expired_token_on_api_get_is_signed_out_no_refresh_cookie)
{
    req.authorization = apr_pstrcat(pool, "Bearer ", expired_token(), NULL);
    req.sec_fetch_dest = "empty";
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_EXPIRED_NO_REFRESH_COOKIE);
    ck_assert_int_eq(st.eligible_for_handshake, 0);
    ck_assert_ptr_nonnull(strstr(st.message, "JWT is expired"));
    ck_assert_ptr_nonnull(strstr(st.message, "(reason=token-expired, token-carrier=header)"));
}
END_TEST

START_TEST(expired_token_on_non_get_is_non_get_even_with_refresh_cookie)
{
    req.authorization = apr_pstrcat(pool, "Bearer ", expired_token(), NULL);
    req.method = "POST";
    req.cookie = apr_pstrcat(pool, "__refresh_", live_pk->suffix, "=r", NULL);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_EXPIRED_NON_GET);
}
END_TEST

START_TEST(header_expired_token_on_get_document_is_handshake)
{
    req.authorization = apr_pstrcat(pool, "Bearer ", expired_token(), NULL);
    document_request();
    clerk_state st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_SESSION_TOKEN_EXPIRED_NO_REFRESH_COOKIE);
    ck_assert_int_eq(st.eligible_for_handshake, 1);
    ck_assert_ptr_null(st.token);
    ck_assert_ptr_nonnull(strstr(st.message, "token-carrier=header"));
}
END_TEST

START_TEST(nbf_in_future_is_session_token_nbf)
{
    char *t = mint_sign(key, "RS256", HDR_RS256,
                        "{\"sub\":\"u\",\"iat\":1700000000,\"nbf\":1700000100,"
                        "\"exp\":1700000600}");
    req.authorization = apr_pstrdup(pool, t);
    free(t);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_NBF);
    ck_assert_ptr_nonnull(strstr(st.message, "reason=token-not-active-yet"));
    document_request();
    st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_SESSION_TOKEN_NBF);
}
END_TEST

START_TEST(iat_in_future_is_session_token_iat_in_the_future)
{
    char *t =
        mint_sign(key, "RS256", HDR_RS256, "{\"sub\":\"u\",\"iat\":1700000100,\"exp\":1700000600}");
    req.authorization = apr_pstrdup(pool, t);
    free(t);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_IAT_IN_THE_FUTURE);
    ck_assert_ptr_nonnull(strstr(st.message, "reason=token-iat-in-the-future"));
    document_request();
    st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_SESSION_TOKEN_IAT_IN_THE_FUTURE);
}
END_TEST

START_TEST(other_verification_errors_are_signed_out_even_on_documents)
{
    document_request();
    req.authorization = mint_with(other_key, HDR_RS256, LIVE_ISS, -5, 55, NULL);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_TOKEN_INVALID_SIGNATURE);
    req.authorization =
        mint_with(key, "{\"alg\":\"RS256\",\"kid\":\"ins_other\"}", LIVE_ISS, -5, 55, NULL);
    st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_JWK_KID_MISMATCH);
    ck_assert_str_eq(st.kid, "ins_other");
    static const char *const parties[] = {"https://other.example.com"};
    cfg.verify.azp = parties;
    cfg.verify.n_azp = 1;
    req.authorization = good_token();
    st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_TOKEN_INVALID_AUTHORIZED_PARTIES);
}
END_TEST

START_TEST(no_key_source_is_jwk_failed_to_resolve)
{
    cfg.keys.lookup = NULL;
    req.authorization = good_token();
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_JWK_FAILED_TO_RESOLVE);
}
END_TEST

/* ---- cookie path (authenticateRequestWithTokenInCookie) ---- */

START_TEST(no_cookies_is_session_token_and_uat_missing)
{
    document_request();
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_AND_UAT_MISSING);
    ck_assert_int_eq(st.source, CLERK_SRC_NONE);
    ck_assert_str_eq(st.message, "");
    ck_assert_ptr_null(st.token);
}
END_TEST

START_TEST(client_uat_zero_or_garbage_without_session_is_signed_out)
{
    document_request();
    req.cookie = "__client_uat=0";
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_AND_UAT_MISSING);
    req.cookie = "__client_uat=abc";
    st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_AND_UAT_MISSING);
}
END_TEST

START_TEST(session_without_client_uat_is_handshake_on_documents_only)
{
    req.cookie = apr_pstrcat(pool, "__session=", good_token(), NULL);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_BUT_NO_CLIENT_UAT);
    ck_assert_int_eq(st.source, CLERK_SRC_COOKIE);
    document_request();
    st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_SESSION_TOKEN_BUT_NO_CLIENT_UAT);
    ck_assert_str_eq(st.message, "");
}
END_TEST

START_TEST(client_uat_without_session_is_client_uat_but_no_session_token)
{
    req.cookie = "__client_uat=1699999000";
    document_request();
    clerk_state st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_CLIENT_UAT_BUT_NO_SESSION_TOKEN);
    req.accept = "application/json";
    req.sec_fetch_dest = NULL;
    st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_CLIENT_UAT_BUT_NO_SESSION_TOKEN);
}
END_TEST

/* Past the URL bounds no redirect is built: the handshake's reason, signed out, logged. */
START_TEST(too_long_url_is_signed_out_instead_of_a_handshake)
{
    req.cookie = "__client_uat=1699999000";
    document_request();
    char *q = apr_palloc(pool, 2 * CLERK_URL_MAX_PARAMS + 2);
    for (int i = 0; i <= CLERK_URL_MAX_PARAMS; i++)
        memcpy(q + 2 * i, "a&", 2);
    q[2 * CLERK_URL_MAX_PARAMS + 1] = '\0';
    req.url.query = q;
    clerk_state st;
    clerk_request_state(pool, &req, &cfg, &st);
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_CLIENT_UAT_BUT_NO_SESSION_TOKEN);
    ck_assert_ptr_null(st.location);
    ck_assert_ptr_null(st.public_url);
    ck_assert_ptr_null(st.set_cookies);
    ck_assert_str_eq(last_log, CLERK_URL_TOO_LONG_MSG);
    /* one parameter fewer redirects as before */
    q[2 * CLERK_URL_MAX_PARAMS - 1] = '\0';
    st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_CLIENT_UAT_BUT_NO_SESSION_TOKEN);
    ck_assert_ptr_nonnull(st.location);
}
END_TEST

START_TEST(valid_cookie_session_is_signed_in)
{
    const char *t = good_token();
    req.cookie = session_cookies(t, "1699999000");
    document_request();
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_int_eq(st.source, CLERK_SRC_COOKIE);
    ck_assert_str_eq(st.session_token, t);
    ck_assert_str_eq(st.kid, KID);
    ck_assert_int_eq(st.suffixed_cookies, 0);
    ck_assert_int_eq(st.redirect_count, 0);
}
END_TEST

START_TEST(token_older_than_client_uat_is_iat_before_client_uat)
{
    /* iat is NOW-5; client_uat one second later */
    req.cookie = session_cookies(good_token(), apr_psprintf(pool, "%ld", NOW_S - 4));
    document_request();
    clerk_state st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_SESSION_TOKEN_IAT_BEFORE_CLIENT_UAT);
    /* equal is not before */
    req.cookie = session_cookies(good_token(), apr_psprintf(pool, "%ld", NOW_S - 5));
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    req.sec_fetch_dest = "empty";
    req.cookie = session_cookies(good_token(), apr_psprintf(pool, "%ld", NOW_S - 4));
    st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_IAT_BEFORE_CLIENT_UAT);
}
END_TEST

START_TEST(undecodable_cookie_is_token_invalid_not_handshake)
{
    req.cookie = "__session=garbage; __client_uat=1";
    document_request();
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_TOKEN_INVALID);
    ck_assert_ptr_nonnull(strstr(st.message, "token-carrier=cookie"));
}
END_TEST

START_TEST(machine_token_in_cookie_is_token_type_mismatch)
{
    char *t = mint_sign(key, "RS256", HDR_RS256,
                        "{\"sub\":\"mch_1\",\"iss\":\"" LIVE_ISS "\",\"iat\":1699999995,"
                        "\"exp\":1700000055}");
    req.cookie = session_cookies(t, "1");
    free(t);
    document_request();
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_TOKEN_TYPE_MISMATCH);
}
END_TEST

START_TEST(expired_cookie_on_document_is_handshake_with_clerk_message)
{
    req.cookie = session_cookies(expired_token(), "1");
    document_request();
    clerk_state st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_SESSION_TOKEN_EXPIRED_NO_REFRESH_COOKIE);
    ck_assert_str_eq(clerk_reason_str(st.reason),
                     "session-token-expired-refresh-non-eligible-no-refresh-cookie");
    ck_assert_ptr_nonnull(strstr(st.message, "(reason=token-expired, token-carrier=cookie)"));
}
END_TEST

START_TEST(redirect_count_two_still_handshakes)
{
    req.cookie = apr_pstrcat(pool, session_cookies(expired_token(), "1"),
                             "; __clerk_redirect_count=2", NULL);
    document_request();
    clerk_state st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_SESSION_TOKEN_EXPIRED_NO_REFRESH_COOKIE);
    ck_assert_int_eq(st.redirect_count, 2);
    ck_assert_int_eq(warnings, 0);
}
END_TEST

START_TEST(redirect_count_three_stops_with_signed_out)
{
    req.cookie = apr_pstrcat(pool, session_cookies(expired_token(), "1"),
                             "; __clerk_redirect_count=3", NULL);
    document_request();
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_EXPIRED_NO_REFRESH_COOKIE);
    ck_assert_int_eq(st.redirect_count, 3);
    ck_assert_ptr_nonnull(strstr(last_log, "infinite redirect loop"));
}
END_TEST

START_TEST(redirect_count_above_three_also_stops)
{
    /* the SDK stops only at exactly 3; we stop at 3 or more (docs/design.md#deliberate-differences)
     */
    req.cookie = apr_pstrcat(pool, session_cookies(expired_token(), "1"),
                             "; __clerk_redirect_count=4", NULL);
    document_request();
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_EXPIRED_NO_REFRESH_COOKIE);
    ck_assert_int_eq(st.redirect_count, 4);
    req.cookie = "__client_uat=5; __clerk_redirect_count=99999999999";
    st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_CLIENT_UAT_BUT_NO_SESSION_TOKEN);
}
END_TEST

START_TEST(malformed_redirect_count_is_zero)
{
    /* Number(v) is NaN (or 0) for each, so the SDK reads 0 */
    static const char *const zero[] = {
        "3x",       "0x",
        "0x1g",     "0b2",
        "1e",       "+",
        ".",        "- 3",
        "inf",      "NaN",
        "0",        "-0",
        "0.0",      "0e5",
        "",         "+0x3",
        "1_0",      "\xc2",
        "infinity", "1000000000000000000000000000000000000000000000000000000000000000000000x"};
    document_request();
    for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++) {
        req.cookie = apr_psprintf(pool, "__client_uat=5; __clerk_redirect_count=%s", zero[i]);
        clerk_state st = decide();
        ck_assert_msg(st.redirect_count == 0, "%s gave %g", zero[i], st.redirect_count);
        assert_state(&st, CLERK_HANDSHAKE, CLERK_R_CLIENT_UAT_BUT_NO_SESSION_TOKEN);
    }
}
END_TEST

/* Number() takes more than digits; what the SDK counts as 3 or more stops here too, and the
 * next counter is the SDK's count + 1. */
START_TEST(redirect_count_reads_as_javascript_number)
{
    static const struct {
        const char *v;
        double count;
        const char *next; /* NULL: the loop stops */
    } cases[] = {
        {"3.0", 3, NULL},
        {"+3", 3, NULL},
        {"3e0", 3, NULL},
        {"0x3", 3, NULL},
        {"0o3", 3, NULL},
        {"0b11", 3, NULL},
        {".3e1", 3, NULL},
        {"Infinity", 1e300, NULL},
        {"1e300", 1e300, NULL},
        {"2.5", 2.5, "3.5"},
        {"0.5", 0.5, "1.5"},
        {"-1", -1, "0"},
        {"-0.5", -0.5, "0.5"},
        {"2", 2, "3"},
        {"2.", 2, "3"},
        {"0X2", 2, "3"},
        {"1e-7", 1e-7, "1.0000001"},
        {"-1e300", -1e300, NULL}, /* cannot grow: stops */
        {"-Infinity", -1e300, NULL},
        {"\t 2 \n", 2, "3"},
        {"2\xa0", 2, "3"},
        {"\xc2\xa0"
         "2\xe3\x80\x80",
         2, "3"}, /* JS trims Unicode spaces too */
        {"\xef\xbb\xbf"
         "0x2",
         2, "3"},
        {"000000000000000000000000000000000000000000000000000000000000000000003", 3, NULL}};
    document_request();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        req.cookie = apr_psprintf(pool, "__client_uat=5; __clerk_redirect_count=%s", cases[i].v);
        clerk_state st = decide();
        ck_assert_msg(st.redirect_count == cases[i].count, "%s gave %g", cases[i].v,
                      st.redirect_count);
        assert_state(&st, cases[i].next ? CLERK_HANDSHAKE : CLERK_SIGNED_OUT,
                     CLERK_R_CLIENT_UAT_BUT_NO_SESSION_TOKEN);
        if (cases[i].next) {
            ck_assert_int_eq(st.set_cookies->nelts, 1);
            ck_assert_str_eq(APR_ARRAY_IDX(st.set_cookies, 0, const char *),
                             apr_pstrcat(pool, "__clerk_redirect_count=", cases[i].next,
                                         "; SameSite=Lax; HttpOnly; Max-Age=2", NULL));
        }
    }
}
END_TEST

START_TEST(handshake_without_publishable_key_is_signed_out)
{
    cfg.pk = NULL;
    req.cookie = session_cookies(expired_token(), "1");
    document_request();
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_EXPIRED_NO_REFRESH_COOKIE);
    ck_assert_int_eq(st.eligible_for_handshake, 1);
    /* and a valid token still signs in with no instance known */
    req.cookie = session_cookies(good_token(), "1");
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
}
END_TEST

START_TEST(pending_session_is_signed_out_unless_accepted)
{
    req.cookie = session_cookies(
        mint_with(key, HDR_RS256, LIVE_ISS, -5, 55, ",\"sts\":\"pending\",\"azp\":\"x\""), "1");
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_PENDING);
    ck_assert_ptr_null(st.token);
    ck_assert_str_eq(clerk_reason_str(st.reason), "session-pending");
    cfg.accept_pending = 1;
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_str_eq(st.token->claims.sts, "pending");
    /* active sessions are never affected */
    cfg.accept_pending = 0;
    req.cookie = session_cookies(
        mint_with(key, HDR_RS256, LIVE_ISS, -5, 55, ",\"sts\":\"active\",\"azp\":\"x\""), "1");
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
}
END_TEST

START_TEST(missing_azp_on_cookie_token_warns_once_per_process)
{
    req.cookie = session_cookies(mint_with(key, HDR_RS256, LIVE_ISS, -5, 55, NULL), "1");
    for (int i = 0; i < 3; i++) {
        clerk_state st = decide();
        assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    }
    const char *fork = getenv("CK_FORK");
    if (fork && strcmp(fork, "no") == 0)
        ck_assert_int_le(warnings, 1); /* an earlier test in this process may have warned */
    else
        ck_assert_int_eq(warnings, 1);
}
END_TEST

START_TEST(azp_present_or_header_token_never_warns)
{
    req.cookie = session_cookies(good_token(), "1");
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    req.cookie = NULL;
    req.authorization = mint_with(key, HDR_RS256, LIVE_ISS, -5, 55, NULL);
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_int_eq(warnings, 0);
}
END_TEST

/* ---- development instances (authenticateRequestWithTokenInCookie) ---- */

static const char *dev_token(void)
{
    return mint_with(key, HDR_RS256, TEST_ISS, -5, 55, ",\"azp\":\"x\"");
}

START_TEST(dev_instance_without_dev_browser_is_dev_browser_missing)
{
    cfg.pk = test_pk;
    req.cookie = session_cookies(dev_token(), "1");
    document_request();
    clerk_state st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_DEV_BROWSER_MISSING);
    req.sec_fetch_dest = "empty";
    st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_DEV_BROWSER_MISSING);
    /* even a visitor with no cookies at all */
    req.cookie = NULL;
    document_request();
    st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_DEV_BROWSER_MISSING);
}
END_TEST

START_TEST(dev_instance_with_dev_browser_cookie_signs_in)
{
    cfg.pk = test_pk;
    req.cookie =
        apr_pstrcat(pool, session_cookies(dev_token(), "1"), "; __clerk_db_jwt=dvb_1", NULL);
    document_request();
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_str_eq(st.dev_browser, "dvb_1");
}
END_TEST

START_TEST(dev_browser_in_query_is_dev_browser_sync)
{
    cfg.pk = test_pk;
    req.cookie = apr_pstrcat(pool, session_cookies(dev_token(), "1"), "; __clerk_db_jwt=old", NULL);
    req.url.query = "x=1&__clerk_db_jwt=dvb_new";
    document_request();
    clerk_state st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_DEV_BROWSER_SYNC);
    ck_assert_str_eq(st.dev_browser, "dvb_new");
    ck_assert_str_eq(st.public_url, "https://app.example.com/dashboard?x=1&__clerk_db_jwt=dvb_new");
    /* an empty query value still counts as present for the sync, but not as the token */
    req.url.query = "__clerk_db_jwt=";
    st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_DEV_BROWSER_SYNC);
    ck_assert_str_eq(st.dev_browser, "old");
}
END_TEST

static const char *const sat_party[] = {"https://sat.example.com"};

START_TEST(dev_satellite_return_url_replaces_synced_and_keeps_the_fragment)
{
    cfg.pk = test_pk;
    cfg.verify.azp = sat_party;
    cfg.verify.n_azp = 1;
    req.cookie = "__clerk_db_jwt=dvb";
    req.url.query = "__clerk_redirect_url="
                    "https%3A%2F%2Fsat.example.com%2Fp%3Fx%3D1%26__clerk_synced%3Dfalse%23top";
    document_request();
    clerk_state st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_PRIMARY_RESPONDS_TO_SYNCING);
    ck_assert_str_eq(st.location,
                     "https://sat.example.com/p?x=1&__clerk_db_jwt=dvb&__clerk_synced=true#top");
}
END_TEST

START_TEST(production_ignores_dev_browser_rules)
{
    req.cookie = session_cookies(good_token(), "1");
    req.url.query = "__clerk_db_jwt=dvb_new&__clerk_redirect_url=https%3A%2F%2Fsat.example.com%2F";
    document_request();
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
}
END_TEST

START_TEST(dev_primary_with_redirect_url_responds_to_syncing)
{
    cfg.pk = test_pk;
    cfg.verify.azp = sat_party;
    cfg.verify.n_azp = 1;
    req.url.query = "__clerk_redirect_url=https%3A%2F%2Fsat.example.com%2Fp&__clerk_db_jwt=d";
    document_request();
    clerk_state st = decide();
    /* before dev-browser-sync, as Clerk orders them */
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_PRIMARY_RESPONDS_TO_SYNCING);
    ck_assert_str_eq(st.dev_browser, "d");
    /* back to the satellite, not to the Frontend API, as Clerk's preset Location */
    ck_assert_str_eq(st.location, "https://sat.example.com/p?__clerk_db_jwt=d&__clerk_synced=true");
    /* a value that is no absolute URL is not followed */
    req.url.query = "__clerk_redirect_url=javascript%3Aalert(1)";
    st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_DEV_BROWSER_MISSING);
}
END_TEST

/* The development redirect goes to this origin or an authorized party only: anything else would
 * hand the visitor's dev-browser token to whoever wrote the link. */
START_TEST(dev_redirect_url_is_followed_only_to_own_origin_or_authorized_party)
{
    cfg.pk = test_pk;
    cfg.verify.azp = sat_party;
    cfg.verify.n_azp = 1;
    req.cookie = "__clerk_db_jwt=dvb_secret";
    document_request();
    static const char *const refused[] = {
        "https%3A%2F%2Fevil.example%2F",
        "https%3A%2F%2Fsat.example.com.evil.example%2F",
        "http%3A%2F%2Fsat.example.com%2F", /* another scheme is another origin */
        "https%3A%2F%2Fsat.example.com%3A8443%2F",
        "https%3A%2F%2Fsat.example.com%40evil.example%2F",
        "https%3A%2F%2Fevil.example%5C%40sat.example.com%2F",
        "https%3A%2F%2Fevil.example%09%2F",
        "https%3A%2F%2Fapp.example.com.evil.example%2F",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        req.url.query = apr_pstrcat(pool, "__clerk_redirect_url=", refused[i], NULL);
        clerk_state st = decide();
        /* either refused by the origin rule, or (a tab: no URL at all) the rule is skipped */
        ck_assert_int_eq(st.status, CLERK_SIGNED_OUT);
        ck_assert_msg(st.location == NULL, "followed %s to %s", refused[i], st.location);
        if (st.reason == CLERK_R_PRIMARY_RESPONDS_TO_SYNCING)
            ck_assert_ptr_nonnull(strstr(st.message, "neither this origin"));
        else
            ck_assert_int_eq(st.reason, CLERK_R_SESSION_TOKEN_AND_UAT_MISSING);
    }
    /* this site's own origin (Host app.example.com over https), any path */
    req.url.query = "__clerk_redirect_url=https%3A%2F%2FApp.Example.com%2Fback%3Fa%3D1";
    clerk_state st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_PRIMARY_RESPONDS_TO_SYNCING);
    ck_assert_str_eq(
        st.location,
        "https://App.Example.com/back?a=1&__clerk_db_jwt=dvb_secret&__clerk_synced=true");
    /* an authorized party */
    req.url.query = "__clerk_redirect_url=https%3A%2F%2Fsat.example.com%2F";
    st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_PRIMARY_RESPONDS_TO_SYNCING);
    /* without authorized parties only the own origin remains */
    cfg.verify.n_azp = 0;
    st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_PRIMARY_RESPONDS_TO_SYNCING);
    ck_assert_ptr_null(st.location);
}
END_TEST

/* ---- cross-origin referrer (isCrossOriginReferrer) ---- */

START_TEST(cross_origin_referer_on_signed_in_document_is_handshake)
{
    req.cookie = session_cookies(good_token(), "1");
    document_request();
    req.referer = "https://satellite.example.org/page";
    clerk_state st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_PRIMARY_DOMAIN_CROSS_ORIGIN_SYNC);
    ck_assert_str_eq(st.message, "Cross-origin request from satellite domain requires handshake");
    ck_assert_ptr_null(st.token);
}
END_TEST

START_TEST(same_origin_or_invalid_referer_stays_signed_in)
{
    req.cookie = session_cookies(good_token(), "1");
    document_request();
    req.referer = "https://APP.example.com:443/other";
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    req.referer = "not a url";
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    req.referer = "";
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
}
END_TEST

/* new URL(referrer).origin is "null" for these (or another scheme's): never the request's. */
START_TEST(referer_of_another_scheme_is_cross_origin)
{
    static const char *const foreign[] = {"android-app://com.example.app/",
                                          "file:///home/me/page.html",
                                          "foo:bar",
                                          "ws://app.example.com/socket",
                                          "FTP://u@app.example.com:21/",
                                          "ftp:///x",
                                          "ws:x"};
    req.cookie = session_cookies(good_token(), "1");
    document_request();
    for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
        req.referer = foreign[i];
        clerk_state st = decide();
        ck_assert_msg(st.status == CLERK_HANDSHAKE, "%s", foreign[i]);
        assert_state(&st, CLERK_HANDSHAKE, CLERK_R_PRIMARY_DOMAIN_CROSS_ORIGIN_SYNC);
    }
    /* not URLs, or a special scheme without a host (new URL throws): no handshake */
    static const char *const invalid[] = {"1ab:x", "ws:", "ftp:///", "wss:/?x", "://x", "no-colon"};
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        req.referer = invalid[i];
        clerk_state st = decide();
        ck_assert_msg(st.status == CLERK_SIGNED_IN, "%s", invalid[i]);
    }
    /* the Frontend API's host is a known referrer whatever the scheme */
    req.referer = "android-app://user@clerk.example.com:99/x";
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
}
END_TEST

START_TEST(known_clerk_referers_do_not_trigger_cross_origin_sync)
{
    req.cookie = session_cookies(good_token(), "1");
    document_request();
    req.referer = "https://clerk.example.com/v1/client";
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    req.referer = "https://accounts.example.com/sign-in";
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    /* a development Account Portal only counts for development instances */
    req.referer = "https://foo-bar-13.accounts.dev/sign-in";
    st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_PRIMARY_DOMAIN_CROSS_ORIGIN_SYNC);
    cfg.pk = test_pk;
    req.cookie = apr_pstrcat(pool, session_cookies(dev_token(), "1"), "; __clerk_db_jwt=d", NULL);
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    req.referer = "https://accounts.foo.bar-13.lcl.dev/";
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    /* another instance's Frontend API is no Account Portal */
    req.referer = "https://other-app-1.clerk.accounts.dev/";
    st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_PRIMARY_DOMAIN_CROSS_ORIGIN_SYNC);
}
END_TEST

START_TEST(cross_origin_sync_needs_get_document_and_no_redirect_yet)
{
    req.cookie = session_cookies(good_token(), "1");
    req.referer = "https://satellite.example.org/";
    req.sec_fetch_dest = "iframe";
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    req.sec_fetch_dest = "document";
    req.method = "POST";
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    req.method = "GET";
    req.cookie =
        apr_pstrcat(pool, session_cookies(good_token(), "1"), "; __clerk_redirect_count=1", NULL);
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    /* without a publishable key there is nothing to sync with */
    cfg.pk = NULL;
    req.cookie = session_cookies(good_token(), "1");
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
}
END_TEST

START_TEST(cross_origin_uses_forwarded_origin_only_when_trusted)
{
    req.cookie = session_cookies(good_token(), "1");
    document_request();
    req.url.xf_host = "public.example.com";
    req.referer = "https://public.example.com/";
    clerk_state st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_PRIMARY_DOMAIN_CROSS_ORIGIN_SYNC);
    req.url.trust_forwarded = 1;
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_str_eq(clerk_public_url(pool, &req.url), "https://public.example.com/dashboard");
}
END_TEST

/* ---- suffixed vs unsuffixed cookies (usesSuffixedCookies) ---- */

static const char *sfx_name(const char *base)
{
    return apr_pstrcat(pool, base, "_", cfg.pk->suffix, NULL);
}

/* Cookie header from (name, value) pairs, NULL values skipped. */
static const char *jar(const char *s, const char *ss, const char *u, const char *us)
{
    const char *h = "x=y";
    if (s)
        h = apr_pstrcat(pool, h, "; __session=", s, NULL);
    if (ss)
        h = apr_pstrcat(pool, h, "; ", sfx_name("__session"), "=", ss, NULL);
    if (u)
        h = apr_pstrcat(pool, h, "; __client_uat=", u, NULL);
    if (us)
        h = apr_pstrcat(pool, h, "; ", sfx_name("__client_uat"), "=", us, NULL);
    return h;
}

static const char *tok_iat(const char *iss, long iat_off, long exp_off, const char *sub)
{
    char *payload =
        apr_psprintf(pool, "{\"sub\":\"%s\",\"iss\":\"%s\",\"iat\":%ld,\"exp\":%ld,\"azp\":\"a\"}",
                     sub, iss, NOW_S + iat_off, NOW_S + exp_off);
    char *t = mint_sign(key, "RS256", HDR_RS256, payload);
    const char *out = apr_pstrdup(pool, t);
    free(t);
    return out;
}

static int suffixed(void)
{
    clerk_state st = decide();
    return st.suffixed_cookies;
}

START_TEST(suffix_step1_session_without_iss_uses_unsuffixed)
{
    char *t = mint_sign(key, "RS256", HDR_RS256, "{\"sub\":\"u\",\"iat\":1,\"exp\":2}");
    req.cookie = jar(t, tok_iat(LIVE_ISS, -5, 55, "s"), "1", "1");
    free(t);
    ck_assert_int_eq(suffixed(), 0);
    req.cookie = jar("undecodable", tok_iat(LIVE_ISS, -5, 55, "s"), "1", "1");
    ck_assert_int_eq(suffixed(), 0);
}
END_TEST

START_TEST(suffix_step2_session_of_another_instance_uses_suffixed)
{
    req.cookie = jar(tok_iat("https://clerk.other.com", -5, 55, "u"), NULL, "1", NULL);
    ck_assert_int_eq(suffixed(), 1);
    /* then __session_<sfx> is missing: client-uat-but-no-session-token on the suffixed pair */
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_AND_UAT_MISSING);
}
END_TEST

START_TEST(suffix_step3_no_suffixed_cookies_uses_unsuffixed)
{
    req.cookie = jar(tok_iat(LIVE_ISS, -5, 55, "u"), NULL, "1", NULL);
    ck_assert_int_eq(suffixed(), 0);
    /* the scheme is stripped before comparing iss with the Frontend API host */
    req.cookie = jar(tok_iat("clerk.example.com", -5, 55, "u"), NULL, "1", NULL);
    ck_assert_int_eq(suffixed(), 0);
}
END_TEST

START_TEST(suffix_step4_newer_unsuffixed_session_wins)
{
    req.cookie = jar(tok_iat(LIVE_ISS, -5, 55, "new"), tok_iat(LIVE_ISS, -30, 30, "old"), "1", "1");
    ck_assert_int_eq(suffixed(), 0);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_str_eq(st.token->claims.sub, "new");
    /* an older (or equal) unsuffixed session does not */
    req.cookie = jar(tok_iat(LIVE_ISS, -30, 30, "old"), tok_iat(LIVE_ISS, -5, 55, "new"), "1", "1");
    ck_assert_int_eq(suffixed(), 1);
}
END_TEST

START_TEST(suffix_step5_suffixed_signed_out_unsuffixed_signed_in_uses_unsuffixed)
{
    req.cookie = jar(NULL, tok_iat(LIVE_ISS, -5, 55, "s"), "5", "0");
    ck_assert_int_eq(suffixed(), 0);
}
END_TEST

START_TEST(suffix_step6_dev_expired_suffixed_session_uses_unsuffixed)
{
    cfg.pk = test_pk;
    req.cookie = jar(NULL, tok_iat(TEST_ISS, -120, -60, "s"), "0", "5");
    ck_assert_int_eq(suffixed(), 0);
    /* not expired: suffixed */
    req.cookie = jar(NULL, tok_iat(TEST_ISS, -5, 55, "s"), "0", "5");
    ck_assert_int_eq(suffixed(), 1);
    /* production never applies this rule */
    cfg.pk = live_pk;
    req.cookie = jar(NULL, tok_iat(LIVE_ISS, -120, -60, "s"), "0", "5");
    ck_assert_int_eq(suffixed(), 1);
}
END_TEST

START_TEST(suffix_step7_suffixed_session_without_suffixed_uat_uses_unsuffixed)
{
    req.cookie = jar(NULL, tok_iat(LIVE_ISS, -5, 55, "s"), "5", NULL);
    ck_assert_int_eq(suffixed(), 0);
}
END_TEST

START_TEST(suffix_step8_otherwise_suffixed_cookies_are_read)
{
    req.cookie = jar(NULL, tok_iat(LIVE_ISS, -5, 55, "suffixed_user"), NULL, "5");
    clerk_state st = decide();
    ck_assert_int_eq(st.suffixed_cookies, 1);
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_str_eq(st.token->claims.sub, "suffixed_user");
    /* suffixed dev browser cookie too */
    cfg.pk = test_pk;
    req.cookie =
        apr_pstrcat(pool, jar(NULL, tok_iat(TEST_ISS, -5, 55, "s"), NULL, "5"), "; ",
                    sfx_name("__clerk_db_jwt"), "=dvb_sfx; __clerk_db_jwt=dvb_plain", NULL);
    st = decide();
    ck_assert_int_eq(st.suffixed_cookies, 1);
    ck_assert_str_eq(st.dev_browser, "dvb_sfx");
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
}
END_TEST

START_TEST(no_publishable_key_always_uses_unsuffixed)
{
    cfg.pk = NULL;
    req.cookie =
        apr_pstrcat(pool, "__session_", live_pk->suffix, "=", tok_iat(LIVE_ISS, -5, 55, "s"),
                    "; __client_uat_", live_pk->suffix, "=5", NULL);
    clerk_state st = decide();
    ck_assert_int_eq(st.suffixed_cookies, 0);
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_AND_UAT_MISSING);
}
END_TEST

/* ---- token cache ---- */

START_TEST(token_cache_serves_repeat_requests_and_still_checks_expiry)
{
    cfg.cache = clerk_token_cache_create(16);
    ck_assert_ptr_nonnull(cfg.cache);
    req.authorization = good_token();
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    uint64_t hits, misses;
    size_t entries;
    clerk_token_cache_stats(cfg.cache, &hits, &misses, &entries);
    ck_assert_uint_eq(hits, 1);
    ck_assert_uint_eq(entries, 1);
    /* an hour later the cached token is expired: never signed in from the cache */
    req.now_ms = NOW_MS + 3600 * 1000;
    st = decide();
    ck_assert_int_eq(st.status, CLERK_SIGNED_OUT);
    ck_assert_int_eq(st.reason, CLERK_R_SESSION_TOKEN_EXPIRED_NO_REFRESH_COOKIE);
    /* clear the pool's token references before the cache goes */
    apr_pool_clear(pool);
    clerk_token_cache_destroy(cfg.cache);
    cfg.cache = NULL;
}
END_TEST

/* What clerk_token_cache_set_counter reported: [0] misses, [1] hits. */
static uint64_t counted[2];

static void count_lookup(int hit)
{
    counted[hit ? 1 : 0]++;
}

START_TEST(token_cache_counter_is_told_of_every_lookup)
{
    cfg.cache = clerk_token_cache_create(16);
    ck_assert_ptr_nonnull(cfg.cache);
    counted[0] = counted[1] = 0;
    clerk_token_cache_set_counter(cfg.cache, count_lookup);
    req.authorization = good_token();
    for (int i = 0; i < 3; i++) {
        clerk_state st = decide();
        assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    }
    uint64_t hits, misses;
    clerk_token_cache_stats(cfg.cache, &hits, &misses, NULL);
    ck_assert_uint_eq(hits, 2);
    ck_assert_uint_eq(counted[1], hits);
    ck_assert_uint_eq(counted[0], misses);
    clerk_token_cache_set_counter(cfg.cache, NULL); /* stops it */
    decide();
    ck_assert_uint_eq(counted[1], 2);
    apr_pool_clear(pool);
    clerk_token_cache_destroy(cfg.cache);
    cfg.cache = NULL;
}
END_TEST

/* A session cookie is read from the cache while the cookie is chosen (a peek), then verified:
 * one look-up per request, not one per read. */
START_TEST(token_cache_counts_one_lookup_per_cookie_request)
{
    cfg.cache = clerk_token_cache_create(16);
    ck_assert_ptr_nonnull(cfg.cache);
    counted[0] = counted[1] = 0;
    clerk_token_cache_set_counter(cfg.cache, count_lookup);
    req.cookie = session_cookies(good_token(), "1");
    for (int i = 0; i < 3; i++) {
        clerk_state st = decide();
        assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    }
    uint64_t hits, misses;
    clerk_token_cache_stats(cfg.cache, &hits, &misses, NULL);
    ck_assert_uint_eq(misses, 1);
    ck_assert_uint_eq(hits, 2);
    ck_assert_uint_eq(counted[0], 1);
    ck_assert_uint_eq(counted[1], 2);
    apr_pool_clear(pool);
    clerk_token_cache_destroy(cfg.cache);
    cfg.cache = NULL;
}
END_TEST

START_TEST(failed_tokens_are_not_cached)
{
    cfg.cache = clerk_token_cache_create(16);
    req.authorization = mint_with(other_key, HDR_RS256, LIVE_ISS, -5, 55, NULL);
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_TOKEN_INVALID_SIGNATURE);
    uint64_t hits, misses;
    size_t entries;
    clerk_token_cache_stats(cfg.cache, &hits, &misses, &entries);
    ck_assert_uint_eq(entries, 0);
    apr_pool_clear(pool);
    clerk_token_cache_destroy(cfg.cache);
    cfg.cache = NULL;
}
END_TEST

/* ---- robustness ---- */

START_TEST(hostile_inputs_never_crash)
{
    static const char *const cookies[] = {
        "__session=a.b.c; __client_uat=99999999999999999999999999",
        "__session=\"\"; __client_uat=-5",
        "__session=%; __client_uat=%zz",
        ";;;;;====;;;",
        "__session=eyJ.eyJ.; __client_uat=1",
        "__clerk_redirect_count=-1; __client_uat=1",
    };
    document_request();
    req.referer = "https://";
    req.url.query = "&&&=&__clerk_db_jwt&%";
    for (size_t i = 0; i < sizeof(cookies) / sizeof(cookies[0]); i++) {
        req.cookie = cookies[i];
        clerk_state st = decide();
        ck_assert_int_ne(st.status, CLERK_SIGNED_IN);
    }
    req.url.host = NULL;
    req.url.path = NULL;
    req.url.query = NULL;
    req.method = NULL;
    req.cookie = NULL;
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_AND_UAT_MISSING);
    ck_assert_str_eq(st.public_url, "https://localhost/");
    clerk_request_state(pool, NULL, &cfg, &st);
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_UNEXPECTED_ERROR);
}
END_TEST

/* ---- the user (ClerkUserClaim) ---- */

/* A header request with a good token carrying extra members. */
static clerk_state decide_with_claims(const char *extra)
{
    const char *t = mint_with(key, HDR_RS256, LIVE_ISS, -5, 55, extra);
    req.authorization = apr_pstrcat(pool, "Bearer ", t, NULL);
    return decide();
}

START_TEST(user_is_sub_unless_another_claim_is_chosen)
{
    clerk_state st = decide_with_claims(",\"email\":\"a@example.com\"");
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_str_eq(st.user, "user_1");
    cfg.user_claim = "sub";
    st = decide_with_claims(NULL);
    ck_assert_str_eq(st.user, "user_1");
    cfg.user_claim = "email";
    st = decide_with_claims(",\"email\":\"a@example.com\"");
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_str_eq(st.user, "a@example.com");
    /* An integer is written in decimal; a dotted path walks nested objects. */
    cfg.user_claim = "uid";
    st = decide_with_claims(",\"uid\":-42");
    ck_assert_str_eq(st.user, "-42");
    cfg.user_claim = "public_metadata.username";
    st = decide_with_claims(",\"public_metadata\":{\"username\":\"ann\"}");
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_str_eq(st.user, "ann");
}
END_TEST

START_TEST(token_without_a_usable_user_is_signed_out)
{
    static const struct {
        const char *claim, *extra, *problem;
    } cases[] = {
        {"email", NULL, "is missing"},
        {"email", ",\"email\":{\"a\":1}", "is neither a string nor an integer"},
        {"email", ",\"email\":true", "is neither a string nor an integer"},
        {"email", ",\"email\":\"\"", "is empty"},
        {"email", ",\"email\":\"a\\u0007b\"", "holds a control character"},
        {"public_metadata.username", ",\"public_metadata\":\"ann\"", "is missing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cfg.user_claim = cases[i].claim;
        clerk_state st = decide_with_claims(cases[i].extra);
        assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_TOKEN_VERIFICATION_FAILED);
        ck_assert_str_eq(st.message, apr_psprintf(pool,
                                                  "The session token's '%s' claim %s: it is "
                                                  "REMOTE_USER (ClerkUserClaim); add it to the "
                                                  "session token in Clerk.",
                                                  cases[i].claim, cases[i].problem));
        ck_assert_ptr_null(st.user);
        ck_assert_ptr_null(st.token);
        ck_assert_int_eq(st.source, CLERK_SRC_HEADER);
        ck_assert_str_eq(st.kid, KID);
        ck_assert_str_eq(st.public_url, "https://app.example.com/dashboard");
    }
}
END_TEST

/* The cookie path and a returning handshake sign in through the same door. */
START_TEST(cookie_token_without_the_user_claim_is_signed_out)
{
    cfg.user_claim = "email";
    const char *t = good_token();
    req.cookie = session_cookies(t, "1699999990");
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_TOKEN_VERIFICATION_FAILED);
    ck_assert_int_eq(st.source, CLERK_SRC_COOKIE);
    ck_assert_ptr_nonnull(strstr(st.message, "'email' claim is missing"));
}
END_TEST

START_TEST(unreadable_claims_turn_a_signed_in_state_out)
{
    clerk_state st = decide_with_claims(NULL);
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_ptr_null(st.public_url);
    clerk_request_state_claims_unreadable(pool, &req, &st);
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_TOKEN_VERIFICATION_FAILED);
    ck_assert_str_eq(st.message, "The session token's claims cannot be read.");
    ck_assert_ptr_null(st.user);
    ck_assert_str_eq(st.public_url, "https://app.example.com/dashboard");
}
END_TEST

Suite *request_state_suite(void)
{
    Suite *s = suite_create("request_state");
    TCase *tc = tcase_create("request_state");
    tcase_set_timeout(tc, 30);
    tcase_add_unchecked_fixture(tc, make_keys, free_keys);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, document_request_needs_get_and_a_document_destination);
    tcase_add_test(tc, bearer_token_is_signed_in_from_header);
    tcase_add_test(tc, user_is_sub_unless_another_claim_is_chosen);
    tcase_add_test(tc, token_without_a_usable_user_is_signed_out);
    tcase_add_test(tc, cookie_token_without_the_user_claim_is_signed_out);
    tcase_add_test(tc, unreadable_claims_turn_a_signed_in_state_out);
    tcase_add_test(tc, raw_token_without_scheme_is_signed_in);
    tcase_add_test(tc, bearer_with_trailing_pieces_uses_the_first);
    tcase_add_test(tc, lowercase_bearer_falls_back_to_cookie_path);
    tcase_add_test(tc, basic_auth_falls_back_to_cookie_session);
    tcase_add_test(tc, header_token_takes_precedence_over_cookies);
    tcase_add_test(tc, undecodable_header_token_is_token_invalid);
    tcase_add_test(tc, bearer_with_two_spaces_verifies_the_word_bearer);
    tcase_add_test(tc, machine_tokens_in_header_are_token_type_mismatch);
    tcase_add_test(tc, header_expired_token_on_api_get_is_signed_out_no_refresh_cookie);
    tcase_add_test(tc, expired_token_on_non_get_is_non_get_even_with_refresh_cookie);
    tcase_add_test(tc, header_expired_token_on_get_document_is_handshake);
    tcase_add_test(tc, nbf_in_future_is_session_token_nbf);
    tcase_add_test(tc, iat_in_future_is_session_token_iat_in_the_future);
    tcase_add_test(tc, other_verification_errors_are_signed_out_even_on_documents);
    tcase_add_test(tc, no_key_source_is_jwk_failed_to_resolve);
    tcase_add_test(tc, no_cookies_is_session_token_and_uat_missing);
    tcase_add_test(tc, client_uat_zero_or_garbage_without_session_is_signed_out);
    tcase_add_test(tc, session_without_client_uat_is_handshake_on_documents_only);
    tcase_add_test(tc, client_uat_without_session_is_client_uat_but_no_session_token);
    tcase_add_test(tc, too_long_url_is_signed_out_instead_of_a_handshake);
    tcase_add_test(tc, valid_cookie_session_is_signed_in);
    tcase_add_test(tc, token_older_than_client_uat_is_iat_before_client_uat);
    tcase_add_test(tc, undecodable_cookie_is_token_invalid_not_handshake);
    tcase_add_test(tc, machine_token_in_cookie_is_token_type_mismatch);
    tcase_add_test(tc, expired_cookie_on_document_is_handshake_with_clerk_message);
    tcase_add_test(tc, redirect_count_two_still_handshakes);
    tcase_add_test(tc, redirect_count_three_stops_with_signed_out);
    tcase_add_test(tc, redirect_count_above_three_also_stops);
    tcase_add_test(tc, malformed_redirect_count_is_zero);
    tcase_add_test(tc, redirect_count_reads_as_javascript_number);
    tcase_add_test(tc, handshake_without_publishable_key_is_signed_out);
    tcase_add_test(tc, pending_session_is_signed_out_unless_accepted);
    tcase_add_test(tc, missing_azp_on_cookie_token_warns_once_per_process);
    tcase_add_test(tc, azp_present_or_header_token_never_warns);
    tcase_add_test(tc, dev_instance_without_dev_browser_is_dev_browser_missing);
    tcase_add_test(tc, dev_instance_with_dev_browser_cookie_signs_in);
    tcase_add_test(tc, dev_browser_in_query_is_dev_browser_sync);
    tcase_add_test(tc, production_ignores_dev_browser_rules);
    tcase_add_test(tc, dev_primary_with_redirect_url_responds_to_syncing);
    tcase_add_test(tc, dev_redirect_url_is_followed_only_to_own_origin_or_authorized_party);
    tcase_add_test(tc, dev_satellite_return_url_replaces_synced_and_keeps_the_fragment);
    tcase_add_test(tc, cross_origin_referer_on_signed_in_document_is_handshake);
    tcase_add_test(tc, same_origin_or_invalid_referer_stays_signed_in);
    tcase_add_test(tc, known_clerk_referers_do_not_trigger_cross_origin_sync);
    tcase_add_test(tc, referer_of_another_scheme_is_cross_origin);
    tcase_add_test(tc, cross_origin_sync_needs_get_document_and_no_redirect_yet);
    tcase_add_test(tc, cross_origin_uses_forwarded_origin_only_when_trusted);
    tcase_add_test(tc, suffix_step1_session_without_iss_uses_unsuffixed);
    tcase_add_test(tc, suffix_step2_session_of_another_instance_uses_suffixed);
    tcase_add_test(tc, suffix_step3_no_suffixed_cookies_uses_unsuffixed);
    tcase_add_test(tc, suffix_step4_newer_unsuffixed_session_wins);
    tcase_add_test(tc, suffix_step5_suffixed_signed_out_unsuffixed_signed_in_uses_unsuffixed);
    tcase_add_test(tc, suffix_step6_dev_expired_suffixed_session_uses_unsuffixed);
    tcase_add_test(tc, suffix_step7_suffixed_session_without_suffixed_uat_uses_unsuffixed);
    tcase_add_test(tc, suffix_step8_otherwise_suffixed_cookies_are_read);
    tcase_add_test(tc, no_publishable_key_always_uses_unsuffixed);
    tcase_add_test(tc, token_cache_serves_repeat_requests_and_still_checks_expiry);
    tcase_add_test(tc, token_cache_counter_is_told_of_every_lookup);
    tcase_add_test(tc, token_cache_counts_one_lookup_per_cookie_request);
    tcase_add_test(tc, failed_tokens_are_not_cached);
    tcase_add_test(tc, hostile_inputs_never_crash);
    suite_add_tcase(s, tc);
    return s;
}
