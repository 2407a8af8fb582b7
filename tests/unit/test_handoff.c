/* The signed hand-off's canonical text and signature (handoff.h), checked against an HMAC
 * computed here with OpenSSL over the text the README documents. */
#include <stdlib.h>
#include <string.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "b64url.h"
#include "handoff.h"
#include "unit.h"

static apr_pool_t *pool;
static const char KEY[] = "0123456789abcdef0123456789abcdef";

static void setup(void)
{
    apr_pool_create(&pool, NULL);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

START_TEST(canonical_text_sorts_lowercases_and_trims)
{
    const char *names[] = {"X-Remote-User", "X-Auth-Type", "x-clerk-user-id"};
    const char *values[] = {" user_1\t", "Clerk", "user_1"};
    const char *text = clerk_handoff_canonical(pool, 1700000000, "GET", names, values, 3);
    ck_assert_str_eq(text, "clerk-handoff-v1\n1700000000\nGET\nx-auth-type:Clerk\n"
                           "x-clerk-user-id:user_1\nx-remote-user:user_1\n");
}
END_TEST

START_TEST(signature_is_hmac_sha256_of_the_canonical_text)
{
    const char *names[] = {"X-Remote-User", "X-Clerk-Claim-Name"};
    const char *values[] = {"user_1", "caf\xc3\xa9"};
    const char *sig = clerk_handoff_sign(pool, (const unsigned char *)KEY, strlen(KEY), 42, "POST",
                                         names, values, 2);
    ck_assert_ptr_nonnull(sig);
    const char *text = "clerk-handoff-v1\n42\nPOST\nx-clerk-claim-name:caf\xc3\xa9\n"
                       "x-remote-user:user_1\n";
    unsigned char mac[32];
    unsigned int ml = 0;
    HMAC(EVP_sha256(), KEY, (int)strlen(KEY), (const unsigned char *)text, strlen(text), mac, &ml);
    char *b = clerk_b64url_encode(mac, ml);
    const char *want = apr_psprintf(pool, "v1;t=42;h=x-clerk-claim-name,x-remote-user;s=%s", b);
    free(b);
    ck_assert_str_eq(sig, want);
    /* Nothing to sign still signs the time and the method. */
    ck_assert_ptr_nonnull(clerk_handoff_sign(pool, (const unsigned char *)KEY, strlen(KEY), 42,
                                             "GET", NULL, NULL, 0));
}
END_TEST

START_TEST(unsignable_sets_give_no_signature)
{
    const char *dup_names[] = {"X-Remote-User", "x-remote-user"};
    const char *values[] = {"a", "b"};
    const unsigned char *k = (const unsigned char *)KEY;
    ck_assert_ptr_null(clerk_handoff_sign(pool, k, strlen(KEY), 1, "GET", dup_names, values, 2));
    const char *bad[] = {"X-Clerk-A,b"};
    ck_assert_ptr_null(clerk_handoff_sign(pool, k, strlen(KEY), 1, "GET", bad, values, 1));
    const char *ok[] = {"X-Remote-User"};
    ck_assert_ptr_null(
        clerk_handoff_sign(pool, k, CLERK_HANDOFF_KEY_MIN - 1, 1, "GET", ok, values, 1));
    ck_assert_ptr_null(clerk_handoff_sign(pool, k, strlen(KEY), 1, "GET", ok, values,
                                          CLERK_HANDOFF_MAX_HEADERS + 1));
}
END_TEST

Suite *handoff_suite(void)
{
    Suite *s = suite_create("handoff");
    TCase *t = tcase_create("sign");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, canonical_text_sorts_lowercases_and_trims);
    tcase_add_test(t, signature_is_hmac_sha256_of_the_canonical_text);
    tcase_add_test(t, unsignable_sets_give_no_signature);
    suite_add_tcase(s, t);
    return s;
}
