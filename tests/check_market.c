/* placeholder: filled in by its owner */
#include "suites.h"

Suite *suite_market(void)
{
    return suite_create("market");
}
