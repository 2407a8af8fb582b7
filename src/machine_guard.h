/* Per-process bound on Backend API verifications of opaque machine tokens (docs/design.md
 * #machine-tokens). Any client can send a fresh random `ak_…`/`mt_…`/`oat_…` token, and a token
 * nobody has seen is in no cache, so each one would cost an outbound call made with the secret
 * key: calls are bounded in flight and per second, and a request beyond the bound is signed out
 * (unexpected-error) without a call.
 *
 * State is two counters per process behind one mutex (held for the counting only, never over the
 * network call): safe from any number of threads of an event/worker MPM child; each prefork
 * child has its own. */
#ifndef CLERK_MACHINE_GUARD_H
#define CLERK_MACHINE_GUARD_H

#include <stdint.h>

/* Verifications one process runs at the same time; more are refused, not queued. */
#define CLERK_MACHINE_MAX_IN_FLIGHT 8
/* Verifications one process starts in one second of the request clock. */
#define CLERK_MACHINE_MAX_PER_SECOND 100

typedef enum clerk_machine_verdict {
    CLERK_MACHINE_GO = 0,          /* call; clerk_machine_guard_end must follow */
    CLERK_MACHINE_TOO_MANY_NOW,    /* CLERK_MACHINE_MAX_IN_FLIGHT calls are running */
    CLERK_MACHINE_TOO_MANY_SECOND, /* CLERK_MACHINE_MAX_PER_SECOND reached in this second */
} clerk_machine_verdict;

/* Decides whether a Backend API verification may start now (now_ms: the request's clock). On
 * CLERK_MACHINE_GO it has taken an in-flight slot and counted the call against the second. */
clerk_machine_verdict clerk_machine_guard_begin(int64_t now_ms);

/* Ends a verification begun with CLERK_MACHINE_GO: frees its slot. */
void clerk_machine_guard_end(void);

/* A stable word for a verdict, for log lines ("go", "too-many-in-flight", ...). */
const char *clerk_machine_verdict_str(clerk_machine_verdict v);

#endif
