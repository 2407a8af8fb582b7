/* The Cookie request header as the npm `cookie` package parses it (as bundled in @clerk/backend;
 * docs/design.md#token-sources). */
#ifndef CLERK_COOKIES_H
#define CLERK_COOKIES_H

#include <apr_pools.h>
#include <apr_tables.h>

/* Most cookies stored from one header; the rest are ignored (bounded work per request). Only
 * names with a wanted prefix count, so a site's own cookies cannot push Clerk's out. */
#define CLERK_COOKIES_MAX 128

/* Most bytes of one Cookie header that are read; the rest is ignored. */
#define CLERK_COOKIES_MAX_HEADER 65536

/* Parses a Cookie header into a table (name -> value): pairs split on ';', a segment without
 * '=' skipped, name and value trimmed of spaces and tabs, surrounding double quotes kept (the
 * `cookie` 1.x parser bundled in @clerk/backend keeps them, so a quoted token is not a token),
 * values with '%' percent-decoded as decodeURIComponent does (left as-is when the decoding is
 * invalid, not UTF-8, or would produce a NUL). Only the first occurrence of each exact
 * (case-sensitive) name is stored, and only names starting with one of `prefixes` (a
 * NULL-terminated list; NULL keeps every name). Every segment of the header is read, in time
 * linear in its length. A NULL header gives an empty table. */
apr_table_t *clerk_cookies_parse(apr_pool_t *p, const char *header, const char *const *prefixes);

/* The value of the cookie named exactly name (case-sensitive, unlike apr_table_get), or NULL. */
const char *clerk_cookie_get(const apr_table_t *cookies, const char *name);

#endif
