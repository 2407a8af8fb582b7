/* Fuzz target: the URL helpers the decision and the handshake use (public origin and URL from
 * Host and forwarded headers, query lookup, parameter stripping, origins, encoding). Input: the
 * same '\n'-separated form as fuzz_request_state without the flags byte: host, forwarded host,
 * forwarded proto, CloudFront proto, path, query, an absolute URL. */
#include <string.h>
#include "fuzz_common.h"
#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *f[7];
    fuzz_fields(p, data, size, f, 7);
    static const char *const strip[] = {"__clerk_handshake", "__clerk_db_jwt", "__session", NULL};
    for (int trust = 0; trust < 2; trust++) {
        clerk_url_in in = {"https", f[0], f[1], f[2], f[3], trust, f[4] ? f[4] : "/", f[5]};
        const char *origin = clerk_public_origin(p, &in);
        const char *url = clerk_public_url(p, &in);
        if (origin == NULL || url == NULL || strncmp(url, origin, strlen(origin)) != 0)
            __builtin_trap(); /* the URL starts with its origin */
        (void)clerk_url_strip_params(p, url, strip);
        (void)clerk_url_origin(p, url);
    }
    if (f[5] != NULL) {
        (void)clerk_query_get(p, f[5], "__clerk_handshake");
        (void)clerk_query_get(p, f[5], "__clerk_db_jwt");
    }
    if (f[6] != NULL) {
        (void)clerk_url_origin(p, f[6]);
        (void)clerk_url_strip_params(p, f[6], strip);
        (void)clerk_url_encode(p, f[6]);
    }
    apr_pool_destroy(p);
    return 0;
}
