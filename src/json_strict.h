/* Bounded JSON parsing for untrusted input: objects only, duplicate keys refused, depth capped. */
#ifndef CLERK_JSON_STRICT_H
#define CLERK_JSON_STRICT_H

#include <stddef.h>
#include <jansson.h>
#include "reason.h"

/* Deepest nesting of arrays/objects accepted in a token header or payload. */
#define CLERK_JSON_MAX_DEPTH 16

/* Parses buf[0..len) as one JSON object (not array, not scalar) with jansson, refusing duplicate
 * keys, NUL bytes (raw or \u0000), nesting deeper than max_depth and numbers beyond a double.
 * Numbers read as JavaScript reads them: whole values up to 2^53 are integers (1.7e9 too),
 * larger ones rounded reals. Returns a new reference the caller json_decref()s, or NULL
 * with a short reason in err (may be NULL). */
json_t *clerk_json_parse_object(const char *buf, size_t len, int max_depth, clerk_error *err);

#endif
