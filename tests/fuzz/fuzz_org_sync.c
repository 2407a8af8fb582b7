/* Fuzz target: organization sync's path patterns (configuration text) compiled and matched
 * against a client-chosen path. Input: '\n'-separated organization pattern, personal pattern,
 * path. A compiled pattern list must match without crashing, and any parameter it reports must
 * be a piece of the path. */
#include <string.h>
#include "fuzz_common.h"
#include "org_sync.h"

static const clerk_path_patterns *compile(apr_pool_t *p, const char *pat)
{
    clerk_error err = {0};
    if (!pat)
        return NULL;
    const char *one[] = {pat};
    const clerk_path_patterns *pp = clerk_path_patterns_compile(p, one, 1, &err);
    if (!pp && strncmp(err.message, "pattern 1", 9) != 0)
        __builtin_trap(); /* every refusal names the pattern */
    return pp;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool();
    const char *f[3];
    fuzz_fields(p, data, size, f, 3);
    const char *path = f[2] ? f[2] : "/orgs/acme";
    clerk_org_sync os = {compile(p, f[0]), compile(p, f[1])};
    const char *id = NULL, *slug = NULL;
    if (os.organization && clerk_path_patterns_match(p, os.organization, path, &id, &slug) >= 0) {
        if ((id && !strstr(path, id)) || (slug && !strstr(path, slug)))
            __builtin_trap();
    }
    clerk_org_target t = clerk_org_sync_target(p, &os, path);
    const char *param = clerk_org_sync_param(&t);
    if ((t.kind == CLERK_ORG_TARGET_NONE) != (param == NULL))
        __builtin_trap();
    if (t.kind == CLERK_ORG_TARGET_ORGANIZATION && (!param || !*param || !strstr(path, param)))
        __builtin_trap();
    apr_pool_destroy(p);
    return 0;
}
