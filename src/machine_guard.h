/* Per-process bound on Backend API verifications of opaque machine tokens (docs/design.md
 * #machine-tokens). Any client can send a fresh random `ak_…`/`mt_…`/`oat_…` token, and a token
 * nobody has seen is in no cache, so each one would cost an outbound call made with the secret
 * key: calls are bounded in flight and per second, and a request beyond the bound is signed out
 * (unexpected-error) without a call.
 *
 * State is one clerk_call_bound per process (call_bound.h, which says how it is locked). */
#ifndef CLERK_MACHINE_GUARD_H
#define CLERK_MACHINE_GUARD_H

#include <stdint.h>
#include "call_bound.h"

/* Verifications one process runs at the same time; more are refused, not queued. */
#define CLERK_MACHINE_MAX_IN_FLIGHT 8
/* Verifications one process starts in one second of the request clock. */
#define CLERK_MACHINE_MAX_PER_SECOND 100

/* Decides whether a Backend API verification may start now (now_ms: the request's clock). On
 * CLERK_BOUND_GO it has taken an in-flight slot and counted the call against the second. */
clerk_bound_verdict clerk_machine_guard_begin(int64_t now_ms);

/* Ends a verification begun with CLERK_BOUND_GO: frees its slot. */
void clerk_machine_guard_end(void);

#endif
