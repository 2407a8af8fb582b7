#include "unit.h"

Suite *jwks_remote_suite(void)
{
    return suite_create("jwks_remote");
}
