/* What a decision hands to the application (httpd_export.c). */
#ifndef HTTPD_EXPORT_H
#define HTTPD_EXPORT_H

#include "httpd.h"

#include "httpd_config.h"
#include "httpd_request.h"

/* Exports rq's decision to r as rs says (ClerkPassClaimsAs: variables and/or headers, signed
 * with ClerkSignedHeadersKeyFile); nothing for a preflight. */
void clerk_export_decision(request_rec *r, const clerk_resolved *rs, clerk_req *rq);

#endif
