/* Runs every core suite; CK_RUN_SUITE / CK_RUN_CASE select a subset (Check's own variables). */
#include <stdlib.h>
#include <jansson.h>
#include <apr_general.h>
#include "mint.h"
#include "unit.h"

void unit_add_jwk(clerk_keyset *ks, EVP_PKEY *k, const char *kid, const char *alg)
{
    char err[256];
    char *text = mint_public_jwk(k, kid, alg);
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    ck_assert_ptr_nonnull(j);
    int rc = clerk_keyset_add_jwk(ks, j, err, sizeof(err));
    json_decref(j);
    ck_assert_msg(rc == 0, "%s", err);
}

const clerk_key *unit_keyset_lookup(void *ctx, const char *kid, clerk_error *err)
{
    const clerk_key *k = clerk_keyset_find(ctx, kid);
    if (!k)
        clerk_error_set(err, CLERK_R_JWK_KID_MISMATCH, "no key for kid");
    return k;
}

int main(void)
{
    apr_initialize();
    SRunner *sr = srunner_create(b64url_suite());
    srunner_add_suite(sr, jwt_suite());
    srunner_add_suite(sr, jwk_suite());
    srunner_add_suite(sr, jws_suite());
    srunner_add_suite(sr, claims_suite());
    srunner_add_suite(sr, token_suite());
    srunner_add_suite(sr, auth_suite());
    srunner_add_suite(sr, publishable_key_suite());
    srunner_add_suite(sr, request_parse_suite());
    srunner_add_suite(sr, request_state_suite());
    srunner_add_suite(sr, export_suite());
    srunner_add_suite(sr, has_suite());
    srunner_add_suite(sr, jwks_remote_suite());
    srunner_add_suite(sr, handshake_suite());
    srunner_add_suite(sr, transport_suite());
    srunner_add_suite(sr, url_suite());
    srunner_add_suite(sr, header_text_suite());
    srunner_add_suite(sr, outgoing_proxy_suite());
    srunner_add_suite(sr, http_pool_suite());
    srunner_add_suite(sr, nested_claims_suite());
    srunner_add_suite(sr, handoff_suite());
    srunner_add_suite(sr, multidomain_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
