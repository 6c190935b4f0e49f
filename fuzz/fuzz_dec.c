/* libFuzzer harness for the decimal strings: any input must be parsed or refused with a
 * status code (never a crash), and what parses must format back to a string that parses to
 * the same value; the formatted text must be the canonical shortest form, so formatting it
 * again gives the same text. Build as fuzz/README.md says. */
#include <stdint.h>
#include <string.h>

#include "margin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[64], f1[48], f2[48];
    int32_t scale;
    int64_t v, w;
    int rc;
    if (size < 1)
        return 0;
    scale = (int32_t)(data[0] % (MARGIN_MAX_SCALE + 3)) - 1; /* -1 .. 19: out of range too */
    size--;
    data++;
    if (size >= sizeof s)
        size = sizeof s - 1;
    memcpy(s, data, size);
    s[size] = '\0';
    rc = margin_dec_parse(s, scale, &v);
    if (rc != MARGIN_OK) {
        if (rc != MARGIN_EINVAL && rc != MARGIN_EPARSE && rc != MARGIN_ERANGE &&
            rc != MARGIN_EOVERFLOW)
            __builtin_trap();
        return 0;
    }
    if (margin_dec_format(v, scale, f1, sizeof f1) != MARGIN_OK)
        __builtin_trap();
    if (margin_dec_parse(f1, scale, &w) != MARGIN_OK || w != v)
        __builtin_trap();
    if (margin_dec_format(w, scale, f2, sizeof f2) != MARGIN_OK || strcmp(f1, f2) != 0)
        __builtin_trap();
    return 0;
}
