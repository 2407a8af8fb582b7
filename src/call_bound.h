/* A per-process bound on outgoing calls an anonymous request can cause (docs/design.md
 * #nonce-guard, #machine-tokens): at most max_in_flight at once, at most max_per_second started in
 * one second of the request clock. A call beyond either may wait a bounded time for a slot (or
 * the next second) when fewer than max_waiters already wait; otherwise it is refused at once.
 *
 * Each bound is a static object with its own mutex, held for the counting and the waiting only
 * (never over the call); waiters sleep on its condition variable, which clerk_call_bound_end
 * signals. Safe from any number of threads of an event/worker MPM child; each prefork child has
 * its own copy. */
#ifndef CLERK_CALL_BOUND_H
#define CLERK_CALL_BOUND_H

#include <pthread.h>
#include <stdint.h>

typedef struct clerk_call_bound {
    pthread_mutex_t lock;
    pthread_cond_t freed; /* a slot was freed or the limits changed */
    int max_in_flight, max_per_second, max_waiters;
    int in_flight;
    int64_t second; /* the second (now_ms / 1000) counted in started */
    int started;
    int waiters;
} clerk_call_bound;

/* A static initialiser for a bound of n calls at once, m started per second, w waiting. */
#define CLERK_CALL_BOUND_INIT(n, m, w)                                                             \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, (n), (m), (w), 0, 0, 0, 0             \
    }

typedef enum clerk_bound_verdict {
    CLERK_BOUND_GO = 0,          /* call; clerk_call_bound_end must follow */
    CLERK_BOUND_TOO_MANY_NOW,    /* max_in_flight calls are running */
    CLERK_BOUND_TOO_MANY_SECOND, /* max_per_second reached in this second */
} clerk_bound_verdict;

/* Decides whether a call may start now (now_ms: the request's clock), never waiting. On
 * CLERK_BOUND_GO it has taken an in-flight slot and counted the call against the second. */
clerk_bound_verdict clerk_call_bound_begin(clerk_call_bound *b, int64_t now_ms);

/* As clerk_call_bound_begin, but when the bound is full and fewer than max_waiters wait, waits
 * at most wait_ms (measured on the system clock, which also advances now_ms) for a freed slot or
 * the next second. Returns the last refusal when the wait ends without a slot. */
clerk_bound_verdict clerk_call_bound_begin_wait(clerk_call_bound *b, int64_t now_ms,
                                                int64_t wait_ms);

/* Ends a call begun with CLERK_BOUND_GO: frees its slot and wakes the waiters. */
void clerk_call_bound_end(clerk_call_bound *b);

/* Sets the limits (each at least 1) of a bound in use; calls already running keep their slots. */
void clerk_call_bound_set(clerk_call_bound *b, int max_in_flight, int max_per_second);

/* Reads the limits of a bound, for log lines. */
void clerk_call_bound_limits(clerk_call_bound *b, int *max_in_flight, int *max_per_second);

/* A stable word for a verdict, for log lines ("go", "too-many-in-flight", ...). */
const char *clerk_bound_verdict_str(clerk_bound_verdict v);

#endif
