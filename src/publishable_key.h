/* Clerk instance keys: publishable key (Frontend API host, instance type, cookie suffix) and the
 * secret key's format (@clerk/shared keys.ts parsePublishableKey, getCookieSuffix). */
#ifndef CLERK_PUBLISHABLE_KEY_H
#define CLERK_PUBLISHABLE_KEY_H

#include <stddef.h>
#include <apr_pools.h>
#include "reason.h"

typedef struct clerk_publishable_key {
    const char *key;       /* as configured */
    const char *fapi_host; /* decoded Frontend API host, no trailing '$' */
    int production;        /* 1 for pk_live_, 0 for pk_test_ */
    char suffix[9];        /* cookie suffix: 8 chars + NUL */
} clerk_publishable_key;

/* Parses s as @clerk/shared keys.ts parsePublishableKey into a pool-allocated key. Returns 0, or -1
 * with a message in err. */
int clerk_publishable_key_parse(apr_pool_t *p, const char *s, clerk_publishable_key **out,
                                clerk_error *err);

/* Writes the 8-character cookie suffix of publishable key pk (and a NUL) into out. */
void clerk_cookie_suffix(const char *pk, char out[9]);

/* Checks a secret key's form (sk_live_/sk_test_, legacy live_/test_, then a non-empty
 * printable rest without whitespace). Returns 0, or -1 with err that never quotes the key. */
int clerk_secret_key_check(const char *s, clerk_error *err);

#endif
