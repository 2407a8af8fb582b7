/* The auth object Clerk's SDK builds from verified claims (@clerk/backend tokens/authObjects.ts
 * signedInAuthObject, @clerk/shared jwtPayloadParser). */
#ifndef CLERK_AUTH_H
#define CLERK_AUTH_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <jansson.h>

typedef struct clerk_auth {
    const char *user_id;        /* sub */
    const char *session_id;     /* sid, or NULL */
    const char *session_status; /* sts, or NULL */
    const char *actor;          /* act.sub, or NULL */
    const char *org_id;         /* v2 o.id / v1 org_id, or NULL */
    const char *org_slug;
    const char *org_role;                /* "org:<role>" in v2; v1 as given */
    apr_array_header_t *org_permissions; /* const char *; never NULL, may be empty */
    int has_fva;
    long fva[2];          /* minutes since first / second factor; -1 = never */
    const char *plans;    /* pla raw, or NULL */
    const char *features; /* fea raw, or NULL */
    int version;          /* 2 when v == 2, else 1 */
    /* The SDK's toAuth() throws on these claims (v2, a truthy o, and a fea element without ':'
     * or a fea that is not a string): it has no auth object, so has() answers nothing. */
    int no_sdk_auth;
} clerk_auth;

/* Fills a from a verified payload; strings are pool copies. Returns 0, -1 when payload is not
 * an object or sub is not a non-empty string. */
int clerk_auth_from_claims(apr_pool_t *p, const json_t *payload, clerk_auth *a);

#endif
