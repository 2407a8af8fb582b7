/* Per-process call bounds (see call_bound.h for what they promise and their mutex story). */
#include "call_bound.h"

clerk_bound_verdict clerk_call_bound_begin(clerk_call_bound *b, int64_t now_ms)
{
    clerk_bound_verdict v = CLERK_BOUND_GO;
    pthread_mutex_lock(&b->lock);
    if (b->in_flight >= b->max_in_flight) {
        v = CLERK_BOUND_TOO_MANY_NOW;
    } else {
        int64_t s = now_ms / 1000;
        /* Threads finish their requests out of order: one from the second before counts in the
         * current one instead of resetting it. A larger step back is the clock itself going
         * back, and starts a new second rather than blocking calls until it catches up. */
        if (s > b->second || s < b->second - 1) {
            b->second = s;
            b->started = 0;
        }
        if (b->started >= b->max_per_second) {
            v = CLERK_BOUND_TOO_MANY_SECOND;
        } else {
            b->started++;
            b->in_flight++;
        }
    }
    pthread_mutex_unlock(&b->lock);
    return v;
}

void clerk_call_bound_end(clerk_call_bound *b)
{
    pthread_mutex_lock(&b->lock);
    if (b->in_flight > 0)
        b->in_flight--;
    pthread_mutex_unlock(&b->lock);
}

const char *clerk_bound_verdict_str(clerk_bound_verdict v)
{
    return v == CLERK_BOUND_GO             ? "go"
           : v == CLERK_BOUND_TOO_MANY_NOW ? "too-many-in-flight"
                                           : "too-many-per-second";
}
