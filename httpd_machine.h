/* Machine tokens in httpd: the per-directory settings and the directives (httpd_machine_config.c),
 * the request decision's machine branch (httpd_machine.c). */
#ifndef HTTPD_MACHINE_H
#define HTTPD_MACHINE_H

#include <stdint.h>
#include "httpd.h"
#include "http_config.h"
#include "machine_token.h"
#include "request_state.h"

/* ClerkAcceptsToken, ClerkMachineSecretKey[File], ClerkMachineTokenCacheTTL and
 * ClerkMachineTokenNegativeCacheTTL of one section; NULL in a record that sets none. */
typedef struct clerk_machine_dir clerk_machine_dir;

/* Directive handlers: cmd->info is the offset of the record's clerk_machine_dir pointer. */
const char *clerk_machine_set_accepts(cmd_parms *cmd, void *cfg, const char *args);
const char *clerk_machine_set_secret_key(cmd_parms *cmd, void *cfg, const char *arg);
const char *clerk_machine_set_secret_key_file(cmd_parms *cmd, void *cfg, const char *arg);
const char *clerk_machine_set_ttl(cmd_parms *cmd, void *cfg, const char *arg);
const char *clerk_machine_set_negative_ttl(cmd_parms *cmd, void *cfg, const char *arg);
/* ClerkMachineTokenVerifyLimit <in-flight> <per-second>: main server only (the bound is per
 * process); sets the process bound of machine_guard.h. */
const char *clerk_machine_set_verify_limit(cmd_parms *cmd, void *cfg, const char *in_flight,
                                           const char *per_second);

/* add's settings over base's; either may be NULL; returns one of them when the other is NULL. */
const clerk_machine_dir *clerk_machine_merge(apr_pool_t *p, const clerk_machine_dir *base,
                                             const clerk_machine_dir *add);

/* md's ClerkMachineSecretKey, or NULL (md may be NULL). */
const char *clerk_machine_secret_key(const clerk_machine_dir *md);

/* md with its machine secret key replaced by key (the key-source group's, httpd_config.c): md
 * itself when it already has that key; may be NULL only when md is NULL and key is NULL. */
const clerk_machine_dir *clerk_machine_with_key(apr_pool_t *p, const clerk_machine_dir *md,
                                                const char *key);

/* The machine branch of authenticateRequest for r (md: its section's settings, may be NULL;
 * secret_key: the section's ClerkSecretKey, may be NULL; verify and keys: what the section's
 * session tokens are verified with, now_ms set, for JWT-format machine tokens). Returns 0 when the
 * session decision applies (nothing touched), 1 when *st is the decision: signed in with *out set,
 * or signed out with Clerk's reason and message. Blocks for at most one Backend API call (or the
 * wait for another request's call for the same token). */
int clerk_machine_decide(request_rec *r, const clerk_machine_dir *md, const char *secret_key,
                         const char *authorization, const clerk_verify_opts *verify,
                         const clerk_key_source *keys, clerk_state *st, const clerk_machine **out);

/* child_init (single-flight table) and the Require clerk-token-type / clerk-scope providers. */
void clerk_machine_register_hooks(apr_pool_t *p);

/* Registers `Require clerk-token-type` and `Require clerk-scope` (httpd_machine_authz.c). */
void clerk_machine_register_authz_providers(apr_pool_t *p);

#endif
