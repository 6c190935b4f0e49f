#!/bin/sh
# Python binding: the unittest suite of bindings/python (package `margin`, ctypes), run
# against the library just built in this build tree.
#
# Environment (set by `make check`; defaults let it run by hand from a build directory):
#   top_srcdir, top_builddir, PYTHON3, MARGIN_LIBRARY.
# Exit: 0 all passed, 77 skipped (no python3), anything else a failure.
# The unittest output, ending with "Ran N tests" and "OK" (or "FAILED (...)"), goes to
# this test's log (tests/python.sh.log); a one-line summary is printed last.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
top_builddir=$(cd "$top_builddir" && pwd)

py=${PYTHON3:-}
if [ -z "$py" ]; then
    py=$(command -v python3 2>/dev/null) || py=
fi
if [ -z "$py" ] || ! "$py" -c 'import ctypes, decimal, unittest' >/dev/null 2>&1; then
    echo "SKIP: no usable python3"
    exit 77
fi

pkg=$top_srcdir/bindings/python
if [ ! -f "$pkg/margin/__init__.py" ]; then
    echo "FAIL: $pkg/margin is missing" >&2
    exit 1
fi
lib=${MARGIN_LIBRARY:-$top_builddir/lib/.libs/libmargin.so}
if [ ! -f "$lib" ]; then
    echo "FAIL: the shared library is not built: $lib" >&2
    exit 1
fi
MARGIN_LIBRARY=$lib
export MARGIN_LIBRARY

# A library built with AddressSanitizer needs its runtime loaded first in the interpreter.
if command -v ldd >/dev/null 2>&1 && ldd "$lib" 2>/dev/null | grep -q 'libasan'; then
    cc=${CC:-cc}
    asan=$($cc -print-file-name=libasan.so 2>/dev/null)
    ubsan=$($cc -print-file-name=libubsan.so 2>/dev/null)
    preload=$asan
    if ldd "$lib" 2>/dev/null | grep -q 'libubsan'; then
        preload=$preload:$ubsan
    fi
    LD_PRELOAD=$preload${LD_PRELOAD:+:$LD_PRELOAD}
    ASAN_OPTIONS=detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}
    export LD_PRELOAD ASAN_OPTIONS
    echo "sanitized library: LD_PRELOAD=$LD_PRELOAD"
fi

PYTHONPATH=$pkg${PYTHONPATH:+:$PYTHONPATH}
# No __pycache__ in the source tree (distcheck's is read-only).
PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH PYTHONDONTWRITEBYTECODE top_srcdir top_builddir

echo "python: $("$py" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
echo "library: $MARGIN_LIBRARY"

out=${TMPDIR:-/tmp}/margin-python-test.$$
trap 'rm -f "$out"' EXIT HUP INT TERM
"$py" -m unittest discover -s "$pkg/tests" -t "$pkg/tests" -v >"$out" 2>&1
rc=$?
cat "$out"
ran=$(grep -E '^Ran [0-9]+ tests? ' "$out" | tail -n 1)
verdict=$(grep -E '^(OK|FAILED)' "$out" | tail -n 1)
echo "python binding: ${ran:-no summary} ${verdict:-(rc $rc)}"
if [ "$rc" -eq 0 ] && [ -z "$ran" ]; then
    echo "FAIL: unittest printed no summary" >&2
    exit 1
fi
exit "$rc"
