#include "unit.h"

Suite *jwt_suite(void)
{
    return suite_create("jwt");
}
