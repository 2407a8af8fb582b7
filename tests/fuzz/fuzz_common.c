/* Shared set-up of the libFuzzer targets (see fuzz_common.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>
#include "fuzz_common.h"
#include "fuzz_keys.h"

static fuzz_keys keys;
static apr_pool_t *root;

static clerk_keyset *must_set(void)
{
    clerk_keyset *ks = clerk_keyset_new();
    if (ks == NULL)
        abort();
    return ks;
}

static void must(int rc, const char *what, const clerk_error *err)
{
    if (rc < 0) {
        fprintf(stderr, "fuzz: fixed %s does not load: %s\n", what, err->message);
        abort();
    }
}

const fuzz_keys *fuzz_setup(void)
{
    clerk_error err = {0};
    if (root != NULL)
        return &keys;
    if (apr_initialize() != APR_SUCCESS || apr_pool_create(&root, NULL) != APR_SUCCESS)
        abort();
    keys.jwks = must_set();
    must(clerk_keyset_add_jwks(keys.jwks, FUZZ_JWKS_JSON, strlen(FUZZ_JWKS_JSON), &err), "JWKS",
         &err);
    keys.pem = must_set();
    must(clerk_keyset_add_pem(keys.pem, FUZZ_PEM_RSA, strlen(FUZZ_PEM_RSA), &err), "RSA PEM", &err);
    keys.combined = must_set();
    must(clerk_keyset_add_jwks(keys.combined, FUZZ_JWKS_JSON, strlen(FUZZ_JWKS_JSON), &err), "JWKS",
         &err);
    must(clerk_keyset_add_pem(keys.combined, FUZZ_PEM_ED25519, strlen(FUZZ_PEM_ED25519), &err),
         "Ed25519 PEM", &err);
    return &keys;
}

static const clerk_key *lookup(void *ctx, const char *kid, clerk_error *err)
{
    const clerk_key *k = clerk_keyset_find(ctx, kid);
    if (k == NULL)
        clerk_error_set(err, CLERK_R_JWK_KID_MISMATCH,
                        "Unable to find a signing key in JWKS that matches the kid='%s' of the "
                        "provided session token.",
                        kid ? kid : "");
    return k;
}

clerk_key_source fuzz_source(clerk_keyset *ks)
{
    clerk_key_source s = {lookup, ks};
    return s;
}

apr_pool_t *fuzz_pool(void)
{
    apr_pool_t *p = NULL;
    fuzz_setup();
    if (apr_pool_create(&p, root) != APR_SUCCESS)
        abort();
    return p;
}

char *fuzz_cstr(apr_pool_t *p, const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    return apr_pstrmemdup(p, (const char *)data, nul ? (size_t)(nul - data) : size);
}

size_t fuzz_fields(apr_pool_t *p, const uint8_t *data, size_t size, const char **out, size_t max)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i < max; i++)
        out[i] = NULL;
    while (n < max && start <= size) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t end = nl ? (size_t)(nl - data) : size;
        size_t len = end - start;
        if (len == 1 && data[start] == 0x01)
            out[n] = "";
        else if (len > 0)
            out[n] = fuzz_cstr(p, data + start, len);
        n++;
        if (nl == NULL)
            break;
        start = end + 1;
    }
    return n;
}
