/* placeholder: filled in by its owner */
#include "suites.h"

Suite *suite_vectors(void)
{
    return suite_create("vectors");
}
