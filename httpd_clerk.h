/* What the glue files share: the per-request Clerk decision, read by the authorization
 * providers. httpd headers are fine here (top level); src/ never includes this. */
#ifndef HTTPD_CLERK_H
#define HTTPD_CLERK_H

#include <stdint.h>
#include <jansson.h>
#include "httpd.h"
#include "http_log.h"
#include "auth.h"

/* Stable message numbers, APLOGNO-style, so operators can grep and alert on them. */
#define CLERK_LOGNO(n) "CLERK" #n ": "

/* A request's Clerk identity, valid for the request's lifetime. */
typedef struct clerk_identity {
    const clerk_auth *auth;
    const json_t *payload; /* the verified claims */
    int64_t now_ms;        /* when the request was decided */
} clerk_identity;

enum {
    CLERK_IDENTITY_NONE = 0,      /* not signed in through AuthType Clerk */
    CLERK_IDENTITY_SIGNED_IN = 1, /* *id filled */
    CLERK_IDENTITY_PREFLIGHT = 2  /* a CORS preflight let through without credentials */
};

/* Which of the CLERK_IDENTITY_* r is; fills id when signed in. */
int clerk_request_identity(request_rec *r, clerk_identity *id);

/* Registers the `Require clerk-*` providers (spec §5). */
void clerk_register_authz_providers(apr_pool_t *p);

#endif
