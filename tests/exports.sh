#!/bin/sh
# The dynamic symbols exported by libmargin.so are exactly
#   - the list in tests/exports.txt,
#   - the functions declared MARGIN_API in include/margin.h,
#   - the global: names of the linker version script lib/libmargin.map,
# all start with margin_, and every one carries a MARGIN_* version node.
# Run by `make check` (top_srcdir, top_builddir and MARGIN_LIBRARY come from the harness).
set -u

: "${top_srcdir:?top_srcdir is not set (run through make check)}"
: "${top_builddir:?top_builddir is not set (run through make check)}"
lib="${MARGIN_LIBRARY:-$top_builddir/lib/.libs/libmargin.so}"

if [ ! -f "$lib" ]; then
    echo "SKIP: no shared library at $lib (static-only build?)"
    exit 77
fi
if ! command -v nm >/dev/null 2>&1; then
    echo "SKIP: nm not found"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/margin-exports.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

# 1. What the library exports. Lines look like
#      0000000000000000 A MARGIN_0.1
#      0000000000001ff0 T margin_dec_div@@MARGIN_0.1
#    The A line is the version node itself; everything else is a symbol.
if ! nm -D --defined-only "$lib" >"$tmp/nm.raw"; then
    echo "FAIL: nm -D --defined-only $lib failed"
    exit 1
fi
awk 'NF >= 3 && $2 != "A" { print $3 }' "$tmp/nm.raw" >"$tmp/versioned"
sed 's/@.*$//' "$tmp/versioned" | LC_ALL=C sort >"$tmp/actual"

# 2. The expected list.
LC_ALL=C sort "$top_srcdir/tests/exports.txt" >"$tmp/expected"

# 3. Every MARGIN_API function of the public header (declarations may span lines;
#    preprocessor lines, such as the definition of MARGIN_API itself, are dropped).
grep -v '^[[:space:]]*#' "$top_srcdir/include/margin.h" | tr '\n' ' ' |
    grep -o 'MARGIN_API [^;{]*(' |
    sed 's/[[:space:]]*($//; s/.*[^A-Za-z0-9_]//' |
    LC_ALL=C sort >"$tmp/header"

# 4. The version script's global names.
sed -n '/global:/,/local:/p' "$top_srcdir/lib/libmargin.map" |
    grep -o '^[[:space:]]*margin_[A-Za-z0-9_]*;' |
    sed 's/[[:space:];]//g' | LC_ALL=C sort >"$tmp/map"

status=0
report() { # name file-a file-b
    if ! diff -u "$2" "$3" >"$tmp/diff"; then
        echo "FAIL: $1"
        cat "$tmp/diff"
        status=1
    fi
}

n=$(wc -l <"$tmp/actual")
echo "libmargin exports $n symbols ($lib)"
if [ "$n" -eq 0 ]; then
    echo "FAIL: no symbols exported"
    status=1
fi

# Only margin_ symbols, each once.
bad=$(grep -v '^margin_[a-z0-9_]*$' "$tmp/actual" || true)
if [ -n "$bad" ]; then
    echo "FAIL: symbols outside the margin_ namespace are exported:"
    echo "$bad"
    status=1
fi
dups=$(uniq -d "$tmp/actual")
if [ -n "$dups" ]; then
    echo "FAIL: symbols exported more than once (several versions?):"
    echo "$dups"
    status=1
fi

# Every symbol is bound to a version node of the version script (name@@MARGIN_x.y).
unversioned=$(grep -v '@@*MARGIN_[0-9][0-9.]*$' "$tmp/versioned" || true)
if [ -n "$unversioned" ]; then
    echo "FAIL: symbols without a MARGIN_* version node:"
    echo "$unversioned"
    status=1
fi

# The expected list is sorted and has no duplicates (keeps diffs readable).
if ! LC_ALL=C sort -c -u "$top_srcdir/tests/exports.txt" 2>/dev/null; then
    echo "FAIL: tests/exports.txt is not sorted and unique"
    status=1
fi

report "exported symbols (---) differ from tests/exports.txt (+++)" "$tmp/actual" "$tmp/expected"
report "tests/exports.txt (---) differs from the MARGIN_API functions of margin.h (+++)" \
    "$tmp/expected" "$tmp/header"
report "tests/exports.txt (---) differs from the global: list of lib/libmargin.map (+++)" \
    "$tmp/expected" "$tmp/map"

if [ "$status" -eq 0 ]; then
    echo "PASS: exports == tests/exports.txt == MARGIN_API functions == libmargin.map"
fi
exit "$status"
