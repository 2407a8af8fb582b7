/* Multi-domain decisions (@clerk/backend tokens/request.ts: isSatellite, domain, proxyUrl,
 * signInUrl, satelliteAutoSync, organizationSyncOptions) and the organization path patterns
 * (tokens/organizationMatcher.ts over path-to-regexp 6). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include "unit.h"
#include "mint.h"
#include "org_sync.h"
#include "request_state.h"

#define NOW_MS  INT64_C(1700000000000)
#define NOW_S   1700000000L
#define KID     "ins_md"
#define LIVE_PK "pk_live_Y2xlcmsuZXhhbXBsZS5jb20k" /* clerk.example.com */
#define TEST_PK                                                                                    \
    "pk_test_Zm9vLWJhci0xMy5jbGVyay5hY2NvdW50cy5kZXYk" /* foo-bar-13.clerk.accounts.dev */
#define HDR "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"" KID "\"}"

static EVP_PKEY *key;
static apr_pool_t *pool;
static clerk_keyset *keyset;
static clerk_publishable_key *live_pk, *test_pk;
static clerk_config cfg;
static clerk_request req;
static char last_log[512];

static void make_key(void)
{
    key = mint_keygen("rsa2048");
}

static void free_key(void)
{
    EVP_PKEY_free(key);
}

static void log_cb(void *ctx, int level, const char *msg)
{
    (void)ctx;
    (void)level;
    snprintf(last_log, sizeof(last_log), "%s", msg);
}

static void setup(void)
{
    char err[256];
    apr_pool_create(&pool, NULL);
    keyset = clerk_keyset_new();
    unit_add_jwk(keyset, key, KID, "RS256");
    ck_assert_int_eq(clerk_publishable_key_parse(pool, LIVE_PK, &live_pk, err, sizeof(err)), 0);
    ck_assert_int_eq(clerk_publishable_key_parse(pool, TEST_PK, &test_pk, err, sizeof(err)), 0);
    memset(&cfg, 0, sizeof(cfg));
    cfg.pk = live_pk;
    cfg.verify.skew_ms = 5000;
    cfg.verify.algs = CLERK_ALGS_DEFAULT;
    cfg.keys.lookup = unit_keyset_lookup;
    cfg.keys.ctx = keyset;
    cfg.log = log_cb;
    cfg.secret_key = "sk_live_x";
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.sec_fetch_dest = "document";
    req.url.conn_scheme = "https";
    req.url.host = "sat.example.org";
    req.url.path = "/page";
    req.now_ms = NOW_MS;
    last_log[0] = '\0';
}

static void teardown(void)
{
    apr_pool_destroy(pool);
    clerk_keyset_unref(keyset);
}

static int nonce_get(void *ctx, apr_pool_t *p, const char *url, const char *const *headers,
                     long *status, const char **body, char *err, size_t errlen)
{
    (void)ctx, (void)p, (void)url, (void)headers, (void)err, (void)errlen;
    *status = 404;
    *body = "";
    return 0;
}

/* A valid session token for iss with extra claims (",\"o\":{...}"). */
static const char *token(const char *iss, const char *extra)
{
    char *payload =
        apr_psprintf(pool,
                     "{\"sub\":\"user_1\",\"sid\":\"sess_1\",\"iss\":\"%s\",\"iat\":%ld,"
                     "\"nbf\":%ld,\"exp\":%ld%s}",
                     iss, NOW_S - 5, NOW_S - 15, NOW_S + 55, extra ? extra : "");
    char *t = mint_sign(key, "RS256", HDR, payload);
    ck_assert_ptr_nonnull(t);
    const char *out = apr_pstrdup(pool, t);
    free(t);
    return out;
}

static const char *cookies_for(const char *tok)
{
    return apr_psprintf(pool, "__session=%s; __client_uat=%ld", tok, NOW_S - 10);
}

static clerk_state decide(void)
{
    clerk_state st;
    cfg.handshake_get = nonce_get;
    clerk_request_state(pool, &req, &cfg, &st);
    return st;
}

static void assert_state(const clerk_state *st, clerk_status status, clerk_reason reason)
{
    ck_assert_msg(st->status == status && st->reason == reason,
                  "expected status %d reason %s, got status %d reason %s (%s)", status,
                  clerk_reason_str(reason), st->status, clerk_reason_str(st->reason), st->message);
}

/* ---- path patterns ---------------------------------------------------------------------- */

static const clerk_path_patterns *compile(const char *const *pats, size_t n)
{
    char err[256];
    const clerk_path_patterns *pp = clerk_path_patterns_compile(pool, pats, n, err, sizeof(err));
    ck_assert_msg(pp != NULL, "%s", err);
    return pp;
}

START_TEST(patterns_match_as_path_to_regexp)
{
    static const char *const pats[] = {"/orgs/:slug", "/orgs/:slug/(.*)", "/o/:id?/x"};
    const clerk_path_patterns *pp = compile(pats, 3);
    const char *id, *slug;
    ck_assert_int_eq(clerk_path_patterns_match(pool, pp, "/orgs/acme", &id, &slug), 0);
    ck_assert_str_eq(slug, "acme");
    ck_assert_ptr_null(id);
    /* an optional trailing delimiter, case-insensitive literals, parameters kept raw */
    ck_assert_int_eq(clerk_path_patterns_match(pool, pp, "/ORGS/Ac%20me/", &id, &slug), 0);
    ck_assert_str_eq(slug, "Ac%20me");
    ck_assert_int_eq(clerk_path_patterns_match(pool, pp, "/orgs/acme/settings/x", &id, &slug), 1);
    ck_assert_str_eq(slug, "acme");
    ck_assert_int_eq(clerk_path_patterns_match(pool, pp, "/orgs/acme/", &id, &slug), 0);
    ck_assert_int_eq(clerk_path_patterns_match(pool, pp, "/orgs", &id, &slug), -1);
    ck_assert_int_eq(clerk_path_patterns_match(pool, pp, "/orgs/", &id, &slug), -1);
    ck_assert_int_eq(clerk_path_patterns_match(pool, pp, "/orgsx/acme", &id, &slug), -1);
    ck_assert_int_eq(clerk_path_patterns_match(pool, pp, "/o/x", &id, &slug), 2);
    ck_assert_ptr_null(id);
    ck_assert_int_eq(clerk_path_patterns_match(pool, pp, "/o/org_1/x", &id, &slug), 2);
    ck_assert_str_eq(id, "org_1");
    /* a lazy parameter before text takes the shortest piece that lets the rest match */
    static const char *const lazy[] = {"/p/:slug-x"};
    pp = compile(lazy, 1);
    ck_assert_int_eq(clerk_path_patterns_match(pool, pp, "/p/a-x-x", &id, &slug), 0);
    ck_assert_str_eq(slug, "a-x");
    /* (.*) is greedy: the parameter before it keeps one segment */
    static const char *const greedy[] = {"/:slug/(.*)/end"};
    pp = compile(greedy, 1);
    ck_assert_int_eq(clerk_path_patterns_match(pool, pp, "/a/b/end/c/end", &id, &slug), 0);
    ck_assert_str_eq(slug, "a");
}
END_TEST

START_TEST(patterns_refuse_unsupported_syntax)
{
    static const char *const bad[] = {
        "/orgs/:",   "/orgs/:slug*", "/orgs/:slug+", "/orgs/{:slug}", "/orgs/(\\d+)",
        "/a/:x:y",   "x-:y",         "/a?",          "/a/:id/:id",    "/a/.:x",
        "/a/:x(.*)", "/a\\",         "/sp ace",      "/caf\xc3\xa9",  "/a}",
    };
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *one[] = {bad[i]};
        ck_assert_msg(clerk_path_patterns_compile(pool, one, 1, err, sizeof(err)) == NULL,
                      "accepted %s", bad[i]);
        ck_assert_ptr_nonnull(strstr(err, "pattern 1"));
    }
    char longp[CLERK_PATH_PATTERN_MAX_LEN + 2];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    const char *one[] = {longp};
    ck_assert_ptr_null(clerk_path_patterns_compile(pool, one, 1, err, sizeof(err)));
    ck_assert_ptr_null(clerk_path_patterns_compile(pool, one, 0, err, sizeof(err)));
    /* accepted: escapes, a ')' as text, '.' before (.*), :name after text holding '/' */
    static const char *const good[] = {"/a\\?b", "/a)", "/f.(.*)", "/x-/y:slug", ":slug", ""};
    compile(good, sizeof good / sizeof good[0]);
}
END_TEST

/* The cost is the path's length times the program's size: a long hostile path against many
 * (.*) groups finishes (the test is bounded by Check's timeout, not by a clock). */
START_TEST(patterns_cost_is_linear)
{
    static const char *const pats[] = {"/(.*)a(.*)a(.*)a(.*)a(.*)a(.*)a(.*)a(.*)b"};
    const clerk_path_patterns *pp = compile(pats, 1);
    size_t n = 8000;
    char *path = apr_palloc(pool, n + 1);
    path[0] = '/';
    memset(path + 1, 'a', n - 1);
    path[n] = '\0';
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(clerk_path_patterns_match(pool, pp, path, NULL, NULL), -1);
    path[n - 1] = 'b';
    ck_assert_int_eq(clerk_path_patterns_match(pool, pp, path, NULL, NULL), 0);
}
END_TEST

START_TEST(org_targets_and_must_activate)
{
    static const char *const orgs[] = {"/orgs/:slug", "/orgs/:slug/(.*)", "/team/:id",
                                       "/plain/(.*)"};
    static const char *const me[] = {"/me", "/me/(.*)", "/plain/x"};
    clerk_org_sync os = {compile(orgs, 4), compile(me, 3)};
    clerk_org_target t = clerk_org_sync_target(pool, &os, "/orgs/acme/x");
    ck_assert_int_eq(t.kind, CLERK_ORG_TARGET_ORGANIZATION);
    ck_assert_str_eq(clerk_org_sync_param(&t), "acme");
    t = clerk_org_sync_target(pool, &os, "/team/org_9");
    ck_assert_str_eq(t.id, "org_9");
    ck_assert_str_eq(clerk_org_sync_param(&t), "org_9");
    t = clerk_org_sync_target(pool, &os, "/me/settings");
    ck_assert_int_eq(t.kind, CLERK_ORG_TARGET_PERSONAL);
    ck_assert_str_eq(clerk_org_sync_param(&t), "");
    /* an organization pattern naming neither :id nor :slug falls through to personal ones */
    t = clerk_org_sync_target(pool, &os, "/plain/x");
    ck_assert_int_eq(t.kind, CLERK_ORG_TARGET_PERSONAL);
    t = clerk_org_sync_target(pool, &os, "/other");
    ck_assert_int_eq(t.kind, CLERK_ORG_TARGET_NONE);
    ck_assert_ptr_null(clerk_org_sync_param(&t));

    json_t *v2 = json_loads("{\"v\":2,\"o\":{\"id\":\"org_9\",\"slg\":\"acme\"}}", 0, NULL);
    json_t *v1 = json_loads("{\"org_id\":\"org_1\",\"org_slug\":\"beta\"}", 0, NULL);
    json_t *none = json_loads("{\"v\":2}", 0, NULL);
    json_t *odd = json_loads("{\"v\":2,\"o\":\"org_9\"}", 0, NULL);
    clerk_org_target slug = {CLERK_ORG_TARGET_ORGANIZATION, NULL, "acme"};
    clerk_org_target id = {CLERK_ORG_TARGET_ORGANIZATION, "org_9", NULL};
    clerk_org_target personal = {CLERK_ORG_TARGET_PERSONAL, NULL, NULL};
    ck_assert_int_eq(clerk_org_sync_must_activate(&slug, v2), 0);
    ck_assert_int_eq(clerk_org_sync_must_activate(&id, v2), 0);
    ck_assert_int_eq(clerk_org_sync_must_activate(&personal, v2), 1);
    ck_assert_int_eq(clerk_org_sync_must_activate(&slug, v1), 1);
    ck_assert_int_eq(clerk_org_sync_must_activate(&personal, v1), 1);
    ck_assert_int_eq(clerk_org_sync_must_activate(&slug, none), 1);
    ck_assert_int_eq(clerk_org_sync_must_activate(&personal, none), 0);
    ck_assert_int_eq(clerk_org_sync_must_activate(&personal, odd), 0);
    json_decref(v2);
    json_decref(v1);
    json_decref(none);
    json_decref(odd);
}
END_TEST

/* ---- satellites --------------------------------------------------------------------------- */

START_TEST(production_satellite_without_cookies_is_signed_out_unless_auto_sync)
{
    cfg.is_satellite = 1;
    cfg.domain = "sat.example.org";
    cfg.sign_in_url = "https://primary.example.com/sign-in";
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_AND_UAT_MISSING);
    ck_assert_ptr_null(st.location);
    cfg.satellite_auto_sync = 1;
    st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_SATELLITE_NEEDS_SYNCING);
    ck_assert_str_eq(st.location,
                     "https://clerk.sat.example.org/v1/client/handshake?redirect_url=https%3A%2F%2F"
                     "sat.example.org%2Fpage&__clerk_api_version=" CLERK_HANDSHAKE_API_VERSION
                     "&suffixed_cookies=false&__clerk_hs_reason=satellite-needs-syncing&format="
                     "nonce");
    /* __clerk_synced=true: the sync is done, the cookie rules decide */
    req.url.query = "__clerk_synced=true";
    st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_AND_UAT_MISSING);
    /* only GET navigations with Sec-Fetch-Dest document */
    req.url.query = NULL;
    req.sec_fetch_dest = "iframe";
    st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_AND_UAT_MISSING);
}
END_TEST

START_TEST(satellite_with_cookies_syncs_only_when_asked)
{
    cfg.is_satellite = 1;
    cfg.domain = "sat.example.org";
    /* a production satellite's own tokens are issued by clerk.<domain> (the SDK's
     * originalFrontendApi): the primary's in un-suffixed cookies are another instance's */
    req.cookie = cookies_for(token("https://clerk.example.com", NULL));
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_AND_UAT_MISSING);
    ck_assert_int_eq(st.suffixed_cookies, 1);
    req.cookie = cookies_for(token("https://clerk.sat.example.org", NULL));
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    req.url.query = "__clerk_synced=false";
    st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_SATELLITE_NEEDS_SYNCING);
    ck_assert_ptr_nonnull(strstr(st.location, "&__session="));
    /* a satellite never answers for a primary, nor syncs a cross-origin referrer */
    req.url.query = NULL;
    req.referer = "https://elsewhere.example.net/";
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
}
END_TEST

START_TEST(development_satellite_goes_to_the_primary_sign_in)
{
    cfg.pk = test_pk;
    cfg.is_satellite = 1;
    cfg.domain = "sat.example.org";
    cfg.sign_in_url = "https://primary.example.com/sign-in?a=b%20c#top";
    req.url.query = "__clerk_synced=false&x=1";
    clerk_state st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_SATELLITE_NEEDS_SYNCING);
    ck_assert_str_eq(st.location,
                     "https://primary.example.com/sign-in?a=b+c&__clerk_redirect_url=https%3A%2F%2F"
                     "sat.example.org%2Fpage%3F__clerk_synced%3Dfalse%26x%3D1#top");
    ck_assert_int_eq(st.set_cookies->nelts, 1);
    /* a development satellite never answers __clerk_redirect_url as a primary does */
    req.url.query = "__clerk_redirect_url=https%3A%2F%2Fsat.example.org%2F&__clerk_synced=true";
    req.cookie = "__clerk_db_jwt=dvb_1";
    st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SESSION_TOKEN_AND_UAT_MISSING);
    /* the loop guard still stops it */
    req.url.query = "__clerk_synced=false";
    req.cookie = "__clerk_redirect_count=3";
    st = decide();
    assert_state(&st, CLERK_SIGNED_OUT, CLERK_R_SATELLITE_NEEDS_SYNCING);
    ck_assert_ptr_nonnull(strstr(last_log, "Satellite-domain authentication"));
}
END_TEST

/* ---- proxy URL ---------------------------------------------------------------------------- */

START_TEST(proxy_url_is_the_handshake_target_relative_or_absolute)
{
    req.cookie = apr_psprintf(pool, "__client_uat=%ld", NOW_S - 10);
    cfg.proxy_url = "/__clerk";
    clerk_state st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_CLIENT_UAT_BUT_NO_SESSION_TOKEN);
    ck_assert_ptr_nonnull(
        strstr(st.location, "https://sat.example.org/__clerk/v1/client/handshake?"));
    req.url.xf_host = "public.example.org";
    req.url.xf_proto = "https";
    req.url.trust_forwarded = 1;
    st = decide();
    ck_assert_ptr_nonnull(
        strstr(st.location, "https://public.example.org/__clerk/v1/client/handshake?"));
    cfg.proxy_url = "https://proxy.example.net/clerk/";
    st = decide();
    ck_assert_ptr_nonnull(
        strstr(st.location, "https://proxy.example.net/clerk/v1/client/handshake?"));
    /* the proxy wins over a satellite's clerk.<domain> */
    cfg.is_satellite = 1;
    cfg.domain = "sat.example.org";
    req.url.query = "__clerk_synced=false";
    st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_SATELLITE_NEEDS_SYNCING);
    ck_assert_ptr_nonnull(
        strstr(st.location, "https://proxy.example.net/clerk/v1/client/handshake?"));
}
END_TEST

START_TEST(proxy_host_referrer_is_a_known_clerk_referrer)
{
    cfg.proxy_url = "https://proxy.example.net/clerk";
    req.cookie = cookies_for(token("https://clerk.example.com", ",\"azp\":\"https://x\""));
    req.referer = "https://proxy.example.net/v1/x";
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    req.referer = "https://clerk.example.com/";
    st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_PRIMARY_DOMAIN_CROSS_ORIGIN_SYNC);
}
END_TEST

/* ---- organization sync -------------------------------------------------------------------- */

START_TEST(org_mismatch_on_a_navigation_is_a_handshake_with_the_organization)
{
    static const char *const orgs[] = {"/orgs/:slug", "/orgs/:slug/(.*)"};
    static const char *const me[] = {"/me"};
    clerk_org_sync os = {compile(orgs, 2), compile(me, 1)};
    cfg.org_sync = &os;
    req.cookie = cookies_for(token("https://clerk.example.com", ",\"v\":2,\"o\":{\"id\":\"org_1\","
                                                                "\"slg\":\"acme\"}"));
    req.url.path = "/orgs/acme/settings";
    clerk_state st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    req.url.path = "/orgs/beta";
    st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_ACTIVE_ORGANIZATION_MISMATCH);
    size_t n = strlen(st.location);
    ck_assert_str_eq(st.location + n - strlen("&organization_id=beta"), "&organization_id=beta");
    req.url.path = "/me";
    st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_ACTIVE_ORGANIZATION_MISMATCH);
    ck_assert_str_eq(st.location + strlen(st.location) - 17, "&organization_id=");
    /* API requests are not redirected: still signed in */
    req.sec_fetch_dest = "empty";
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    /* after 3 handshakes, signed in, with the SDK's warning */
    req.sec_fetch_dest = "document";
    req.cookie = apr_pstrcat(pool, req.cookie, "; __clerk_redirect_count=3", NULL);
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
    ck_assert_ptr_nonnull(strstr(last_log, "Organization activation handshake loop"));
    /* with handshakes off, the URL is not followed either */
    req.cookie = cookies_for(token("https://clerk.example.com", NULL));
    cfg.handshake_off = 1;
    req.url.path = "/orgs/beta";
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
}
END_TEST

START_TEST(every_handshake_on_an_org_url_names_the_organization)
{
    static const char *const orgs[] = {"/orgs/:id"};
    clerk_org_sync os = {compile(orgs, 1), NULL};
    cfg.org_sync = &os;
    req.url.path = "/orgs/org_7";
    req.cookie = apr_psprintf(pool, "__client_uat=%ld", NOW_S - 10);
    clerk_state st = decide();
    assert_state(&st, CLERK_HANDSHAKE, CLERK_R_CLIENT_UAT_BUT_NO_SESSION_TOKEN);
    ck_assert_str_eq(st.location + strlen(st.location) - 22, "&organization_id=org_7");
    /* a header token is never sent to activate an organization */
    req.cookie = NULL;
    req.authorization =
        apr_pstrcat(pool, "Bearer ", token("https://clerk.example.com", NULL), NULL);
    st = decide();
    assert_state(&st, CLERK_SIGNED_IN, CLERK_R_NONE);
}
END_TEST

Suite *multidomain_suite(void)
{
    Suite *s = suite_create("multidomain");
    TCase *tc = tcase_create("patterns");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_unchecked_fixture(tc, make_key, free_key);
    tcase_add_test(tc, patterns_match_as_path_to_regexp);
    tcase_add_test(tc, patterns_refuse_unsupported_syntax);
    tcase_add_test(tc, patterns_cost_is_linear);
    tcase_add_test(tc, org_targets_and_must_activate);
    suite_add_tcase(s, tc);
    tc = tcase_create("decisions");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_unchecked_fixture(tc, make_key, free_key);
    tcase_add_test(tc, production_satellite_without_cookies_is_signed_out_unless_auto_sync);
    tcase_add_test(tc, satellite_with_cookies_syncs_only_when_asked);
    tcase_add_test(tc, development_satellite_goes_to_the_primary_sign_in);
    tcase_add_test(tc, proxy_url_is_the_handshake_target_relative_or_absolute);
    tcase_add_test(tc, proxy_host_referrer_is_a_known_clerk_referrer);
    tcase_add_test(tc, org_mismatch_on_a_navigation_is_a_handshake_with_the_organization);
    tcase_add_test(tc, every_handshake_on_an_org_url_names_the_organization);
    suite_add_tcase(s, tc);
    return s;
}
