/* Header text (challenge, quoted strings, message header) and the REMOTE_USER claim choice,
 * moved from the glue into the core with their behaviour unchanged. */
#include <string.h>
#include <apr_strings.h>
#include <jansson.h>
#include "header_text.h"
#include "claims.h"
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

START_TEST(quoted_string_body_escapes_what_would_end_it)
{
    ck_assert_str_eq(clerk_quoted_string_body(pool, "plain realm"), "plain realm");
    ck_assert_str_eq(clerk_quoted_string_body(pool, "a\"b"), "a\\\"b");
    /* ap_escape_quotes' pairs are kept; a trailing lone backslash is doubled */
    ck_assert_str_eq(clerk_quoted_string_body(pool, "a\\\"b"), "a\\\"b");
    ck_assert_str_eq(clerk_quoted_string_body(pool, "a\\\\b"), "a\\\\b");
    ck_assert_str_eq(clerk_quoted_string_body(pool, "end\\"), "end\\\\");
    ck_assert_str_eq(clerk_quoted_string_body(pool, "a\r\n\tb\x7f"), "a   b ");
    /* a pair never hides a control byte */
    ck_assert_str_eq(clerk_quoted_string_body(pool, "a\\\nb"), "a\\ b");
}
END_TEST

START_TEST(quoted_string_body_reads_at_most_the_cap)
{
    char s[CLERK_HEADER_TEXT_MAX + 10];
    memset(s, 'x', sizeof(s) - 1);
    s[sizeof(s) - 1] = '\0';
    s[CLERK_HEADER_TEXT_MAX - 1] = '\\'; /* the last byte read: a lone backslash */
    const char *q = clerk_quoted_string_body(pool, s);
    ck_assert_uint_eq(strlen(q), CLERK_HEADER_TEXT_MAX + 1);
    ck_assert_str_eq(q + CLERK_HEADER_TEXT_MAX - 1, "\\\\");
}
END_TEST

START_TEST(bearer_challenge_names_the_error_only_when_given)
{
    ck_assert_str_eq(clerk_bearer_challenge(pool, "My \"App\"", NULL),
                     "Bearer realm=\"My \\\"App\\\"\"");
    ck_assert_str_eq(clerk_bearer_challenge(pool, "r", "token-expired"),
                     "Bearer realm=\"r\", error=\"invalid_token\", "
                     "error_description=\"token-expired\"");
    ck_assert_str_eq(clerk_bearer_challenge(pool, NULL, NULL), "Bearer realm=\"\"");
}
END_TEST

START_TEST(header_safe_blanks_control_bytes_and_caps)
{
    ck_assert_str_eq(clerk_header_safe(pool, "kid \"x\"\r\nSet-Cookie: a"),
                     "kid \"x\"  Set-Cookie: a");
    char s[CLERK_HEADER_TEXT_MAX * 2];
    memset(s, 'y', sizeof(s) - 1);
    s[sizeof(s) - 1] = '\0';
    ck_assert_uint_eq(strlen(clerk_header_safe(pool, s)), CLERK_HEADER_TEXT_MAX);
}
END_TEST

static const char *user_of(const char *payload, const char *claim)
{
    json_t *j = json_loads(payload, 0, NULL);
    ck_assert_ptr_nonnull(j);
    char buf[24];
    const char *u;
    clerk_user_claim_result why = clerk_claims_user(j, claim, buf, sizeof buf, &u);
    ck_assert_int_eq(why == CLERK_USER_CLAIM_OK, u != NULL);
    u = u ? apr_pstrdup(pool, u) : NULL;
    json_decref(j);
    return u;
}

START_TEST(user_claim_takes_strings_and_integers_only)
{
    ck_assert_str_eq(user_of("{\"sub\":\"user_1\"}", "sub"), "user_1");
    ck_assert_str_eq(user_of("{\"email\":\"a@b.c\"}", "email"), "a@b.c");
    ck_assert_str_eq(user_of("{\"n\":-42}", "n"), "-42");
    ck_assert_ptr_null(user_of("{\"n\":1.5}", "n"));
    ck_assert_ptr_null(user_of("{\"n\":true}", "n"));
    ck_assert_ptr_null(user_of("{\"n\":{\"a\":1}}", "n"));
    ck_assert_ptr_null(user_of("{\"n\":\"\"}", "n"));
    ck_assert_ptr_null(user_of("{\"n\":\"a\\nb\"}", "n"));
    ck_assert_ptr_null(user_of("{\"n\":\"a\\u007fb\"}", "n"));
    ck_assert_ptr_null(user_of("{}", "n"));
    const char *u = "x";
    char buf[24];
    ck_assert_int_eq(clerk_claims_user(NULL, NULL, buf, sizeof buf, &u), CLERK_USER_CLAIM_MISSING);
    ck_assert_ptr_null(u);
}
END_TEST

Suite *header_text_suite(void)
{
    Suite *s = suite_create("header_text");
    TCase *c = tcase_create("header_text");
    tcase_add_checked_fixture(c, setup, teardown);
    tcase_add_test(c, quoted_string_body_escapes_what_would_end_it);
    tcase_add_test(c, quoted_string_body_reads_at_most_the_cap);
    tcase_add_test(c, bearer_challenge_names_the_error_only_when_given);
    tcase_add_test(c, header_safe_blanks_control_bytes_and_caps);
    tcase_add_test(c, user_claim_takes_strings_and_integers_only);
    suite_add_tcase(s, c);
    return s;
}
