/* Clerk's handshake in httpd (httpd_handshake.c). */
#ifndef HTTPD_HANDSHAKE_H
#define HTTPD_HANDSHAKE_H

#include "httpd.h"
#include "http_config.h"

struct clerk_config;
struct clerk_state;

/* ClerkFrontendAPI: a host[:port] or an absolute http(s) URL, stored at offset cmd->info. */
const char *clerk_handshake_set_frontend_api(cmd_parms *cmd, void *cfg, const char *arg);

/* Fills the per-request handshake fields of cc: the Backend API URL and the libcurl transport
 * of the nonce exchange, from this server's fetch settings (ClerkAPIURL, ClerkCABundle...). */
void clerk_handshake_request_config(request_rec *r, struct clerk_config *cc);

/* Adds the decision's Set-Cookie headers (handshake counter, or a resolved handshake's
 * directives) and, for a resolved handshake, Access-Control-Allow-Origin: null and
 * Access-Control-Allow-Credentials: true (@clerk/backend tokens/handshake.ts resolveHandshake) to
 * err_headers_out. */
void clerk_handshake_apply_headers(request_rec *r, const struct clerk_state *st);

/* HTTP_TEMPORARY_REDIRECT with Location and Cache-Control: no-store when the decision carries
 * a Location (the handshake redirect, or a development handshake's clean-up), else DECLINED. */
int clerk_handshake_response(request_rec *r, const struct clerk_state *st);

#endif
