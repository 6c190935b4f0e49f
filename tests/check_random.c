/* placeholder: filled in by its owner */
#include "suites.h"

Suite *suite_random(void)
{
    return suite_create("random");
}
