/* REMOTE_USER from a verified token's claims. */
#include <stdio.h>
#include <string.h>
#include <apr_strings.h>
#include "user_claim.h"

const char *clerk_user_from_claims(apr_pool_t *p, const json_t *payload, const char *sub,
                                   const char *claim)
{
    const char *user = NULL;
    if (!claim)
        return NULL;
    /* The default needs no look-up: verification required sub to be a non-empty string. */
    const json_t *v = strcmp(claim, "sub") == 0 ? NULL : json_object_get(payload, claim);

    if (!v)
        user = strcmp(claim, "sub") == 0 ? sub : NULL;
    else if (json_is_string(v))
        user = json_string_value(v);
    else if (json_is_integer(v)) {
        /* snprintf, not apr_psprintf: APR's formatter has no "ll", and JSON_INTEGER_FORMAT is
         * "lld", so apr_psprintf wrote the text "%ld" as the user name. */
        char buf[32];
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        user = apr_pstrdup(p, buf);
    }
    if (!user || !*user)
        return NULL;
    for (const unsigned char *c = (const unsigned char *)user; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            return NULL;
    return user;
}
