/* The `Require clerk-*` authorization providers (httpd_authz.c). */
#ifndef HTTPD_AUTHZ_H
#define HTTPD_AUTHZ_H

#include "httpd.h"

/* Registers the `Require clerk-*` providers (docs/design.md#authorization). */
void clerk_register_authz_providers(apr_pool_t *p);

/* AuthzSendForbiddenOnFailure On for the section of a Require clerk-* line being read, unless
 * it sets it itself; NULL or an error. */
const char *clerk_authz_forbid_on_failure(cmd_parms *cmd);

#endif
