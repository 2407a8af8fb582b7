/* JWT decoding: form, strict base64url, strict JSON, header fields. No signatures checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jws.h"
#include "jwt.h"
#include "mint.h"
#include "unit.h"

/* "<b64url(header)>.<b64url(payload)>.<sig>" from raw JSON texts (len-aware for NUL bytes). */
static char *token3(const char *h, size_t hlen, const char *p, size_t plen, const char *sig)
{
    char *hb = mint_b64url((const unsigned char *)h, hlen);
    char *pb = mint_b64url((const unsigned char *)p, plen);
    size_t cap = strlen(hb) + strlen(pb) + strlen(sig) + 3;
    char *t = malloc(cap);
    snprintf(t, cap, "%s.%s.%s", hb, pb, sig);
    free(hb);
    free(pb);
    return t;
}

static char *token(const char *h, const char *p)
{
    return token3(h, strlen(h), p, strlen(p), "c2ln");
}

/* Decodes t, expecting failure; returns the error (reason checked here). */
static clerk_error decode_fails(const char *t, size_t max_len)
{
    clerk_jwt *jwt = (clerk_jwt *)0x1;
    clerk_error err = {0};
    ck_assert_int_eq(clerk_jwt_decode(t, strlen(t), max_len, &jwt, &err), -1);
    ck_assert_ptr_null(jwt);
    ck_assert_int_eq(err.reason, CLERK_R_TOKEN_INVALID);
    return err;
}

static clerk_jwt *decode_ok(const char *t)
{
    clerk_jwt *jwt = NULL;
    clerk_error err = {0};
    ck_assert_msg(clerk_jwt_decode(t, strlen(t), 0, &jwt, &err) == 0, "%s", err.message);
    ck_assert_ptr_nonnull(jwt);
    return jwt;
}

START_TEST(two_segments_is_invalid_form)
{
    clerk_error e = decode_fails("eyJhbGciOiJSUzI1NiJ9.e30", 0);
    ck_assert_str_eq(e.message,
                     "Invalid JWT form. A JWT consists of three parts separated by dots.");
}
END_TEST

START_TEST(four_segments_is_invalid_form)
{
    clerk_error e = decode_fails("eyJhbGciOiJSUzI1NiJ9.e30.c2ln.c2ln", 0);
    ck_assert_str_eq(e.message,
                     "Invalid JWT form. A JWT consists of three parts separated by dots.");
    e = decode_fails("", 0);
    ck_assert_str_eq(e.message,
                     "Invalid JWT form. A JWT consists of three parts separated by dots.");
    e = decode_fails("..", 0);
    ck_assert_str_eq(e.message, "Invalid JWT form. The header could not be decoded.");
}
END_TEST

START_TEST(bad_base64url_character_in_header_is_refused)
{
    char *t = token("{\"alg\":\"RS256\"}", "{}");
    t[3] = '+';
    clerk_error e = decode_fails(t, 0);
    ck_assert_str_eq(e.message, "Invalid JWT form. The header could not be decoded.");
    free(t);
}
END_TEST

START_TEST(padded_segment_is_refused)
{
    /* {"a":1} encodes to 10 characters, so it needs "==" in padded form. */
    clerk_error e = decode_fails("eyJhIjoxfQ==.e30.c2ln", 0);
    ck_assert_str_eq(e.message, "Invalid JWT form. The header could not be decoded.");
    e = decode_fails("eyJhIjoxfQ.eyJhIjoxfQ==.c2ln", 0);
    ck_assert_str_eq(e.message, "Invalid JWT form. The payload could not be decoded.");
    e = decode_fails("eyJhIjoxfQ.e30.c2lnMQ==", 0);
    ck_assert_str_eq(e.message, "Invalid JWT form. The signature could not be decoded.");
}
END_TEST

START_TEST(header_that_is_not_json_is_refused)
{
    char *t = token("{\"alg\":\"RS256\"", "{}");
    clerk_error e = decode_fails(t, 0);
    ck_assert_str_eq(e.message, "Invalid JWT form. The header could not be decoded.");
    free(t);
}
END_TEST

START_TEST(payload_that_is_an_array_is_refused)
{
    char *t = token("{\"alg\":\"RS256\"}", "[\"sub\",\"user_1\"]");
    clerk_error e = decode_fails(t, 0);
    ck_assert_str_eq(e.message, "Invalid JWT form. The payload could not be decoded.");
    free(t);
    t = token("{\"alg\":\"RS256\"}", "\"user_1\"");
    decode_fails(t, 0);
    free(t);
}
END_TEST

START_TEST(duplicate_keys_in_header_are_refused)
{
    char *t = token("{\"alg\":\"RS256\",\"alg\":\"none\"}", "{}");
    clerk_error e = decode_fails(t, 0);
    ck_assert_str_eq(e.message, "Invalid JWT form. The header could not be decoded.");
    free(t);
}
END_TEST

START_TEST(duplicate_keys_in_payload_are_refused)
{
    char *t = token("{\"alg\":\"RS256\"}", "{\"sub\":\"user_1\",\"sub\":\"user_2\"}");
    clerk_error e = decode_fails(t, 0);
    ck_assert_str_eq(e.message, "Invalid JWT form. The payload could not be decoded.");
    free(t);
    /* Duplicates inside a nested object count too. */
    t = token("{\"alg\":\"RS256\"}", "{\"o\":{\"id\":\"a\",\"id\":\"b\"}}");
    decode_fails(t, 0);
    free(t);
}
END_TEST

/* A payload {"a":[[...[1]...]]} with depth levels of nesting in total. */
static char *nested_payload(int depth)
{
    char *p = malloc((size_t)depth * 2 + 16);
    strcpy(p, "{\"a\":");
    size_t n = strlen(p);
    for (int i = 1; i < depth; i++)
        p[n++] = '[';
    p[n++] = '1';
    for (int i = 1; i < depth; i++)
        p[n++] = ']';
    p[n++] = '}';
    p[n] = '\0';
    return p;
}

START_TEST(nesting_deeper_than_sixteen_is_refused)
{
    char *p = nested_payload(16);
    char *t = token("{\"alg\":\"RS256\"}", p);
    clerk_jwt_free(decode_ok(t));
    free(t);
    free(p);

    p = nested_payload(17);
    t = token("{\"alg\":\"RS256\"}", p);
    decode_fails(t, 0);
    free(t);
    free(p);

    /* Far deeper than any recursive parser should see: refused by the pre-scan. */
    p = nested_payload(5000);
    t = token("{\"alg\":\"RS256\"}", p);
    decode_fails(t, 100000);
    free(t);
    free(p);
}
END_TEST

START_TEST(brackets_inside_strings_do_not_count_as_nesting)
{
    char p[128];
    snprintf(p, sizeof p, "{\"a\":\"%s\\\"[[[[[[[[\"}", "[[[[[[[[[[[[[[[[[[[[");
    char *t = token("{\"alg\":\"RS256\"}", p);
    clerk_jwt *jwt = decode_ok(t);
    ck_assert_str_eq(json_string_value(json_object_get(jwt->payload, "a")),
                     "[[[[[[[[[[[[[[[[[[[[\"[[[[[[[[");
    clerk_jwt_free(jwt);
    free(t);
}
END_TEST

START_TEST(token_over_max_size_is_refused_before_decoding)
{
    char *t = token("{\"alg\":\"RS256\"}", "{\"sub\":\"user_1\"}");
    size_t len = strlen(t);
    clerk_error e = decode_fails(t, len - 1);
    char want[128];
    snprintf(want, sizeof want, "Invalid JWT form. The token is longer than %zu bytes.", len - 1);
    ck_assert_str_eq(e.message, want);
    clerk_jwt *jwt = NULL;
    ck_assert_int_eq(clerk_jwt_decode(t, len, len, &jwt, &e), 0);
    clerk_jwt_free(jwt);
    free(t);

    /* The default cap (max_len 0) is 16 KiB, checked even for garbage. */
    char *big = malloc(CLERK_JWT_DEFAULT_MAX_LEN + 2);
    memset(big, 'a', CLERK_JWT_DEFAULT_MAX_LEN + 1);
    big[CLERK_JWT_DEFAULT_MAX_LEN + 1] = '\0';
    e = decode_fails(big, 0);
    ck_assert_ptr_nonnull(strstr(e.message, "16384"));
    free(big);
}
END_TEST

START_TEST(nul_bytes_in_json_are_refused)
{
    const char raw[] = "{\"sub\":\"user\0_1\"}";
    char *t = token3("{\"alg\":\"RS256\"}", 15, raw, sizeof raw - 1, "c2ln");
    clerk_error e = decode_fails(t, 0);
    ck_assert_str_eq(e.message, "Invalid JWT form. The payload could not be decoded.");
    free(t);
    t = token("{\"alg\":\"RS256\"}", "{\"sub\":\"user\\u0000_1\"}");
    decode_fails(t, 0);
    free(t);
}
END_TEST

START_TEST(number_overflowing_a_double_is_refused)
{
    char *t = token("{\"alg\":\"RS256\"}", "{\"exp\":1e999}");
    decode_fails(t, 0);
    free(t);
}
END_TEST

/* JSON.parse reads a 30-digit integer as a rounded number and 1.7e9 as 1700000000: so do we. */
START_TEST(numbers_read_as_javascript_reads_them)
{
    char *t = token("{\"alg\":\"RS256\"}",
                    "{\"big\":123456789012345678901234567890,\"exp\":1.70000006e9,\"two\":2.0,"
                    "\"half\":0.5,\"list\":[1e3,-7.0,{\"n\":9223372036854775808}],"
                    "\"odd\":9007199254740993,\"max\":9007199254740992}");
    clerk_jwt *jwt = NULL;
    clerk_error e = {0};
    ck_assert_int_eq(clerk_jwt_decode(t, strlen(t), 0, &jwt, &e), 0);
    const json_t *p = jwt->payload;
    ck_assert(json_is_real(json_object_get(p, "big")));
    ck_assert(json_real_value(json_object_get(p, "big")) == 123456789012345678901234567890.0);
    ck_assert(json_is_integer(json_object_get(p, "exp")));
    ck_assert_int_eq(json_integer_value(json_object_get(p, "exp")), 1700000060);
    ck_assert_int_eq(json_integer_value(json_object_get(p, "two")), 2);
    ck_assert(json_is_real(json_object_get(p, "half")));
    const json_t *list = json_object_get(p, "list");
    ck_assert_int_eq(json_integer_value(json_array_get(list, 0)), 1000);
    ck_assert_int_eq(json_integer_value(json_array_get(list, 1)), -7);
    ck_assert(json_is_real(json_object_get(json_array_get(list, 2), "n"))); /* 2^63: no int64 */
    /* beyond 2^53 JS holds the nearest double */
    ck_assert(json_number_value(json_object_get(p, "odd")) == 9007199254740992.0);
    ck_assert_int_eq(json_integer_value(json_object_get(p, "max")), INT64_C(9007199254740992));
    clerk_jwt_free(jwt);
    free(t);
    /* the same without an overflowing neighbour (jansson parses it exactly then) */
    t = token("{\"alg\":\"RS256\"}", "{\"odd\":9007199254740993,\"neg\":-9007199254740995}");
    ck_assert_int_eq(clerk_jwt_decode(t, strlen(t), 0, &jwt, &e), 0);
    ck_assert(json_is_real(json_object_get(jwt->payload, "odd")));
    ck_assert(json_real_value(json_object_get(jwt->payload, "odd")) == 9007199254740992.0);
    ck_assert(json_real_value(json_object_get(jwt->payload, "neg")) == -9007199254740996.0);
    clerk_jwt_free(jwt);
    free(t);
}
END_TEST

START_TEST(empty_signature_decodes_to_zero_length)
{
    char *t = mint_sign(NULL, "none", "{\"alg\":\"none\"}", "{\"sub\":\"user_1\"}");
    clerk_jwt *jwt = decode_ok(t);
    ck_assert_uint_eq(jwt->sig_len, 0);
    ck_assert_str_eq(jwt->alg_name, "none");
    ck_assert_uint_eq(jwt->alg, 0);
    clerk_jwt_free(jwt);
    free(t);
}
END_TEST

START_TEST(header_fields_are_extracted)
{
    EVP_PKEY *k = mint_keygen("rsa2048");
    char *t =
        mint_sign(k, "RS256",
                  "{\"alg\":\"RS256\",\"kid\":\"ins_123\",\"typ\":\"JWT\",\"cat\":\"cl_B7d4PD11\"}",
                  "{\"sub\":\"user_1\"}");
    clerk_jwt *jwt = decode_ok(t);
    ck_assert_str_eq(jwt->alg_name, "RS256");
    ck_assert_uint_eq(jwt->alg, CLERK_ALG_RS256);
    ck_assert_str_eq(jwt->kid, "ins_123");
    ck_assert_str_eq(jwt->typ, "JWT");
    ck_assert_str_eq(jwt->cat, "cl_B7d4PD11");
    ck_assert_int_eq(jwt->header_types_ok, 1);
    ck_assert_int_eq(jwt->has_crit, 0);
    ck_assert_uint_eq(jwt->sig_len, 256);
    ck_assert_str_eq(json_string_value(json_object_get(jwt->payload, "sub")), "user_1");
    /* The signing input is the token up to the second dot, byte for byte. */
    ck_assert_uint_eq(jwt->signing_len, (size_t)(strrchr(t, '.') - t));
    ck_assert_int_eq(strncmp(jwt->signing_input, t, jwt->signing_len), 0);
    /* The copy holds the whole token text (the cache compares it), NUL-terminated. */
    ck_assert_uint_eq(jwt->text_len, strlen(t));
    ck_assert_str_eq(jwt->signing_input, t);
    /* The payload's JSON text is kept as signed. */
    ck_assert_str_eq(jwt->payload_json, "{\"sub\":\"user_1\"}");
    ck_assert_uint_eq(jwt->payload_json_len, strlen(jwt->payload_json));
    clerk_jwt_free(jwt);
    free(t);
    EVP_PKEY_free(k);
}
END_TEST

START_TEST(absent_header_fields_are_null)
{
    char *t = token("{}", "{}");
    clerk_jwt *jwt = decode_ok(t);
    ck_assert_ptr_null(jwt->alg_name);
    ck_assert_ptr_null(jwt->kid);
    ck_assert_ptr_null(jwt->typ);
    ck_assert_ptr_null(jwt->cat);
    ck_assert_int_eq(jwt->header_types_ok, 1);
    clerk_jwt_free(jwt);
    free(t);
}
END_TEST

START_TEST(non_string_alg_marks_header_types_bad)
{
    const char *headers[] = {"{\"alg\":256}", "{\"alg\":\"RS256\",\"kid\":[\"a\"]}",
                             "{\"alg\":\"RS256\",\"typ\":null}", "{\"alg\":\"RS256\",\"cat\":{}}"};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        char *t = token(headers[i], "{}");
        clerk_jwt *jwt = decode_ok(t);
        ck_assert_int_eq(jwt->header_types_ok, 0);
        clerk_jwt_free(jwt);
        free(t);
    }
    char *t = token("{\"alg\":256}", "{}");
    clerk_jwt *jwt = decode_ok(t);
    ck_assert_ptr_null(jwt->alg_name);
    ck_assert_uint_eq(jwt->alg, 0);
    clerk_jwt_free(jwt);
    free(t);
}
END_TEST

START_TEST(hs256_and_unknown_algs_have_no_bit)
{
    char *t = token("{\"alg\":\"HS256\"}", "{}");
    clerk_jwt *jwt = decode_ok(t);
    ck_assert_str_eq(jwt->alg_name, "HS256");
    ck_assert_uint_eq(jwt->alg, 0);
    clerk_jwt_free(jwt);
    free(t);
    t = token("{\"alg\":\"rs256\"}", "{}");
    jwt = decode_ok(t);
    ck_assert_uint_eq(jwt->alg, 0);
    clerk_jwt_free(jwt);
    free(t);
}
END_TEST

START_TEST(crit_header_is_flagged)
{
    char *t = token("{\"alg\":\"RS256\",\"crit\":[\"exp\"]}", "{}");
    clerk_jwt *jwt = decode_ok(t);
    ck_assert_int_eq(jwt->has_crit, 1);
    clerk_jwt_free(jwt);
    free(t);
}
END_TEST

START_TEST(free_of_null_is_ignored)
{
    /* A free that dereferenced NULL would end this test with SIGSEGV, an error in Check's
     * fork mode (and an invalid read under valgrind): reaching the next line is the check. */
    clerk_jwt_free(NULL);
    /* The same function releases a half-built JWT: the signature segment fails after the
     * header and payload were parsed, and the caller gets NULL back (valgrind's leak check
     * fails the run if the parsed JSON stayed allocated). */
    char *t = token3("{\"alg\":\"RS256\"}", 15, "{\"sub\":\"u\"}", 11, "!!!");
    clerk_error err = decode_fails(t, 0);
    ck_assert_ptr_nonnull(strstr(err.message, "ignature"));
    free(t);
}
END_TEST

Suite *jwt_suite(void)
{
    Suite *s = suite_create("jwt");
    TCase *tc = tcase_create("jwt");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, two_segments_is_invalid_form);
    tcase_add_test(tc, four_segments_is_invalid_form);
    tcase_add_test(tc, bad_base64url_character_in_header_is_refused);
    tcase_add_test(tc, padded_segment_is_refused);
    tcase_add_test(tc, header_that_is_not_json_is_refused);
    tcase_add_test(tc, payload_that_is_an_array_is_refused);
    tcase_add_test(tc, duplicate_keys_in_header_are_refused);
    tcase_add_test(tc, duplicate_keys_in_payload_are_refused);
    tcase_add_test(tc, nesting_deeper_than_sixteen_is_refused);
    tcase_add_test(tc, brackets_inside_strings_do_not_count_as_nesting);
    tcase_add_test(tc, token_over_max_size_is_refused_before_decoding);
    tcase_add_test(tc, nul_bytes_in_json_are_refused);
    tcase_add_test(tc, number_overflowing_a_double_is_refused);
    tcase_add_test(tc, numbers_read_as_javascript_reads_them);
    tcase_add_test(tc, empty_signature_decodes_to_zero_length);
    tcase_add_test(tc, header_fields_are_extracted);
    tcase_add_test(tc, absent_header_fields_are_null);
    tcase_add_test(tc, non_string_alg_marks_header_types_bad);
    tcase_add_test(tc, hs256_and_unknown_algs_have_no_bit);
    tcase_add_test(tc, crit_header_is_flagged);
    tcase_add_test(tc, free_of_null_is_ignored);
    suite_add_tcase(s, tc);
    return s;
}
