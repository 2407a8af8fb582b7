/* bulkmint: many distinct RS256 session tokens from one private key, one per line, for the
 * benchmark (clerk-mint signs one token per process, far too slow for 50,000).
 *   bulkmint KEY.pem KID COUNT FIRST IAT EXP
 * Tokens FIRST..FIRST+COUNT-1 differ in sub and sid; every other claim is shared, shaped like a
 * Clerk v2 session token. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "mint.h"

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: bulkmint KEY.pem KID COUNT FIRST IAT EXP\n");
        return 2;
    }
    EVP_PKEY *k = mint_load_private(argv[1]);
    if (k == NULL) {
        fprintf(stderr, "bulkmint: cannot load %s\n", argv[1]);
        return 1;
    }
    long count = strtol(argv[3], NULL, 10), first = strtol(argv[4], NULL, 10);
    long long iat = strtoll(argv[5], NULL, 10), exp = strtoll(argv[6], NULL, 10);
    char header[128], payload[512];
    snprintf(header, sizeof header, "{\"alg\":\"RS256\",\"kid\":\"%s\",\"typ\":\"JWT\"}", argv[2]);
    for (long i = first; i < first + count; i++) {
        snprintf(payload, sizeof payload,
                 "{\"azp\":\"https://app.bench.test\",\"exp\":%lld,\"fva\":[3,-1],\"iat\":%lld,"
                 "\"iss\":\"https://clerk.bench.test\",\"nbf\":%lld,\"sid\":\"sess_bench%010ld\","
                 "\"sts\":\"active\",\"sub\":\"user_bench%010ld\",\"v\":2}",
                 exp, iat, iat - 10, i, i);
        char *t = mint_sign(k, "RS256", header, payload);
        if (t == NULL || puts(t) < 0) {
            fprintf(stderr, "bulkmint: signing failed\n");
            return 1;
        }
        free(t);
    }
    EVP_PKEY_free(k);
    return fflush(stdout) == 0 ? 0 : 1;
}
