/* The Frontend API proxy's rules against @clerk/backend proxy.ts: target from the publishable
 * key's host, path matching, hop-by-hop headers, forwarded headers and client IP, Location. */
#include <string.h>
#include <apr_strings.h>
#include "fapi_proxy.h"
#include "unit.h"

static apr_pool_t *pool;

static void setup(void)
{
    apr_pool_create(&pool, NULL);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

START_TEST(target_follows_fapiUrlFromPublishableKey)
{
    ck_assert_str_eq(clerk_fapi_proxy_default_target("clerk.example.com"),
                     "https://frontend-api.clerk.dev");
    ck_assert_str_eq(clerk_fapi_proxy_default_target("happy-hippo-1.clerk.accounts.dev"),
                     "https://frontend-api.clerk.dev");
    ck_assert_str_eq(clerk_fapi_proxy_default_target("foo-bar-13.accountsstage.dev"),
                     "https://frontend-api.clerkstage.dev");
    ck_assert_str_eq(clerk_fapi_proxy_default_target("foo.accounts.lclclerk.com"),
                     "https://frontend-api.lclclerk.com");
    ck_assert_str_eq(clerk_fapi_proxy_default_target("foo.lcl.dev"),
                     "https://frontend-api.lclclerk.com");
    /* The SDK's "lclstage.dev" has no leading dot. */
    ck_assert_str_eq(clerk_fapi_proxy_default_target("foolclstage.dev"),
                     "https://frontend-api.lclclerk.com");
    /* Legacy development instances ("clerk." + a local suffix) go to production. */
    ck_assert_str_eq(clerk_fapi_proxy_default_target("clerk.foo.lcl.dev"),
                     "https://frontend-api.clerk.dev");
}
END_TEST

START_TEST(proxy_path_is_normalized_or_refused)
{
    clerk_error err = {0};
    ck_assert_str_eq(clerk_fapi_proxy_path(pool, "/__clerk", &err), "/__clerk");
    ck_assert_str_eq(clerk_fapi_proxy_path(pool, "/__clerk//", &err), "/__clerk");
    ck_assert_ptr_null(clerk_fapi_proxy_path(pool, "/", &err));
    ck_assert_ptr_nonnull(strstr(err.message, "whole site"));
    ck_assert_ptr_null(clerk_fapi_proxy_path(pool, "__clerk", &err));
    ck_assert_ptr_null(clerk_fapi_proxy_path(pool, "/__clerk?x=1", &err));
    ck_assert_ptr_null(clerk_fapi_proxy_path(pool, "/__cl erk", &err));
}
END_TEST

START_TEST(target_url_is_normalized_or_refused)
{
    clerk_error err = {0};
    ck_assert_str_eq(clerk_fapi_proxy_target(pool, "http://127.0.0.1:8080/", &err),
                     "http://127.0.0.1:8080");
    ck_assert_str_eq(clerk_fapi_proxy_target(pool, "https://fapi.example/v/", &err),
                     "https://fapi.example/v");
    ck_assert_ptr_null(clerk_fapi_proxy_target(pool, "ftp://x.example", &err));
    ck_assert_ptr_null(clerk_fapi_proxy_target(pool, "https://u:p@x.example", &err));
    ck_assert_ptr_nonnull(strstr(err.message, "credentials"));
    ck_assert_ptr_null(strstr(err.message, "u:p"));
    ck_assert_ptr_null(clerk_fapi_proxy_target(pool, "https://x.example/?a=1", &err));
    ck_assert_ptr_null(clerk_fapi_proxy_target(pool, "https://x.example/#f", &err));
}
END_TEST

START_TEST(subpath_matches_prefix_and_below_only)
{
    ck_assert_str_eq(clerk_fapi_proxy_subpath("/__clerk", "/__clerk"), "/");
    ck_assert_str_eq(clerk_fapi_proxy_subpath("/__clerk", "/__clerk/"), "/");
    ck_assert_str_eq(clerk_fapi_proxy_subpath("/__clerk", "/__clerk/v1/client"), "/v1/client");
    ck_assert_ptr_null(clerk_fapi_proxy_subpath("/__clerk", "/__clerkx"));
    ck_assert_ptr_null(clerk_fapi_proxy_subpath("/__clerk", "/__cler"));
    ck_assert_ptr_null(clerk_fapi_proxy_subpath("/__clerk", "/app/__clerk/x"));
    ck_assert_ptr_null(clerk_fapi_proxy_subpath("/__clerk", NULL));
}
END_TEST

START_TEST(hop_by_hop_static_and_connection_listed)
{
    const char *names[] = {"Connection", "keep-alive", "Proxy-Authenticate", "Proxy-Authorization",
                           "TE",         "Trailer",    "Transfer-Encoding",  "Upgrade"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        ck_assert_int_eq(clerk_fapi_proxy_hop_by_hop(names[i], NULL), 1);
    ck_assert_int_eq(clerk_fapi_proxy_hop_by_hop("Cookie", NULL), 0);
    ck_assert_int_eq(clerk_fapi_proxy_hop_by_hop("X-Drop", "keep-alive,  x-drop , Other"), 1);
    ck_assert_int_eq(clerk_fapi_proxy_hop_by_hop("other", "keep-alive,  x-drop , Other"), 1);
    ck_assert_int_eq(clerk_fapi_proxy_hop_by_hop("X-Dro", "keep-alive, x-drop"), 0);
    ck_assert_int_eq(clerk_fapi_proxy_hop_by_hop("Cookie", ",,"), 0);
}
END_TEST

static clerk_fapi_proxy_in base_in(void)
{
    clerk_fapi_proxy_in in = {0};
    in.conn_scheme = "http";
    in.host = "app.example:8080";
    in.peer_ip = "192.0.2.7";
    in.prefix = "/__clerk";
    return in;
}

START_TEST(untrusted_forwarding_uses_the_connection)
{
    clerk_fapi_proxy_in in = base_in();
    clerk_fapi_proxy_out out;
    in.xf_host = "evil.example";
    in.xf_proto = "https";
    in.cf_connecting_ip = "203.0.113.1";
    in.x_real_ip = "203.0.113.2";
    in.xff = "203.0.113.3, 10.0.0.1";
    clerk_fapi_proxy_forwarding(pool, &in, &out);
    ck_assert_str_eq(out.proxy_url, "http://app.example:8080/__clerk");
    ck_assert_str_eq(out.xf_host, "app.example:8080");
    ck_assert_str_eq(out.xf_proto, "http");
    ck_assert_str_eq(out.xff, "192.0.2.7");
    ck_assert_int_eq(out.drop_client_ip_claims, 1);
}
END_TEST

START_TEST(trusted_forwarding_follows_getClientIp)
{
    clerk_fapi_proxy_in in = base_in();
    clerk_fapi_proxy_out out;
    in.trust_forwarded = 1;
    in.xff = " 203.0.113.3 , 10.0.0.1";
    clerk_fapi_proxy_forwarding(pool, &in, &out);
    ck_assert_str_eq(out.xff, "203.0.113.3");
    ck_assert_str_eq(out.xf_host, "app.example:8080"); /* absent: set */
    ck_assert_str_eq(out.xf_proto, "http");
    in.x_real_ip = "203.0.113.2";
    clerk_fapi_proxy_forwarding(pool, &in, &out);
    ck_assert_str_eq(out.xff, "203.0.113.2");
    in.cf_connecting_ip = "203.0.113.1";
    in.xf_host = "app.example";
    in.xf_proto = "https";
    clerk_fapi_proxy_forwarding(pool, &in, &out);
    ck_assert_str_eq(out.xff, "203.0.113.1");
    ck_assert_str_eq(out.proxy_url, "https://app.example/__clerk");
    ck_assert_ptr_null(out.xf_host); /* present: kept */
    ck_assert_ptr_null(out.xf_proto);
    ck_assert_int_eq(out.drop_client_ip_claims, 0);
    /* derivePublicOrigin wants both forwarded headers; one alone is ignored. */
    in.xf_proto = NULL;
    clerk_fapi_proxy_forwarding(pool, &in, &out);
    ck_assert_str_eq(out.proxy_url, "http://app.example:8080/__clerk");
    ck_assert_str_eq(out.xf_proto, "http");
    ck_assert_ptr_null(out.xf_host);
    /* No usable client IP at all: no X-Forwarded-For, as the SDK. */
    clerk_fapi_proxy_in none = base_in();
    none.trust_forwarded = 1;
    none.xff = " , 10.0.0.1";
    clerk_fapi_proxy_forwarding(pool, &none, &out);
    ck_assert_ptr_null(out.xff);
}
END_TEST

START_TEST(location_on_fapi_host_is_rewritten)
{
    const char *t = "https://frontend-api.clerk.dev", *pu = "https://app.example/__clerk";
#define LOC(in) clerk_fapi_proxy_location(pool, in, t, pu)
    ck_assert_str_eq(LOC("https://frontend-api.clerk.dev/v1/x?a=1#f"),
                     "https://app.example/__clerk/v1/x?a=1#f");
    ck_assert_str_eq(LOC("https://FRONTEND-API.clerk.dev:443"), "https://app.example/__clerk/");
    /* The SDK compares hosts, not schemes. */
    ck_assert_str_eq(LOC("http://frontend-api.clerk.dev/a"), "https://app.example/__clerk/a");
    ck_assert_str_eq(LOC("http://frontend-api.clerk.dev:443/a"),
                     "http://frontend-api.clerk.dev:443/a");
    ck_assert_str_eq(LOC("//frontend-api.clerk.dev/b"), "https://app.example/__clerk/b");
    ck_assert_str_eq(LOC("/v1/y?"), "https://app.example/__clerk/v1/y");
    ck_assert_str_eq(LOC("z/../w"), "https://app.example/__clerk/w");
    ck_assert_str_eq(LOC("?q=1"), "https://app.example/__clerk/?q=1");
    /* Other hosts and non-URLs are left alone. */
    ck_assert_str_eq(LOC("https://accounts.example/sign-in"), "https://accounts.example/sign-in");
    ck_assert_str_eq(LOC("https://frontend-api.clerk.dev:8443/x"),
                     "https://frontend-api.clerk.dev:8443/x");
    ck_assert_str_eq(LOC("mailto:a@b.example"), "mailto:a@b.example");
#undef LOC
    ck_assert_str_eq(clerk_fapi_proxy_location(pool, "http://127.0.0.1:9/a/../b",
                                               "http://127.0.0.1:9", "http://localhost/__clerk"),
                     "http://localhost/__clerk/b");
    ck_assert_str_eq(
        clerk_fapi_proxy_location(pool, "x", "https://h.example/base/v1", "https://app.example/p"),
        "https://app.example/p/base/x");
}
END_TEST

START_TEST(location_odd_inputs_are_bounded_and_safe)
{
    const char *t = "https://frontend-api.clerk.dev", *pu = "https://app.example/__clerk";
    const char *odd[] = {"http://",
                         "//",
                         "https://[::1",
                         "https://frontend-api.clerk.dev:99999",
                         "#",
                         "?",
                         "",
                         "/..",
                         "../../..",
                         "a/./b/../../../c"};
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
        const char *out = clerk_fapi_proxy_location(pool, odd[i], t, pu);
        ck_assert_ptr_nonnull(out);
        /* Either unchanged, or under the proxy URL: never anywhere else. */
        ck_assert(strcmp(out, odd[i]) == 0 || strncmp(out, pu, strlen(pu)) == 0);
    }
    ck_assert_str_eq(clerk_fapi_proxy_location(pool, "../../..", t, pu),
                     "https://app.example/__clerk/");
    /* A long Location costs a small multiple of its length. */
    size_t n = 100000;
    char *longloc = apr_palloc(pool, n + 2);
    longloc[0] = '/';
    memset(longloc + 1, 'a', n);
    longloc[n + 1] = '\0';
    ck_assert_uint_eq(strlen(clerk_fapi_proxy_location(pool, longloc, t, pu)), strlen(pu) + n + 1);
}
END_TEST

START_TEST(secret_and_error_body)
{
    ck_assert_int_eq(clerk_fapi_proxy_leaks_secret("a sk_test_abc b", "sk_test_abc"), 1);
    ck_assert_int_eq(clerk_fapi_proxy_leaks_secret("sk_test_ab", "sk_test_abc"), 0);
    ck_assert_int_eq(clerk_fapi_proxy_leaks_secret("x", ""), 0);
    ck_assert_str_eq(
        clerk_fapi_proxy_error_body(pool, CLERK_FAPI_PROXY_REQUEST_FAILED, "a \"b\""),
        "{\"errors\":[{\"code\":\"proxy_request_failed\",\"message\":\"a \\\"b\\\"\"}]}");
}
END_TEST

Suite *fapi_proxy_suite(void)
{
    Suite *s = suite_create("fapi_proxy");
    TCase *tc = tcase_create("fapi_proxy");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, target_follows_fapiUrlFromPublishableKey);
    tcase_add_test(tc, proxy_path_is_normalized_or_refused);
    tcase_add_test(tc, target_url_is_normalized_or_refused);
    tcase_add_test(tc, subpath_matches_prefix_and_below_only);
    tcase_add_test(tc, hop_by_hop_static_and_connection_listed);
    tcase_add_test(tc, untrusted_forwarding_uses_the_connection);
    tcase_add_test(tc, trusted_forwarding_follows_getClientIp);
    tcase_add_test(tc, location_on_fapi_host_is_rewritten);
    tcase_add_test(tc, location_odd_inputs_are_bounded_and_safe);
    tcase_add_test(tc, secret_and_error_body);
    suite_add_tcase(s, tc);
    return s;
}
