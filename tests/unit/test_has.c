#include "unit.h"

Suite *has_suite(void)
{
    return suite_create("has");
}
