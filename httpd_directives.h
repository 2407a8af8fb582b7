/* The module's directives (httpd_directives.c). */
#ifndef HTTPD_DIRECTIVES_H
#define HTTPD_DIRECTIVES_H

#include "httpd.h"
#include "http_config.h"

/* Every directive of the module, for the module record. */
extern const command_rec clerk_cmds[];

/* "<Directive>: <message>", so configtest reads "Syntax error on line N of FILE: <Directive>: ..":
 * the one way a directive handler reports an error. */
const char *clerk_cmd_error(cmd_parms *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The directive's error when url is http:// to anything but loopback (what: what it would
 * carry, for the message), else NULL. */
const char *clerk_cleartext_refusal(cmd_parms *cmd, const char *url, const char *what);

#endif
