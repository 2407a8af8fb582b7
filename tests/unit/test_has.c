/* has() for the authorization providers (docs/design.md#authorization) and the clerk-claim matcher.
 * Payloads are minted as JSON text and go through clerk_auth_from_claims, as a verified token
 * would. */
#include <stdio.h>
#include <string.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>

#include "auth.h"
#include "claim_match.h"
#include "has.h"
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

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(j != NULL, "test JSON does not parse: %s", jerr.text);
    return j;
}

/* The auth object of a payload, as the module builds it for a signed-in request. */
static clerk_auth *auth_of(const char *payload)
{
    json_t *j = load(payload);
    clerk_auth *a = apr_pcalloc(pool, sizeof(*a));
    ck_assert_int_eq(clerk_auth_from_claims(pool, j, a), 0);
    json_decref(j);
    return a;
}

/* A bare signed-in auth object for states no parser output reaches. */
static clerk_auth *bare_auth(void)
{
    clerk_auth *a = apr_pcalloc(pool, sizeof(*a));
    a->user_id = "user_1";
    a->org_permissions = apr_array_make(pool, 1, sizeof(const char *));
    a->version = 1;
    return a;
}

#define V1_ADMIN                                                                                   \
    "{\"sub\":\"user_1\",\"sid\":\"sess_1\",\"org_id\":\"org_A\",\"org_slug\":\"acme\","           \
    "\"org_role\":\"org:admin\",\"org_permissions\":[\"org:invoices:read\",7,"                     \
    "\"org:sys_memberships:manage\"]}"

/* --- roles ---------------------------------------------------------------------------------- */

START_TEST(v1_role_matches_with_or_without_org_prefix)
{
    clerk_auth *a = auth_of(V1_ADMIN);
    ck_assert_int_eq(clerk_has_role(a, "org:admin"), 1);
    ck_assert_int_eq(clerk_has_role(a, "admin"), 1);
    ck_assert_int_eq(clerk_has_role(a, "org:org:admin"), 1);
    ck_assert_int_eq(clerk_has_role(a, "org:member"), 0);
    ck_assert_int_eq(clerk_has_role(a, "Admin"), 0);
    ck_assert_int_eq(clerk_has_role(a, "org:admin "), 0);
}
END_TEST

START_TEST(v1_role_without_org_prefix_in_token_still_matches)
{
    clerk_auth *a = auth_of("{\"sub\":\"user_1\",\"org_id\":\"org_A\",\"org_role\":\"admin\"}");
    ck_assert_int_eq(clerk_has_role(a, "org:admin"), 1);
    ck_assert_int_eq(clerk_has_role(a, "admin"), 1);
}
END_TEST

START_TEST(v2_role_comes_from_o_rol_with_org_prefix)
{
    clerk_auth *a = auth_of("{\"sub\":\"user_1\",\"v\":2,\"o\":{\"id\":\"org_A\",\"slg\":\"acme\","
                            "\"rol\":\"admin\"}}");
    ck_assert_int_eq(clerk_has_role(a, "org:admin"), 1);
    ck_assert_int_eq(clerk_has_role(a, "admin"), 1);
    ck_assert_int_eq(clerk_has_role(a, "org:member"), 0);
}
END_TEST

START_TEST(role_without_active_org_is_denied)
{
    /* v1: a role claim with no org_id is not an active org. */
    clerk_auth *a = auth_of("{\"sub\":\"user_1\",\"org_role\":\"org:admin\"}");
    ck_assert_int_eq(clerk_has_role(a, "org:admin"), 0);
    /* v2 without "o": no org at all; v1 org claims are not read in v2. */
    a = auth_of("{\"sub\":\"user_1\",\"v\":2,\"org_id\":\"org_A\",\"org_role\":\"org:admin\"}");
    ck_assert_int_eq(clerk_has_role(a, "org:admin"), 0);
    /* An empty org id is no org either. */
    a = auth_of("{\"sub\":\"user_1\",\"org_id\":\"\",\"org_role\":\"org:admin\"}");
    ck_assert_int_eq(clerk_has_role(a, "org:admin"), 0);
}
END_TEST

START_TEST(active_org_without_role_denies_every_role)
{
    clerk_auth *a = auth_of("{\"sub\":\"user_1\",\"v\":2,\"o\":{\"id\":\"org_A\",\"rol\":\"\"}}");
    ck_assert_int_eq(clerk_has_role(a, "org:"), 0);
    ck_assert_int_eq(clerk_has_role(a, ""), 0);
    a = auth_of("{\"sub\":\"user_1\",\"org_id\":\"org_A\",\"org_role\":7}");
    ck_assert_int_eq(clerk_has_role(a, "7"), 0);
}
END_TEST

START_TEST(user_active_in_another_org_gets_that_orgs_role_only)
{
    /* Admin of org_A, but the token's active org is org_B where the user is a member. */
    clerk_auth *a = auth_of("{\"sub\":\"user_1\",\"v\":2,\"o\":{\"id\":\"org_B\",\"slg\":\"beta\","
                            "\"rol\":\"member\"}}");
    ck_assert_int_eq(clerk_has_role(a, "org:admin"), 0);
    ck_assert_int_eq(clerk_has_role(a, "org:member"), 1);
    ck_assert_int_eq(clerk_has_org(a, "org_A"), 0);
    ck_assert_int_eq(clerk_has_org(a, "acme"), 0);
    ck_assert_int_eq(clerk_has_org(a, "org_B"), 1);
    ck_assert_int_eq(clerk_has_org(a, "beta"), 1);
}
END_TEST

START_TEST(org_matches_id_or_slug_exactly)
{
    clerk_auth *a = auth_of(V1_ADMIN);
    ck_assert_int_eq(clerk_has_org(a, "org_A"), 1);
    ck_assert_int_eq(clerk_has_org(a, "acme"), 1);
    ck_assert_int_eq(clerk_has_org(a, "ACME"), 0);
    ck_assert_int_eq(clerk_has_org(a, "org_"), 0);
    ck_assert_int_eq(clerk_has_org(a, ""), 0);
    a = auth_of("{\"sub\":\"user_1\",\"org_slug\":\"acme\"}");
    ck_assert_int_eq(clerk_has_org(a, "acme"), 0);
}
END_TEST

START_TEST(no_user_denies_every_check)
{
    clerk_auth *a = auth_of(V1_ADMIN);
    a->plans = "u:free";
    a->features = "u:export";
    a->has_fva = 1;
    a->fva[0] = 0;
    a->fva[1] = 0;
    ck_assert_int_eq(clerk_has_role(a, "org:admin"), 1); /* the same object with a user passes */
    ck_assert_int_eq(clerk_has_reverification(a, 0, 10, CLERK_REVERIFY_MULTI_FACTOR), 1);
    for (int i = 0; i < 2; i++) {
        a->user_id = i == 0 ? NULL : "";
        ck_assert_int_eq(clerk_has_org(a, "org_A"), 0);
        ck_assert_int_eq(clerk_has_role(a, "org:admin"), 0);
        ck_assert_int_eq(clerk_has_permission(a, "org:invoices:read"), 0);
        ck_assert_int_eq(clerk_has_plan(a, "free"), 0);
        ck_assert_int_eq(clerk_has_feature(a, "export"), 0);
        ck_assert_int_eq(clerk_has_reverification(a, 0, 10, CLERK_REVERIFY_FIRST_FACTOR), 0);
    }
    ck_assert_int_eq(clerk_has_role(NULL, "org:admin"), 0);
    ck_assert_int_eq(clerk_has_plan(NULL, "free"), 0);
}
END_TEST

/* --- permissions ---------------------------------------------------------------------------- */

START_TEST(v1_permission_list_is_matched_with_org_prefix_normalised)
{
    clerk_auth *a = auth_of(V1_ADMIN);
    ck_assert_int_eq(clerk_has_permission(a, "org:invoices:read"), 1);
    ck_assert_int_eq(clerk_has_permission(a, "invoices:read"), 1);
    ck_assert_int_eq(clerk_has_permission(a, "org:org:invoices:read"), 1);
    ck_assert_int_eq(clerk_has_permission(a, "org:sys_memberships:manage"), 1);
    ck_assert_int_eq(clerk_has_permission(a, "org:invoices:write"), 0);
    ck_assert_int_eq(clerk_has_permission(a, "org:invoices"), 0);
    ck_assert_int_eq(clerk_has_permission(a, "7"), 0); /* non-string entries never match */
}
END_TEST

START_TEST(v1_permission_entries_are_not_normalised)
{
    /* Only the asked name is normalised: an entry without "org:" is never "org:"+anything. */
    clerk_auth *a = auth_of("{\"sub\":\"user_1\",\"org_id\":\"org_A\",\"org_role\":\"org:admin\","
                            "\"org_permissions\":[\"invoices:read\",\"org:org:reports:read\"]}");
    ck_assert_int_eq(clerk_has_permission(a, "invoices:read"), 0);
    ck_assert_int_eq(clerk_has_permission(a, "org:reports:read"), 0);
    ck_assert_int_eq(clerk_has_permission(a, "org:org:reports:read"), 0);
}
END_TEST

START_TEST(v2_permissions_come_from_org_features_and_bitmasks)
{
    /* invoices: mask 1 -> read; reports: mask 3 -> read, manage (bit 0 = first of o.per). */
    clerk_auth *a =
        auth_of("{\"sub\":\"user_1\",\"v\":2,\"fea\":\"o:invoices,o:reports,u:profile\","
                "\"o\":{\"id\":\"org_A\",\"rol\":\"admin\",\"per\":\"read,manage\","
                "\"fpm\":\"1,3\"}}");
    ck_assert_int_eq(clerk_has_permission(a, "org:invoices:read"), 1);
    ck_assert_int_eq(clerk_has_permission(a, "invoices:read"), 1);
    ck_assert_int_eq(clerk_has_permission(a, "org:invoices:manage"), 0);
    ck_assert_int_eq(clerk_has_permission(a, "org:reports:read"), 1);
    ck_assert_int_eq(clerk_has_permission(a, "org:reports:manage"), 1);
    ck_assert_int_eq(clerk_has_permission(a, "org:profile:read"), 0);
}
END_TEST

START_TEST(v2_permission_of_feature_missing_from_fea_is_denied)
{
    /* The second mask has no org feature to belong to: the plan no longer includes reports. */
    clerk_auth *a = auth_of("{\"sub\":\"user_1\",\"v\":2,\"fea\":\"o:invoices\",\"o\":{\"id\":"
                            "\"org_A\",\"rol\":\"admin\",\"per\":\"read\",\"fpm\":\"1,1\"}}");
    ck_assert_int_eq(clerk_has_permission(a, "org:invoices:read"), 1);
    ck_assert_int_eq(clerk_has_permission(a, "org:reports:read"), 0);
    /* No fea at all: no org feature, no permission. */
    a = auth_of("{\"sub\":\"user_1\",\"v\":2,\"o\":{\"id\":\"org_A\",\"rol\":\"admin\","
                "\"per\":\"read\",\"fpm\":\"1\"}}");
    ck_assert_int_eq(clerk_has_permission(a, "org:invoices:read"), 0);
    ck_assert_int_eq(clerk_has_role(a, "org:admin"), 1);
}
END_TEST

START_TEST(permission_without_active_org_is_denied)
{
    clerk_auth *a = auth_of("{\"sub\":\"user_1\",\"org_permissions\":[\"org:invoices:read\"]}");
    ck_assert_int_eq(clerk_has_permission(a, "org:invoices:read"), 0);
    a = bare_auth();
    APR_ARRAY_PUSH(a->org_permissions, const char *) = "org:invoices:read";
    ck_assert_int_eq(clerk_has_permission(a, "org:invoices:read"), 0);
    a->org_id = "org_A";
    ck_assert_int_eq(clerk_has_permission(a, "org:invoices:read"), 1);
    a->org_permissions = NULL;
    ck_assert_int_eq(clerk_has_permission(a, "org:invoices:read"), 0);
}
END_TEST

START_TEST(permission_check_does_not_need_a_role)
{
    clerk_auth *a =
        auth_of("{\"sub\":\"user_1\",\"org_id\":\"org_A\",\"org_permissions\":[\"org:a:b\"]}");
    ck_assert_int_eq(clerk_has_permission(a, "org:a:b"), 1);
    ck_assert_int_eq(clerk_has_role(a, "org:admin"), 0);
}
END_TEST

/* --- plans and features --------------------------------------------------------------------- */

START_TEST(plan_scopes_follow_pla_prefixes)
{
    clerk_auth *a = auth_of("{\"sub\":\"user_1\",\"v\":2,\"pla\":\"u:free,o:pro\"}");
    ck_assert_int_eq(clerk_has_plan(a, "free"), 1);
    ck_assert_int_eq(clerk_has_plan(a, "pro"), 1);
    ck_assert_int_eq(clerk_has_plan(a, "user:free"), 1);
    ck_assert_int_eq(clerk_has_plan(a, "u:free"), 1);
    ck_assert_int_eq(clerk_has_plan(a, "org:free"), 0);
    ck_assert_int_eq(clerk_has_plan(a, "o:free"), 0);
    ck_assert_int_eq(clerk_has_plan(a, "org:pro"), 1);
    ck_assert_int_eq(clerk_has_plan(a, "o:pro"), 1);
    ck_assert_int_eq(clerk_has_plan(a, "organization:pro"), 1);
    ck_assert_int_eq(clerk_has_plan(a, "user:pro"), 0);
    ck_assert_int_eq(clerk_has_plan(a, "enterprise"), 0);
    ck_assert_int_eq(clerk_has_plan(a, "Free"), 0);
}
END_TEST

START_TEST(plan_is_read_from_v1_tokens_too)
{
    clerk_auth *a = auth_of("{\"sub\":\"user_1\",\"pla\":\"u:free\"}");
    ck_assert_int_eq(clerk_has_plan(a, "free"), 1);
    ck_assert_int_eq(clerk_has_plan(a, "org:free"), 0);
}
END_TEST

START_TEST(shared_scope_elements_count_for_org_and_user)
{
    clerk_auth *a = auth_of("{\"sub\":\"user_1\",\"v\":2,\"pla\":\"ou:team,uo:scale\"}");
    ck_assert_int_eq(clerk_has_plan(a, "org:team"), 1);
    ck_assert_int_eq(clerk_has_plan(a, "user:team"), 1);
    ck_assert_int_eq(clerk_has_plan(a, "team"), 1);
    ck_assert_int_eq(clerk_has_plan(a, "o:scale"), 1);
    ck_assert_int_eq(clerk_has_plan(a, "u:scale"), 1);
}
END_TEST

START_TEST(pla_elements_with_other_scopes_are_ignored)
{
    clerk_auth *a = auth_of("{\"sub\":\"user_1\",\"pla\":\"x:pro,org:gold,user:silver,o:basic\"}");
    ck_assert_int_eq(clerk_has_plan(a, "pro"), 0);
    ck_assert_int_eq(clerk_has_plan(a, "gold"), 0);
    ck_assert_int_eq(clerk_has_plan(a, "org:gold"), 0);
    ck_assert_int_eq(clerk_has_plan(a, "silver"), 0);
    ck_assert_int_eq(clerk_has_plan(a, "basic"), 1);
}
END_TEST

START_TEST(pla_element_without_colon_denies_every_plan)
{
    clerk_auth *a = auth_of("{\"sub\":\"user_1\",\"pla\":\"u:free,pro\"}");
    ck_assert_int_eq(clerk_has_plan(a, "free"), 0);
    ck_assert_int_eq(clerk_has_plan(a, "pro"), 0);
    a = auth_of("{\"sub\":\"user_1\",\"pla\":\"u:free,\"}"); /* trailing comma: empty element */
    ck_assert_int_eq(clerk_has_plan(a, "free"), 0);
    a = auth_of("{\"sub\":\"user_1\",\"pla\":\"u:free\"}");
    ck_assert_int_eq(clerk_has_plan(a, "free"), 1);
}
END_TEST

START_TEST(asked_plan_with_unknown_scope_is_denied)
{
    clerk_auth *a = auth_of("{\"sub\":\"user_1\",\"pla\":\"o:pro,u:pro\"}");
    ck_assert_int_eq(clerk_has_plan(a, "team:pro"), 0);
    ck_assert_int_eq(clerk_has_plan(a, ":pro"), 0);
    ck_assert_int_eq(clerk_has_plan(a, "ou:pro"), 0);
    ck_assert_int_eq(clerk_has_plan(a, "pro"), 1);
}
END_TEST

START_TEST(absent_empty_or_non_string_pla_denies)
{
    clerk_auth *a = auth_of("{\"sub\":\"user_1\"}");
    ck_assert_int_eq(clerk_has_plan(a, "free"), 0);
    a = auth_of("{\"sub\":\"user_1\",\"pla\":\"\"}");
    ck_assert_int_eq(clerk_has_plan(a, "free"), 0);
    a = auth_of("{\"sub\":\"user_1\",\"pla\":[\"u:free\"]}");
    ck_assert_int_eq(clerk_has_plan(a, "free"), 0);
}
END_TEST

START_TEST(pla_elements_are_trimmed_as_javascript_trims)
{
    clerk_auth *a = auth_of("{\"sub\":\"user_1\",\"pla\":\" u:free ,\\to:pro\\n\"}");
    ck_assert_int_eq(clerk_has_plan(a, "user:free"), 1);
    ck_assert_int_eq(clerk_has_plan(a, "org:pro"), 1);
    /* U+00A0 and U+FEFF are JavaScript white space too; U+200B is not. */
    a = auth_of("{\"sub\":\"user_1\",\"pla\":\"\\u00a0u:free\\ufeff,\\u200bo:pro\"}");
    ck_assert_int_eq(clerk_has_plan(a, "free"), 1);
    ck_assert_int_eq(clerk_has_plan(a, "pro"), 0);
    /* Only the ends of an element are trimmed: "u :x" has the scope "u ", which grants nothing. */
    a = auth_of("{\"sub\":\"user_1\",\"pla\":\"u :x\"}");
    ck_assert_int_eq(clerk_has_plan(a, "x"), 0);
}
END_TEST

START_TEST(asked_name_is_read_up_to_a_second_colon)
{
    /* The SDK's split(':') quirks, refused at configuration time (see the arg checks). */
    clerk_auth *a = auth_of("{\"sub\":\"user_1\",\"pla\":\"o:pro,o:org\"}");
    ck_assert_int_eq(clerk_has_plan(a, "org:pro:extra"), 1);
    ck_assert_int_eq(clerk_has_plan(a, "org:"), 1); /* asks for a plan named "org" */
    a = auth_of("{\"sub\":\"user_1\",\"pla\":\"o:pro:extra\"}");
    ck_assert_int_eq(clerk_has_plan(a, "org:pro:extra"), 0);
    ck_assert_int_eq(clerk_has_plan(a, "pro"), 0);
}
END_TEST

START_TEST(features_are_read_from_fea_not_pla)
{
    clerk_auth *a =
        auth_of("{\"sub\":\"user_1\",\"v\":2,\"pla\":\"u:sso\",\"fea\":\"o:sso,u:export\"}");
    ck_assert_int_eq(clerk_has_feature(a, "sso"), 1);
    ck_assert_int_eq(clerk_has_feature(a, "org:sso"), 1);
    ck_assert_int_eq(clerk_has_feature(a, "user:sso"), 0);
    ck_assert_int_eq(clerk_has_feature(a, "user:export"), 1);
    ck_assert_int_eq(clerk_has_plan(a, "org:sso"), 0);
    ck_assert_int_eq(clerk_has_plan(a, "user:sso"), 1);
    a = auth_of("{\"sub\":\"user_1\",\"fea\":\"o:sso,broken\"}");
    ck_assert_int_eq(clerk_has_feature(a, "sso"), 0);
}
END_TEST

/* --- reverification ------------------------------------------------------------------------- */

static clerk_auth *with_fva(long first, long second)
{
    clerk_auth *a =
        auth_of(apr_psprintf(pool, "{\"sub\":\"user_1\",\"fva\":[%ld,%ld]}", first, second));
    ck_assert_int_eq(a->has_fva, 1);
    return a;
}

START_TEST(reverification_age_equal_to_limit_is_denied)
{
    clerk_auth *a = with_fva(10, 10);
    for (int level = CLERK_REVERIFY_FIRST_FACTOR; level <= CLERK_REVERIFY_MULTI_FACTOR; level++) {
        ck_assert_int_eq(clerk_has_reverification(a, 0, 10, level), 0);
        ck_assert_int_eq(clerk_has_reverification(a, 0, 11, level), 1);
    }
    a = with_fva(0, 0);
    ck_assert_int_eq(clerk_has_reverification(a, 0, 1, CLERK_REVERIFY_MULTI_FACTOR), 1);
}
END_TEST

START_TEST(first_factor_level_reads_the_first_age_only)
{
    clerk_auth *a = with_fva(5, 100);
    ck_assert_int_eq(clerk_has_reverification(a, 0, 10, CLERK_REVERIFY_FIRST_FACTOR), 1);
    ck_assert_int_eq(clerk_has_reverification(a, 0, 10, CLERK_REVERIFY_SECOND_FACTOR), 0);
    ck_assert_int_eq(clerk_has_reverification(a, 0, 10, CLERK_REVERIFY_MULTI_FACTOR), 0);
    a = with_fva(100, 5);
    ck_assert_int_eq(clerk_has_reverification(a, 0, 10, CLERK_REVERIFY_FIRST_FACTOR), 0);
    ck_assert_int_eq(clerk_has_reverification(a, 0, 10, CLERK_REVERIFY_SECOND_FACTOR), 1);
}
END_TEST

START_TEST(second_factor_never_enrolled_falls_back_to_first)
{
    clerk_auth *a = with_fva(5, -1);
    ck_assert_int_eq(clerk_has_reverification(a, 0, 10, CLERK_REVERIFY_SECOND_FACTOR), 1);
    ck_assert_int_eq(clerk_has_reverification(a, 0, 10, CLERK_REVERIFY_MULTI_FACTOR), 1);
    a = with_fva(50, -1);
    ck_assert_int_eq(clerk_has_reverification(a, 0, 10, CLERK_REVERIFY_SECOND_FACTOR), 0);
    ck_assert_int_eq(clerk_has_reverification(a, 0, 10, CLERK_REVERIFY_MULTI_FACTOR), 0);
}
END_TEST

START_TEST(first_factor_never_verified_allows_only_second_factor_level)
{
    clerk_auth *a = with_fva(-1, 5);
    ck_assert_int_eq(clerk_has_reverification(a, 0, 10, CLERK_REVERIFY_FIRST_FACTOR), 0);
    ck_assert_int_eq(clerk_has_reverification(a, 0, 10, CLERK_REVERIFY_SECOND_FACTOR), 1);
    ck_assert_int_eq(clerk_has_reverification(a, 0, 10, CLERK_REVERIFY_MULTI_FACTOR), 0);
}
END_TEST

START_TEST(multi_factor_needs_both_ages_fresh)
{
    ck_assert_int_eq(clerk_has_reverification(with_fva(5, 5), 0, 10, CLERK_REVERIFY_MULTI_FACTOR),
                     1);
    ck_assert_int_eq(clerk_has_reverification(with_fva(5, 50), 0, 10, CLERK_REVERIFY_MULTI_FACTOR),
                     0);
    ck_assert_int_eq(clerk_has_reverification(with_fva(50, 5), 0, 10, CLERK_REVERIFY_MULTI_FACTOR),
                     0);
    ck_assert_int_eq(clerk_has_reverification(with_fva(9, 9), 0, 10, CLERK_REVERIFY_MULTI_FACTOR),
                     1);
}
END_TEST

START_TEST(both_factors_never_verified_is_denied)
{
    clerk_auth *a = with_fva(-1, -1);
    for (int level = CLERK_REVERIFY_FIRST_FACTOR; level <= CLERK_REVERIFY_MULTI_FACTOR; level++)
        ck_assert_int_eq(clerk_has_reverification(a, 0, 1440, level), 0);
}
END_TEST

START_TEST(missing_or_malformed_fva_is_denied)
{
    clerk_auth *a = auth_of("{\"sub\":\"user_1\"}");
    ck_assert_int_eq(clerk_has_reverification(a, 0, 10, CLERK_REVERIFY_FIRST_FACTOR), 0);
    a = auth_of("{\"sub\":\"user_1\",\"fva\":[1]}");
    ck_assert_int_eq(clerk_has_reverification(a, 0, 10, CLERK_REVERIFY_FIRST_FACTOR), 0);
    a = auth_of("{\"sub\":\"user_1\",\"fva\":[1,\"2\"]}");
    ck_assert_int_eq(clerk_has_reverification(a, 0, 10, CLERK_REVERIFY_FIRST_FACTOR), 0);
    /* An age below -1 is not a valid age (the SDK's isValidFactorAge). */
    a = bare_auth();
    a->has_fva = 1;
    a->fva[0] = -2;
    a->fva[1] = 5;
    ck_assert_int_eq(clerk_has_reverification(a, 0, 10, CLERK_REVERIFY_SECOND_FACTOR), 0);
    a->fva[0] = 5;
    a->fva[1] = -7;
    ck_assert_int_eq(clerk_has_reverification(a, 0, 10, CLERK_REVERIFY_FIRST_FACTOR), 0);
}
END_TEST

START_TEST(invalid_minutes_or_level_is_denied)
{
    clerk_auth *a = with_fva(0, 0);
    ck_assert_int_eq(clerk_has_reverification(a, 0, 0, CLERK_REVERIFY_FIRST_FACTOR), 0);
    ck_assert_int_eq(clerk_has_reverification(a, 0, -5, CLERK_REVERIFY_FIRST_FACTOR), 0);
    ck_assert_int_eq(clerk_has_reverification(a, 0, 10, 0), 0);
    ck_assert_int_eq(clerk_has_reverification(a, 0, 10, 4), 0);
    ck_assert_int_eq(clerk_has_reverification(a, 0, 10, CLERK_REVERIFY_FIRST_FACTOR), 1);
}
END_TEST

START_TEST(reverification_ignores_now)
{
    clerk_auth *a = with_fva(3, 3);
    ck_assert_int_eq(clerk_has_reverification(a, 0, 5, CLERK_REVERIFY_SECOND_FACTOR), 1);
    ck_assert_int_eq(
        clerk_has_reverification(a, INT64_C(4102444800000), 5, CLERK_REVERIFY_SECOND_FACTOR), 1);
}
END_TEST

START_TEST(level_names_round_trip)
{
    ck_assert_int_eq(clerk_reverification_level_from_name("first_factor"),
                     CLERK_REVERIFY_FIRST_FACTOR);
    ck_assert_int_eq(clerk_reverification_level_from_name("second_factor"),
                     CLERK_REVERIFY_SECOND_FACTOR);
    ck_assert_int_eq(clerk_reverification_level_from_name("multi_factor"),
                     CLERK_REVERIFY_MULTI_FACTOR);
    ck_assert_int_eq(clerk_reverification_level_from_name("Second_Factor"), -1);
    ck_assert_int_eq(clerk_reverification_level_from_name("strict"), -1);
    ck_assert_int_eq(clerk_reverification_level_from_name(""), -1);
    ck_assert_int_eq(clerk_reverification_level_from_name(NULL), -1);
    ck_assert_str_eq(clerk_reverification_level_name(CLERK_REVERIFY_MULTI_FACTOR), "multi_factor");
    ck_assert_ptr_null(clerk_reverification_level_name(0));
    ck_assert_ptr_null(clerk_reverification_level_name(4));
}
END_TEST

static int parse_rv(const char *line, clerk_reverification *r, clerk_error *err)
{
    const char *argv[8];
    int argc = 0;
    char *copy = apr_pstrdup(pool, line), *state = NULL;
    for (char *t = apr_strtok(copy, " ", &state); t && argc < 8; t = apr_strtok(NULL, " ", &state))
        argv[argc++] = t;
    return clerk_reverification_parse(pool, argc, argv, r, err);
}

START_TEST(reverified_require_line_parses_minutes_and_level)
{
    clerk_reverification r;
    clerk_error err = {0};
    ck_assert_int_eq(parse_rv("10", &r, &err), 0);
    ck_assert_int_eq(r.after_minutes, 10);
    ck_assert_int_eq(r.level, CLERK_REVERIFY_SECOND_FACTOR);
    ck_assert_ptr_null(r.preset);
    ck_assert_int_eq(parse_rv("30 multi_factor", &r, &err), 0);
    ck_assert_int_eq(r.after_minutes, 30);
    ck_assert_int_eq(r.level, CLERK_REVERIFY_MULTI_FACTOR);
    ck_assert_int_eq(parse_rv("2147483647 first_factor", &r, &err), 0);
    ck_assert_int_eq(r.level, CLERK_REVERIFY_FIRST_FACTOR);
}
END_TEST

START_TEST(reverified_presets_are_the_sdks)
{
    static const struct {
        const char *name;
        long minutes;
        int level;
    } want[] = {{"strict_mfa", 10, CLERK_REVERIFY_MULTI_FACTOR},
                {"strict", 10, CLERK_REVERIFY_SECOND_FACTOR},
                {"moderate", 60, CLERK_REVERIFY_SECOND_FACTOR},
                {"lax", 1440, CLERK_REVERIFY_SECOND_FACTOR}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        clerk_reverification r;
        clerk_error err = {0};
        ck_assert_int_eq(parse_rv(want[i].name, &r, &err), 0);
        ck_assert_int_eq(r.after_minutes, want[i].minutes);
        ck_assert_int_eq(r.level, want[i].level);
        ck_assert_str_eq(r.preset, want[i].name);
    }
}
END_TEST

START_TEST(reverified_bad_arguments_are_config_errors)
{
    clerk_reverification r;
    clerk_error err = {0};
    ck_assert_int_eq(parse_rv("", &r, &err), -1);
    ck_assert_str_eq(err.message, "missing minutes or preset (strict_mfa, strict, moderate, lax)");
    ck_assert_int_eq(parse_rv("0", &r, &err), -1);
    ck_assert_str_eq(err.message, "minutes must be a whole number from 1 to 2147483647 or a preset "
                                  "(strict_mfa, strict, moderate, lax), not \"0\"");
    const char *bad_minutes[] = {
        "-1", "+10", "10.5", "ten", "1e3", "2147483648", "99999999999999999999", "10m"};
    for (size_t i = 0; i < sizeof(bad_minutes) / sizeof(bad_minutes[0]); i++) {
        ck_assert_int_eq(parse_rv(bad_minutes[i], &r, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.message, "minutes must be a whole number"));
    }
    ck_assert_int_eq(parse_rv("10 third_factor", &r, &err), -1);
    ck_assert_str_eq(err.message,
                     "unknown level \"third_factor\" (use first_factor, second_factor or "
                     "multi_factor)");
    ck_assert_int_eq(parse_rv("strict first_factor", &r, &err), -1);
    ck_assert_str_eq(err.message, "preset \"strict\" takes no level");
    ck_assert_int_eq(parse_rv("10 first_factor extra", &r, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "too many arguments"));
}
END_TEST

START_TEST(reverification_hint_is_clerks_json)
{
    clerk_reverification r = {10, CLERK_REVERIFY_SECOND_FACTOR, NULL};
    ck_assert_str_eq(clerk_reverification_hint_json(pool, &r),
                     "{\"clerk_error\":{\"type\":\"forbidden\",\"reason\":\"reverification-error\","
                     "\"metadata\":{\"reverification\":{\"level\":\"second_factor\","
                     "\"afterMinutes\":10}}}}");
    clerk_reverification s = {10, CLERK_REVERIFY_MULTI_FACTOR, "strict_mfa"};
    ck_assert_str_eq(clerk_reverification_hint_json(pool, &s),
                     "{\"clerk_error\":{\"type\":\"forbidden\",\"reason\":\"reverification-error\","
                     "\"metadata\":{\"reverification\":\"strict_mfa\"}}}");
}
END_TEST

/* --- configuration-time argument checks ---------------------------------------------------- */

/* The message of a refused argument, or NULL when the argument is usable. */
static const char *refusal(int (*check)(const char *, clerk_error *), const char *arg)
{
    static clerk_error err;
    return check(arg, &err) == 0 ? NULL : err.message;
}

START_TEST(billing_arguments_that_could_never_match_are_refused)
{
    ck_assert_ptr_null(refusal(clerk_has_check_billing_arg, "pro"));
    ck_assert_ptr_null(refusal(clerk_has_check_billing_arg, "org:pro"));
    ck_assert_ptr_null(refusal(clerk_has_check_billing_arg, "organization:pro"));
    ck_assert_ptr_null(refusal(clerk_has_check_billing_arg, "o:pro"));
    ck_assert_ptr_null(refusal(clerk_has_check_billing_arg, "user:pro"));
    ck_assert_ptr_null(refusal(clerk_has_check_billing_arg, "u:pro"));
    ck_assert_str_eq(refusal(clerk_has_check_billing_arg, ""), "empty plan or feature name");
    ck_assert_str_eq(refusal(clerk_has_check_billing_arg, "team:pro"),
                     "\"team:pro\" has an unknown scope \"team\" (use org:, o:, organization:, "
                     "user: or u:)");
    ck_assert_str_eq(refusal(clerk_has_check_billing_arg, ":pro"),
                     "\":pro\" has an unknown scope \"\" (use org:, o:, organization:, user: or "
                     "u:)");
    ck_assert_str_eq(refusal(clerk_has_check_billing_arg, "org:"),
                     "\"org:\" has no name after its scope");
    ck_assert_str_eq(refusal(clerk_has_check_billing_arg, "org:pro:extra"),
                     "\"org:pro:extra\" has more than one ':'");
}
END_TEST

START_TEST(role_permission_and_org_arguments_must_name_something)
{
    ck_assert_ptr_null(refusal(clerk_has_check_role_arg, "org:admin"));
    ck_assert_ptr_null(refusal(clerk_has_check_role_arg, "admin"));
    ck_assert_str_eq(refusal(clerk_has_check_role_arg, ""), "empty role");
    ck_assert_str_eq(refusal(clerk_has_check_role_arg, "org:org:"),
                     "role \"org:org:\" names no role");
    ck_assert_ptr_null(refusal(clerk_has_check_permission_arg, "org:invoices:read"));
    ck_assert_str_eq(refusal(clerk_has_check_permission_arg, ""), "empty permission");
    ck_assert_str_eq(refusal(clerk_has_check_permission_arg, "org:"),
                     "permission \"org:\" names no permission");
    ck_assert_ptr_null(refusal(clerk_has_check_org_arg, "org_2abc"));
    ck_assert_str_eq(refusal(clerk_has_check_org_arg, ""), "empty organization id or slug");
}
END_TEST

/* --- clerk-claim ---------------------------------------------------------------------------- */

static const clerk_claim_matcher *matcher(const char *arg)
{
    clerk_error err = {0};
    const clerk_claim_matcher *m = clerk_claim_matcher_parse(pool, arg, &err);
    ck_assert_msg(m != NULL, "matcher \"%s\" refused: %s", arg, err.message);
    ck_assert_str_eq(err.message, "");
    return m;
}

static int match(const char *arg, const char *payload)
{
    json_t *j = load(payload);
    int r = clerk_claim_match(matcher(arg), j);
    json_decref(j);
    return r;
}

START_TEST(claim_path_walks_nested_objects)
{
    const char *p = "{\"sub\":\"user_1\",\"metadata\":{\"team\":{\"name\":\"red\"}}}";
    ck_assert_int_eq(match("metadata.team.name=red", p), 1);
    ck_assert_int_eq(match("metadata.team.name=blue", p), 0);
    ck_assert_int_eq(match("metadata.team.name=Red", p), 0);
    ck_assert_int_eq(match("metadata.team.name", p), 1);
    ck_assert_int_eq(match("metadata.team.size", p), 0);
    ck_assert_int_eq(match("metadata.squad.name", p), 0);
    ck_assert_int_eq(match("sub=user_1", p), 1);
}
END_TEST

START_TEST(claim_without_value_matches_present_and_not_null_or_false)
{
    const char *p = "{\"s\":\"\",\"z\":0,\"t\":true,\"f\":false,\"n\":null,\"a\":[],\"o\":{}}";
    ck_assert_int_eq(match("s", p), 1);
    ck_assert_int_eq(match("z", p), 1);
    ck_assert_int_eq(match("t", p), 1);
    ck_assert_int_eq(match("a", p), 1);
    ck_assert_int_eq(match("o", p), 1);
    ck_assert_int_eq(match("f", p), 0);
    ck_assert_int_eq(match("n", p), 0);
    ck_assert_int_eq(match("missing", p), 0);
}
END_TEST

START_TEST(claim_numbers_and_booleans_compare_by_json_text)
{
    const char *p = "{\"i\":42,\"r\":1.5,\"w\":42.0,\"t\":true,\"f\":false,\"neg\":-2.5,"
                    "\"tenth\":0.1,\"big\":1e21,\"small\":1e-7,\"micro\":0.000001,"
                    "\"huge\":123456789012345678,\"e20\":1e20}";
    ck_assert_int_eq(match("i=42", p), 1);
    ck_assert_int_eq(match("i=42.0", p), 0);
    ck_assert_int_eq(match("i=042", p), 0);
    ck_assert_int_eq(match("r=1.5", p), 1);
    ck_assert_int_eq(match("r=1.50", p), 0);
    ck_assert_int_eq(match("w=42", p), 1);
    ck_assert_int_eq(match("w=42.0", p), 0);
    ck_assert_int_eq(match("t=true", p), 1);
    ck_assert_int_eq(match("t=1", p), 0);
    ck_assert_int_eq(match("t=True", p), 0);
    ck_assert_int_eq(match("f=false", p), 1);
    ck_assert_int_eq(match("neg=-2.5", p), 1);
    ck_assert_int_eq(match("tenth=0.1", p), 1);
    ck_assert_int_eq(match("big=1e+21", p), 1);
    ck_assert_int_eq(match("small=1e-7", p), 1);
    ck_assert_int_eq(match("micro=0.000001", p), 1);
    ck_assert_int_eq(match("huge=123456789012345678", p), 1);
    ck_assert_int_eq(match("e20=100000000000000000000", p), 1);
}
END_TEST

START_TEST(claim_string_never_equals_a_number_spelled_differently)
{
    ck_assert_int_eq(match("n=42", "{\"n\":\"42\"}"), 1);
    ck_assert_int_eq(match("n=42", "{\"n\":\" 42\"}"), 0);
    ck_assert_int_eq(match("b=true", "{\"b\":\"true\"}"), 1);
}
END_TEST

START_TEST(claim_array_holding_the_value_matches)
{
    const char *p = "{\"roles\":[\"viewer\",\"editor\"],\"nums\":[1,2.5],\"deep\":[[\"x\"]],"
                    "\"mixed\":[{\"a\":1},null,true]}";
    ck_assert_int_eq(match("roles=editor", p), 1);
    ck_assert_int_eq(match("roles=admin", p), 0);
    ck_assert_int_eq(match("nums=2.5", p), 1);
    ck_assert_int_eq(match("nums=3", p), 0);
    ck_assert_int_eq(match("deep=x", p), 0); /* only direct elements */
    ck_assert_int_eq(match("mixed=true", p), 1);
    ck_assert_int_eq(match("mixed=null", p), 0);
}
END_TEST

START_TEST(claim_path_applies_rest_to_each_array_element)
{
    const char *p = "{\"orgs\":[\"plain\",{\"id\":\"a\",\"admin\":false},"
                    "{\"id\":\"b\",\"role\":\"admin\",\"tags\":[\"x\",\"y\"]}]}";
    ck_assert_int_eq(match("orgs.id=b", p), 1);
    ck_assert_int_eq(match("orgs.id=a", p), 1);
    ck_assert_int_eq(match("orgs.id=c", p), 0);
    ck_assert_int_eq(match("orgs.role", p), 1);
    ck_assert_int_eq(match("orgs.admin", p), 0);
    ck_assert_int_eq(match("orgs.role=member", p), 0);
    ck_assert_int_eq(match("orgs.tags=y", p), 1);
    ck_assert_int_eq(match("orgs.tags.z", p), 0);
}
END_TEST

START_TEST(claim_objects_and_null_never_equal_a_value)
{
    ck_assert_int_eq(match("a={\"b\":1}", "{\"a\":{\"b\":1}}"), 0);
    ck_assert_int_eq(match("a=[object Object]", "{\"a\":{}}"), 0);
    ck_assert_int_eq(match("a=null", "{\"a\":null}"), 0);
    ck_assert_int_eq(match("a=null", "{\"a\":\"null\"}"), 1);
    ck_assert_int_eq(match("a=", "{\"a\":null}"), 0);
}
END_TEST

START_TEST(claim_comma_string_is_one_value)
{
    ck_assert_int_eq(match("a=x", "{\"a\":\"x,y\"}"), 0);
    ck_assert_int_eq(match("a=x,y", "{\"a\":\"x,y\"}"), 1);
    ck_assert_int_eq(match("a=x", "{\"a\":[\"x,y\"]}"), 0);
}
END_TEST

START_TEST(claim_value_splits_at_first_equals_and_may_be_empty)
{
    ck_assert_int_eq(match("a=b=c", "{\"a\":\"b=c\"}"), 1);
    ck_assert_int_eq(match("a=b", "{\"a\":\"b=c\"}"), 0);
    ck_assert_int_eq(match("a=", "{\"a\":\"\"}"), 1);
    ck_assert_int_eq(match("a=", "{\"a\":\"x\"}"), 0);
    ck_assert_int_eq(match("a=", "{}"), 0);
}
END_TEST

START_TEST(claim_scalar_in_the_middle_of_the_path_does_not_match)
{
    ck_assert_int_eq(match("a.b", "{\"a\":\"str\"}"), 0);
    ck_assert_int_eq(match("a.length", "{\"a\":\"str\"}"), 0);
    ck_assert_int_eq(match("a.0", "{\"a\":[\"x\"]}"), 0);
}
END_TEST

START_TEST(claim_on_non_object_payload_does_not_match)
{
    const clerk_claim_matcher *m = matcher("a");
    json_t *arr = load("[{\"a\":1}]");
    ck_assert_int_eq(clerk_claim_match(m, arr), 0);
    json_decref(arr);
    ck_assert_int_eq(clerk_claim_match(m, NULL), 0);
}
END_TEST

START_TEST(claim_path_errors_are_reported_at_config_time)
{
    clerk_error err = {0};
    ck_assert_ptr_null(clerk_claim_matcher_parse(pool, "", &err));
    ck_assert_str_eq(err.message, "empty claim path in \"\"");
    ck_assert_ptr_null(clerk_claim_matcher_parse(pool, "=x", &err));
    ck_assert_str_eq(err.message, "empty claim path in \"=x\"");
    ck_assert_ptr_null(clerk_claim_matcher_parse(pool, "a..b=x", &err));
    ck_assert_str_eq(err.message, "empty segment in claim path \"a..b\"");
    ck_assert_ptr_null(clerk_claim_matcher_parse(pool, ".a", &err));
    ck_assert_str_eq(err.message, "empty segment in claim path \".a\"");
    ck_assert_ptr_null(clerk_claim_matcher_parse(pool, "a.", &err));
    ck_assert_str_eq(err.message, "empty segment in claim path \"a.\"");
    ck_assert_ptr_null(clerk_claim_matcher_parse(pool, "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q", &err));
    ck_assert_str_eq(err.message, "claim path has more than 16 segments "
                                  "(\"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q\")");
    const clerk_claim_matcher *m = matcher("a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p=1");
    ck_assert_str_eq(clerk_claim_matcher_text(m), "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p=1");
}
END_TEST

START_TEST(claim_sixteen_deep_path_matches_sixteen_deep_payload)
{
    /* The deepest payload json_strict lets through (16 nested objects) is still walked. */
    const char *path = "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p";
    char payload[256] = "";
    for (const char *c = path; *c; c++)
        if (*c != '.')
            snprintf(payload + strlen(payload), sizeof(payload) - strlen(payload), "{\"%c\":", *c);
    strcat(payload, "7");
    for (int i = 0; i < 16; i++)
        strcat(payload, "}");
    ck_assert_int_eq(match(apr_pstrcat(pool, path, "=7", NULL), payload), 1);
}
END_TEST

START_TEST(claim_walk_past_visit_cap_is_an_error_not_a_miss)
{
    json_t *payload = json_object(), *arr = json_array();
    for (int i = 0; i < CLERK_CLAIM_MAX_VISITS + 10; i++)
        json_array_append_new(arr, json_object());
    json_object_set_new(json_array_get(arr, 0), "x", json_string("hit"));
    json_object_set_new(payload, "a", arr);
    ck_assert_int_eq(clerk_claim_match(matcher("a.x=hit"), payload), 1); /* found first */
    ck_assert_int_eq(clerk_claim_match(matcher("a.x=miss"), payload), -1);
    ck_assert_int_eq(clerk_claim_match(matcher("a=miss"), payload), -1);
    json_decref(payload);
}
END_TEST

START_TEST(claim_walk_past_depth_cap_is_an_error_not_a_miss)
{
    /* Arrays add depth without path segments: 20 nested arrays under "a". */
    json_t *inner = json_pack("{s:i}", "b", 1);
    for (int i = 0; i < 20; i++) {
        json_t *arr = json_array();
        json_array_append_new(arr, inner);
        inner = arr;
    }
    json_t *payload = json_pack("{s:o}", "a", inner);
    ck_assert_int_eq(clerk_claim_match(matcher("a.b=1"), payload), -1);
    ck_assert_int_eq(clerk_claim_match(matcher("c"), payload), 0);
    json_decref(payload);
}
END_TEST

/* @clerk/backend's toAuth() throws for v2 claims with an organization whose fea has an element
 * without ':' (splitByScope), so its has() never answers there: every provider denies. The same
 * fea without an organization, or well formed, leaves the other answers alone. */
START_TEST(fea_that_makes_the_sdk_throw_answers_nothing)
{
    const char *org = "\"o\":{\"id\":\"org_1\",\"slg\":\"acme\",\"rol\":\"admin\"}";
    const char *bad[] = {"\"o:sso,export\"", "\"o:sso,\"", "\" \"", "5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        clerk_auth *a = auth_of(apr_psprintf(pool,
                                             "{\"sub\":\"user_1\",\"v\":2,%s,\"fea\":%s,"
                                             "\"pla\":\"o:pro\",\"fva\":[1,1]}",
                                             org, bad[i]));
        ck_assert_msg(!clerk_has_role(a, "admin"), "fea %s", bad[i]);
        ck_assert_msg(!clerk_has_org(a, "org_1"), "fea %s", bad[i]);
        ck_assert_msg(!clerk_has_plan(a, "pro"), "fea %s", bad[i]);
        ck_assert_msg(!clerk_has_reverification(a, 0, 10, CLERK_REVERIFY_FIRST_FACTOR), "fea %s",
                      bad[i]);
    }
    clerk_auth *ok = auth_of(apr_psprintf(
        pool, "{\"sub\":\"user_1\",\"v\":2,%s,\"fea\":\"o:sso,u:export\",\"pla\":\"o:pro\"}", org));
    ck_assert_int_eq(clerk_has_role(ok, "admin"), 1);
    ck_assert_int_eq(clerk_has_plan(ok, "pro"), 1);
    clerk_auth *personal =
        auth_of("{\"sub\":\"user_1\",\"v\":2,\"fea\":\"export\",\"pla\":\"u:free\"}");
    ck_assert_int_eq(clerk_has_plan(personal, "free"), 1);
}
END_TEST

Suite *has_suite(void)
{
    Suite *s = suite_create("has");
    TCase *tc = tcase_create("org");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, v1_role_matches_with_or_without_org_prefix);
    tcase_add_test(tc, v1_role_without_org_prefix_in_token_still_matches);
    tcase_add_test(tc, v2_role_comes_from_o_rol_with_org_prefix);
    tcase_add_test(tc, role_without_active_org_is_denied);
    tcase_add_test(tc, active_org_without_role_denies_every_role);
    tcase_add_test(tc, user_active_in_another_org_gets_that_orgs_role_only);
    tcase_add_test(tc, org_matches_id_or_slug_exactly);
    tcase_add_test(tc, no_user_denies_every_check);
    tcase_add_test(tc, v1_permission_list_is_matched_with_org_prefix_normalised);
    tcase_add_test(tc, v1_permission_entries_are_not_normalised);
    tcase_add_test(tc, v2_permissions_come_from_org_features_and_bitmasks);
    tcase_add_test(tc, v2_permission_of_feature_missing_from_fea_is_denied);
    tcase_add_test(tc, permission_without_active_org_is_denied);
    tcase_add_test(tc, permission_check_does_not_need_a_role);
    suite_add_tcase(s, tc);

    tc = tcase_create("billing");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, plan_scopes_follow_pla_prefixes);
    tcase_add_test(tc, plan_is_read_from_v1_tokens_too);
    tcase_add_test(tc, shared_scope_elements_count_for_org_and_user);
    tcase_add_test(tc, pla_elements_with_other_scopes_are_ignored);
    tcase_add_test(tc, pla_element_without_colon_denies_every_plan);
    tcase_add_test(tc, asked_plan_with_unknown_scope_is_denied);
    tcase_add_test(tc, absent_empty_or_non_string_pla_denies);
    tcase_add_test(tc, pla_elements_are_trimmed_as_javascript_trims);
    tcase_add_test(tc, asked_name_is_read_up_to_a_second_colon);
    tcase_add_test(tc, features_are_read_from_fea_not_pla);
    suite_add_tcase(s, tc);

    tc = tcase_create("reverification");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, reverification_age_equal_to_limit_is_denied);
    tcase_add_test(tc, first_factor_level_reads_the_first_age_only);
    tcase_add_test(tc, second_factor_never_enrolled_falls_back_to_first);
    tcase_add_test(tc, first_factor_never_verified_allows_only_second_factor_level);
    tcase_add_test(tc, multi_factor_needs_both_ages_fresh);
    tcase_add_test(tc, both_factors_never_verified_is_denied);
    tcase_add_test(tc, missing_or_malformed_fva_is_denied);
    tcase_add_test(tc, invalid_minutes_or_level_is_denied);
    tcase_add_test(tc, reverification_ignores_now);
    tcase_add_test(tc, level_names_round_trip);
    tcase_add_test(tc, reverified_require_line_parses_minutes_and_level);
    tcase_add_test(tc, reverified_presets_are_the_sdks);
    tcase_add_test(tc, reverified_bad_arguments_are_config_errors);
    tcase_add_test(tc, reverification_hint_is_clerks_json);
    suite_add_tcase(s, tc);

    tc = tcase_create("args");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, billing_arguments_that_could_never_match_are_refused);
    tcase_add_test(tc, role_permission_and_org_arguments_must_name_something);
    suite_add_tcase(s, tc);

    tc = tcase_create("claim");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, claim_path_walks_nested_objects);
    tcase_add_test(tc, claim_without_value_matches_present_and_not_null_or_false);
    tcase_add_test(tc, claim_numbers_and_booleans_compare_by_json_text);
    tcase_add_test(tc, claim_string_never_equals_a_number_spelled_differently);
    tcase_add_test(tc, claim_array_holding_the_value_matches);
    tcase_add_test(tc, claim_path_applies_rest_to_each_array_element);
    tcase_add_test(tc, claim_objects_and_null_never_equal_a_value);
    tcase_add_test(tc, claim_comma_string_is_one_value);
    tcase_add_test(tc, claim_value_splits_at_first_equals_and_may_be_empty);
    tcase_add_test(tc, claim_scalar_in_the_middle_of_the_path_does_not_match);
    tcase_add_test(tc, claim_on_non_object_payload_does_not_match);
    tcase_add_test(tc, claim_path_errors_are_reported_at_config_time);
    tcase_add_test(tc, claim_sixteen_deep_path_matches_sixteen_deep_payload);
    tcase_add_test(tc, claim_walk_past_visit_cap_is_an_error_not_a_miss);
    tcase_add_test(tc, claim_walk_past_depth_cap_is_an_error_not_a_miss);
    tcase_add_test(tc, fea_that_makes_the_sdk_throw_answers_nothing);
    suite_add_tcase(s, tc);
    return s;
}
