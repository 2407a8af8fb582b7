/* The glue's log message numbers, and the one mapping from the core's log levels to httpd's. */
#ifndef HTTPD_LOGNO_H
#define HTTPD_LOGNO_H

#include "http_log.h"

#include "logging.h"

/* Stable message numbers, APLOGNO-style, so operators can grep and alert on them. */
#define CLERK_LOGNO(n) "CLERK" #n ": "

/* httpd's level (APLOG_*) for a level the core logs at (CLERK_LOG_*, src/logging.h). */
static inline int clerk_aplog_level(int level)
{
    return level <= CLERK_LOG_ERR    ? APLOG_ERR
           : level == CLERK_LOG_WARN ? APLOG_WARNING
           : level == CLERK_LOG_INFO ? APLOG_INFO
                                     : APLOG_DEBUG;
}

#endif
