#include "unit.h"

Suite *export_suite(void)
{
    return suite_create("export");
}
