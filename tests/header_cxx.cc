// The public header compiles, and links, as C++ (built by tests/header.sh with
// `g++ -std=c++11 -pedantic -Wall -Wextra -Werror`). Including it twice checks the guard;
// calling through it checks that every declaration has C linkage (extern "C").
#include "margin.h"
#include "margin.h"

#include <cstdio>
#include <cstring>

static_assert(MARGIN_OK == 0, "MARGIN_OK is 0");
static_assert(MARGIN_ENOTSUP == -15, "status codes are fixed");
static_assert(MARGIN_VERSION_NUMBER ==
                  MARGIN_VERSION_MAJOR * 10000 + MARGIN_VERSION_MINOR * 100 + MARGIN_VERSION_PATCH,
              "version number formula");
static_assert(MARGIN_LONG == 1 && MARGIN_SHORT == -1, "sides");
static_assert(MARGIN_DERIVE == INT64_MIN, "MARGIN_DERIVE is usable from C++");

// A callback of the public type, with C++ linkage: only the signature must match.
static void on_event(void *user, const margin_engine *e, int32_t type)
{
    (void)e;
    (void)type;
    ++*static_cast<int *>(user);
}

int main()
{
    margin_event_fn fn = on_event;
    margin_engine *e = nullptr;
    int64_t v = 0;
    char buf[42];
    int calls = 0;

    if (margin_version_number() != MARGIN_VERSION_NUMBER ||
        std::strcmp(margin_version_string(), MARGIN_VERSION_STRING) != 0) {
        std::puts("version mismatch between header and library");
        return 1;
    }
    if (margin_dec_parse("20000.5", MARGIN_MONEY_SCALE, &v) != MARGIN_OK || v != 2000050000000LL)
        return 1;
    if (margin_dec_format(v, MARGIN_MONEY_SCALE, buf, sizeof buf) != MARGIN_OK ||
        std::strcmp(buf, "20000.5") != 0)
        return 1;
    if (margin_strerror(MARGIN_EINVAL) == nullptr)
        return 1;
    // Drive the engine half of the API too, with a C++ callback.
    uint64_t acct = 0;
    if (margin_engine_new(&e) != MARGIN_OK)
        return 1;
    if (margin_engine_set_callback(e, fn, &calls) != MARGIN_OK ||
        margin_account_new(e, &acct) != MARGIN_OK ||
        margin_account_deposit(e, acct, 100000000) != MARGIN_OK || calls != 1) {
        std::printf("engine calls failed: %s\n", margin_errmsg(e));
        margin_engine_free(e);
        return 1;
    }
    margin_engine_free(e);
    std::printf("C++ sees libmargin %s\n", margin_version_string());
    return 0;
}
