#include "unit.h"

Suite *request_parse_suite(void)
{
    return suite_create("request_parse");
}
