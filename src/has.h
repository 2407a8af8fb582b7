/* Clerk's has() on the auth object (docs/design.md#authorization, @clerk/backend authorization.ts
 * createCheckAuthorization): the core of the clerk-org, clerk-role, clerk-permission, clerk-plan,
 * clerk-feature and clerk-reverified authorization providers. Each check answers 1 (granted) or 0
 * (denied) for one dimension, as has({role}) / has({permission}) / has({plan}) / has({feature}) /
 * has({reverification}) do: every check is denied when the auth object has no user, and every case
 * where the SDK throws or lacks data is denied. Argument checkers run at configuration time and
 * refuse arguments that could never be granted, so a typo fails httpd's start instead of denying
 * everyone. */
#ifndef CLERK_HAS_H
#define CLERK_HAS_H

#include <stdint.h>
#include <apr_pools.h>
#include "auth.h"
#include "reason.h"

/* Reverification levels of has({reverification: {level, afterMinutes}}). */
typedef enum clerk_reverify_level {
    CLERK_REVERIFY_FIRST_FACTOR = 1,
    CLERK_REVERIFY_SECOND_FACTOR = 2,
    CLERK_REVERIFY_MULTI_FACTOR = 3
} clerk_reverify_level;

/* Largest afterMinutes accepted on a require line. */
#define CLERK_REVERIFY_MAX_MINUTES 2147483647L

/* A parsed `Require clerk-reverified` line. */
typedef struct clerk_reverification {
    long after_minutes;
    int level;          /* a clerk_reverify_level */
    const char *preset; /* "strict_mfa", "strict", "moderate" or "lax" when given by name, else
                           NULL; the 403 hint then names the preset as the SDK's would */
} clerk_reverification;

/* 1 when the active org's id or slug equals id_or_slug (exact bytes); 0 with no user or no
 * active org. */
int clerk_has_org(const clerk_auth *a, const char *id_or_slug);

/* has({role}): 1 when there is a user and an active org whose role equals role once both have
 * their leading "org:" prefixes (any number) normalised to one ("admin" == "org:admin"). */
int clerk_has_role(const clerk_auth *a, const char *role);

/* has({permission}): 1 when there is a user and an active org and the org permission list
 * holds permission with its leading "org:"s normalised to one. The list is what the token
 * grants: v1 org_permissions as given, v2 built from o.per/o.fpm for the org-scoped features in
 * fea (a feature absent from fea grants none of its permissions). */
int clerk_has_permission(const clerk_auth *a, const char *permission);

/* has({plan}): 1 when there is a user and pla (comma list of "<scope>:<plan>", scope u, o, ou or
 * uo) holds plan. "org:x"/"o:x"/"organization:x" look only at org plans, "user:x"/"u:x" only at
 * user plans, a bare "x" at both. Denied when pla is absent or empty, when any pla element lacks
 * a ':', or when plan names another scope. */
int clerk_has_plan(const clerk_auth *a, const char *plan);

/* has({feature}): clerk_has_plan's rules applied to fea. */
int clerk_has_feature(const clerk_auth *a, const char *feature);

/* has({reverification: {level, afterMinutes}}) on fva = [first, second] (minutes since each
 * factor was last verified, -1 = factor not enrolled), as minted in the token: now_ms is not
 * used (Clerk compares the token's fva as is). A factor is fresh when its age is not -1 and
 * after_minutes > age, so an age equal to after_minutes is denied. Denied with no user, no fva,
 * an age that is neither -1 nor >= 0, both ages -1, after_minutes < 1 or an unknown level.
 * first_factor: first fresh. second_factor: second fresh, or first fresh when second is -1.
 * multi_factor: both fresh; first fresh when second is -1; denied when first is -1. */
int clerk_has_reverification(const clerk_auth *a, int64_t now_ms, long after_minutes, int level);

/* The level named name ("first_factor", "second_factor", "multi_factor"), or -1. */
int clerk_reverification_level_from_name(const char *name);

/* The name of a level, or NULL for an invalid one. */
const char *clerk_reverification_level_name(int level);

/* Parses the arguments of `Require clerk-reverified`: "<minutes> [<level>]" (level defaults to
 * second_factor) or one of the SDK's presets strict_mfa (10 min, multi_factor), strict (10,
 * second_factor), moderate (60, second_factor), lax (1440, second_factor). Returns 0, or -1 with
 * err. */
int clerk_reverification_parse(apr_pool_t *p, int argc, const char *const *argv,
                               clerk_reverification *out, clerk_error *err);

/* The JSON body of Clerk's reverification hint for a 403 (reverificationError() of
 * @clerk/shared): {"clerk_error":{"type":"forbidden","reason":"reverification-error",
 * "metadata":{"reverification":<preset or {"level":..,"afterMinutes":..}>}}}, pool-allocated. */
const char *clerk_reverification_hint_json(apr_pool_t *p, const clerk_reverification *r);

/* Configuration-time checks of one require-line argument. Each returns 0 when the argument is
 * usable, else -1 with err saying why it could never be granted. */
int clerk_has_check_org_arg(const char *id_or_slug, clerk_error *err);
int clerk_has_check_role_arg(const char *role, clerk_error *err);
int clerk_has_check_permission_arg(const char *permission, clerk_error *err);
/* For clerk-plan and clerk-feature: "[<scope>:]<name>" with scope org, o, organization, user or
 * u, one ':' at most, non-empty name. */
int clerk_has_check_billing_arg(const char *plan_or_feature, clerk_error *err);

#endif
