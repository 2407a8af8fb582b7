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

/* arg as a decimal integer in [min, max] with nothing after it, in *out: 1, else 0. Input
 * beyond the 64-bit range saturates (apr_strtoi64), so a max below APR_INT64_MAX refuses it. */
int clerk_parse_int(const char *arg, apr_int64_t min, apr_int64_t max, apr_int64_t *out);

/* clerk_parse_int for a directive: NULL, else its error "'<arg>' is not an integer from <min>
 * to <max>". */
const char *clerk_cmd_int(cmd_parms *cmd, const char *arg, apr_int64_t min, apr_int64_t max,
                          apr_int64_t *out);

/* The same for a number of seconds: "'<arg>' is not a number of seconds from <min> to <max>". */
const char *clerk_cmd_seconds(cmd_parms *cmd, const char *arg, apr_int64_t min, apr_int64_t max,
                              apr_int64_t *out);

/* "line N of FILE" of the directive being read, for messages about it later; NULL when httpd
 * gives no position. */
const char *clerk_directive_at(cmd_parms *cmd);

/* The directive's error when url is http:// to anything but loopback (what: what it would
 * carry, for the message), else NULL. */
const char *clerk_cleartext_refusal(cmd_parms *cmd, const char *url, const char *what);

#endif
