/* Machine-token configuration (docs/design.md#machine-tokens): ClerkAcceptsToken,
 * ClerkMachineSecretKey[File], ClerkMachineTokenCacheTTL, ClerkMachineTokenNegativeCacheTTL and
 * ClerkMachineTokenVerifyLimit, checked while the configuration is read, and their merge across
 * sections. The request decision that uses them is in httpd_machine.c. */
#include <stdint.h>
#include <string.h>

#include <apr_strings.h>

#include "httpd.h"
#include "http_config.h"

#include "httpd_directives.h"
#include "httpd_key_directives.h"
#include "httpd_machine.h"
#include "httpd_machine_impl.h"
#include "machine_guard.h"
#include "machine_token.h"

#define MAX_TTL_S             3600
#define MAX_VERIFY_IN_FLIGHT  1024
#define MAX_VERIFY_PER_SECOND 100000

static clerk_machine_dir *dir_of(cmd_parms *cmd, void *cfg)
{
    clerk_machine_dir **slot = (clerk_machine_dir **)((char *)cfg + (uintptr_t)cmd->info);
    if (!*slot) {
        clerk_machine_dir *d = apr_pcalloc(cmd->pool, sizeof(*d));
        d->ttl_s = d->neg_ttl_s = -1;
        *slot = d;
    }
    return *slot;
}

const char *clerk_machine_set_accepts(cmd_parms *cmd, void *cfg, const char *args)
{
    unsigned types = 0;
    int words = 0;
    const char *w;
    while (*(w = ap_getword_conf(cmd->temp_pool, &args)) != '\0') {
        unsigned t = clerk_token_type_parse(w);
        if (!t)
            return clerk_cmd_error(cmd,
                                   "'%s' is not a token type (session_token, api_key, "
                                   "m2m_token, oauth_token or any)",
                                   w);
        if (t == CLERK_TT_ALL && words + (*args != '\0') > 0)
            return clerk_cmd_error(cmd, "'any' stands alone");
        types |= t;
        words++;
    }
    if (!words)
        return clerk_cmd_error(cmd, "needs at least one token type");
    clerk_machine_dir *d = dir_of(cmd, cfg);
    d->accepts = types;
    /* The SDK's acceptsToken: one type is a string, more (or any) a list. */
    d->accepts_list = words > 1 || types == CLERK_TT_ALL;
    return NULL;
}

const char *clerk_machine_set_secret_key(cmd_parms *cmd, void *cfg, const char *arg)
{
    if (!*arg || strpbrk(arg, " \t\r\n"))
        return clerk_cmd_error(cmd, "needs a machine secret key without spaces");
    dir_of(cmd, cfg)->machine_secret_key = arg;
    clerk_note_key_source(cmd, cfg);
    return NULL;
}

const char *clerk_machine_set_secret_key_file(cmd_parms *cmd, void *cfg, const char *arg)
{
    char *buf;
    apr_size_t n;
    const char *e = clerk_read_key_file(cmd, arg, &buf, &n);
    if (e)
        return e;
    if (!n || strlen(buf) != n || strpbrk(buf, " \t\r\n"))
        return clerk_cmd_error(cmd,
                               "'%s' does not hold one machine secret key (empty, or spaces, "
                               "lines or NUL bytes inside)",
                               arg);
    dir_of(cmd, cfg)->machine_secret_key = buf;
    clerk_note_key_source(cmd, cfg);
    return NULL;
}

/* One handler body for both TTLs: negative picks ClerkMachineTokenNegativeCacheTTL. */
static const char *set_ttl(cmd_parms *cmd, void *cfg, const char *arg, int negative)
{
    apr_int64_t v;
    if (!clerk_parse_int(arg, 0, MAX_TTL_S, &v))
        return clerk_cmd_error(cmd, "'%s' is not a number of seconds in [0, %d]", arg, MAX_TTL_S);
    clerk_machine_dir *d = dir_of(cmd, cfg);
    if (negative)
        d->neg_ttl_s = v;
    else
        d->ttl_s = v;
    return NULL;
}

const char *clerk_machine_set_ttl(cmd_parms *cmd, void *cfg, const char *arg)
{
    return set_ttl(cmd, cfg, arg, 0);
}

const char *clerk_machine_set_negative_ttl(cmd_parms *cmd, void *cfg, const char *arg)
{
    return set_ttl(cmd, cfg, arg, 1);
}

const char *clerk_machine_secret_key(const clerk_machine_dir *md)
{
    return md ? md->machine_secret_key : NULL;
}

const clerk_machine_dir *clerk_machine_with_key(apr_pool_t *p, const clerk_machine_dir *md,
                                                const char *key)
{
    if (clerk_machine_secret_key(md) == key)
        return md;
    clerk_machine_dir *m;
    if (md) {
        m = apr_pmemdup(p, md, sizeof(*m));
    } else {
        m = apr_pcalloc(p, sizeof(*m));
        m->ttl_s = m->neg_ttl_s = -1;
    }
    m->machine_secret_key = key;
    return m;
}

const clerk_machine_dir *clerk_machine_merge(apr_pool_t *p, const clerk_machine_dir *base,
                                             const clerk_machine_dir *add)
{
    if (!add)
        return base;
    if (!base)
        return add;
    clerk_machine_dir *m = apr_pmemdup(p, add, sizeof(*m));
    if (!add->accepts) {
        m->accepts = base->accepts;
        m->accepts_list = base->accepts_list;
    }
    /* The machine secret key belongs to the key-source group and is chosen with it
     * (clerk_merge_dir_conf calls clerk_machine_with_key); add's own, or none, stands here. */
    if (add->ttl_s < 0)
        m->ttl_s = base->ttl_s;
    if (add->neg_ttl_s < 0)
        m->neg_ttl_s = base->neg_ttl_s;
    return m;
}

/* The bound is per process, so one value for the whole server: set while the configuration is
 * read (before any child exists, so every child inherits it), back to the defaults when that
 * configuration's pool goes (a restart that drops the directive). */
static apr_status_t verify_limit_reset(void *unused)
{
    clerk_machine_guard_set(CLERK_MACHINE_MAX_IN_FLIGHT, CLERK_MACHINE_MAX_PER_SECOND);
    return APR_SUCCESS;
}

const char *clerk_machine_set_verify_limit(cmd_parms *cmd, void *cfg, const char *in_flight,
                                           const char *per_second)
{
    const char *where = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    if (where)
        return where;
    apr_int64_t n, m;
    if (!clerk_parse_int(in_flight, 1, MAX_VERIFY_IN_FLIGHT, &n))
        return clerk_cmd_error(cmd, "'%s' is not a number of verifications in flight in [1, %d]",
                               in_flight, MAX_VERIFY_IN_FLIGHT);
    if (!clerk_parse_int(per_second, 1, MAX_VERIFY_PER_SECOND, &m))
        return clerk_cmd_error(cmd, "'%s' is not a number of verifications per second in [1, %d]",
                               per_second, MAX_VERIFY_PER_SECOND);
    clerk_machine_guard_set((int)n, (int)m);
    apr_pool_cleanup_register(cmd->pool, NULL, verify_limit_reset, apr_pool_cleanup_null);
    return NULL;
}
