/* Claim rules (Clerk's assertions.ts order and messages, plus our stricter rules) and the reason
 * table with Clerk's full-message format. */
#include <string.h>
#include <jansson.h>
#include "claims.h"
#include "reason.h"
#include "unit.h"

/* Tue, 14 Nov 2023 22:13:20 GMT */
#define NOW_S  INT64_C(1700000000)
#define NOW_MS (NOW_S * 1000)

static clerk_verify_opts opts(void)
{
    clerk_verify_opts o = {0};
    o.now_ms = NOW_MS;
    o.skew_ms = 5000;
    return o;
}

/* Runs the claim rules on a payload given as JSON text; returns what clerk_claims_check does. */
static int check_json(const char *json, const clerk_verify_opts *o, clerk_error *err)
{
    json_error_t jerr;
    json_t *payload = json_loads(json, 0, &jerr);
    ck_assert_msg(payload != NULL, "test payload does not parse: %s", jerr.text);
    clerk_claims c;
    clerk_claims_extract(payload, &c);
    memset(err, 0, sizeof *err);
    int rc = clerk_claims_check(&c, o, err);
    json_decref(payload);
    return rc;
}

/* A payload with sub and the given extra members, exp one minute ahead unless overridden. */
static const char *payload(const char *extra)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "{\"sub\":\"user_1\"%s%s}", extra[0] ? "," : "", extra);
    return buf;
}

#define EXP_OK "\"exp\":1700000060"

START_TEST(valid_claims_pass)
{
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(check_json(payload(EXP_OK ",\"nbf\":1699999990,\"iat\":1700000000"), &o, &err),
                     0);
    ck_assert_int_eq(err.reason, CLERK_R_NONE);
}
END_TEST

START_TEST(exp_exactly_at_now_minus_skew_is_expired)
{
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(check_json(payload("\"exp\":1699999995"), &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_EXPIRED);
}
END_TEST

START_TEST(exp_one_second_after_now_minus_skew_is_accepted)
{
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(check_json(payload("\"exp\":1699999996"), &o, &err), 0);
}
END_TEST

START_TEST(expired_message_uses_js_utc_dates)
{
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(check_json(payload("\"exp\":1699999940"), &o, &err), -1);
    ck_assert_str_eq(err.message, "JWT is expired. Expiry date: Tue, 14 Nov 2023 22:12:20 GMT, "
                                  "Current date: Tue, 14 Nov 2023 22:13:20 GMT.");
}
END_TEST

START_TEST(zero_skew_is_honoured_not_replaced_by_default)
{
    clerk_verify_opts o = opts();
    o.skew_ms = 0;
    clerk_error err;
    ck_assert_int_eq(check_json(payload("\"exp\":1700000000"), &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_EXPIRED);
    ck_assert_int_eq(check_json(payload("\"exp\":1700000001"), &o, &err), 0);
}
END_TEST

START_TEST(nbf_exactly_at_now_plus_skew_is_accepted)
{
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(check_json(payload(EXP_OK ",\"nbf\":1700000005"), &o, &err), 0);
}
END_TEST

START_TEST(nbf_one_second_past_now_plus_skew_is_not_active_yet)
{
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(check_json(payload(EXP_OK ",\"nbf\":1700000006"), &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_NOT_ACTIVE_YET);
    ck_assert_str_eq(err.message, "JWT cannot be used prior to not before date claim (nbf). Not "
                                  "before date: Tue, 14 Nov 2023 22:13:26 GMT; Current date: Tue, "
                                  "14 Nov 2023 22:13:20 GMT;");
}
END_TEST

START_TEST(iat_past_now_plus_skew_is_in_the_future)
{
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(check_json(payload(EXP_OK ",\"iat\":1700000005"), &o, &err), 0);
    ck_assert_int_eq(check_json(payload(EXP_OK ",\"iat\":1700000006"), &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_IAT_IN_THE_FUTURE);
    ck_assert_str_eq(err.message, "JWT issued at date claim (iat) is in the future. Issued at "
                                  "date: Tue, 14 Nov 2023 22:13:26 GMT; Current date: Tue, 14 Nov "
                                  "2023 22:13:20 GMT;");
}
END_TEST

START_TEST(string_exp_is_verification_failed)
{
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(check_json(payload("\"exp\":\"1700000060\""), &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_VERIFICATION_FAILED);
    ck_assert_str_eq(err.message,
                     "Invalid JWT expiry date claim (exp) \"1700000060\". Expected number.");
}
END_TEST

START_TEST(missing_exp_is_verification_failed)
{
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(check_json(payload(""), &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_VERIFICATION_FAILED);
    ck_assert_str_eq(err.message,
                     "Invalid JWT expiry date claim (exp) undefined. Expected number.");
}
END_TEST

START_TEST(float_exp_is_refused_stricter_than_clerk)
{
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(check_json(payload("\"exp\":1700000060.5"), &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_VERIFICATION_FAILED);
    ck_assert_ptr_nonnull(strstr(err.message, "(exp) 1700000060.5"));
}
END_TEST

START_TEST(exp_out_of_range_is_refused)
{
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(check_json(payload("\"exp\":-1"), &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_VERIFICATION_FAILED);
    ck_assert_int_eq(check_json(payload("\"exp\":253402300800"), &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_VERIFICATION_FAILED);
    ck_assert_int_eq(check_json(payload("\"exp\":253402300799"), &o, &err), 0);
}
END_TEST

START_TEST(non_number_nbf_and_iat_are_verification_failed)
{
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(check_json(payload(EXP_OK ",\"nbf\":\"x\""), &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_VERIFICATION_FAILED);
    ck_assert_str_eq(err.message,
                     "Invalid JWT not before date claim (nbf) \"x\". Expected number.");
    ck_assert_int_eq(check_json(payload(EXP_OK ",\"iat\":null"), &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_VERIFICATION_FAILED);
    ck_assert_str_eq(err.message, "Invalid JWT issued at date claim (iat) null. Expected number.");
}
END_TEST

START_TEST(non_string_sub_is_verification_failed)
{
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(check_json("{\"sub\":42," EXP_OK "}", &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_VERIFICATION_FAILED);
    ck_assert_str_eq(err.message,
                     "Subject claim (sub) is required and must be a string. Received 42.");
    ck_assert_int_eq(check_json("{" EXP_OK "}", &o, &err), -1);
    ck_assert_str_eq(err.message,
                     "Subject claim (sub) is required and must be a string. Received undefined.");
}
END_TEST

START_TEST(empty_sub_is_refused_our_stricter_rule)
{
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(check_json("{\"sub\":\"\"," EXP_OK "}", &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_VERIFICATION_FAILED);
}
END_TEST

START_TEST(sub_is_checked_before_exp)
{
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(check_json("{\"sub\":true,\"exp\":1}", &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_VERIFICATION_FAILED);
    ck_assert_ptr_nonnull(strstr(err.message, "Subject claim"));
}
END_TEST

static const char *const parties[] = {"https://a.example", "https://b.example"};

START_TEST(azp_in_authorized_parties_passes)
{
    clerk_verify_opts o = opts();
    o.azp = parties;
    o.n_azp = 2;
    clerk_error err;
    ck_assert_int_eq(check_json(payload(EXP_OK ",\"azp\":\"https://b.example\""), &o, &err), 0);
}
END_TEST

START_TEST(azp_not_in_authorized_parties_is_denied)
{
    clerk_verify_opts o = opts();
    o.azp = parties;
    o.n_azp = 2;
    clerk_error err;
    ck_assert_int_eq(check_json(payload(EXP_OK ",\"azp\":\"https://a.example/\""), &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_INVALID_AUTHORIZED_PARTIES);
    ck_assert_str_eq(err.message, "Invalid JWT Authorized party claim (azp) "
                                  "\"https://a.example/\". Expected "
                                  "\"https://a.example,https://b.example\".");
}
END_TEST

START_TEST(missing_or_empty_azp_is_denied_when_parties_set)
{
    clerk_verify_opts o = opts();
    o.azp = parties;
    o.n_azp = 2;
    clerk_error err;
    ck_assert_int_eq(check_json(payload(EXP_OK), &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_INVALID_AUTHORIZED_PARTIES);
    ck_assert_ptr_nonnull(strstr(err.message, "(azp) undefined."));
    ck_assert_int_eq(check_json(payload(EXP_OK ",\"azp\":\"\""), &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_INVALID_AUTHORIZED_PARTIES);
}
END_TEST

START_TEST(missing_azp_passes_without_authorized_parties)
{
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(check_json(payload(EXP_OK ",\"azp\":\"https://any.example\""), &o, &err), 0);
    ck_assert_int_eq(check_json(payload(EXP_OK), &o, &err), 0);
}
END_TEST

START_TEST(azp_is_checked_before_exp)
{
    clerk_verify_opts o = opts();
    o.azp = parties;
    o.n_azp = 2;
    clerk_error err;
    ck_assert_int_eq(check_json(payload("\"exp\":1,\"azp\":\"https://evil.example\""), &o, &err),
                     -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_INVALID_AUTHORIZED_PARTIES);
}
END_TEST

static const char *const audiences[] = {"api-1", "api-2"};

START_TEST(aud_string_in_audiences_passes_and_outside_fails)
{
    clerk_verify_opts o = opts();
    o.aud = audiences;
    o.n_aud = 2;
    clerk_error err;
    ck_assert_int_eq(check_json(payload(EXP_OK ",\"aud\":\"api-2\""), &o, &err), 0);
    ck_assert_int_eq(check_json(payload(EXP_OK ",\"aud\":\"api-3\""), &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_VERIFICATION_FAILED);
    ck_assert_str_eq(err.message, "Invalid JWT audience claim (aud) \"api-3\". Is not included in "
                                  "\"[\"api-1\",\"api-2\"]\".");
}
END_TEST

START_TEST(aud_array_must_intersect_audiences)
{
    clerk_verify_opts o = opts();
    o.aud = audiences;
    o.n_aud = 2;
    clerk_error err;
    ck_assert_int_eq(check_json(payload(EXP_OK ",\"aud\":[\"x\",\"api-1\"]"), &o, &err), 0);
    ck_assert_int_eq(check_json(payload(EXP_OK ",\"aud\":[\"x\",\"y\"]"), &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_VERIFICATION_FAILED);
    ck_assert_str_eq(err.message, "Invalid JWT audience claim array (aud) [\"x\",\"y\"]. Is not "
                                  "included in \"[\"api-1\",\"api-2\"]\".");
}
END_TEST

START_TEST(aud_is_ignored_without_audiences_or_without_claim)
{
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(check_json(payload(EXP_OK ",\"aud\":\"anything\""), &o, &err), 0);
    o.aud = audiences;
    o.n_aud = 2;
    ck_assert_int_eq(check_json(payload(EXP_OK), &o, &err), 0);
    ck_assert_int_eq(check_json(payload(EXP_OK ",\"aud\":\"\""), &o, &err), 0);
    ck_assert_int_eq(check_json(payload(EXP_OK ",\"aud\":[]"), &o, &err), 0);
}
END_TEST

START_TEST(aud_of_other_type_fails_when_audiences_set)
{
    clerk_verify_opts o = opts();
    o.aud = audiences;
    o.n_aud = 2;
    clerk_error err;
    ck_assert_int_eq(check_json(payload(EXP_OK ",\"aud\":7"), &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_VERIFICATION_FAILED);
}
END_TEST

START_TEST(issuer_is_not_checked_unless_configured)
{
    clerk_verify_opts o = opts();
    clerk_error err;
    ck_assert_int_eq(check_json(payload(EXP_OK ",\"iss\":\"https://other.example\""), &o, &err), 0);
}
END_TEST

START_TEST(configured_issuer_must_match_exactly)
{
    clerk_verify_opts o = opts();
    o.issuer = "https://clerk.example.com";
    clerk_error err;
    ck_assert_int_eq(check_json(payload(EXP_OK ",\"iss\":\"https://clerk.example.com\""), &o, &err),
                     0);
    ck_assert_int_eq(
        check_json(payload(EXP_OK ",\"iss\":\"https://clerk.example.com/\""), &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_VERIFICATION_FAILED);
    ck_assert_ptr_nonnull(strstr(err.message, "ClerkIssuer"));
    ck_assert_ptr_null(strstr(err.message, "clerk.example.com/"));
    ck_assert_int_eq(check_json(payload(EXP_OK), &o, &err), -1);
}
END_TEST

START_TEST(issuer_is_checked_after_time_claims)
{
    clerk_verify_opts o = opts();
    o.issuer = "https://clerk.example.com";
    clerk_error err;
    ck_assert_int_eq(check_json(payload("\"exp\":1,\"iss\":\"https://x\""), &o, &err), -1);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_EXPIRED);
}
END_TEST

/* --- reason table and messages ---------------------------------------------------------- */

START_TEST(every_reason_has_a_string)
{
    ck_assert_str_eq(clerk_reason_str(CLERK_R_NONE), "");
    for (int r = CLERK_R_NONE + 1; r < CLERK_R__COUNT; r++)
        ck_assert_msg(clerk_reason_str((clerk_reason)r)[0] != '\0', "reason %d has no string", r);
    ck_assert_str_eq(clerk_reason_str(CLERK_R__COUNT), "");
}
END_TEST

START_TEST(reason_strings_are_clerks)
{
    ck_assert_str_eq(clerk_reason_str(CLERK_R_TOKEN_EXPIRED), "token-expired");
    ck_assert_str_eq(clerk_reason_str(CLERK_R_TOKEN_INVALID_AUTHORIZED_PARTIES),
                     "token-invalid-authorized-parties");
    ck_assert_str_eq(clerk_reason_str(CLERK_R_TOKEN_IAT_IN_THE_FUTURE), "token-iat-in-the-future");
    ck_assert_str_eq(clerk_reason_str(CLERK_R_JWK_KID_MISMATCH), "jwk-kid-mismatch");
    ck_assert_str_eq(clerk_reason_str(CLERK_R_SESSION_TOKEN_EXPIRED_NO_REFRESH_COOKIE),
                     "session-token-expired-refresh-non-eligible-no-refresh-cookie");
    ck_assert_str_eq(clerk_reason_str(CLERK_R_SESSION_TOKEN_EXPIRED_NON_GET),
                     "session-token-expired-refresh-non-eligible-non-get");
    ck_assert_str_eq(clerk_reason_str(CLERK_R_SESSION_TOKEN_AND_UAT_MISSING),
                     "session-token-and-uat-missing");
    ck_assert_str_eq(clerk_reason_str(CLERK_R_TOKEN_TYPE_MISMATCH), "token-type-mismatch");
    ck_assert_str_eq(clerk_reason_str(CLERK_R_SESSION_PENDING), "session-pending");
}
END_TEST

START_TEST(token_errors_are_only_verification_reasons)
{
    ck_assert_int_eq(clerk_reason_is_token_error(CLERK_R_TOKEN_EXPIRED), 1);
    ck_assert_int_eq(clerk_reason_is_token_error(CLERK_R_SECRET_KEY_INVALID), 1);
    ck_assert_int_eq(clerk_reason_is_token_error(CLERK_R_JWK_KID_MISMATCH), 1);
    ck_assert_int_eq(clerk_reason_is_token_error(CLERK_R_NONE), 0);
    ck_assert_int_eq(clerk_reason_is_token_error(CLERK_R_TOKEN_TYPE_MISMATCH), 0);
    ck_assert_int_eq(clerk_reason_is_token_error(CLERK_R_SESSION_TOKEN_MISSING), 0);
}
END_TEST

START_TEST(full_message_without_action_as_clerk)
{
    clerk_error e;
    clerk_error_set(&e, CLERK_R_TOKEN_EXPIRED, "JWT is expired.");
    char buf[600];
    ck_assert_str_eq(clerk_error_full_message(&e, "cookie", buf, sizeof buf),
                     "JWT is expired. (reason=token-expired, token-carrier=cookie)");
}
END_TEST

START_TEST(full_message_appends_clerks_action)
{
    clerk_error e;
    clerk_error_set(&e, CLERK_R_TOKEN_VERIFICATION_FAILED, "Subject claim (sub) %s.", "bad");
    char buf[600];
    ck_assert_str_eq(clerk_error_full_message(&e, "header", buf, sizeof buf),
                     "Subject claim (sub) bad. Make sure that this is a valid Clerk-generated "
                     "JWT. (reason=token-verification-failed, token-carrier=header)");
}
END_TEST

START_TEST(decode_errors_carry_no_action_as_clerk)
{
    clerk_error e;
    clerk_error_set(&e, CLERK_R_TOKEN_INVALID,
                    "Invalid JWT form. A JWT consists of three parts separated by dots.");
    char buf[600];
    ck_assert_str_eq(clerk_error_full_message(&e, "header", buf, sizeof buf),
                     "Invalid JWT form. A JWT consists of three parts separated by dots. "
                     "(reason=token-invalid, token-carrier=header)");
    clerk_error_set(&e, CLERK_R_TOKEN_INVALID, "Invalid session token category.");
    ck_assert_str_eq(clerk_error_full_message(&e, "cookie", buf, sizeof buf),
                     "Invalid session token category. Make sure that this is a valid "
                     "Clerk-generated JWT. (reason=token-invalid, token-carrier=cookie)");
}
END_TEST

START_TEST(kid_mismatch_action_is_clerks_dashboard_hint)
{
    ck_assert_str_eq(clerk_reason_action(CLERK_R_JWK_KID_MISMATCH),
                     "Go to your Dashboard and validate your secret and public keys are correct. "
                     "Contact support@clerk.com if the issue persists.");
    ck_assert_ptr_null(clerk_reason_action(CLERK_R_TOKEN_INVALID_SIGNATURE));
    ck_assert_str_eq(clerk_reason_action(CLERK_R_JWK_FAILED_TO_RESOLVE),
                     "Set the CLERK_JWT_KEY environment variable.");
}
END_TEST

START_TEST(error_message_is_bounded)
{
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    clerk_error e;
    ck_assert_int_eq(clerk_error_set(&e, CLERK_R_TOKEN_INVALID, "%s", big), -1);
    ck_assert_uint_eq(strlen(e.message), CLERK_ERROR_MESSAGE_MAX - 1);
    char small[32];
    clerk_error_full_message(&e, "header", small, sizeof small);
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    ck_assert_int_eq(clerk_error_set(NULL, CLERK_R_TOKEN_INVALID, "x"), -1);
}
END_TEST

Suite *claims_suite(void)
{
    Suite *s = suite_create("claims");
    TCase *t = tcase_create("time");
    tcase_add_test(t, valid_claims_pass);
    tcase_add_test(t, exp_exactly_at_now_minus_skew_is_expired);
    tcase_add_test(t, exp_one_second_after_now_minus_skew_is_accepted);
    tcase_add_test(t, expired_message_uses_js_utc_dates);
    tcase_add_test(t, zero_skew_is_honoured_not_replaced_by_default);
    tcase_add_test(t, nbf_exactly_at_now_plus_skew_is_accepted);
    tcase_add_test(t, nbf_one_second_past_now_plus_skew_is_not_active_yet);
    tcase_add_test(t, iat_past_now_plus_skew_is_in_the_future);
    tcase_add_test(t, string_exp_is_verification_failed);
    tcase_add_test(t, missing_exp_is_verification_failed);
    tcase_add_test(t, float_exp_is_refused_stricter_than_clerk);
    tcase_add_test(t, exp_out_of_range_is_refused);
    tcase_add_test(t, non_number_nbf_and_iat_are_verification_failed);
    suite_add_tcase(s, t);

    t = tcase_create("subject_parties_audience_issuer");
    tcase_add_test(t, non_string_sub_is_verification_failed);
    tcase_add_test(t, empty_sub_is_refused_our_stricter_rule);
    tcase_add_test(t, sub_is_checked_before_exp);
    tcase_add_test(t, azp_in_authorized_parties_passes);
    tcase_add_test(t, azp_not_in_authorized_parties_is_denied);
    tcase_add_test(t, missing_or_empty_azp_is_denied_when_parties_set);
    tcase_add_test(t, missing_azp_passes_without_authorized_parties);
    tcase_add_test(t, azp_is_checked_before_exp);
    tcase_add_test(t, aud_string_in_audiences_passes_and_outside_fails);
    tcase_add_test(t, aud_array_must_intersect_audiences);
    tcase_add_test(t, aud_is_ignored_without_audiences_or_without_claim);
    tcase_add_test(t, aud_of_other_type_fails_when_audiences_set);
    tcase_add_test(t, issuer_is_not_checked_unless_configured);
    tcase_add_test(t, configured_issuer_must_match_exactly);
    tcase_add_test(t, issuer_is_checked_after_time_claims);
    suite_add_tcase(s, t);

    t = tcase_create("reason");
    tcase_add_test(t, every_reason_has_a_string);
    tcase_add_test(t, reason_strings_are_clerks);
    tcase_add_test(t, token_errors_are_only_verification_reasons);
    tcase_add_test(t, full_message_without_action_as_clerk);
    tcase_add_test(t, full_message_appends_clerks_action);
    tcase_add_test(t, decode_errors_carry_no_action_as_clerk);
    tcase_add_test(t, kid_mismatch_action_is_clerks_dashboard_hint);
    tcase_add_test(t, error_message_is_bounded);
    suite_add_tcase(s, t);
    return s;
}
