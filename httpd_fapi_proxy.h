/* The Frontend API proxy (httpd_fapi_proxy.c; docs/design.md#frontend-api-proxy). */
#ifndef HTTPD_FAPI_PROXY_H
#define HTTPD_FAPI_PROXY_H

#include "httpd.h"
#include "http_config.h"

struct clerk_publishable_key;

/* What a server's own per-directory record (outside any section) says about its instance. */
typedef struct clerk_server_instance {
    const struct clerk_publishable_key *pk;
    const char *secret_key;
    int trust_forwarded;    /* ClerkTrustForwardedHeaders On */
    const char *key_error;  /* the key source was set for another instance, or NULL */
    const void *fapi_proxy; /* ClerkFrontendAPIProxy, or NULL */
} clerk_server_instance;

/* Fills out from s->lookup_defaults (httpd_config.c); key_error is allocated from p. */
void clerk_server_instance_get(apr_pool_t *p, server_rec *s, clerk_server_instance *out);

/* ClerkFrontendAPIProxy path [URL], stored at offset cmd->info of the server's record. */
const char *clerk_fapi_proxy_set(cmd_parms *cmd, void *cfg, const char *path, const char *url);

/* 1 when r is served by the Frontend API proxy (AuthType Clerk does not apply to it). */
int clerk_fapi_proxy_request(const request_rec *r);

/* Registers the proxy's translate_name, access, fixups, filter, logging and startup hooks. */
void clerk_fapi_proxy_register_hooks(apr_pool_t *p);

#endif
