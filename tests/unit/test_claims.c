#include "unit.h"

Suite *claims_suite(void)
{
    return suite_create("claims");
}
