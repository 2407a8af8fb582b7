/* The status page's counters (httpd_status.h counts, httpd_status.c shows them). They live in
 * one anonymous shared-memory segment the parent creates once (kept in the process pool, so
 * graceful restarts keep counting) and every child inherits by fork. The request path only
 * does relaxed atomic adds on it: no lock, no system call. The counters are striped by CPU and
 * the page sums the stripes, so requests on different cores do not all write one cache line. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_getcpu */
#endif
#include <sched.h>
#include <stdint.h>
#include <string.h>

#include <apr_shm.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "httpd_logno.h"
#include "httpd_status.h"
#include "httpd_status_counters.h"
#include "machine_token.h"
#include "reason.h"
#include "request_state.h"

APLOG_USE_MODULE(clerk_auth);

/* The layout version is in the name too: a graceful restart into a newer module gets a segment
 * of its own layout instead of reading the old one. */
#define SHM_USERDATA "clerk_auth_status_shm4"
#define SHM_MAGIC    0x636c65726b737434ULL /* "clerkst4": layout version */
#define STRIPES      16

/* Padded to whole lines so two stripes never share one. */
typedef union padded_counters {
    clerk_status_counters c;
    char pad[(sizeof(clerk_status_counters) + 63) / 64 * 64];
} padded_counters;

typedef struct status_shared {
    uint64_t magic;
    int64_t started_at_s; /* when the parent created the segment */
    char pad[48];         /* stripes start on a line of their own */
    padded_counters stripe[STRIPES];
} status_shared;

static status_shared *shared; /* NULL when the segment could not be made: counting is off */

static void add(uint64_t *counter)
{
    __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

/* The stripe of the CPU the thread runs on (glibc reads it from rseq: no system call), so
 * requests on different cores add to different lines; a thread moved between the read and the
 * add only shares a line for that one add. */
static clerk_status_counters *mine(void)
{
    int cpu = sched_getcpu();
    return &shared->stripe[cpu >= 0 ? cpu % STRIPES : 0].c;
}

void clerk_status_count_decision(int preflight, int status, int reason)
{
    if (!shared)
        return;
    clerk_status_counters *c = mine();
    if (preflight) {
        add(&c->preflight);
        return;
    }
    if (status >= 0 && status < 3)
        add(&c->outcome[status]);
    if (status != CLERK_SIGNED_IN && reason > CLERK_R_NONE && reason < CLERK_R__COUNT)
        add(&c->reason[reason]);
}

static int machine_index(unsigned type)
{
    return type == CLERK_TT_API_KEY ? 1 : type == CLERK_TT_M2M ? 2 : type == CLERK_TT_OAUTH ? 3 : 0;
}

void clerk_status_count_machine(unsigned type, int signed_in)
{
    if (shared)
        add(&mine()->machine[machine_index(type)][signed_in ? 1 : 0]);
}

void clerk_status_count_machine_call(int ok)
{
    if (shared)
        add(&mine()->machine_call[ok ? 1 : 0]);
}

void clerk_status_count_machine_cache(int hit)
{
    if (shared)
        add(&mine()->machine_cache[hit ? 1 : 0]);
}

void clerk_status_count_authz(int result)
{
    if (shared && result >= 0 && result < 3)
        add(&mine()->authz[result]);
}

void clerk_status_count_cache(int hit)
{
    if (shared)
        add(&mine()->cache[hit ? 1 : 0]);
}

void clerk_status_count_key_fetch(void *ctx, int ok)
{
    intptr_t source = (intptr_t)ctx;
    if (shared && source >= 0 && source < 2)
        add(&mine()->key_fetch[source][ok ? 1 : 0]);
}

json_int_t clerk_status_sum(size_t offset)
{
    uint64_t sum = 0;
    for (int i = 0; i < STRIPES; i++)
        sum += __atomic_load_n((const uint64_t *)((const char *)&shared->stripe[i].c + offset),
                               __ATOMIC_RELAXED);
    return (json_int_t)sum;
}

int clerk_status_counters_available(void)
{
    return shared != NULL;
}

int64_t clerk_status_started_at(void)
{
    return shared->started_at_s;
}

/* The segment outlives configuration generations: it belongs to the process pool. */
static status_shared *shared_segment(server_rec *s)
{
    apr_pool_t *pp = s->process->pool;
    apr_shm_t *shm = NULL;
    apr_pool_userdata_get((void **)&shm, SHM_USERDATA, pp);
    if (!shm) {
        apr_status_t rv = apr_shm_create(&shm, sizeof(status_shared), NULL, pp);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                         CLERK_LOGNO(0701) "cannot create the shared memory for the status "
                                           "page counters; ClerkStatus shows no counters");
            return NULL;
        }
        status_shared *st = apr_shm_baseaddr_get(shm);
        memset(st, 0, sizeof(*st));
        st->magic = SHM_MAGIC;
        st->started_at_s = (int64_t)apr_time_sec(apr_time_now());
        apr_pool_userdata_set(shm, SHM_USERDATA, apr_pool_cleanup_null, pp);
    }
    status_shared *st = apr_shm_baseaddr_get(shm);
    return st->magic == SHM_MAGIC ? st : NULL;
}

void clerk_status_counters_attach(server_rec *s)
{
    shared = shared_segment(s);
}
