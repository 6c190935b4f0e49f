/* placeholder: filled in by its owner */
#include "suites.h"

Suite *suite_position(void)
{
    return suite_create("position");
}
