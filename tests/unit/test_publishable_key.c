#include "unit.h"

Suite *publishable_key_suite(void)
{
    return suite_create("publishable_key");
}
