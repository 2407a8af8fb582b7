/* Fuzz target: what a returning handshake brings. The same bytes go through the Backend API's
 * payload parser ({"directives":[...]}), the nonce exchange (as the answer body of a scripted
 * transport), the handshake JWT verifier with the fixed keys, and the URL helpers (as the
 * request URL being cleaned and redirected). */
#include <string.h>
#include "fuzz_common.h"
#include "handshake.h"
#include "url.h"

typedef struct body {
    const char *text;
    long status;
} body;

static int scripted_get(void *ctx, apr_pool_t *p, const char *url, const char *const *headers,
                        long *status, const char **out, clerk_error *err)
{
    const body *b = ctx;
    *status = b->status;
    *out = b->text;
    return 0;
}

static void use_directives(apr_pool_t *p, const apr_array_header_t *d)
{
    if (d == NULL)
        return;
    if (d->nelts > CLERK_HANDSHAKE_MAX_DIRECTIVES)
        __builtin_trap();
    for (int i = 0; i < d->nelts; i++)
        (void)clerk_handshake_directive_ok(APR_ARRAY_IDX(d, i, const char *));
    (void)clerk_handshake_session_token(p, d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const fuzz_keys *k = fuzz_setup();
    apr_pool_t *p = fuzz_pool();
    clerk_error cerr;
    apr_array_header_t *d = NULL;
    const char *s = fuzz_cstr(p, data, size);

    if (clerk_handshake_parse_payload(p, (const char *)data, size, &d, &cerr) == 0)
        use_directives(p, d);

    body b = {s, 200};
    if (clerk_handshake_fetch_payload(p, scripted_get, &b, "https://api.example.test/",
                                      "sk_test_fuzz", "nonce-1", &d, &cerr) == 0)
        use_directives(p, d);

    clerk_key_source src = fuzz_source(k->combined);
    if (clerk_handshake_verify_jwt(p, s, CLERK_ALGS_ALL, &src, &d, &cerr) == 0)
        use_directives(p, d);

    (void)clerk_handshake_clean_url(p, s);
    (void)clerk_form_encode(p, s);
    (void)clerk_handshake_endpoint(p, s);
    (void)clerk_handshake_url(p, "clerk.example.com", s, (int)(size & 1), "session-token-expired",
                              (int)(size & 2), s, (size & 4) ? s : NULL);
    apr_pool_destroy(p);
    return 0;
}
