/* The auth object from claims, as Clerk's jwtPayloadParser builds it (v1 and v2 encodings). */
#include <limits.h>
#include <string.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>
#include "auth.h"
#include "unit.h"

static apr_pool_t *pool;

static void pool_setup(void)
{
    apr_pool_create(&pool, NULL);
}

static void pool_teardown(void)
{
    apr_pool_destroy(pool);
}

/* Builds the auth object of a payload given as JSON text; returns clerk_auth_from_claims's
 * result. */
static int auth_of(const char *json, clerk_auth *a)
{
    json_error_t jerr;
    json_t *payload = json_loads(json, 0, &jerr);
    ck_assert_msg(payload != NULL, "test payload does not parse: %s", jerr.text);
    int rc = clerk_auth_from_claims(pool, payload, a);
    json_decref(payload); /* the auth object holds pool copies only */
    return rc;
}

/* The permissions as one comma list ("" when none). */
static const char *perms(const clerk_auth *a)
{
    return apr_array_pstrcat(pool, a->org_permissions, ',');
}

START_TEST(v1_claims_give_org_fields_as_given)
{
    clerk_auth a;
    ck_assert_int_eq(auth_of("{\"sub\":\"user_1\",\"sid\":\"sess_1\",\"org_id\":\"org_1\","
                             "\"org_slug\":\"acme\",\"org_role\":\"org:admin\","
                             "\"org_permissions\":[\"org:billing:read\",7,\"org:billing:manage\"]}",
                             &a),
                     0);
    ck_assert_int_eq(a.version, 1);
    ck_assert_str_eq(a.user_id, "user_1");
    ck_assert_str_eq(a.session_id, "sess_1");
    ck_assert_str_eq(a.org_id, "org_1");
    ck_assert_str_eq(a.org_slug, "acme");
    ck_assert_str_eq(a.org_role, "org:admin");
    /* non-string entries are skipped */
    ck_assert_str_eq(perms(&a), "org:billing:read,org:billing:manage");
}
END_TEST

START_TEST(v1_without_org_has_no_org_and_empty_permissions)
{
    clerk_auth a;
    ck_assert_int_eq(auth_of("{\"sub\":\"user_1\"}", &a), 0);
    ck_assert_ptr_null(a.org_id);
    ck_assert_ptr_null(a.org_role);
    ck_assert_ptr_nonnull(a.org_permissions);
    ck_assert_int_eq(a.org_permissions->nelts, 0);
    ck_assert_ptr_null(a.session_status);
    ck_assert_int_eq(a.has_fva, 0);
}
END_TEST

START_TEST(v2_org_comes_from_o_with_org_prefixed_role)
{
    clerk_auth a;
    ck_assert_int_eq(auth_of("{\"sub\":\"user_1\",\"v\":2,\"org_id\":\"org_v1\","
                             "\"o\":{\"id\":\"org_2\",\"slg\":\"acme\",\"rol\":\"admin\"}}",
                             &a),
                     0);
    ck_assert_int_eq(a.version, 2);
    ck_assert_str_eq(a.org_id, "org_2"); /* v1 claims are not read for v2 */
    ck_assert_str_eq(a.org_slug, "acme");
    ck_assert_str_eq(a.org_role, "org:admin");
}
END_TEST

START_TEST(v2_empty_role_gives_no_role)
{
    clerk_auth a;
    ck_assert_int_eq(auth_of("{\"sub\":\"u\",\"v\":2,\"o\":{\"id\":\"org_2\",\"rol\":\"\"}}", &a),
                     0);
    ck_assert_ptr_null(a.org_role);
}
END_TEST

START_TEST(v2_fpm_bitmasks_map_org_features_to_permissions)
{
    clerk_auth a;
    /* billing: 3 = bits 0 and 1; reports: 2 = bit 1 only. */
    ck_assert_int_eq(auth_of("{\"sub\":\"u\",\"v\":2,\"fea\":\"o:billing,o:reports\","
                             "\"o\":{\"id\":\"org_2\",\"rol\":\"admin\",\"per\":\"read,manage\","
                             "\"fpm\":\"3,2\"}}",
                             &a),
                     0);
    ck_assert_str_eq(perms(&a), "org:billing:read,org:billing:manage,org:reports:manage");
}
END_TEST

START_TEST(v2_fpm_bit_zero_is_the_first_permission)
{
    clerk_auth a;
    ck_assert_int_eq(
        auth_of("{\"sub\":\"u\",\"v\":2,\"fea\":\"o:docs\","
                "\"o\":{\"id\":\"org_2\",\"per\":\"read,write,delete\",\"fpm\":\"5\"}}",
                &a),
        0);
    ck_assert_str_eq(perms(&a), "org:docs:read,org:docs:delete");
}
END_TEST

START_TEST(v2_user_features_take_no_bitmask_slot)
{
    clerk_auth a;
    ck_assert_int_eq(auth_of("{\"sub\":\"u\",\"v\":2,\"fea\":\"u:notes, o:billing ,uo:shared\","
                             "\"o\":{\"id\":\"org_2\",\"per\":\"read,manage\",\"fpm\":\"1, 2\"}}",
                             &a),
                     0);
    ck_assert_str_eq(perms(&a), "org:billing:read,org:shared:manage");
}
END_TEST

START_TEST(v2_needs_both_per_and_fpm)
{
    clerk_auth a;
    ck_assert_int_eq(auth_of("{\"sub\":\"u\",\"v\":2,\"fea\":\"o:billing\","
                             "\"o\":{\"id\":\"org_2\",\"per\":\"read\"}}",
                             &a),
                     0);
    ck_assert_int_eq(a.org_permissions->nelts, 0);
    ck_assert_int_eq(auth_of("{\"sub\":\"u\",\"v\":2,\"fea\":\"o:billing\","
                             "\"o\":{\"id\":\"org_2\",\"per\":\"\",\"fpm\":\"1\"}}",
                             &a),
                     0);
    ck_assert_int_eq(a.org_permissions->nelts, 0);
}
END_TEST

START_TEST(v2_odd_bitmasks_grant_nothing_unexpected)
{
    clerk_auth a;
    /* Bits past the permission list add nothing; a mask that is not all digits after the trim
     * (trailing text, a sign) grants nothing, though JS parseInt would read "1z" as 1 and
     * Clerk would read the '-' of "-1" as a set bit. */
    ck_assert_int_eq(auth_of("{\"sub\":\"u\",\"v\":2,\"fea\":\"o:a,o:b,o:c,o:d,o:e\","
                             "\"o\":{\"id\":\"org_2\",\"per\":\"read\",\"fpm\":\"6,x,1z,-1,+1\"}}",
                             &a),
                     0);
    ck_assert_int_eq(a.org_permissions->nelts, 0);
    ck_assert_int_eq(auth_of("{\"sub\":\"u\",\"v\":2,\"fea\":\"o:a,o:b\","
                             "\"o\":{\"id\":\"org_2\",\"per\":\"read\",\"fpm\":\"1z, 1 \"}}",
                             &a),
                     0);
    ck_assert_str_eq(perms(&a), "org:b:read");
}
END_TEST

START_TEST(v2_only_issued_org_scopes_name_a_feature_but_every_o_scope_takes_a_mask)
{
    clerk_auth a;
    /* "xo:a" and "o" (no ':') contain an 'o' in their scope, so Clerk gives each a mask slot;
     * they grant nothing here, and the masks of "ou:c" and "uo:d" stay aligned. */
    ck_assert_int_eq(auth_of("{\"sub\":\"u\",\"v\":2,\"fea\":\"xo:a,o,u:z,ou:c,uo:d,o:\","
                             "\"o\":{\"id\":\"org_2\",\"per\":\"read,manage\","
                             "\"fpm\":\"3,3,1,2,3\"}}",
                             &a),
                     0);
    ck_assert_str_eq(perms(&a), "org:c:read,org:d:manage");
}
END_TEST

START_TEST(v2_lists_are_trimmed_of_js_whitespace_including_nbsp)
{
    clerk_auth a;
    /* U+00A0 and U+3000 around items are removed as String.prototype.trim does. */
    ck_assert_int_eq(auth_of("{\"sub\":\"u\",\"v\":2,\"fea\":\"\\u00a0o:dash\\u3000\","
                             "\"o\":{\"id\":\"org_2\",\"per\":\" read\\u00a0,\\tmanage\","
                             "\"fpm\":\"\\u00a03\\u2028\"}}",
                             &a),
                     0);
    ck_assert_str_eq(perms(&a), "org:dash:read,org:dash:manage");
}
END_TEST

START_TEST(v2_more_features_than_masks_stops_at_the_masks)
{
    clerk_auth a;
    ck_assert_int_eq(auth_of("{\"sub\":\"u\",\"v\":2,\"fea\":\"o:a,o:b\","
                             "\"o\":{\"id\":\"org_2\",\"per\":\"read\",\"fpm\":\"1\"}}",
                             &a),
                     0);
    ck_assert_str_eq(perms(&a), "org:a:read");
}
END_TEST

START_TEST(v2_without_o_has_no_org)
{
    clerk_auth a;
    ck_assert_int_eq(auth_of("{\"sub\":\"u\",\"v\":2,\"org_id\":\"org_v1\",\"fea\":\"o:a\"}", &a),
                     0);
    ck_assert_ptr_null(a.org_id);
    ck_assert_int_eq(a.org_permissions->nelts, 0);
}
END_TEST

START_TEST(v_other_than_2_reads_v1_claims)
{
    clerk_auth a;
    ck_assert_int_eq(
        auth_of("{\"sub\":\"u\",\"v\":3,\"org_id\":\"org_v1\",\"o\":{\"id\":\"x\"}}", &a), 0);
    ck_assert_int_eq(a.version, 1);
    ck_assert_str_eq(a.org_id, "org_v1");
    ck_assert_int_eq(auth_of("{\"sub\":\"u\",\"v\":\"2\",\"org_id\":\"org_v1\"}", &a), 0);
    ck_assert_str_eq(a.org_id, "org_v1");
    ck_assert_int_eq(auth_of("{\"sub\":\"u\",\"v\":2.0,\"o\":{\"id\":\"org_2\"}}", &a), 0);
    ck_assert_str_eq(a.org_id, "org_2");
}
END_TEST

START_TEST(session_fields_actor_fva_plans_features)
{
    clerk_auth a;
    ck_assert_int_eq(auth_of("{\"sub\":\"user_1\",\"sid\":\"sess_1\",\"sts\":\"pending\","
                             "\"act\":{\"sub\":\"user_admin\",\"iss\":\"x\"},\"fva\":[-1,5],"
                             "\"pla\":\"u:free\",\"fea\":\"u:notes\"}",
                             &a),
                     0);
    ck_assert_str_eq(a.session_status, "pending");
    ck_assert_str_eq(a.actor, "user_admin");
    ck_assert_int_eq(a.has_fva, 1);
    ck_assert_int_eq(a.fva[0], -1);
    ck_assert_int_eq(a.fva[1], 5);
    ck_assert_str_eq(a.plans, "u:free");
    ck_assert_str_eq(a.features, "u:notes");
}
END_TEST

START_TEST(malformed_fva_is_absent)
{
    clerk_auth a;
    ck_assert_int_eq(auth_of("{\"sub\":\"u\",\"fva\":[1]}", &a), 0);
    ck_assert_int_eq(a.has_fva, 0);
    ck_assert_int_eq(auth_of("{\"sub\":\"u\",\"fva\":[1,\"2\"]}", &a), 0);
    ck_assert_int_eq(a.has_fva, 0);
}
END_TEST

START_TEST(fva_ages_must_be_integers_minus_one_or_above)
{
    clerk_auth a;
    /* Fractions and negatives other than -1 make fva absent (Clerk would compare them). */
    ck_assert_int_eq(auth_of("{\"sub\":\"u\",\"fva\":[1.5,0]}", &a), 0);
    ck_assert_int_eq(a.has_fva, 0);
    ck_assert_int_eq(auth_of("{\"sub\":\"u\",\"fva\":[-2,0]}", &a), 0);
    ck_assert_int_eq(a.has_fva, 0);
    ck_assert_int_eq(auth_of("{\"sub\":\"u\",\"fva\":[0,-1.0]}", &a), 0);
    ck_assert_int_eq(a.has_fva, 1);
    ck_assert_int_eq(a.fva[1], -1);
    /* Huge ages clamp: present, never fresh. */
    ck_assert_int_eq(auth_of("{\"sub\":\"u\",\"fva\":[1e300,9223372036854775807]}", &a), 0);
    ck_assert_int_eq(a.has_fva, 1);
    ck_assert_int_eq(a.fva[0], LONG_MAX);
    ck_assert_int_eq(a.fva[1], LONG_MAX);
}
END_TEST

START_TEST(missing_empty_or_non_string_sub_is_refused)
{
    clerk_auth a;
    ck_assert_int_eq(auth_of("{\"sid\":\"sess_1\"}", &a), -1);
    ck_assert_int_eq(auth_of("{\"sub\":\"\"}", &a), -1);
    ck_assert_int_eq(auth_of("{\"sub\":12}", &a), -1);
    json_t *arr = json_array();
    ck_assert_int_eq(clerk_auth_from_claims(pool, arr, &a), -1);
    ck_assert_ptr_nonnull(a.org_permissions);
    json_decref(arr);
}
END_TEST

Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *t = tcase_create("claims_to_auth");
    tcase_add_checked_fixture(t, pool_setup, pool_teardown);
    tcase_add_test(t, v1_claims_give_org_fields_as_given);
    tcase_add_test(t, v1_without_org_has_no_org_and_empty_permissions);
    tcase_add_test(t, v2_org_comes_from_o_with_org_prefixed_role);
    tcase_add_test(t, v2_empty_role_gives_no_role);
    tcase_add_test(t, v2_fpm_bitmasks_map_org_features_to_permissions);
    tcase_add_test(t, v2_fpm_bit_zero_is_the_first_permission);
    tcase_add_test(t, v2_user_features_take_no_bitmask_slot);
    tcase_add_test(t, v2_needs_both_per_and_fpm);
    tcase_add_test(t, v2_odd_bitmasks_grant_nothing_unexpected);
    tcase_add_test(t, v2_only_issued_org_scopes_name_a_feature_but_every_o_scope_takes_a_mask);
    tcase_add_test(t, v2_lists_are_trimmed_of_js_whitespace_including_nbsp);
    tcase_add_test(t, v2_more_features_than_masks_stops_at_the_masks);
    tcase_add_test(t, v2_without_o_has_no_org);
    tcase_add_test(t, v_other_than_2_reads_v1_claims);
    tcase_add_test(t, session_fields_actor_fva_plans_features);
    tcase_add_test(t, malformed_fva_is_absent);
    tcase_add_test(t, fva_ages_must_be_integers_minus_one_or_above);
    tcase_add_test(t, missing_empty_or_non_string_sub_is_refused);
    suite_add_tcase(s, t);
    return s;
}
