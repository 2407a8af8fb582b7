/* Fuzz target: a JWKS document through clerk_keyset_add_jwks, the same bytes as one JWK object
 * through clerk_keyset_add_jwk, and lookups in the resulting set. */
#include <string.h>
#include <jansson.h>
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    clerk_error err = {0};
    fuzz_setup();
    clerk_keyset *ks = clerk_keyset_new();
    if (ks == NULL)
        return 0;
    int n = clerk_keyset_add_jwks(ks, (const char *)data, size, &err);
    if (n > 0 && clerk_keyset_count(ks) != (size_t)n)
        __builtin_trap(); /* the count it reports is the count it holds */
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (j != NULL && json_is_object(j))
        (void)clerk_keyset_add_jwk(ks, j, &err);
    json_decref(j);
    static const char *const kids[] = {"ins_rsa", "ins_ec256", "", "a"};
    for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++)
        (void)clerk_keyset_find(ks, kids[i]);
    (void)clerk_keyset_find(ks, NULL);
    clerk_keyset_unref(ks);
    return 0;
}
