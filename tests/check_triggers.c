/* placeholder: filled in by its owner */
#include "suites.h"

Suite *suite_triggers(void)
{
    return suite_create("triggers");
}
