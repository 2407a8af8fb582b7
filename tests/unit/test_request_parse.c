/* Authorization header (tokens/authenticateContext.ts parseAuthorizationHeader), Cookie header (the
 * bundled `cookie` package) and URL helpers (tokens/clerkRequest.ts, docs/design.md#public-url). */
#include <stdio.h>
#include <string.h>
#include <apr_pools.h>
#include "unit.h"
#include "authorization.h"
#include "cookies.h"
#include "url.h"

static apr_pool_t *pool;

static void setup(void)
{
    apr_pool_create(&pool, NULL);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

/* ---- Authorization ---- */

START_TEST(bearer_scheme_gives_second_piece)
{
    ck_assert_str_eq(clerk_authorization_token(pool, "Bearer abc.def.ghi"), "abc.def.ghi");
}
END_TEST

START_TEST(bearer_with_extra_pieces_keeps_only_the_first_token)
{
    ck_assert_str_eq(clerk_authorization_token(pool, "Bearer a b"), "a");
}
END_TEST

START_TEST(value_without_space_is_a_raw_token)
{
    ck_assert_str_eq(clerk_authorization_token(pool, "abc.def.ghi"), "abc.def.ghi");
    ck_assert_str_eq(clerk_authorization_token(pool, "Bearer"), "Bearer");
}
END_TEST

START_TEST(lowercase_bearer_and_other_schemes_are_ignored)
{
    ck_assert_ptr_null(clerk_authorization_token(pool, "bearer abc"));
    ck_assert_ptr_null(clerk_authorization_token(pool, "Basic dXNlcjpwYXNz"));
    ck_assert_ptr_null(clerk_authorization_token(pool, "BEARER abc"));
    ck_assert_ptr_null(clerk_authorization_token(pool, " abc"));
}
END_TEST

START_TEST(bearer_with_two_spaces_makes_bearer_the_token)
{
    /* split(' ', 2) gives ["Bearer", ""]: no second piece, so the whole first piece is used */
    ck_assert_str_eq(clerk_authorization_token(pool, "Bearer  abc"), "Bearer");
    ck_assert_str_eq(clerk_authorization_token(pool, "abc "), "abc");
}
END_TEST

START_TEST(missing_or_empty_header_gives_no_token)
{
    ck_assert_ptr_null(clerk_authorization_token(pool, NULL));
    ck_assert_ptr_null(clerk_authorization_token(pool, ""));
    /* " " splits to ["", ""]: the empty first piece is returned, which callers treat as none */
    ck_assert_str_eq(clerk_authorization_token(pool, " "), "");
}
END_TEST

/* ---- Cookies ---- */

START_TEST(cookies_split_trimmed_and_first_occurrence_wins)
{
    apr_table_t *t = clerk_cookies_parse(pool, " a = 1 ;b=2;\ta=3; c=", NULL);
    ck_assert_str_eq(clerk_cookie_get(t, "a"), "1");
    ck_assert_str_eq(clerk_cookie_get(t, "b"), "2");
    ck_assert_str_eq(clerk_cookie_get(t, "c"), "");
    ck_assert_ptr_null(clerk_cookie_get(t, "d"));
    ck_assert_str_eq(apr_table_get(t, "a"), "1");
}
END_TEST

START_TEST(cookie_names_are_case_sensitive)
{
    apr_table_t *t = clerk_cookies_parse(pool, "__SESSION=upper; __session=lower", NULL);
    ck_assert_str_eq(clerk_cookie_get(t, "__session"), "lower");
    ck_assert_str_eq(clerk_cookie_get(t, "__SESSION"), "upper");
}
END_TEST

/* The npm `cookie` 1.x parser in @clerk/backend keeps them, so a quoted __session is not a JWT
 * there: stripping them would accept what the SDK denies. */
START_TEST(quoted_cookie_value_keeps_its_quotes)
{
    apr_table_t *t =
        clerk_cookies_parse(pool, "a=\"quoted value\"; b=\"; c=\"x; d= \"%41\" ; e=\"\"", NULL);
    ck_assert_str_eq(clerk_cookie_get(t, "a"), "\"quoted value\"");
    ck_assert_str_eq(clerk_cookie_get(t, "b"), "\"");
    ck_assert_str_eq(clerk_cookie_get(t, "c"), "\"x");
    ck_assert_str_eq(clerk_cookie_get(t, "d"), "\"A\""); /* trimmed and decoded, quotes kept */
    ck_assert_str_eq(clerk_cookie_get(t, "e"), "\"\"");
}
END_TEST

START_TEST(percent_encoded_value_is_decoded)
{
    apr_table_t *t = clerk_cookies_parse(pool, "a=x%20y%3Dz; b=%C3%A9", NULL);
    ck_assert_str_eq(clerk_cookie_get(t, "a"), "x y=z");
    ck_assert_str_eq(clerk_cookie_get(t, "b"), "\xc3\xa9");
}
END_TEST

START_TEST(malformed_percent_leaves_value_raw)
{
    apr_table_t *t = clerk_cookies_parse(pool, "a=100%; b=%zz; c=%FF; d=%00x; e=%E9", NULL);
    ck_assert_str_eq(clerk_cookie_get(t, "a"), "100%");
    ck_assert_str_eq(clerk_cookie_get(t, "b"), "%zz");
    ck_assert_str_eq(clerk_cookie_get(t, "c"), "%FF"); /* not UTF-8: URIError in JS */
    ck_assert_str_eq(clerk_cookie_get(t, "d"), "%00x");
    ck_assert_str_eq(clerk_cookie_get(t, "e"), "%E9");
}
END_TEST

START_TEST(segment_without_equals_is_skipped)
{
    apr_table_t *t = clerk_cookies_parse(pool, "junk; a=1; more junk ; b=2;tail", NULL);
    ck_assert_str_eq(clerk_cookie_get(t, "a"), "1");
    ck_assert_str_eq(clerk_cookie_get(t, "b"), "2");
    ck_assert_ptr_null(clerk_cookie_get(t, "junk"));
    ck_assert_ptr_null(clerk_cookie_get(t, "tail"));
    ck_assert_int_eq(apr_table_elts(t)->nelts, 2);
}
END_TEST

START_TEST(value_keeps_later_equals_signs)
{
    apr_table_t *t = clerk_cookies_parse(pool, "a=b=c", NULL);
    ck_assert_str_eq(clerk_cookie_get(t, "a"), "b=c");
}
END_TEST

START_TEST(null_short_and_empty_headers_give_empty_table)
{
    ck_assert_int_eq(apr_table_elts(clerk_cookies_parse(pool, NULL, NULL))->nelts, 0);
    ck_assert_int_eq(apr_table_elts(clerk_cookies_parse(pool, "", NULL))->nelts, 0);
    ck_assert_int_eq(apr_table_elts(clerk_cookies_parse(pool, "=", NULL))->nelts, 0);
    ck_assert_ptr_null(clerk_cookie_get(NULL, "a"));
}
END_TEST

static const char *const clerk_prefixes[] = {"__session", "__client_uat", "__clerk_", NULL};

START_TEST(cookie_count_is_bounded)
{
    char *h = apr_palloc(pool, 400 * 24);
    size_t o = 0;
    for (int i = 0; i < 400; i++)
        o += (size_t)sprintf(h + o, "__clerk_c%d=v; ", i);
    apr_table_t *t = clerk_cookies_parse(pool, h, clerk_prefixes);
    ck_assert_int_eq(apr_table_elts(t)->nelts, CLERK_COOKIES_MAX);
    ck_assert_str_eq(clerk_cookie_get(t, "__clerk_c0"), "v");
    ck_assert_ptr_null(clerk_cookie_get(t, "__clerk_c399"));
}
END_TEST

/* A site with hundreds of its own cookies still signs in: only Clerk's names are stored. */
START_TEST(session_after_many_site_cookies_is_found)
{
    char *h = apr_palloc(pool, 2000 * 16 + 64);
    size_t o = 0;
    for (int i = 0; i < 2000; i++)
        o += (size_t)sprintf(h + o, "site%d=v; ", i);
    strcpy(h + o, "__client_uat_abc=9; __session=tok");
    apr_table_t *t = clerk_cookies_parse(pool, h, clerk_prefixes);
    ck_assert_int_eq(apr_table_elts(t)->nelts, 2);
    ck_assert_str_eq(clerk_cookie_get(t, "__session"), "tok");
    ck_assert_str_eq(clerk_cookie_get(t, "__client_uat_abc"), "9");
    ck_assert_ptr_null(clerk_cookie_get(t, "site0"));
}
END_TEST

START_TEST(many_duplicates_keep_the_first_and_read_on)
{
    char *h = apr_palloc(pool, 5000 * 4 + 16);
    size_t o = 0;
    for (int i = 0; i < 5000; i++)
        o += (size_t)sprintf(h + o, "a=%d;", i % 10);
    strcpy(h + o, "b=2");
    apr_table_t *t = clerk_cookies_parse(pool, h, NULL);
    ck_assert_int_eq(apr_table_elts(t)->nelts, 2);
    ck_assert_str_eq(clerk_cookie_get(t, "a"), "0");
    ck_assert_str_eq(clerk_cookie_get(t, "b"), "2");
}
END_TEST

/* ---- URL ---- */

static clerk_url_in url_in(void)
{
    clerk_url_in in = {.conn_scheme = "http", .host = "app.example.com", .path = "/p"};
    return in;
}

START_TEST(public_origin_ignores_forwarded_headers_unless_trusted)
{
    clerk_url_in in = url_in();
    in.xf_host = "evil.example";
    in.xf_proto = "https";
    ck_assert_str_eq(clerk_public_origin(pool, &in), "http://app.example.com");
    in.trust_forwarded = 1;
    ck_assert_str_eq(clerk_public_origin(pool, &in), "https://evil.example");
}
END_TEST

START_TEST(public_origin_takes_first_forwarded_values)
{
    clerk_url_in in = url_in();
    in.trust_forwarded = 1;
    in.xf_host = " front.example.com , inner.local";
    in.xf_proto = "https, http";
    ck_assert_str_eq(clerk_public_origin(pool, &in), "https://front.example.com");
}
END_TEST

START_TEST(cloudfront_proto_wins_over_x_forwarded_proto)
{
    clerk_url_in in = url_in();
    in.trust_forwarded = 1;
    in.cf_proto = "https";
    in.xf_proto = "http";
    ck_assert_str_eq(clerk_public_origin(pool, &in), "https://app.example.com");
    in.cf_proto = "gopher"; /* not a web scheme: next source */
    in.xf_proto = "HTTPS";
    ck_assert_str_eq(clerk_public_origin(pool, &in), "https://app.example.com");
}
END_TEST

START_TEST(public_origin_normalises_case_and_default_port)
{
    clerk_url_in in = url_in();
    in.conn_scheme = "https";
    in.host = "App.Example.COM:443";
    ck_assert_str_eq(clerk_public_origin(pool, &in), "https://app.example.com");
    in.host = "app.example.com:8443";
    ck_assert_str_eq(clerk_public_origin(pool, &in), "https://app.example.com:8443");
}
END_TEST

START_TEST(malformed_host_is_not_used)
{
    clerk_url_in in = url_in();
    in.trust_forwarded = 1;
    in.xf_host = "evil.example/path";
    ck_assert_str_eq(clerk_public_origin(pool, &in), "http://app.example.com");
    in.xf_host = NULL;
    in.host = "bad host\r\n";
    ck_assert_str_eq(clerk_public_origin(pool, &in), "http://localhost");
}
END_TEST

START_TEST(public_url_appends_path_and_query)
{
    clerk_url_in in = url_in();
    ck_assert_str_eq(clerk_public_url(pool, &in), "http://app.example.com/p");
    in.query = "a=1&b=2";
    ck_assert_str_eq(clerk_public_url(pool, &in), "http://app.example.com/p?a=1&b=2");
    in.query = "";
    in.path = NULL;
    ck_assert_str_eq(clerk_public_url(pool, &in), "http://app.example.com/");
}
END_TEST

START_TEST(query_get_decodes_and_takes_first)
{
    const char *q = "a=1&b=x+y%21&a=2&flag&c%5Fd=e&empty=";
    ck_assert_str_eq(clerk_query_get(pool, q, "a"), "1");
    ck_assert_str_eq(clerk_query_get(pool, q, "b"), "x y!");
    ck_assert_str_eq(clerk_query_get(pool, q, "flag"), "");
    ck_assert_str_eq(clerk_query_get(pool, q, "c_d"), "e");
    ck_assert_str_eq(clerk_query_get(pool, q, "empty"), "");
    ck_assert_ptr_null(clerk_query_get(pool, q, "zz"));
    ck_assert_ptr_null(clerk_query_get(pool, NULL, "a"));
    ck_assert_str_eq(clerk_query_get(pool, "p=%zz%4", "p"), "%zz%4");
}
END_TEST

START_TEST(strip_params_removes_every_named_parameter)
{
    const char *names[] = {"__clerk_db_jwt", "__dev_session", NULL};
    ck_assert_str_eq(clerk_url_strip_params(
                         pool, "https://a.com/p?x=1&__clerk_db_jwt=t&y=2&__dev_session=s", names),
                     "https://a.com/p?x=1&y=2");
    ck_assert_str_eq(clerk_url_strip_params(pool, "https://a.com/p?__clerk_db_jwt=t", names),
                     "https://a.com/p");
    ck_assert_str_eq(clerk_url_strip_params(pool, "https://a.com/p?%5F_clerk_db_jwt=t&k#f", names),
                     "https://a.com/p?k=#f"); /* URLSearchParams writes a bare name as "k=" */
    ck_assert_str_eq(clerk_url_strip_params(pool, "https://a.com/p", names), "https://a.com/p");
}
END_TEST

/* What logs and the status page show of a configured URL: no credentials, no query. */
START_TEST(redacted_url_hides_user_info_and_query)
{
    ck_assert_str_eq(clerk_url_redact(pool, "https://u:p@h.example:8443/a/jwks?token=s#f"),
                     "https://***@h.example:8443/a/jwks?***");
    ck_assert_str_eq(clerk_url_redact(pool, "https://h.example/jwks"), "https://h.example/jwks");
    ck_assert_str_eq(clerk_url_redact(pool, "https://h.example/p@th?x"),
                     "https://h.example/p@th?***");
    ck_assert_str_eq(clerk_url_redact(pool, "https://a@b:c@h.example#frag"),
                     "https://***@h.example");
    ck_assert_str_eq(clerk_url_redact(pool, "https://h.example?"), "https://h.example?***");
}
END_TEST

START_TEST(origin_of_absolute_urls)
{
    ck_assert_str_eq(clerk_url_origin(pool, "https://Sat.Example.com/x?y"),
                     "https://sat.example.com");
    ck_assert_str_eq(clerk_url_origin(pool, "HTTP://a.com:80/"), "http://a.com");
    ck_assert_str_eq(clerk_url_origin(pool, "https://a.com:0443"), "https://a.com");
    ck_assert_str_eq(clerk_url_origin(pool, "https://a.com:8443#f"), "https://a.com:8443");
    ck_assert_str_eq(clerk_url_origin(pool, "https://user:pw@a.com/"), "https://a.com");
    ck_assert_str_eq(clerk_url_origin(pool, "http://[::1]:8080/"), "http://[::1]:8080");
}
END_TEST

START_TEST(origin_of_invalid_urls_is_null)
{
    ck_assert_ptr_null(clerk_url_origin(pool, NULL));
    ck_assert_ptr_null(clerk_url_origin(pool, "/relative"));
    ck_assert_ptr_null(clerk_url_origin(pool, "ftp://a.com/"));
    ck_assert_ptr_null(clerk_url_origin(pool, "https:///path"));
    ck_assert_ptr_null(clerk_url_origin(pool, "https://a.com:99999/"));
    ck_assert_ptr_null(clerk_url_origin(pool, "https://a.com:8x/"));
    ck_assert_ptr_null(clerk_url_origin(pool, "https://a b.com/"));
    ck_assert_ptr_null(clerk_url_origin(pool, "javascript:alert(1)"));
}
END_TEST

START_TEST(url_encode_keeps_only_unreserved)
{
    ck_assert_str_eq(clerk_url_encode(pool, "https://a.com/p?x=1 &y=~_-."),
                     "https%3A%2F%2Fa.com%2Fp%3Fx%3D1%20%26y%3D~_-.");
    ck_assert_str_eq(clerk_url_encode(pool, "\xc3\xa9"), "%C3%A9");
    ck_assert_str_eq(clerk_url_encode(pool, NULL), "");
}
END_TEST

Suite *request_parse_suite(void)
{
    Suite *s = suite_create("request_parse");
    TCase *a = tcase_create("authorization");
    tcase_add_checked_fixture(a, setup, teardown);
    tcase_add_test(a, bearer_scheme_gives_second_piece);
    tcase_add_test(a, bearer_with_extra_pieces_keeps_only_the_first_token);
    tcase_add_test(a, value_without_space_is_a_raw_token);
    tcase_add_test(a, lowercase_bearer_and_other_schemes_are_ignored);
    tcase_add_test(a, bearer_with_two_spaces_makes_bearer_the_token);
    tcase_add_test(a, missing_or_empty_header_gives_no_token);
    suite_add_tcase(s, a);

    TCase *c = tcase_create("cookies");
    tcase_add_checked_fixture(c, setup, teardown);
    tcase_add_test(c, cookies_split_trimmed_and_first_occurrence_wins);
    tcase_add_test(c, cookie_names_are_case_sensitive);
    tcase_add_test(c, quoted_cookie_value_keeps_its_quotes);
    tcase_add_test(c, percent_encoded_value_is_decoded);
    tcase_add_test(c, malformed_percent_leaves_value_raw);
    tcase_add_test(c, segment_without_equals_is_skipped);
    tcase_add_test(c, value_keeps_later_equals_signs);
    tcase_add_test(c, null_short_and_empty_headers_give_empty_table);
    tcase_add_test(c, cookie_count_is_bounded);
    tcase_add_test(c, many_duplicates_keep_the_first_and_read_on);
    tcase_add_test(c, session_after_many_site_cookies_is_found);
    suite_add_tcase(s, c);

    TCase *u = tcase_create("url");
    tcase_add_checked_fixture(u, setup, teardown);
    tcase_add_test(u, public_origin_ignores_forwarded_headers_unless_trusted);
    tcase_add_test(u, public_origin_takes_first_forwarded_values);
    tcase_add_test(u, cloudfront_proto_wins_over_x_forwarded_proto);
    tcase_add_test(u, public_origin_normalises_case_and_default_port);
    tcase_add_test(u, malformed_host_is_not_used);
    tcase_add_test(u, public_url_appends_path_and_query);
    tcase_add_test(u, query_get_decodes_and_takes_first);
    tcase_add_test(u, strip_params_removes_every_named_parameter);
    tcase_add_test(u, origin_of_absolute_urls);
    tcase_add_test(u, redacted_url_hides_user_info_and_query);
    tcase_add_test(u, origin_of_invalid_urls_is_null);
    tcase_add_test(u, url_encode_keeps_only_unreserved);
    suite_add_tcase(s, u);
    return s;
}
