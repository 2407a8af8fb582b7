/* What applications see (docs/design.md#exported-variables): the variables exported for a decided
 * request, their header forms, and which incoming headers must be scrubbed. */
#ifndef CLERK_EXPORT_H
#define CLERK_EXPORT_H

#include <apr_pools.h>
#include "auth.h"
#include "request_state.h"

/* Called once per exported variable. */
typedef void (*clerk_export_fn)(void *ctx, const char *name, const char *value);

/* Calls fn for CLERK_AUTH_STATUS, CLERK_AUTH_REASON (when signed out), CLERK_TOKEN_SOURCE and,
 * when auth is non-NULL, every CLERK_* variable of docs/design.md#exported-variables that has a
 * value, including CLERK_CLAIMS and CLERK_CLAIM_<NAME> for top-level scalar claims. REMOTE_USER and
 * AUTH_TYPE are httpd's and not emitted here. */
void clerk_export_vars(apr_pool_t *p, const clerk_state *st, const clerk_auth *auth,
                       clerk_export_fn fn, void *ctx);

/* Calls fn for the claims clerk_export_vars leaves out, flattened the way mod_auth_openidc
 * does: a claim inside objects as CLERK_CLAIM_<PARENT>_<NAME> (public_metadata.plan ->
 * CLERK_CLAIM_PUBLIC_METADATA_PLAN) down to CLERK_EXPORT_NESTED_DEPTH levels, and an array of
 * scalars (at any level) as its elements joined with CLERK_EXPORT_ARRAY_SEP. Left out, never
 * altered: null; arrays holding an object, an array, null or a string with the separator;
 * values with a control byte; names longer than CLERK_EXPORT_NAME_MAX; a name that is also a
 * top-level claim's or another nested claim's (all of them); everything after the first
 * CLERK_EXPORT_NESTED_MAX, in payload order. */
void clerk_export_nested_vars(apr_pool_t *p, const json_t *payload, clerk_export_fn fn, void *ctx);

/* Calls fn for what depends on the request rather than the token: CLERK_AUTH_STATUS,
 * CLERK_AUTH_REASON (when signed out) and CLERK_TOKEN_SOURCE. */
void clerk_export_state_vars(const clerk_state *st, clerk_export_fn fn, void *ctx);

/* Bounds of the nested claims (ClerkPassNestedClaims): levels below the payload (public_metadata
 * is 1, public_metadata.plan 2), variables per token, bytes of a variable name. */
#define CLERK_EXPORT_NESTED_DEPTH 4
#define CLERK_EXPORT_NESTED_MAX   64
#define CLERK_EXPORT_NAME_MAX     128
/* Between the elements of an exported array. */
#define CLERK_EXPORT_ARRAY_SEP ","

/* One variable of a token, in both forms. */
typedef struct clerk_export_entry {
    const char *name;   /* CLERK_USER_ID */
    const char *header; /* X-Clerk-User-Id */
    const char *value;  /* environment value */
    const char
        *header_value; /* header value (CLERK_CLAIMS: base64url of the payload); NULL: none */
    int nested;        /* a flattened nested claim or an array: exported only with
                          ClerkPassNestedClaims On */
} clerk_export_entry;

/* Everything a signed-in request exports from its token (CLERK_USER_ID .. CLERK_CLAIM_<NAME>,
 * as clerk_export_vars orders them), then the nested ones (clerk_export_nested_vars). ok is 0 when
 * the payload gives no auth object (clerk_auth_from_claims fails): such a token cannot sign a
 * request in, and n is 0. */
typedef struct clerk_token_exports {
    int ok;
    size_t n;
    size_t hot_len; /* bytes from the block's start holding v[], names and header names */
    clerk_export_entry v[];
} clerk_token_exports;

/* The token's exports, built on first use (temporary work in scratch) and kept with the token,
 * so a cached token costs no JSON walk per request; strings live as long as the token. NULL
 * when t has no decoded JWT or memory runs out. Thread-safe. */
const clerk_token_exports *clerk_export_token_vars(apr_pool_t *scratch, clerk_token *t);

/* Header form of an exported name: "X-" + Title-Case with '-' (CLERK_USER_ID ->
 * X-Clerk-User-Id, REMOTE_USER -> X-Remote-User). */
const char *clerk_export_header_name(apr_pool_t *p, const char *name);

/* 1 when an incoming header name must be removed before anything else
 * (docs/design.md#header-scrubbing): case- insensitive, '-' and '_' alike, with or without a
 * leading "X-": REMOTE_USER, AUTH_TYPE or starting with CLERK_. */
int clerk_export_is_reserved_header(const char *name);

#endif
