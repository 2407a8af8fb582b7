/* Nested claims flattened for applications (clerk_export_nested_vars) and ClerkUserClaim's
 * dotted paths (clerk_claims_user). */
#include <stdio.h>
#include <string.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <jansson.h>

#include "claims.h"
#include "export.h"
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

typedef struct got {
    apr_table_t *vars;
    int count;
} got;

static void collect(void *ctx, const char *name, const char *value)
{
    got *g = ctx;
    ck_assert_msg(apr_table_get(g->vars, name) == NULL, "%s exported twice", name);
    apr_table_set(g->vars, name, value);
    g->count++;
}

static got nested(const char *json)
{
    json_error_t e;
    json_t *j = json_loads(json, 0, &e);
    ck_assert_msg(j != NULL, "%s", e.text);
    got g = {apr_table_make(pool, 8), 0};
    clerk_export_nested_vars(pool, j, collect, &g);
    json_decref(j);
    return g;
}

#define VAR(g, n) apr_table_get((g).vars, "CLERK_CLAIM_" n)

START_TEST(objects_are_flattened_and_arrays_joined)
{
    got g = nested("{\"sub\":\"user_1\",\"public_metadata\":{\"plan\":\"pro\",\"seats\":5,"
                   "\"beta\":true,\"ratio\":1.5,\"tags\":[\"a\",\"b\"],\"nums\":[1,2.5,true],"
                   "\"none\":null,\"org-info\":{\"tier\":\"gold\"}},\"roles\":[\"admin\",\"dev\"],"
                   "\"empty\":[],\"obj\":{}}");
    ck_assert_str_eq(VAR(g, "PUBLIC_METADATA_PLAN"), "pro");
    ck_assert_str_eq(VAR(g, "PUBLIC_METADATA_SEATS"), "5");
    ck_assert_str_eq(VAR(g, "PUBLIC_METADATA_BETA"), "true");
    ck_assert_str_eq(VAR(g, "PUBLIC_METADATA_RATIO"), "1.5");
    ck_assert_str_eq(VAR(g, "PUBLIC_METADATA_TAGS"), "a,b");
    ck_assert_str_eq(VAR(g, "PUBLIC_METADATA_NUMS"), "1,2.5,true");
    ck_assert_str_eq(VAR(g, "PUBLIC_METADATA_ORG_INFO_TIER"), "gold");
    ck_assert_str_eq(VAR(g, "ROLES"), "admin,dev");
    ck_assert_str_eq(VAR(g, "EMPTY"), "");
    /* Top-level scalars are clerk_export_vars' business; null and empty objects give nothing. */
    ck_assert_ptr_null(VAR(g, "SUB"));
    ck_assert_ptr_null(VAR(g, "PUBLIC_METADATA_NONE"));
    ck_assert_ptr_null(VAR(g, "OBJ"));
    ck_assert_ptr_null(VAR(g, "PUBLIC_METADATA"));
    ck_assert_int_eq(g.count, 9);
}
END_TEST

START_TEST(arrays_that_cannot_be_joined_faithfully_are_left_out)
{
    got g = nested("{\"a\":[\"x,y\",\"z\"],\"b\":[{\"k\":1}],\"c\":[[1]],\"d\":[null],"
                   "\"e\":[\"ok\",\"fine\"],\"f\":{\"g\":[\"1\",{\"h\":2}]}}");
    ck_assert_ptr_null(VAR(g, "A"));
    ck_assert_ptr_null(VAR(g, "B"));
    ck_assert_ptr_null(VAR(g, "B_K"));
    ck_assert_ptr_null(VAR(g, "C"));
    ck_assert_ptr_null(VAR(g, "D"));
    ck_assert_ptr_null(VAR(g, "F_G"));
    ck_assert_str_eq(VAR(g, "E"), "ok,fine");
    ck_assert_int_eq(g.count, 1);
}
END_TEST

START_TEST(control_bytes_drop_the_variable)
{
    got g =
        nested("{\"m\":{\"note\":\"a\\r\\nX-Injected: 1\",\"t\":\"a\\tb\",\"ok\":\"caf\\u00e9\","
               "\"list\":[\"a\",\"b\\n\"]}}");
    ck_assert_ptr_null(VAR(g, "M_NOTE"));
    ck_assert_ptr_null(VAR(g, "M_T"));
    ck_assert_ptr_null(VAR(g, "M_LIST"));
    ck_assert_str_eq(VAR(g, "M_OK"), "caf\xc3\xa9");
    ck_assert_int_eq(g.count, 1);
}
END_TEST

START_TEST(depth_is_bounded)
{
    got g = nested("{\"a\":{\"b\":{\"c\":{\"d\":\"level4\",\"e\":{\"f\":\"level5\"}}}}}");
    ck_assert_str_eq(VAR(g, "A_B_C_D"), "level4");
    ck_assert_ptr_null(VAR(g, "A_B_C_E_F"));
    ck_assert_int_eq(g.count, 1);
}
END_TEST

START_TEST(count_is_bounded_in_payload_order)
{
    char buf[8192];
    size_t at = (size_t)snprintf(buf, sizeof buf, "{\"m\":{");
    for (int i = 0; i < CLERK_EXPORT_NESTED_MAX + 10; i++)
        at += (size_t)snprintf(buf + at, sizeof buf - at, "%s\"k%03d\":%d", i ? "," : "", i, i);
    snprintf(buf + at, sizeof buf - at, "}}");
    got g = nested(buf);
    ck_assert_int_eq(g.count, CLERK_EXPORT_NESTED_MAX);
    ck_assert_str_eq(VAR(g, "M_K000"), "0");
    ck_assert_str_eq(VAR(g, "M_K063"), "63");
    ck_assert_ptr_null(VAR(g, "M_K064"));
}
END_TEST

START_TEST(long_names_are_left_out)
{
    char buf[1024], key[200];
    memset(key, 'k', 150);
    key[150] = '\0';
    snprintf(buf, sizeof buf, "{\"m\":{\"%s\":\"x\",\"short\":\"y\"}}", key);
    got g = nested(buf);
    ck_assert_int_eq(g.count, 1);
    ck_assert_str_eq(VAR(g, "M_SHORT"), "y");
}
END_TEST

/* Two claims that flatten to one name: neither is exported (the application could not tell
 * which it got); a top-level claim of that name keeps its own export. */
START_TEST(name_clashes_export_neither)
{
    got g = nested("{\"public_metadata_plan\":\"top\",\"public_metadata\":{\"plan\":\"nested\"},"
                   "\"x\":{\"a-b\":\"1\",\"a_b\":\"2\",\"c\":\"3\"},\"Roles\":[\"a\"],"
                   "\"roles\":[\"b\"],\"y\":{\"z\":\"1\"},\"y_z\":[\"2\"]}");
    ck_assert_ptr_null(VAR(g, "PUBLIC_METADATA_PLAN"));
    ck_assert_ptr_null(VAR(g, "X_A_B"));
    ck_assert_str_eq(VAR(g, "X_C"), "3");
    ck_assert_ptr_null(VAR(g, "ROLES"));
    ck_assert_ptr_null(VAR(g, "Y_Z"));
    ck_assert_int_eq(g.count, 1);
}
END_TEST

static clerk_user_claim_result user_of(const char *json, const char *path, const char **user)
{
    static char buf[32];
    json_t *j = json_loads(json, 0, NULL);
    ck_assert_ptr_nonnull(j);
    clerk_user_claim_result r = clerk_claims_user(j, path, buf, sizeof buf, user);
    if (*user != NULL && *user != buf)
        *user = apr_pstrdup(pool, *user);
    json_decref(j);
    return r;
}

START_TEST(user_claim_follows_a_dotted_path)
{
    const char *u;
    const char *tok =
        "{\"sub\":\"user_1\",\"email\":\"jane@example.test\","
        "\"public_metadata\":{\"username\":\"jane\",\"id\":42,\"n\":{\"x\":\"deep\"},"
        "\"empty\":\"\",\"bad\":\"a\\nb\",\"obj\":{},\"f\":1.5},"
        "\"https://example.test/uid\":\"ns-1\",\"a.b\":\"literal\",\"a\":{\"b\":\"walked\"}}";
    ck_assert_int_eq(user_of(tok, "sub", &u), CLERK_USER_CLAIM_OK);
    ck_assert_str_eq(u, "user_1");
    ck_assert_int_eq(user_of(tok, "email", &u), CLERK_USER_CLAIM_OK);
    ck_assert_str_eq(u, "jane@example.test");
    ck_assert_int_eq(user_of(tok, "public_metadata.username", &u), CLERK_USER_CLAIM_OK);
    ck_assert_str_eq(u, "jane");
    ck_assert_int_eq(user_of(tok, "public_metadata.id", &u), CLERK_USER_CLAIM_OK);
    ck_assert_str_eq(u, "42");
    ck_assert_int_eq(user_of(tok, "public_metadata.n.x", &u), CLERK_USER_CLAIM_OK);
    ck_assert_str_eq(u, "deep");
    /* A claim named with dots wins over the walk. */
    ck_assert_int_eq(user_of(tok, "https://example.test/uid", &u), CLERK_USER_CLAIM_OK);
    ck_assert_str_eq(u, "ns-1");
    ck_assert_int_eq(user_of(tok, "a.b", &u), CLERK_USER_CLAIM_OK);
    ck_assert_str_eq(u, "literal");

    ck_assert_int_eq(user_of(tok, "username", &u), CLERK_USER_CLAIM_MISSING);
    ck_assert_ptr_null(u);
    ck_assert_int_eq(user_of(tok, "public_metadata.nope", &u), CLERK_USER_CLAIM_MISSING);
    ck_assert_int_eq(user_of(tok, "email.x", &u), CLERK_USER_CLAIM_MISSING);
    ck_assert_int_eq(user_of(tok, "public_metadata.obj", &u), CLERK_USER_CLAIM_WRONG_TYPE);
    ck_assert_int_eq(user_of(tok, "public_metadata.f", &u), CLERK_USER_CLAIM_WRONG_TYPE);
    ck_assert_int_eq(user_of(tok, "public_metadata.empty", &u), CLERK_USER_CLAIM_EMPTY);
    ck_assert_int_eq(user_of(tok, "public_metadata.bad", &u), CLERK_USER_CLAIM_CONTROL);
    ck_assert_ptr_null(u);
    ck_assert_str_eq(clerk_user_claim_problem(CLERK_USER_CLAIM_MISSING), "is missing");
}
END_TEST

START_TEST(user_claim_paths_are_checked)
{
    ck_assert_int_eq(clerk_claims_user_path_ok("sub"), 1);
    ck_assert_int_eq(clerk_claims_user_path_ok("public_metadata.username"), 1);
    ck_assert_int_eq(clerk_claims_user_path_ok("https://example.test/uid"), 1);
    ck_assert_int_eq(clerk_claims_user_path_ok("a.b.c.d.e.f.g.h"), 1);
    ck_assert_int_eq(clerk_claims_user_path_ok("a.b.c.d.e.f.g.h.i"), 0);
    ck_assert_int_eq(clerk_claims_user_path_ok(""), 0);
    ck_assert_int_eq(clerk_claims_user_path_ok(".a"), 0);
    ck_assert_int_eq(clerk_claims_user_path_ok("a."), 0);
    ck_assert_int_eq(clerk_claims_user_path_ok("a..b"), 0);
    ck_assert_int_eq(clerk_claims_user_path_ok("a b"), 0);
    ck_assert_int_eq(clerk_claims_user_path_ok("a\tb"), 0);
}
END_TEST

Suite *nested_claims_suite(void)
{
    Suite *s = suite_create("nested_claims");
    TCase *t = tcase_create("nested");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, objects_are_flattened_and_arrays_joined);
    tcase_add_test(t, arrays_that_cannot_be_joined_faithfully_are_left_out);
    tcase_add_test(t, control_bytes_drop_the_variable);
    tcase_add_test(t, depth_is_bounded);
    tcase_add_test(t, count_is_bounded_in_payload_order);
    tcase_add_test(t, long_names_are_left_out);
    tcase_add_test(t, name_clashes_export_neither);
    tcase_add_test(t, user_claim_follows_a_dotted_path);
    tcase_add_test(t, user_claim_paths_are_checked);
    suite_add_tcase(s, t);
    return s;
}
