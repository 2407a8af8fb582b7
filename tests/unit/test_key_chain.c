/* The key chain: Clerk's key order (PEM, JWKS file, remote) and the message of each miss. */
#include <string.h>
#include "key_chain.h"
#include "mint.h"
#include "unit.h"

static EVP_PKEY *pem_key, *file_key, *remote_key;
static clerk_keyset *pem_set, *file_set, *remote_set;

/* The remote look-up's calls, and the kid of the last one. */
static int remote_calls;
static const char *remote_kid;

static const clerk_key *remote_lookup(void *ctx, const char *kid, clerk_error *err)
{
    remote_calls++;
    remote_kid = kid;
    const clerk_key *k = clerk_keyset_find(ctx, kid);
    if (!k)
        clerk_error_set(err, CLERK_R_JWK_REMOTE_FAILED_TO_LOAD, "remote says no to %s",
                        kid ? kid : "undefined");
    return k;
}

static void keys_setup(void)
{
    clerk_error err = {0};
    pem_key = mint_keygen("ec256");
    file_key = mint_keygen("ec256");
    remote_key = mint_keygen("ec256");
    pem_set = clerk_keyset_new();
    char *pem = mint_public_pem(pem_key);
    ck_assert_int_eq(clerk_keyset_add_pem(pem_set, pem, strlen(pem), &err), 0);
    free(pem);
    file_set = clerk_keyset_new();
    unit_add_jwk(file_set, file_key, "ins_file_b", NULL);
    unit_add_jwk(file_set, remote_key, "ins_file_a", NULL);
    remote_set = clerk_keyset_new();
    unit_add_jwk(remote_set, remote_key, "ins_remote", NULL);
}

static void keys_teardown(void)
{
    clerk_keyset_unref(pem_set);
    clerk_keyset_unref(file_set);
    clerk_keyset_unref(remote_set);
    EVP_PKEY_free(pem_key);
    EVP_PKEY_free(file_key);
    EVP_PKEY_free(remote_key);
}

static void reset(void)
{
    remote_calls = 0;
    remote_kid = "(not called)";
}

/* A chain with the given sources; remote: 0 none, 1 configured but not set up, 2 set up. */
static clerk_key_chain chain(int pem, int file, int remote)
{
    clerk_key_chain kc = {pem ? pem_set : NULL, file ? file_set : NULL, remote != 0, {0}};
    if (remote == 2) {
        kc.remote.lookup = remote_lookup;
        kc.remote.ctx = remote_set;
    }
    return kc;
}

static const clerk_key *look(clerk_key_chain *kc, const char *kid, clerk_error *err)
{
    clerk_key_source src = clerk_key_chain_source(kc);
    ck_assert_ptr_eq(src.ctx, kc);
    memset(err, 0, sizeof *err);
    return src.lookup(src.ctx, kid, err);
}

START_TEST(pem_key_wins_for_any_kid_and_nothing_else_is_asked)
{
    clerk_error err;
    const clerk_key *pk = clerk_keyset_find(pem_set, NULL);
    for (int file = 0; file <= 1; file++)
        for (int remote = 0; remote <= 2; remote++) {
            clerk_key_chain kc = chain(1, file, remote);
            reset();
            ck_assert_ptr_eq(look(&kc, "ins_file_b", &err), pk);
            ck_assert_ptr_eq(look(&kc, "ins_remote", &err), pk);
            ck_assert_ptr_eq(look(&kc, "anything", &err), pk);
            ck_assert_ptr_eq(look(&kc, NULL, &err), pk);
            ck_assert_int_eq(remote_calls, 0);
            ck_assert_int_eq(err.reason, CLERK_R_NONE);
        }
}
END_TEST

START_TEST(file_answers_its_kids_before_the_remote_set)
{
    clerk_error err;
    for (int remote = 0; remote <= 2; remote++) {
        clerk_key_chain kc = chain(0, 1, remote);
        reset();
        /* remote_key is in both, under other kids: the file's kid decides. */
        ck_assert_ptr_eq(look(&kc, "ins_file_a", &err), clerk_keyset_find(file_set, "ins_file_a"));
        ck_assert_ptr_eq(look(&kc, "ins_file_b", &err), clerk_keyset_find(file_set, "ins_file_b"));
        ck_assert_int_eq(remote_calls, 0);
    }
}
END_TEST

START_TEST(file_alone_names_its_kids_on_a_miss)
{
    clerk_error err;
    clerk_key_chain kc = chain(0, 1, 0);
    ck_assert_ptr_null(look(&kc, "ins_other", &err));
    ck_assert_int_eq(err.reason, CLERK_R_JWK_KID_MISMATCH);
    ck_assert_str_eq(err.message,
                     "Unable to find a signing key in JWKS that matches the kid='ins_other' of the "
                     "provided session token. Please make sure that the __session cookie or the "
                     "HTTP authorization header contain a Clerk-generated session JWT. The "
                     "following kid is available: ins_file_a, ins_file_b");
    /* A token without a kid is "undefined", as in JavaScript's template string. */
    ck_assert_ptr_null(look(&kc, NULL, &err));
    ck_assert_int_eq(err.reason, CLERK_R_JWK_KID_MISMATCH);
    ck_assert_ptr_nonnull(strstr(err.message, "kid='undefined' of"));
    /* A hostile kid is quoted up to 100 bytes. */
    char kid[300];
    memset(kid, 'k', sizeof kid - 1);
    kid[sizeof kid - 1] = '\0';
    ck_assert_ptr_null(look(&kc, kid, &err));
    char quoted[120] = "kid='";
    memset(quoted + 5, 'k', 100);
    strcpy(quoted + 105, "' of");
    ck_assert_ptr_nonnull(strstr(err.message, quoted));
}
END_TEST

START_TEST(file_miss_goes_to_the_remote_set_with_the_kid)
{
    clerk_error err;
    clerk_key_chain kc = chain(0, 1, 2);
    reset();
    ck_assert_ptr_eq(look(&kc, "ins_remote", &err), clerk_keyset_find(remote_set, "ins_remote"));
    ck_assert_int_eq(remote_calls, 1);
    ck_assert_str_eq(remote_kid, "ins_remote");
    /* The remote set's own error is the answer. */
    ck_assert_ptr_null(look(&kc, "ins_none", &err));
    ck_assert_int_eq(remote_calls, 2);
    ck_assert_int_eq(err.reason, CLERK_R_JWK_REMOTE_FAILED_TO_LOAD);
    ck_assert_str_eq(err.message, "remote says no to ins_none");
    /* The file is never asked for a kid-less token; the remote set is. */
    ck_assert_ptr_null(look(&kc, NULL, &err));
    ck_assert_int_eq(remote_calls, 3);
    ck_assert_ptr_null(remote_kid);
}
END_TEST

START_TEST(remote_alone_answers_every_kid)
{
    clerk_error err;
    clerk_key_chain kc = chain(0, 0, 2);
    reset();
    ck_assert_ptr_nonnull(look(&kc, "ins_remote", &err));
    ck_assert_ptr_null(look(&kc, "ins_file_b", &err));
    ck_assert_int_eq(remote_calls, 2);
    ck_assert_str_eq(err.message, "remote says no to ins_file_b");
}
END_TEST

START_TEST(remote_not_set_up_or_no_source_fails_to_resolve)
{
    clerk_error err;
    /* A configured remote source that could not be set up fails closed, the file's miss too. */
    clerk_key_chain cases[] = {chain(0, 1, 1), chain(0, 0, 1), chain(0, 0, 0)};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_ptr_null(look(&cases[i], "ins_other", &err));
        ck_assert_int_eq(err.reason, CLERK_R_JWK_FAILED_TO_RESOLVE);
        ck_assert_str_eq(err.message, "Failed to resolve JWK during verification.");
    }
    /* The file still answers its own kids. */
    ck_assert_ptr_nonnull(look(&cases[0], "ins_file_b", &err));
}
END_TEST

START_TEST(remote_is_needed_only_where_no_pem_key_answers_first)
{
    for (int file = 0; file <= 1; file++) {
        clerk_key_chain kc = chain(0, file, 1);
        ck_assert_int_eq(clerk_key_chain_needs_remote(&kc), 1);
        kc = chain(1, file, 1);
        ck_assert_int_eq(clerk_key_chain_needs_remote(&kc), 0);
        kc = chain(0, file, 0);
        ck_assert_int_eq(clerk_key_chain_needs_remote(&kc), 0);
    }
}
END_TEST

Suite *key_chain_suite(void)
{
    Suite *s = suite_create("key_chain");
    TCase *tc = tcase_create("key_chain");
    tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
    tcase_add_test(tc, pem_key_wins_for_any_kid_and_nothing_else_is_asked);
    tcase_add_test(tc, file_answers_its_kids_before_the_remote_set);
    tcase_add_test(tc, file_alone_names_its_kids_on_a_miss);
    tcase_add_test(tc, file_miss_goes_to_the_remote_set_with_the_kid);
    tcase_add_test(tc, remote_alone_answers_every_kid);
    tcase_add_test(tc, remote_not_set_up_or_no_source_fails_to_resolve);
    tcase_add_test(tc, remote_is_needed_only_where_no_pem_key_answers_first);
    suite_add_tcase(s, tc);
    return s;
}
