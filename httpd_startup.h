/* Startup checks, record resolution and each process's token cache (httpd_startup.c). */
#ifndef HTTPD_STARTUP_H
#define HTTPD_STARTUP_H

#include "httpd.h"
#include "util_cfgtree.h"

#include "token_cache.h"

/* check_config: refuses AuthType Clerk without a key source in its server, and key sources
 * that would serve another instance or go another server's way to the Backend API. */
int clerk_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s);

/* post_config: resolves every server's and section's record once, before any request. */
int clerk_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s);

/* child_init: this process's verified-token cache. */
void clerk_child_init(apr_pool_t *pchild, server_rec *s);

/* This process's verified-token cache (NULL before child_init or when it could not be made). */
clerk_token_cache *clerk_token_cache_current(void);

/* Called with each directive of the configuration that is not a section, and the
 * <VirtualHost> it is in (NULL: the main server). */
typedef void clerk_directive_fn(void *ctx, const ap_directive_t *d, const ap_directive_t *vhost);

/* Calls visit for each such directive of the configuration tree, in file order: the one walk
 * every startup check shares. Conditional sections (<IfModule>, <IfDefine>, <IfFile>...) need
 * no rule of ours: httpd evaluates them while it reads the configuration (they run on read),
 * putting an active one's directives in its place in the tree and dropping an inactive one, so
 * every directive visited applies. */
void clerk_config_walk(clerk_directive_fn *visit, void *ctx);

#endif
