#!/bin/sh
# Command-line contract of `margin calc` and `margin replay` (issues 3 and 4):
# runs tests/cli_test.py, then tests/chart_test.py (replay's --svg and --html, issue 16),
# Python standard library only, against the built tools/margin.
# Skips (77) when no python3 is available.
set -u

: "${top_srcdir:?top_srcdir is not set (run through make check)}"
: "${top_builddir:?top_builddir is not set (run through make check)}"

py="${PYTHON3:-}"
if [ -z "$py" ]; then
    py=$(command -v python3 2>/dev/null) || py=
fi
if [ -z "$py" ] || ! "$py" -c 'import sys' >/dev/null 2>&1; then
    echo "SKIP: no python3"
    exit 77
fi
if [ ! -x "$top_builddir/tools/margin" ]; then
    echo "FAIL: $top_builddir/tools/margin was not built"
    exit 99
fi

export top_srcdir top_builddir
status=0
"$py" "$top_srcdir/tests/cli_test.py" -v || status=1
# the charts of margin replay --svg and --html (issue 16)
"$py" "$top_srcdir/tests/chart_test.py" -v || status=1
exit $status
