/* What applications see (spec §4): the variables exported for a decided request, their header
 * forms, and which incoming headers must be scrubbed. */
#ifndef CLERK_EXPORT_H
#define CLERK_EXPORT_H

#include <apr_pools.h>
#include "auth.h"
#include "request_state.h"

/* Called once per exported variable. */
typedef void (*clerk_export_fn)(void *ctx, const char *name, const char *value);

/* Calls fn for CLERK_AUTH_STATUS, CLERK_AUTH_REASON (when signed out), CLERK_TOKEN_SOURCE and,
 * when auth is non-NULL, every CLERK_* variable of spec §4 that has a value, including
 * CLERK_CLAIMS and CLERK_CLAIM_<NAME> for top-level scalar claims. REMOTE_USER and AUTH_TYPE
 * are httpd's and not emitted here. */
void clerk_export_vars(apr_pool_t *p, const clerk_state *st, const clerk_auth *auth,
                       clerk_export_fn fn, void *ctx);

/* Header form of an exported name: "X-" + Title-Case with '-' (CLERK_USER_ID ->
 * X-Clerk-User-Id, REMOTE_USER -> X-Remote-User). */
const char *clerk_export_header_name(apr_pool_t *p, const char *name);

/* 1 when an incoming header name must be removed before anything else (spec §4): case-
 * insensitive, '-' and '_' alike, with or without a leading "X-": REMOTE_USER, AUTH_TYPE or
 * starting with CLERK_. */
int clerk_export_is_reserved_header(const char *name);

#endif
