/* The variables applications see (docs/design.md#exported-variables), their header names, and the
 * scrub rule. */
#include <stdlib.h>
#include <string.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include <jansson.h>
#include "export.h"
#include "mint.h"
#include "unit.h"

static apr_pool_t *pool;
static EVP_PKEY *key;

static void key_setup(void)
{
    key = mint_keygen("ec256"); /* signature irrelevant here: tokens are only decoded */
    ck_assert_ptr_nonnull(key);
}

static void key_teardown(void)
{
    EVP_PKEY_free(key);
}

static void pool_setup(void)
{
    apr_pool_create(&pool, NULL);
}

static void pool_teardown(void)
{
    apr_pool_destroy(pool);
}

typedef struct collected {
    apr_table_t *vars;
    int count;
} collected;

static void collect(void *ctx, const char *name, const char *value)
{
    collected *c = ctx;
    ck_assert_msg(apr_table_get(c->vars, name) == NULL, "%s exported twice", name);
    apr_table_set(c->vars, name, value);
    c->count++;
}

/* A signed-in state over a token with these claims, its auth object in *a. */
static clerk_token *state_for(const char *claims, clerk_state *st, clerk_auth *a)
{
    char *jwt = mint_sign(key, "ES256", "{\"alg\":\"ES256\",\"typ\":\"JWT\"}", claims);
    ck_assert_ptr_nonnull(jwt);
    clerk_token *t = NULL;
    clerk_error err = {0};
    ck_assert_int_eq(clerk_token_decode(jwt, strlen(jwt), 0, &t, &err), 0);
    free(jwt);
    memset(st, 0, sizeof *st);
    st->status = CLERK_SIGNED_IN;
    st->message = "";
    st->source = CLERK_SRC_HEADER;
    st->token = t;
    ck_assert_int_eq(clerk_auth_from_claims(pool, t->jwt->payload, a), 0);
    return t;
}

static collected export_of(const clerk_state *st, const clerk_auth *a)
{
    collected c = {apr_table_make(pool, 16), 0};
    clerk_export_vars(pool, st, a, collect, &c);
    return c;
}

#define CLAIMS_V2                                                                                  \
    "{\"sub\":\"user_1\",\"sid\":\"sess_1\",\"sts\":\"active\",\"v\":2,\"exp\":1700000060,"        \
    "\"fea\":\"o:billing\",\"o\":{\"id\":\"org_1\",\"slg\":\"acme\",\"rol\":\"admin\","            \
    "\"per\":\"read,manage\",\"fpm\":\"3\"},\"act\":{\"sub\":\"user_admin\"},\"fva\":[-1,5]}"

START_TEST(signed_in_exports_user_session_org_and_actor)
{
    clerk_state st;
    clerk_auth a;
    clerk_token *t = state_for(CLAIMS_V2, &st, &a);
    collected c = export_of(&st, &a);
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_AUTH_STATUS"), "signed-in");
    ck_assert_ptr_null(apr_table_get(c.vars, "CLERK_AUTH_REASON"));
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_TOKEN_SOURCE"), "header");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_USER_ID"), "user_1");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_SESSION_ID"), "sess_1");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_SESSION_STATUS"), "active");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_ORG_ID"), "org_1");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_ORG_SLUG"), "acme");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_ORG_ROLE"), "org:admin");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_ORG_PERMISSIONS"),
                     "org:billing:read,org:billing:manage");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_ACTOR"), "user_admin");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_FVA"), "-1,5");
    clerk_token_release(t);
}
END_TEST

/* The per-token list a cached token exports on every hit says exactly what clerk_export_vars
 * says for its token, with header forms, and is made once. */
START_TEST(token_list_matches_the_exported_variables_and_is_kept)
{
    clerk_state st;
    clerk_auth a;
    clerk_token *t = state_for(CLAIMS_V2, &st, &a);
    collected c = export_of(&st, &a);
    const clerk_token_exports *x = clerk_export_token_vars(pool, t);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(x->ok, 1);
    /* Then the nested ones, flagged, as clerk_export_nested_vars says them. */
    collected nested = {apr_table_make(pool, 16), 0};
    clerk_export_nested_vars(pool, t->jwt->payload, collect, &nested);
    size_t plain = 0;
    while (plain < x->n && !x->v[plain].nested)
        plain++;
    ck_assert_uint_eq(plain + 2, (size_t)c.count); /* + CLERK_AUTH_STATUS, CLERK_TOKEN_SOURCE */
    ck_assert_uint_eq(x->n - plain, (size_t)nested.count);
    ck_assert_uint_gt(nested.count, 0); /* CLAIMS_V2 has o and fva */
    for (size_t i = 0; i < x->n; i++) {
        const clerk_export_entry *e = &x->v[i];
        ck_assert_int_eq(e->nested, i >= plain);
        ck_assert_str_eq(e->value, apr_table_get(e->nested ? nested.vars : c.vars, e->name));
        ck_assert_str_eq(e->header, clerk_export_header_name(pool, e->name));
        if (strcmp(e->name, "CLERK_CLAIMS") == 0) {
            size_t n;
            const char *seg = clerk_jwt_payload_segment(t->jwt, &n);
            ck_assert_uint_eq(strlen(e->header_value), n);
            ck_assert_int_eq(memcmp(e->header_value, seg, n), 0);
        } else {
            ck_assert_str_eq(e->header_value, e->value);
        }
    }
    ck_assert_ptr_eq(clerk_export_token_vars(pool, t), x);
    clerk_token_release(t);

    /* No usable auth object (sub missing): the list says so and holds nothing. */
    char *jwt = mint_sign(key, "ES256", "{\"alg\":\"ES256\"}", "{\"sid\":\"sess_1\"}");
    clerk_error err = {0};
    ck_assert_int_eq(clerk_token_decode(jwt, strlen(jwt), 0, &t, &err), 0);
    free(jwt);
    x = clerk_export_token_vars(pool, t);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(x->ok, 0);
    ck_assert_uint_eq(x->n, 0);
    clerk_token_release(t);
    ck_assert_ptr_null(clerk_export_token_vars(pool, NULL));
}
END_TEST

START_TEST(claims_json_is_the_compact_payload)
{
    clerk_state st;
    clerk_auth a;
    clerk_token *t = state_for("{\"sub\":\"user_1\", \"exp\": 1700000060, \"n\": [1, 2]}", &st, &a);
    collected c = export_of(&st, &a);
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_CLAIMS"),
                     "{\"sub\":\"user_1\",\"exp\":1700000060,\"n\":[1,2]}");
    clerk_token_release(t);
}
END_TEST

START_TEST(absent_sts_fva_org_and_actor_leave_variables_unset)
{
    clerk_state st;
    clerk_auth a;
    clerk_token *t = state_for("{\"sub\":\"user_1\",\"exp\":1700000060}", &st, &a);
    st.source = CLERK_SRC_COOKIE;
    collected c = export_of(&st, &a);
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_TOKEN_SOURCE"), "cookie");
    ck_assert_ptr_null(apr_table_get(c.vars, "CLERK_SESSION_STATUS"));
    ck_assert_ptr_null(apr_table_get(c.vars, "CLERK_SESSION_ID"));
    ck_assert_ptr_null(apr_table_get(c.vars, "CLERK_FVA"));
    ck_assert_ptr_null(apr_table_get(c.vars, "CLERK_ORG_ID"));
    ck_assert_ptr_null(apr_table_get(c.vars, "CLERK_ORG_PERMISSIONS"));
    ck_assert_ptr_null(apr_table_get(c.vars, "CLERK_ACTOR"));
    clerk_token_release(t);
}
END_TEST

START_TEST(scalar_claims_are_exported_by_sanitised_name)
{
    clerk_state st;
    clerk_auth a;
    clerk_token *t = state_for("{\"sub\":\"user_1\",\"exp\":1700000060,\"org-role.x\":\"r\","
                               "\"ratio\":1.5,\"ok\":true,\"no\":false,\"nothing\":null,"
                               "\"obj\":{\"a\":1},\"list\":[1],\"caf\\u00e9\":\"x\"}",
                               &st, &a);
    collected c = export_of(&st, &a);
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_CLAIM_SUB"), "user_1");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_CLAIM_EXP"), "1700000060");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_CLAIM_ORG_ROLE_X"), "r");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_CLAIM_RATIO"), "1.5");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_CLAIM_OK"), "true");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_CLAIM_NO"), "false");
    ck_assert_ptr_null(apr_table_get(c.vars, "CLERK_CLAIM_NOTHING"));
    ck_assert_ptr_null(apr_table_get(c.vars, "CLERK_CLAIM_OBJ"));
    ck_assert_ptr_null(apr_table_get(c.vars, "CLERK_CLAIM_LIST"));
    /* each byte of a non-ASCII name becomes '_' */
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_CLAIM_CAF__"), "x");
    clerk_token_release(t);
}
END_TEST

/* Numbers print as the SDK's String(n) would: whole values plainly up to 1e21. */
START_TEST(numbers_are_exported_as_javascript_prints_them)
{
    clerk_state st;
    clerk_auth a;
    clerk_token *t = state_for("{\"sub\":\"user_1\",\"exp\":1.70000006e9,\"two\":2.0,"
                               "\"e19\":10000000000000000000,\"big\":1234567890123456789012345678,"
                               "\"tiny\":0.0000001,\"neg\":-0.25}",
                               &st, &a);
    collected c = export_of(&st, &a);
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_CLAIM_EXP"), "1700000060");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_CLAIM_TWO"), "2");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_CLAIM_E19"), "10000000000000000000");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_CLAIM_BIG"), "1.2345678901234569e+27");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_CLAIM_TINY"), "1e-7");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_CLAIM_NEG"), "-0.25");
    clerk_token_release(t);
}
END_TEST

START_TEST(values_with_control_characters_are_not_exported)
{
    clerk_state st;
    clerk_auth a;
    clerk_token *t = state_for("{\"sub\":\"user_1\",\"exp\":1700000060,"
                               "\"note\":\"a\\r\\nX-Injected: 1\",\"sid\":\"sess\\u0001x\","
                               "\"tab\":\"a\\tb\",\"del\":\"a\\u007f\",\"fine\":\"caf\\u00e9\"}",
                               &st, &a);
    collected c = export_of(&st, &a);
    ck_assert_ptr_null(apr_table_get(c.vars, "CLERK_CLAIM_NOTE"));
    ck_assert_ptr_null(apr_table_get(c.vars, "CLERK_CLAIM_TAB"));
    ck_assert_ptr_null(apr_table_get(c.vars, "CLERK_CLAIM_DEL"));
    ck_assert_ptr_null(apr_table_get(c.vars, "CLERK_SESSION_ID"));
    ck_assert_ptr_null(apr_table_get(c.vars, "CLERK_CLAIM_SID"));
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_USER_ID"), "user_1");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_CLAIM_FINE"), "caf\xc3\xa9");
    /* The JSON form escapes them, so it stays. */
    const char *all = apr_table_get(c.vars, "CLERK_CLAIMS");
    ck_assert_ptr_nonnull(all);
    ck_assert_ptr_null(strpbrk(all, "\r\n\t\x7f"));
    ck_assert_ptr_nonnull(strstr(all, "a\\u007f"));
    clerk_token_release(t);
}
END_TEST

START_TEST(signed_out_exports_status_reason_and_source_only)
{
    clerk_state st = {0};
    st.status = CLERK_SIGNED_OUT;
    st.reason = CLERK_R_TOKEN_EXPIRED;
    st.message = "JWT is expired.";
    st.source = CLERK_SRC_COOKIE;
    collected c = export_of(&st, NULL);
    ck_assert_int_eq(c.count, 3);
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_AUTH_STATUS"), "signed-out");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_AUTH_REASON"), "token-expired");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_TOKEN_SOURCE"), "cookie");
}
END_TEST

START_TEST(signed_out_without_token_has_no_token_source)
{
    clerk_state st = {0};
    st.status = CLERK_SIGNED_OUT;
    st.reason = CLERK_R_SESSION_TOKEN_AND_UAT_MISSING;
    st.message = "";
    collected c = export_of(&st, NULL);
    ck_assert_int_eq(c.count, 2);
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_AUTH_REASON"), "session-token-and-uat-missing");
    ck_assert_ptr_null(apr_table_get(c.vars, "CLERK_TOKEN_SOURCE"));
}
END_TEST

START_TEST(handshake_exports_its_status_and_reason)
{
    clerk_state st = {0};
    st.status = CLERK_HANDSHAKE;
    st.reason = CLERK_R_SESSION_TOKEN_EXPIRED_NO_REFRESH_COOKIE;
    st.message = "";
    st.source = CLERK_SRC_COOKIE;
    collected c = export_of(&st, NULL);
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_AUTH_STATUS"), "handshake");
    ck_assert_str_eq(apr_table_get(c.vars, "CLERK_AUTH_REASON"),
                     "session-token-expired-refresh-non-eligible-no-refresh-cookie");
}
END_TEST

START_TEST(header_names_are_x_title_case)
{
    ck_assert_str_eq(clerk_export_header_name(pool, "CLERK_USER_ID"), "X-Clerk-User-Id");
    ck_assert_str_eq(clerk_export_header_name(pool, "REMOTE_USER"), "X-Remote-User");
    ck_assert_str_eq(clerk_export_header_name(pool, "AUTH_TYPE"), "X-Auth-Type");
    ck_assert_str_eq(clerk_export_header_name(pool, "CLERK_CLAIM_ORG_ROLE_X"),
                     "X-Clerk-Claim-Org-Role-X");
    ck_assert_str_eq(clerk_export_header_name(pool, "CLERK_FVA"), "X-Clerk-Fva");
}
END_TEST

START_TEST(reserved_headers_match_any_spelling)
{
    const char *reserved[] = {"REMOTE_USER",         "Remote-User",   "remote_user",
                              "X-Remote-User",       "x_remote_user", "AUTH-TYPE",
                              "X-Auth-Type",         "Clerk-User-Id", "X-Clerk-Claims",
                              "x_clerk_auth_status", "CLERK_",        "x-CLERK-anything"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        ck_assert_msg(clerk_export_is_reserved_header(reserved[i]), "%s should be reserved",
                      reserved[i]);
}
END_TEST

START_TEST(other_headers_are_not_reserved)
{
    const char *other[] = {"Authorization",   "X-Clerk",  "Clerk",  "Remote-User-Name",
                           "XRemote-User",    "Clerkfoo", "X-Auth", "Auth-Type-X",
                           "X-X-Remote-User", "Cookie",   ""};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        ck_assert_msg(!clerk_export_is_reserved_header(other[i]), "%s should not be reserved",
                      other[i]);
    ck_assert_int_eq(clerk_export_is_reserved_header(NULL), 0);
}
END_TEST

Suite *export_suite(void)
{
    Suite *s = suite_create("export");
    TCase *t = tcase_create("vars");
    tcase_add_unchecked_fixture(t, key_setup, key_teardown);
    tcase_add_checked_fixture(t, pool_setup, pool_teardown);
    tcase_add_test(t, signed_in_exports_user_session_org_and_actor);
    tcase_add_test(t, claims_json_is_the_compact_payload);
    tcase_add_test(t, token_list_matches_the_exported_variables_and_is_kept);
    tcase_add_test(t, absent_sts_fva_org_and_actor_leave_variables_unset);
    tcase_add_test(t, scalar_claims_are_exported_by_sanitised_name);
    tcase_add_test(t, numbers_are_exported_as_javascript_prints_them);
    tcase_add_test(t, values_with_control_characters_are_not_exported);
    tcase_add_test(t, signed_out_exports_status_reason_and_source_only);
    tcase_add_test(t, signed_out_without_token_has_no_token_source);
    tcase_add_test(t, handshake_exports_its_status_and_reason);
    suite_add_tcase(s, t);

    t = tcase_create("headers");
    tcase_add_checked_fixture(t, pool_setup, pool_teardown);
    tcase_add_test(t, header_names_are_x_title_case);
    tcase_add_test(t, reserved_headers_match_any_spelling);
    tcase_add_test(t, other_headers_are_not_reserved);
    suite_add_tcase(s, t);
    return s;
}
