/* The machine-token verification guard (see machine_guard.h for what it promises). */
#include "machine_guard.h"

static clerk_call_bound bound = CLERK_CALL_BOUND_INIT(
    CLERK_MACHINE_MAX_IN_FLIGHT, CLERK_MACHINE_MAX_PER_SECOND, CLERK_MACHINE_MAX_WAITERS);

clerk_bound_verdict clerk_machine_guard_begin(int64_t now_ms, int64_t wait_ms)
{
    return clerk_call_bound_begin_wait(&bound, now_ms, wait_ms);
}

void clerk_machine_guard_end(void)
{
    clerk_call_bound_end(&bound);
}

void clerk_machine_guard_set(int max_in_flight, int max_per_second)
{
    clerk_call_bound_set(&bound, max_in_flight, max_per_second);
}

void clerk_machine_guard_limits(int *max_in_flight, int *max_per_second)
{
    clerk_call_bound_limits(&bound, max_in_flight, max_per_second);
}
