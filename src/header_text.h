/* Text that becomes a response header: the Bearer challenge and values quoting what a client
 * sent (spec-free RFC 9110 / RFC 6750 rules, no httpd types). */
#ifndef CLERK_HEADER_TEXT_H
#define CLERK_HEADER_TEXT_H

#include <apr_pools.h>

/* The most bytes of one input the functions below read: longer text is cut there. */
#define CLERK_HEADER_TEXT_MAX 1024

/* s as the body of an RFC 9110 quoted-string: '"' and a trailing lone backslash escaped, a
 * backslash pair kept as it is (ap_escape_quotes' output reads unchanged), control bytes as
 * spaces; at most CLERK_HEADER_TEXT_MAX bytes of s are read. */
const char *clerk_quoted_string_body(apr_pool_t *p, const char *s);

/* The WWW-Authenticate value: Bearer realm="<realm>" and, when error_description is non-NULL,
 * error="invalid_token", error_description="<error_description>" (RFC 6750 §3). */
const char *clerk_bearer_challenge(apr_pool_t *p, const char *realm, const char *error_description);

/* s with control bytes turned into spaces, cut at CLERK_HEADER_TEXT_MAX bytes (for text that may
 * quote what the client sent, e.g. a kid in Clerk's message). */
const char *clerk_header_safe(apr_pool_t *p, const char *s);

#endif
