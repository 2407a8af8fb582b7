#include "unit.h"

Suite *jws_suite(void)
{
    return suite_create("jws");
}
