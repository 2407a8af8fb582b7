/* The `Require clerk-*` authorization providers (httpd_authz.c). */
#ifndef HTTPD_AUTHZ_H
#define HTTPD_AUTHZ_H

#include "httpd.h"

/* Registers the `Require clerk-*` providers (docs/design.md#authorization). */
void clerk_register_authz_providers(apr_pool_t *p);

#endif
