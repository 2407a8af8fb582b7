#include "unit.h"

Suite *request_state_suite(void)
{
    return suite_create("request_state");
}
