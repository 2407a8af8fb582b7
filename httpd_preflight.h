/* CORS preflights under AuthType Clerk (httpd_preflight.c). */
#ifndef HTTPD_PREFLIGHT_H
#define HTTPD_PREFLIGHT_H

#include "httpd.h"

/* ClerkCORSPreflight: what a CORS preflight in an AuthType Clerk section gets. */
enum {
    CLERK_PREFLIGHT_RESPOND = 1,     /* the module answers 204 itself; no handler runs */
    CLERK_PREFLIGHT_HANDLER = 2,     /* passed on to the handler with no user at all */
    CLERK_PREFLIGHT_AUTHENTICATE = 3 /* authenticated like any other request */
};

/* Registers the preflight's access and handler hooks. */
void clerk_preflight_register_hooks(apr_pool_t *p);

#endif
