/* placeholder: filled in by its owner */
#include "suites.h"

Suite *suite_version(void)
{
    return suite_create("version");
}
