/* Strict base64url: one canonical spelling per byte string, nothing else. */
#include <stdlib.h>
#include <string.h>

#include "b64url.h"
#include "unit.h"

static int decode(const char *s, unsigned char *out, size_t cap, size_t *outlen)
{
    return clerk_b64url_decode(s, strlen(s), out, cap, outlen);
}

START_TEST(unpadded_input_decodes)
{
    unsigned char out[16];
    size_t n = 99;
    ck_assert_int_eq(decode("aGVsbG8", out, sizeof out, &n), 0);
    ck_assert_uint_eq(n, 5);
    ck_assert_mem_eq(out, "hello", 5);
}
END_TEST

START_TEST(padding_is_refused)
{
    unsigned char out[16];
    size_t n;
    ck_assert_int_eq(decode("aGVsbG8=", out, sizeof out, &n), -1);
    ck_assert_int_eq(decode("aGk=", out, sizeof out, &n), -1);
    ck_assert_int_eq(decode("aQ==", out, sizeof out, &n), -1);
}
END_TEST

START_TEST(standard_alphabet_plus_and_slash_are_refused)
{
    unsigned char out[16];
    size_t n;
    ck_assert_int_eq(decode("-_-_", out, sizeof out, &n), 0); /* the URL spelling works */
    ck_assert_int_eq(decode("+_-_", out, sizeof out, &n), -1);
    ck_assert_int_eq(decode("-/-_", out, sizeof out, &n), -1);
}
END_TEST

START_TEST(whitespace_and_other_bytes_are_refused)
{
    unsigned char out[16];
    size_t n;
    ck_assert_int_eq(decode("aGVs bG8", out, sizeof out, &n), -1);
    ck_assert_int_eq(decode("aGVsbG8\n", out, sizeof out, &n), -1);
    ck_assert_int_eq(decode("aGV.bG8", out, sizeof out, &n), -1);
    ck_assert_int_eq(clerk_b64url_decode("aG\0sbG8", 7, out, sizeof out, &n), -1);
}
END_TEST

START_TEST(length_one_mod_four_is_refused)
{
    unsigned char out[16];
    size_t n;
    ck_assert_int_eq(decode("a", out, sizeof out, &n), -1);
    ck_assert_int_eq(decode("aGVsb", out, sizeof out, &n), -1);
}
END_TEST

START_TEST(nonzero_trailing_bits_are_refused)
{
    unsigned char out[16];
    size_t n;
    /* "aQ" is the canonical spelling of "i"; "aR" has a non-zero unused bit. */
    ck_assert_int_eq(decode("aQ", out, sizeof out, &n), 0);
    ck_assert_int_eq(decode("aR", out, sizeof out, &n), -1);
    /* "aGk" is "hi"; "aGl" sets one of the two unused bits. */
    ck_assert_int_eq(decode("aGk", out, sizeof out, &n), 0);
    ck_assert_int_eq(decode("aGl", out, sizeof out, &n), -1);
}
END_TEST

START_TEST(empty_input_decodes_to_nothing)
{
    size_t n = 42;
    ck_assert_int_eq(clerk_b64url_decode("", 0, NULL, 0, &n), 0);
    ck_assert_uint_eq(n, 0);
    char *s = clerk_b64url_encode((const unsigned char *)"", 0);
    ck_assert_str_eq(s, "");
    free(s);
}
END_TEST

START_TEST(output_capacity_too_small_is_refused)
{
    unsigned char out[5];
    size_t n;
    ck_assert_int_eq(decode("aGVsbG8", out, sizeof out - 1, &n), -1);
    ck_assert_int_eq(decode("aGVsbG8", out, sizeof out, &n), 0);
    ck_assert_uint_eq(n, 5);
}
END_TEST

START_TEST(every_length_round_trips_across_chunk_boundaries)
{
    enum { MAX = 2100 };
    unsigned char *data = malloc(MAX), *back = malloc(CLERK_B64URL_DECODED_MAX(3 * MAX));
    for (size_t i = 0; i < MAX; i++)
        data[i] = (unsigned char)(i * 131 + 7);
    for (size_t len = 0; len < MAX; len += (len < 64 ? 1 : 97)) {
        char *enc = clerk_b64url_encode(data, len);
        ck_assert_ptr_nonnull(enc);
        ck_assert_ptr_null(strpbrk(enc, "+/="));
        size_t n = 0;
        ck_assert_int_eq(
            clerk_b64url_decode(enc, strlen(enc), back, CLERK_B64URL_DECODED_MAX(strlen(enc)), &n),
            0);
        ck_assert_uint_eq(n, len);
        if (len > 0)
            ck_assert_mem_eq(back, data, len);
        free(enc);
    }
    free(data);
    free(back);
}
END_TEST

START_TEST(encoding_uses_the_url_alphabet_without_padding)
{
    const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
    char *s = clerk_b64url_encode(bytes, sizeof bytes);
    ck_assert_str_eq(s, "-_-_");
    free(s);
    s = clerk_b64url_encode((const unsigned char *)"hi", 2);
    ck_assert_str_eq(s, "aGk");
    free(s);
}
END_TEST

Suite *b64url_suite(void)
{
    Suite *s = suite_create("b64url");
    TCase *tc = tcase_create("b64url");
    tcase_add_test(tc, unpadded_input_decodes);
    tcase_add_test(tc, padding_is_refused);
    tcase_add_test(tc, standard_alphabet_plus_and_slash_are_refused);
    tcase_add_test(tc, whitespace_and_other_bytes_are_refused);
    tcase_add_test(tc, length_one_mod_four_is_refused);
    tcase_add_test(tc, nonzero_trailing_bits_are_refused);
    tcase_add_test(tc, empty_input_decodes_to_nothing);
    tcase_add_test(tc, output_capacity_too_small_is_refused);
    tcase_add_test(tc, every_length_round_trips_across_chunk_boundaries);
    tcase_add_test(tc, encoding_uses_the_url_alphabet_without_padding);
    suite_add_tcase(s, tc);
    return s;
}
