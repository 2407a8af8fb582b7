/* The machine-token verification guard (see machine_guard.h for what it promises). */
#include "machine_guard.h"

static clerk_call_bound bound =
    CLERK_CALL_BOUND_INIT(CLERK_MACHINE_MAX_IN_FLIGHT, CLERK_MACHINE_MAX_PER_SECOND);

clerk_bound_verdict clerk_machine_guard_begin(int64_t now_ms)
{
    return clerk_call_bound_begin(&bound, now_ms);
}

void clerk_machine_guard_end(void)
{
    clerk_call_bound_end(&bound);
}
