/* Per-process bound on Backend API verifications of opaque machine tokens (docs/design.md
 * #machine-tokens). Any client can send a fresh random `ak_…`/`mt_…`/`oat_…` token, and a token
 * nobody has seen is in no cache, so each one would cost an outbound call made with the secret
 * key: calls are bounded in flight and per second. A request beyond the bound waits a bounded
 * time for a slot while fewer than CLERK_MACHINE_MAX_WAITERS wait (a burst of legitimate new
 * keys is smoothed); otherwise, or when the wait ends without a slot, it is signed out
 * (unexpected-error) without a call.
 *
 * State is one clerk_call_bound per process (call_bound.h, which says how it is locked). */
#ifndef CLERK_MACHINE_GUARD_H
#define CLERK_MACHINE_GUARD_H

#include <stdint.h>
#include "call_bound.h"

/* Default verifications one process runs at the same time (ClerkMachineTokenVerifyLimit). */
#define CLERK_MACHINE_MAX_IN_FLIGHT 8
/* Default verifications one process starts in one second of the request clock. */
#define CLERK_MACHINE_MAX_PER_SECOND 100
/* Requests one process lets wait for a verification slot; more are refused at once. */
#define CLERK_MACHINE_MAX_WAITERS 256

/* Decides whether a Backend API verification may start (now_ms: the request's clock), waiting
 * at most wait_ms for a slot as the header says. On CLERK_BOUND_GO it has taken an in-flight
 * slot and counted the call against the second. */
clerk_bound_verdict clerk_machine_guard_begin(int64_t now_ms, int64_t wait_ms);

/* Ends a verification begun with CLERK_BOUND_GO: frees its slot for a waiter. */
void clerk_machine_guard_end(void);

/* Sets this process's limits (the configuration's; each at least 1). */
void clerk_machine_guard_set(int max_in_flight, int max_per_second);

/* Reads this process's limits, for log lines. */
void clerk_machine_guard_limits(int *max_in_flight, int *max_per_second);

#endif
