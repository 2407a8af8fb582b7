/* The machine-token verification guard (see machine_guard.h for what it promises and its mutex
 * story). */
#include <pthread.h>
#include "machine_guard.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int in_flight;
static int64_t second; /* the second (now_ms / 1000) counted below */
static int started_in_second;

clerk_machine_verdict clerk_machine_guard_begin(int64_t now_ms)
{
    clerk_machine_verdict v = CLERK_MACHINE_GO;
    pthread_mutex_lock(&lock);
    if (in_flight >= CLERK_MACHINE_MAX_IN_FLIGHT) {
        v = CLERK_MACHINE_TOO_MANY_NOW;
    } else {
        int64_t s = now_ms / 1000;
        /* As the nonce guard: a request from the second before counts in the current one; a
         * larger step back is the clock going back and starts a new second. */
        if (s > second || s < second - 1) {
            second = s;
            started_in_second = 0;
        }
        if (started_in_second >= CLERK_MACHINE_MAX_PER_SECOND) {
            v = CLERK_MACHINE_TOO_MANY_SECOND;
        } else {
            started_in_second++;
            in_flight++;
        }
    }
    pthread_mutex_unlock(&lock);
    return v;
}

void clerk_machine_guard_end(void)
{
    pthread_mutex_lock(&lock);
    if (in_flight > 0)
        in_flight--;
    pthread_mutex_unlock(&lock);
}

const char *clerk_machine_verdict_str(clerk_machine_verdict v)
{
    switch (v) {
    case CLERK_MACHINE_GO:
        return "go";
    case CLERK_MACHINE_TOO_MANY_NOW:
        return "too-many-in-flight";
    case CLERK_MACHINE_TOO_MANY_SECOND:
        return "too-many-per-second";
    }
    return "unknown";
}
