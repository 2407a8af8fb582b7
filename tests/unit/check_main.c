/* Runs every core suite; CK_RUN_SUITE / CK_RUN_CASE select a subset (Check's own variables). */
#include <stdlib.h>
#include <apr_general.h>
#include "unit.h"

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
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
