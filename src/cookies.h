/* The Cookie request header as the npm `cookie` package parses it (reference §1.2). */
#ifndef CLERK_COOKIES_H
#define CLERK_COOKIES_H

#include <apr_pools.h>
#include <apr_tables.h>

/* Most cookies read from one header; the rest are ignored (bounded work per request). */
#define CLERK_COOKIES_MAX 128

/* Parses a Cookie header into a table (name -> value): pairs split on ';', name and value
 * trimmed, surrounding double quotes removed, values percent-decoded (left as-is when the
 * decoding is invalid). The first occurrence of a name is what apr_table_get returns. A NULL
 * header gives an empty table. */
apr_table_t *clerk_cookies_parse(apr_pool_t *p, const char *header);

#endif
