#include "unit.h"

Suite *b64url_suite(void)
{
    return suite_create("b64url");
}
