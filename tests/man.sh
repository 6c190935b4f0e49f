#!/bin/sh
# The man pages (man/margin.1, man/libmargin.3):
#   - each renders with `man -l` (all groff warnings on) and with `groff -man -ww`, and any
#     warning fails;
#   - margin(1) names every option that `margin help calc` and `margin help replay` list,
#     so the page cannot fall behind the tool.
# Skips (77) when groff is missing (Debian: groff-base; `man` comes with man-db); the
# `man -l` part is skipped alone, and said so, when only man-db is missing.
set -u

: "${top_srcdir:?top_srcdir is not set (run through make check)}"
: "${top_builddir:?top_builddir is not set (run through make check)}"
pages="$top_srcdir/man/margin.1 $top_srcdir/man/libmargin.3"

if ! command -v groff >/dev/null 2>&1; then
    echo "SKIP: groff not found (Debian: apt-get install groff-base man-db): cannot render the man pages"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/margin-man.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
status=0

# run DESCRIPTION COMMAND...: fails on a non-zero exit or on anything written to stderr
run() {
    desc=$1
    shift
    if "$@" >"$tmp/out" 2>"$tmp/err" && ! test -s "$tmp/err"; then
        if test -s "$tmp/out"; then
            echo "ok:   $desc"
            return
        fi
        echo "FAIL: $desc: no output"
    else
        echo "FAIL: $desc"
        sed 's/^/  /' "$tmp/err"
    fi
    echo "  \$ $*"
    status=1
}

for page in $pages; do
    name=$(basename "$page")
    run "groff -man -ww $name" env LC_ALL=C.UTF-8 groff -man -Tutf8 -ww "$page"
    if command -v man >/dev/null 2>&1; then
        run "man -l $name" env LC_ALL=C.UTF-8 MANPAGER=cat PAGER=cat MANWIDTH=80 \
            man --warnings=w -E UTF-8 -l "$page"
    else
        echo "SKIPPED PART: man -l $name: man not found (Debian: man-db)"
    fi
done

# Every option of the tool's usage texts is in margin(1).
margin="$top_builddir/tools/margin"
if test -x "$margin"; then
    for cmd in calc replay; do
        if ! "$margin" help "$cmd" >"$tmp/usage" 2>&1; then
            echo "FAIL: margin help $cmd"
            status=1
            continue
        fi
        # the page escapes its hyphens: \-\-liq\-fee
        sed 's/\\-/-/g' "$top_srcdir/man/margin.1" >"$tmp/page"
        missing=
        for opt in $(grep -o -- '--[a-z][a-z-]*' "$tmp/usage" | sort -u); do
            grep -q -E -- "$opt([^a-z-]|\$)" "$tmp/page" || missing="$missing $opt"
        done
        if test -n "$missing"; then
            echo "FAIL: margin(1) does not describe these options of margin $cmd:$missing"
            status=1
        else
            echo "ok:   margin(1) names every option of margin $cmd"
        fi
    done
else
    echo "SKIPPED PART: the options check: $margin not built"
fi

exit $status
