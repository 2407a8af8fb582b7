/* The glue's log message numbers. */
#ifndef HTTPD_LOGNO_H
#define HTTPD_LOGNO_H

/* Stable message numbers, APLOGNO-style, so operators can grep and alert on them. */
#define CLERK_LOGNO(n) "CLERK" #n ": "

#endif
