/* The directives that read key material (httpd_key_directives.c), for the command table. */
#ifndef HTTPD_KEY_DIRECTIVES_H
#define HTTPD_KEY_DIRECTIVES_H

#include "httpd.h"
#include "http_config.h"

#include "httpd_config.h"

/* ClerkPublishableKey, ClerkSecretKey, ClerkSecretKeyFile, ClerkJWTKey (RAW_ARGS: PEM text or
 * file:<path>), ClerkJWKSFile, ClerkSignedHeadersKeyFile: each parsed and checked once. */
const char *clerk_set_publishable_key(cmd_parms *cmd, void *cfg, const char *arg);
const char *clerk_set_secret_key(cmd_parms *cmd, void *cfg, const char *arg);
const char *clerk_set_secret_key_file(cmd_parms *cmd, void *cfg, const char *arg);
const char *clerk_set_jwt_key(cmd_parms *cmd, void *cfg, const char *args);
const char *clerk_set_jwks_file(cmd_parms *cmd, void *cfg, const char *arg);
const char *clerk_set_handoff_key_file(cmd_parms *cmd, void *cfg, const char *arg);

/* Remembers where d's key source starts (its first key directive) and the server it is in. */
void clerk_note_key_source(cmd_parms *cmd, clerk_dir_conf *d);

#endif
