/* The counters every process adds to and the status pages read (httpd_status_counters.c). */
#ifndef HTTPD_STATUS_COUNTERS_H
#define HTTPD_STATUS_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "httpd.h"

#include "reason.h"

/* One stripe of the counters. Only ever added to; readers may see a sum mid-update, never a
 * torn word (64-bit atomics). */
typedef struct clerk_status_counters {
    uint64_t outcome[3]; /* by clerk_status: signed-in, signed-out, handshake */
    uint64_t preflight;
    uint64_t reason[CLERK_R__COUNT];
    uint64_t authz[3];        /* by clerk_status_authz_result */
    uint64_t cache[2];        /* verified-token cache look-ups: miss, hit */
    uint64_t key_fetch[2][2]; /* by CLERK_KEY_FETCH_* source, then failed/ok */
    /* Machine tokens (httpd_machine.c): decisions by type (0: none verified, then api_key,
     * m2m_token, oauth_token) and refused/signed-in; Backend API calls failed/ok; shared-cache
     * look-ups miss/hit. */
    uint64_t machine[4][2];
    uint64_t machine_call[2];
    uint64_t machine_cache[2];
} clerk_status_counters;

/* post_config: finds or makes the shared segment (once per httpd run, kept across graceful
 * restarts); without it nothing is counted. */
void clerk_status_counters_attach(server_rec *s);

/* 1 when the shared counters exist. */
int clerk_status_counters_available(void);

/* When httpd started (the counters' origin), Unix time; only when the counters exist. */
int64_t clerk_status_started_at(void);

/* The counter at offset within clerk_status_counters, summed over the stripes; only when the
 * counters exist. */
json_int_t clerk_status_sum(size_t offset);

#define SUM(field) clerk_status_sum(offsetof(clerk_status_counters, field))

#endif
