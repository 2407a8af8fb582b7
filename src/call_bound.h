/* A per-process bound on outgoing calls an anonymous request can cause (docs/design.md
 * #nonce-guard, #machine-tokens): at most max_in_flight at once, at most max_per_second started in
 * one second of the request clock; beyond either the call is refused, not queued.
 *
 * Each bound is a static object with its own mutex, held for the counting only (never over the
 * call): safe from any number of threads of an event/worker MPM child; each prefork child has
 * its own copy. */
#ifndef CLERK_CALL_BOUND_H
#define CLERK_CALL_BOUND_H

#include <pthread.h>
#include <stdint.h>

typedef struct clerk_call_bound {
    pthread_mutex_t lock;
    int max_in_flight, max_per_second;
    int in_flight;
    int64_t second; /* the second (now_ms / 1000) counted in started */
    int started;
} clerk_call_bound;

/* A static initialiser for a bound of n calls at once and m started per second. */
#define CLERK_CALL_BOUND_INIT(n, m)                                                                \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, (n), (m), 0, 0, 0                                               \
    }

typedef enum clerk_bound_verdict {
    CLERK_BOUND_GO = 0,          /* call; clerk_call_bound_end must follow */
    CLERK_BOUND_TOO_MANY_NOW,    /* max_in_flight calls are running */
    CLERK_BOUND_TOO_MANY_SECOND, /* max_per_second reached in this second */
} clerk_bound_verdict;

/* Decides whether a call may start now (now_ms: the request's clock). On CLERK_BOUND_GO it has
 * taken an in-flight slot and counted the call against the second. */
clerk_bound_verdict clerk_call_bound_begin(clerk_call_bound *b, int64_t now_ms);

/* Ends a call begun with CLERK_BOUND_GO: frees its slot. */
void clerk_call_bound_end(clerk_call_bound *b);

/* A stable word for a verdict, for log lines ("go", "too-many-in-flight", ...). */
const char *clerk_bound_verdict_str(clerk_bound_verdict v);

#endif
