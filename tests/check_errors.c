/* placeholder: filled in by its owner */
#include "suites.h"

Suite *suite_errors(void)
{
    return suite_create("errors");
}
