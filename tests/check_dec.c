/* placeholder: filled in by its owner */
#include "suites.h"

Suite *suite_dec(void)
{
    return suite_create("dec");
}
