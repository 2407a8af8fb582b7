/* Fuzz target: a session token through clerk_token_decode and clerk_token_verify against fixed
 * key sets (JWKS with RSA/EC/Ed25519 keys, a PEM key, both), then what a verified payload feeds:
 * the auth object, has() and the exported variables. The input is the token text. */
#include <stdlib.h>
#include <string.h>
#include "fuzz_common.h"
#include "auth.h"
#include "export.h"
#include "has.h"

static const char *const azp[] = {"https://app.example.com", "http://localhost:3000"};
static const char *const aud[] = {"aud-1"};

static void sink(void *ctx, const char *name, const char *value)
{
    size_t *n = ctx;
    *n += strlen(name) + (value ? strlen(value) : 0);
}

/* Everything a signed-in request derives from the payload. */
static void use_payload(apr_pool_t *p, clerk_token *t)
{
    clerk_auth a;
    if (clerk_auth_from_claims(p, t->jwt->payload, &a) != 0)
        return;
    (void)clerk_has_org(&a, "org_1");
    (void)clerk_has_role(&a, "org:admin");
    (void)clerk_has_permission(&a, "org:sys_memberships:manage");
    (void)clerk_has_plan(&a, "u:pro");
    (void)clerk_has_feature(&a, "o:export");
    (void)clerk_has_reverification(&a, FUZZ_NOW_MS, 10, 1);
    clerk_state st;
    memset(&st, 0, sizeof(st));
    st.status = CLERK_SIGNED_IN;
    st.message = "";
    st.source = CLERK_SRC_HEADER;
    st.token = t;
    st.public_url = "https://app.example.com/";
    size_t n = 0;
    clerk_export_vars(p, &st, &a, sink, &n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const fuzz_keys *k = fuzz_setup();
    apr_pool_t *p = fuzz_pool();
    clerk_error err;
    clerk_token *t = NULL;
    if (clerk_token_decode((const char *)data, size, 0, &t, &err) == 0) {
        (void)clerk_token_is_wrong_type(t);
        clerk_verify_opts o[3];
        memset(o, 0, sizeof(o));
        /* A JWKS location with every check configured. */
        o[0].now_ms = FUZZ_NOW_MS;
        o[0].skew_ms = 5000;
        o[0].algs = CLERK_ALGS_ALL;
        o[0].azp = azp;
        o[0].n_azp = 2;
        o[0].aud = aud;
        o[0].n_aud = 1;
        o[0].issuer = "https://clerk.example.com";
        /* ClerkJWTKey with the defaults. */
        o[1].now_ms = FUZZ_NOW_MS;
        o[1].skew_ms = 5000;
        /* Both sources, no skew, a small size bound. */
        o[2].now_ms = FUZZ_NOW_MS;
        o[2].algs = CLERK_ALGS_ALL;
        o[2].max_token_size = 4096;
        clerk_keyset *sets[3] = {k->jwks, k->pem, k->combined};
        int verified = 0;
        /* One decoded token through three locations, as the token cache shares it. */
        for (int i = 0; i < 3; i++) {
            clerk_key_source src = fuzz_source(sets[i]);
            if (clerk_token_verify(t, &o[i], &src, &err) == 0)
                verified = 1;
        }
        use_payload(p, t); /* also on unverified payloads: hostile claims must not crash it */
        (void)verified;
        clerk_token_release(t);
    }
    apr_pool_destroy(p);
    return 0;
}
