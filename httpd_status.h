/* The status page and its counters (httpd_status.c). */
#ifndef HTTPD_STATUS_H
#define HTTPD_STATUS_H

#include "httpd.h"
#include "token_cache.h"

/* Authorization results, as counted by the Require clerk-* providers. */
enum { CLERK_AUTHZ_GRANTED = 0, CLERK_AUTHZ_DENIED = 1, CLERK_AUTHZ_ERROR = 2 };

/* Counts one decision (status: a clerk_status, reason: a clerk_reason) in the counters shared
 * by every process; lock-free, callable from any request thread. */
void clerk_status_count_decision(int preflight, int status, int reason);

/* Counts one Require clerk-* result (CLERK_AUTHZ_*), as above. */
void clerk_status_count_authz(int result);

/* Counts one verified-token cache look-up (clerk_token_cache_set_counter), as above. */
void clerk_status_count_cache(int hit);

/* Counts one machine-token decision (type: a CLERK_TT_* machine bit, 0 when none was verified),
 * one Backend API verification call, and one shared-cache look-up, as above. */
void clerk_status_count_machine(unsigned type, int signed_in);
void clerk_status_count_machine_call(int ok);
void clerk_status_count_machine_cache(int hit);

/* Where a remote key set is fetched from: Clerk's Backend API with the secret key, or a
 * ClerkJWKSURL. */
enum { CLERK_KEY_FETCH_BACKEND_API = 0, CLERK_KEY_FETCH_JWKS_URL = 1 };

/* Counts one remote JWKS fetch attempt (clerk_jwks_remote_opts.count; ctx: a CLERK_KEY_FETCH_*
 * cast to a pointer), as above. */
void clerk_status_count_key_fetch(void *ctx, int ok);

/* Registers the `clerk-status` handler and the counters' post_config. */
void clerk_status_register_hooks(apr_pool_t *p);

#endif
