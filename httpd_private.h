/* Signed-in responses and shared caches (httpd_private.c). */
#ifndef HTTPD_PRIVATE_H
#define HTTPD_PRIVATE_H

#include "httpd.h"

/* Registers the Cache-Control/Vary filter and the mod_cache quick-handler warning. */
void clerk_private_register_hooks(apr_pool_t *p);

#endif
