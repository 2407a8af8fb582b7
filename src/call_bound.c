/* Per-process call bounds (see call_bound.h for what they promise and their mutex story). */
#include <time.h>
#include "call_bound.h"

/* Takes a slot if the bound has one in second s. Caller holds b->lock. */
static clerk_bound_verdict take(clerk_call_bound *b, int64_t s)
{
    if (b->in_flight >= b->max_in_flight)
        return CLERK_BOUND_TOO_MANY_NOW;
    /* Threads finish their requests out of order: one from the second before counts in the
     * current one instead of resetting it. A larger step back is the clock itself going back,
     * and starts a new second rather than blocking calls until it catches up. */
    if (s > b->second || s < b->second - 1) {
        b->second = s;
        b->started = 0;
    }
    if (b->started >= b->max_per_second)
        return CLERK_BOUND_TOO_MANY_SECOND;
    b->started++;
    b->in_flight++;
    return CLERK_BOUND_GO;
}

/* The clock pthread_cond_timedwait measures against (a PTHREAD_COND_INITIALIZER condition
 * uses CLOCK_REALTIME), in milliseconds. */
static int64_t clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

clerk_bound_verdict clerk_call_bound_begin(clerk_call_bound *b, int64_t now_ms)
{
    return clerk_call_bound_begin_wait(b, now_ms, 0);
}

clerk_bound_verdict clerk_call_bound_begin_wait(clerk_call_bound *b, int64_t now_ms,
                                                int64_t wait_ms)
{
    pthread_mutex_lock(&b->lock);
    clerk_bound_verdict v = take(b, now_ms / 1000);
    if (v != CLERK_BOUND_GO && wait_ms > 0 && b->waiters < b->max_waiters) {
        /* A burst (many new tokens at once, say after a restart) is smoothed, not refused; the
         * waiter cap keeps a flood from parking every thread here. */
        b->waiters++;
        int64_t start = clock_ms(), until = start + wait_ms;
        for (;;) {
            int64_t t = clock_ms();
            if (t >= until)
                break;
            int64_t req_now = now_ms + (t - start);
            v = take(b, req_now / 1000);
            if (v == CLERK_BOUND_GO)
                break;
            int64_t wake = until;
            /* A full second frees no slot when it ends: wake then rather than on a signal. */
            if (v == CLERK_BOUND_TOO_MANY_SECOND) {
                int64_t next = t + (1000 - (req_now % 1000 + 1000) % 1000);
                if (next < wake)
                    wake = next;
            }
            struct timespec ts = {(time_t)(wake / 1000), (long)(wake % 1000) * 1000000L};
            pthread_cond_timedwait(&b->freed, &b->lock, &ts);
        }
        b->waiters--;
    }
    pthread_mutex_unlock(&b->lock);
    return v;
}

void clerk_call_bound_end(clerk_call_bound *b)
{
    pthread_mutex_lock(&b->lock);
    if (b->in_flight > 0)
        b->in_flight--;
    /* All, not one: a waiter for the next second cannot use the slot an in-flight waiter can. */
    pthread_cond_broadcast(&b->freed);
    pthread_mutex_unlock(&b->lock);
}

void clerk_call_bound_set(clerk_call_bound *b, int max_in_flight, int max_per_second)
{
    pthread_mutex_lock(&b->lock);
    b->max_in_flight = max_in_flight > 0 ? max_in_flight : 1;
    b->max_per_second = max_per_second > 0 ? max_per_second : 1;
    pthread_cond_broadcast(&b->freed);
    pthread_mutex_unlock(&b->lock);
}

void clerk_call_bound_limits(clerk_call_bound *b, int *max_in_flight, int *max_per_second)
{
    pthread_mutex_lock(&b->lock);
    *max_in_flight = b->max_in_flight;
    *max_per_second = b->max_per_second;
    pthread_mutex_unlock(&b->lock);
}

const char *clerk_bound_verdict_str(clerk_bound_verdict v)
{
    return v == CLERK_BOUND_GO             ? "go"
           : v == CLERK_BOUND_TOO_MANY_NOW ? "too-many-in-flight"
                                           : "too-many-per-second";
}
