/* The one way the core reports to a log: a callback the glue supplies, with these levels (the
 * glue maps them onto its server's). They keep syslog's numbers, so a log line's level reads the
 * same in either. */
#ifndef CLERK_LOGGING_H
#define CLERK_LOGGING_H

typedef enum clerk_log_level {
    CLERK_LOG_ERR = 3,
    CLERK_LOG_WARN = 4,
    CLERK_LOG_INFO = 6,
    CLERK_LOG_DEBUG = 7
} clerk_log_level;

/* Receives one finished message (never a token or key) at a CLERK_LOG_* level; ctx is the
 * caller's. Called from any thread that runs the core. */
typedef void (*clerk_log_fn)(void *ctx, int level, const char *msg);

#endif
