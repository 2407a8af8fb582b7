#include "unit.h"

Suite *jwk_suite(void)
{
    return suite_create("jwk");
}
