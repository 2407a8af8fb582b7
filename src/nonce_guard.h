/* Per-process guard in front of the handshake nonce exchange (docs/design.md#nonce-guard): a
 * nonce's shape is checked before any call, nonces whose exchange failed are remembered for a
 * while, and exchanges are bounded in flight and per second. The nonce is attacker-controlled (any
 * visitor can send one) while each exchange costs a Backend API call made with the secret key, so
 * nothing here trusts it.
 *
 * State is one table per process, behind one mutex (held only for a table look-up, never over
 * the network call): safe from any number of threads of an event/worker MPM child, and each
 * prefork child has its own. Memory is fixed at CLERK_NONCE_FAILED_SLOTS entries of a SHA-256
 * digest and an expiry; the nonce text itself is never kept. The in-flight and per-second counts
 * are a clerk_call_bound (call_bound.h). */
#ifndef CLERK_NONCE_GUARD_H
#define CLERK_NONCE_GUARD_H

#include <stdint.h>

/* A nonce longer than this is malformed (Clerk's are a few dozen characters). */
#define CLERK_NONCE_MAX_LEN 256
/* How many failed nonces a process remembers; the oldest of a full set is forgotten first. */
#define CLERK_NONCE_FAILED_SLOTS 4096
/* How long a failed nonce is remembered (10 minutes; Clerk's nonces are short-lived). */
#define CLERK_NONCE_FAILED_TTL_MS INT64_C(600000)
/* Exchanges one process runs at the same time; more are refused, not queued. */
#define CLERK_NONCE_MAX_IN_FLIGHT 8
/* Exchanges one process starts in one second of the request clock. */
#define CLERK_NONCE_MAX_PER_SECOND 50

typedef enum clerk_nonce_verdict {
    CLERK_NONCE_GO = 0,          /* exchange it; clerk_nonce_guard_end must follow */
    CLERK_NONCE_MALFORMED,       /* not a nonce Clerk issues: no call */
    CLERK_NONCE_FAILED_BEFORE,   /* this nonce failed recently: no call */
    CLERK_NONCE_TOO_MANY_NOW,    /* CLERK_NONCE_MAX_IN_FLIGHT exchanges are running */
    CLERK_NONCE_TOO_MANY_SECOND, /* CLERK_NONCE_MAX_PER_SECOND reached in this second */
} clerk_nonce_verdict;

/* 1 when nonce has the shape of one Clerk issues: 1 to CLERK_NONCE_MAX_LEN characters of the
 * base64 and base64url alphabets (A-Z a-z 0-9 + / = - _) and '.', nothing else. */
int clerk_nonce_shape_ok(const char *nonce);

/* Decides whether nonce may be exchanged now (now_ms: the request's clock). On CLERK_NONCE_GO it
 * has taken an in-flight slot and counted the exchange against the second. */
clerk_nonce_verdict clerk_nonce_guard_begin(const char *nonce, int64_t now_ms);

/* Ends an exchange begun with CLERK_NONCE_GO: frees its slot and, when failed, remembers the
 * nonce until now_ms + CLERK_NONCE_FAILED_TTL_MS. */
void clerk_nonce_guard_end(const char *nonce, int failed, int64_t now_ms);

/* A stable word for a verdict, for log lines ("go", "malformed", ...). */
const char *clerk_nonce_verdict_str(clerk_nonce_verdict v);

#endif
