#!/bin/sh
# The public header stands alone:
#   - as C99 and C11 with -pedantic -Werror -Wall -Wextra (and a few more warnings), included
#     first and alone, and twice (include guard);
#   - as C++11 and C++17 with -pedantic -Werror; tests/header_cxx.cc is then linked against the
#     built library and run, which proves every declaration has C linkage.
# Skips (77) when no C++ compiler is found (the C part still runs first and must pass).
set -u

: "${top_srcdir:?top_srcdir is not set (run through make check)}"
: "${top_builddir:?top_builddir is not set (run through make check)}"
CC="${CC:-cc}"
libdir="$top_builddir/lib/.libs"
incs="-I$top_srcdir/include -I$top_builddir/include"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/margin-header.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

status=0
run() { # description, command...
    desc=$1
    shift
    if "$@" >"$tmp/out" 2>&1; then
        echo "ok:   $desc"
    else
        echo "FAIL: $desc"
        echo "  \$ $*"
        sed 's/^/  /' "$tmp/out"
        status=1
    fi
}

# A sanitizer build of the library needs its runtime in whatever links against it.
san=
if command -v readelf >/dev/null 2>&1 && [ -f "$libdir/libmargin.so" ] &&
    readelf -d "$libdir/libmargin.so" 2>/dev/null | grep -q 'libasan'; then
    san="-fsanitize=address,undefined"
fi

# ------------------------------------------------------------------ C
printf '#include "margin.h"\n' >"$tmp/alone.c"
cat >"$tmp/twice.c" <<'EOF'
#include "margin.h"
#include "margin.h"
int header_test(void);
int header_test(void)
{
    margin_engine *e = 0;
    int64_t v = 0;
    (void)e;
    return margin_dec_parse("1.5", MARGIN_MONEY_SCALE, &v) == MARGIN_OK &&
           MARGIN_VERSION_NUMBER > 0 && MARGIN_DERIVE < 0 && MARGIN_FLAG_MAKER == 1u;
}
EOF
cwarn="-pedantic -Werror -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wshadow -Wundef -Wcast-qual -Wconversion -Wsign-conversion"
for std in c99 c11; do
    # shellcheck disable=SC2086
    run "C $std: margin.h alone" $CC -std=$std $cwarn $incs -c "$tmp/alone.c" -o "$tmp/alone.o"
    # shellcheck disable=SC2086
    run "C $std: margin.h twice, used" $CC -std=$std $cwarn $incs -c "$tmp/twice.c" -o "$tmp/twice.o"
done
if command -v clang >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    run "clang C99: margin.h alone" clang -std=c99 $cwarn $incs -c "$tmp/alone.c" -o "$tmp/alone.o"
fi

# ---------------------------------------------------------------- C++
cxx=
for c in "${CXX:-}" g++ c++ clang++; do
    if [ -n "$c" ] && command -v "$c" >/dev/null 2>&1; then
        cxx=$c
        break
    fi
done
if [ -z "$cxx" ]; then
    echo "SKIP: no C++ compiler (the C checks above ran)"
    [ "$status" -eq 0 ] && exit 77
    exit "$status"
fi

printf '#include "margin.h"\n' >"$tmp/alone.cc"
xwarn="-pedantic -Werror -Wall -Wextra"
for std in c++11 c++17; do
    # shellcheck disable=SC2086
    run "$cxx -std=$std: margin.h alone" $cxx -std=$std $xwarn $incs -c "$tmp/alone.cc" -o "$tmp/alone_cc.o"
done
if [ -f "$libdir/libmargin.so" ]; then
    # shellcheck disable=SC2086
    run "$cxx -std=c++11: header_cxx.cc links against libmargin" \
        $cxx -std=c++11 $xwarn $san $incs "$top_srcdir/tests/header_cxx.cc" -o "$tmp/header_cxx" \
        -L"$libdir" -Wl,-rpath,"$libdir" -lmargin
    if [ -x "$tmp/header_cxx" ]; then
        run "header_cxx runs" "$tmp/header_cxx"
        cat "$tmp/out"
    fi
else
    # shellcheck disable=SC2086
    run "$cxx -std=c++11: header_cxx.cc compiles (no shared library to link)" \
        $cxx -std=c++11 $xwarn $incs -c "$top_srcdir/tests/header_cxx.cc" -o "$tmp/header_cxx.o"
fi
if [ "$status" -eq 0 ]; then
    echo "PASS: margin.h compiles alone as C and as C++"
fi
exit "$status"
