/* `Require clerk-claim <dotted.path>[=<value>]` (docs/design.md#authorization): a matcher parsed
 * once at configuration time and tested against each verified payload.
 *
 * The path walks objects by key; at an array the rest of the path applies to each element and
 * any element that matches wins. With "=value" the claim matches when it is a string equal to
 * value, a number or boolean whose JSON text equals value, or an array holding such an element
 * directly; without it, when it is present and neither null nor false. Objects and null never
 * equal a value; a string with commas is one value. Numbers compare by the text JavaScript's
 * JSON.stringify gives them (42, 1.5, 1e+21, 42.0 -> "42"); integers beyond 2^53 by their exact
 * decimal text. Keys containing '.' cannot be addressed. */
#ifndef CLERK_CLAIM_MATCH_H
#define CLERK_CLAIM_MATCH_H

#include <apr_pools.h>
#include <jansson.h>
#include "reason.h"

/* Most path segments, and most containers one walk descends into. */
#define CLERK_CLAIM_MAX_DEPTH 16
/* Most JSON values one walk visits; past it the walk gives up with -1. */
#define CLERK_CLAIM_MAX_VISITS 10000

/* Parse errors (stable text; tests and the config error message use them). */
#define CLERK_CLAIM_ERR_EMPTY_PATH    "empty claim path"
#define CLERK_CLAIM_ERR_EMPTY_SEGMENT "empty segment in claim path"
#define CLERK_CLAIM_ERR_TOO_DEEP      "claim path has more than 16 segments"

typedef struct clerk_claim_matcher clerk_claim_matcher;

/* Parses one require-line argument "<path>[=<value>]" (split at the first '='; the value may be
 * empty or contain '='). Returns a pool-allocated matcher, or NULL with err's message starting
 * with one of the CLERK_CLAIM_ERR_* texts. */
const clerk_claim_matcher *clerk_claim_matcher_parse(apr_pool_t *p, const char *arg,
                                                     clerk_error *err);

/* 1 when payload matches, 0 when it does not (including a payload that is not an object), -1
 * when the walk hit CLERK_CLAIM_MAX_DEPTH or CLERK_CLAIM_MAX_VISITS: callers must treat -1 as
 * an error (not as "no match"), so a negated requirement cannot be passed by a huge token. */
int clerk_claim_match(const clerk_claim_matcher *m, const json_t *payload);

/* The argument the matcher was parsed from (for log messages). */
const char *clerk_claim_matcher_text(const clerk_claim_matcher *m);

#endif
