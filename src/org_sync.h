/* Organization sync from the URL (@clerk/backend tokens/organizationMatcher.ts, the
 * organizationSyncOptions of authenticateRequest; docs/design.md#multi-domain): path
 * patterns in the path-to-regexp 6 syntax the SDK compiles them with, matched without a regular
 * expression engine in time linear in the path. */
#ifndef CLERK_ORG_SYNC_H
#define CLERK_ORG_SYNC_H

#include <stddef.h>
#include <apr_pools.h>
#include <jansson.h>

/* Bounds on one directive's patterns (checked at configuration time). */
#define CLERK_PATH_PATTERN_MAX_LEN 256
#define CLERK_PATH_PATTERNS_MAX    32

/* A compiled list of patterns, tried in order as the SDK's match([...]) tries them. */
typedef struct clerk_path_patterns clerk_path_patterns;

/* Compiles patterns (path-to-regexp 6 semantics, case-insensitive, optional trailing '/'):
 * literal text (backslash escapes one character), a ":name" parameter standing for one
 * non-empty piece of a path segment, a "(.*)" group standing for anything, either optionally
 * followed by "?". Any other syntax ({...}, other groups, "*" or "+" modifiers, a parameter
 * after a parameter) is refused, as is a name used twice or a byte outside printable ASCII.
 * Returns NULL with err ("pattern N: ... at offset M") on a refused pattern. */
clerk_path_patterns *clerk_path_patterns_compile(apr_pool_t *p, const char *const *patterns,
                                                 size_t n, char *err, size_t errlen);

/* The index of the first pattern matching the whole of path, or -1. On a match, *id and *slug
 * (either may be NULL) are set to the text of the ":id" / ":slug" parameters (raw, as matched)
 * or NULL when the pattern has none or did not use it. Cost: linear in strlen(path). */
int clerk_path_patterns_match(apr_pool_t *p, const clerk_path_patterns *pp, const char *path,
                              const char **id, const char **slug);

/* The SDK's organizationSyncOptions. */
typedef struct clerk_org_sync {
    const clerk_path_patterns *organization; /* NULL: none */
    const clerk_path_patterns *personal;     /* NULL: none */
} clerk_org_sync;

typedef enum clerk_org_target_kind {
    CLERK_ORG_TARGET_NONE = 0,
    CLERK_ORG_TARGET_ORGANIZATION,
    CLERK_ORG_TARGET_PERSONAL
} clerk_org_target_kind;

typedef struct clerk_org_target {
    clerk_org_target_kind kind;
    const char *id;   /* organization by id: the :id text, else NULL */
    const char *slug; /* organization by slug (no id): the :slug text, else NULL */
} clerk_org_target;

/* OrganizationMatcher.findTarget: the organization the path names (an :id wins over a :slug; a
 * match naming neither is no organization target), else the personal account when a personal
 * pattern matches. */
clerk_org_target clerk_org_sync_target(apr_pool_t *p, const clerk_org_sync *os, const char *path);

/* The value of the handshake's organization_id parameter for t (the id, else the slug; "" for
 * the personal account), or NULL for no target (handshake.ts getOrganizationSyncQueryParams). */
const char *clerk_org_sync_param(const clerk_org_target *t);

/* handleMaybeOrganizationSyncHandshake's mustActivate: 1 when the verified session's active
 * organization (payload: v2 "o": {id, slg}, otherwise org_id / org_slug, compared as
 * JavaScript's !== compares them) is not the one t names. */
int clerk_org_sync_must_activate(const clerk_org_target *t, const json_t *payload);

#endif
