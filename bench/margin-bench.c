#include "margin.h"
int main(void) { return margin_version_number() > 0 ? 0 : 1; }
