/* Publishable key parsing (@clerk/shared keys.ts parsePublishableKey), cookie suffix vectors
 * (getCookieSuffix), secret key form. */
#include <string.h>
#include <apr_pools.h>
#include "unit.h"
#include "publishable_key.h"

static apr_pool_t *pool;

static void setup(void)
{
    apr_pool_create(&pool, NULL);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

static const char *parse_err(const char *s)
{
    static clerk_error err;
    clerk_publishable_key *pk = (void *)1;
    err.message[0] = '\0';
    ck_assert_int_eq(clerk_publishable_key_parse(pool, s, &pk, &err), -1);
    ck_assert_ptr_null(pk);
    return err.message;
}

START_TEST(cookie_suffix_matches_clerk_vectors)
{
    char out[9];
    clerk_cookie_suffix("pk_live_ZmFrZS1jbGVyay10ZXN0LmNsZXJrLmFjY291bnRzLmRldiQ=", out);
    ck_assert_str_eq(out, "qReyu04C");
    clerk_cookie_suffix("pk_test_Y2xlcmsuY2xlcmsuZGV2JA", out);
    ck_assert_str_eq(out, "QvfNY2dr");
    clerk_cookie_suffix("pk_test_ZW5vdWdoLWFscGFjYS04Mi5jbGVyay5hY2NvdW50cy5sY2xjbGVyay5jb20k",
                        out);
    ck_assert_str_eq(out, "jtYvyt_H");
}
END_TEST

START_TEST(live_key_with_padding_parses_to_host_and_suffix)
{
    clerk_publishable_key *pk = NULL;
    clerk_error err = {0};
    const char *k = "pk_live_ZmFrZS1jbGVyay10ZXN0LmNsZXJrLmFjY291bnRzLmRldiQ=";
    ck_assert_int_eq(clerk_publishable_key_parse(pool, k, &pk, &err), 0);
    ck_assert_str_eq(pk->fapi_host, "fake-clerk-test.clerk.accounts.dev");
    ck_assert_int_eq(pk->production, 1);
    ck_assert_str_eq(pk->suffix, "qReyu04C");
    ck_assert_str_eq(pk->key, k);
}
END_TEST

START_TEST(test_key_without_padding_is_development)
{
    clerk_publishable_key *pk = NULL;
    clerk_error err = {0};
    ck_assert_int_eq(clerk_publishable_key_parse(pool, "pk_test_Y2xlcmsuY2xlcmsuZGV2JA", &pk, &err),
                     0);
    ck_assert_str_eq(pk->fapi_host, "clerk.clerk.dev");
    ck_assert_int_eq(pk->production, 0);
    ck_assert_str_eq(pk->suffix, "QvfNY2dr");
}
END_TEST

START_TEST(wrong_prefix_is_refused)
{
    ck_assert_str_eq(parse_err("pk_prod_Y2xlcmsuY2xlcmsuZGV2JA"),
                     "publishable key must start with pk_live_ or pk_test_");
    parse_err("sk_test_Y2xlcmsuY2xlcmsuZGV2JA");
    parse_err("PK_TEST_Y2xlcmsuY2xlcmsuZGV2JA");
    ck_assert_str_eq(parse_err(""), "publishable key is empty");
    parse_err(NULL);
}
END_TEST

START_TEST(extra_underscore_part_is_refused)
{
    ck_assert_str_eq(parse_err("pk_test_Y2xlcmsuY2xlcmsuZGV2JA_x"),
                     "publishable key must have exactly three '_'-separated parts");
}
END_TEST

START_TEST(invalid_base64_is_refused)
{
    const char *m = "publishable key's third part is not valid base64";
    ck_assert_str_eq(parse_err("pk_test_Y2xlcmsuY2xlcmsuZGV2J"), m);   /* 1 mod 4 */
    ck_assert_str_eq(parse_err("pk_test_Y2xlcmsuY2xlcmsuZGV2JA-"), m); /* url alphabet */
    ck_assert_str_eq(parse_err("pk_test_Y2xlcmsuY2xlcmsuZGV2JA="), m); /* '=' not at %4 end */
    ck_assert_str_eq(parse_err("pk_test_Y2xl cmsuY2xlcmsuZGV2JA"), m); /* space */
}
END_TEST

START_TEST(decoded_value_must_end_with_single_dollar_and_hold_a_dot)
{
    /* "clerk.clerk.dev" without '$' */
    ck_assert_str_eq(parse_err("pk_test_Y2xlcmsuY2xlcmsuZGV2"),
                     "publishable key does not decode to a Frontend API host ending in '$'");
    /* "a$b.dev$" */
    ck_assert_str_eq(parse_err("pk_test_YSRiLmRldiQ"),
                     "publishable key's decoded host contains '$'");
    /* "localhost$" */
    ck_assert_str_eq(parse_err("pk_test_bG9jYWxob3N0JA"),
                     "publishable key's decoded host has no '.'");
    /* "" */
    parse_err("pk_test_");
}
END_TEST

START_TEST(decoded_host_with_control_bytes_is_refused)
{
    /* "a.b\r\nx$" */
    ck_assert_str_eq(parse_err("pk_test_YS5iDQp4JA"),
                     "publishable key's decoded host has a non-printable character");
}
END_TEST

START_TEST(secret_key_forms)
{
    clerk_error err = {0};
    ck_assert_int_eq(clerk_secret_key_check("sk_live_abc123", &err), 0);
    ck_assert_int_eq(clerk_secret_key_check("sk_test_abc123", &err), 0);
    ck_assert_int_eq(clerk_secret_key_check("test_legacy", &err), 0);
    ck_assert_int_eq(clerk_secret_key_check("live_legacy", &err), 0);
    ck_assert_int_eq(clerk_secret_key_check("pk_test_abc", &err), -1);
    ck_assert_str_eq(err.message, "secret key must start with sk_live_ or sk_test_");
    ck_assert_int_eq(clerk_secret_key_check("sk_test_", &err), -1);
    ck_assert_str_eq(err.message, "secret key has nothing after its prefix");
    ck_assert_int_eq(clerk_secret_key_check("sk_test_secret value", &err), -1);
    ck_assert_str_eq(err.message, "secret key contains whitespace or a non-printable character");
    ck_assert_ptr_null(strstr(err.message, "secret value"));
    ck_assert_int_eq(clerk_secret_key_check(NULL, &err), -1);
}
END_TEST

Suite *publishable_key_suite(void)
{
    Suite *s = suite_create("publishable_key");
    TCase *tc = tcase_create("publishable_key");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, cookie_suffix_matches_clerk_vectors);
    tcase_add_test(tc, live_key_with_padding_parses_to_host_and_suffix);
    tcase_add_test(tc, test_key_without_padding_is_development);
    tcase_add_test(tc, wrong_prefix_is_refused);
    tcase_add_test(tc, extra_underscore_part_is_refused);
    tcase_add_test(tc, invalid_base64_is_refused);
    tcase_add_test(tc, decoded_value_must_end_with_single_dollar_and_hold_a_dot);
    tcase_add_test(tc, decoded_host_with_control_bytes_is_refused);
    tcase_add_test(tc, secret_key_forms);
    suite_add_tcase(s, tc);
    return s;
}
