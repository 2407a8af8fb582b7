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

/* Whether a configuration section's children take effect (<IfModule>, <IfDefine> evaluated as
 * httpd did; any other section counts as active). */
int clerk_config_section_active(apr_pool_t *p, const ap_directive_t *d);

#endif
