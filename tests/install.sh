#!/bin/sh
# Install the built tree into a temporary staging directory (make install DESTDIR=...), then
# build examples/seed.c against the installed copy using nothing but
#     pkg-config --cflags --libs margin
# (plus an rpath so that it runs without LD_LIBRARY_PATH), run it and check its figures.
#
# pkg-config is pointed at the staged copy the standard way: PKG_CONFIG_PATH names the
# staged pkgconfig directory and PKG_CONFIG_SYSROOT_DIR prefixes every path margin.pc
# gives with the staging directory. (A `make install prefix=...` would not do: margin.pc is
# written by configure with the configured prefix.)
set -u

: "${top_srcdir:?top_srcdir is not set (run through make check)}"
: "${top_builddir:?top_builddir is not set (run through make check)}"
CC="${CC:-cc}"
MAKE="${MAKE:-make}"

if ! command -v pkg-config >/dev/null 2>&1; then
    echo "SKIP: pkg-config not found"
    exit 77
fi
if [ ! -f "$top_builddir/lib/.libs/libmargin.so" ]; then
    echo "SKIP: no shared library was built"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/margin-install.XXXXXX") || exit 99
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
stage="$tmp/stage"

# The configured directories, as make would expand them.
dirs=$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $MAKE -s -C "$top_builddir" --no-print-directory \
    -f Makefile -f - print-dirs <<'EOF'
print-dirs:
	@echo "$(libdir)|$(includedir)|$(pkgconfigdir)"
EOF
) || {
    echo "FAIL: cannot read libdir/includedir from $top_builddir/Makefile"
    exit 1
}
libdir=${dirs%%|*}
rest=${dirs#*|}
includedir=${rest%%|*}
pkgconfigdir=${rest#*|}
echo "configured: libdir=$libdir includedir=$includedir pkgconfigdir=$pkgconfigdir"

# Install. The outer make's jobserver is not ours: run a plain, serial make.
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $MAKE -C "$top_builddir" install \
    DESTDIR="$stage" >"$tmp/install.log" 2>&1; then
    echo "FAIL: make install DESTDIR=$stage"
    cat "$tmp/install.log"
    exit 1
fi

status=0
for f in "$includedir/margin.h" "$includedir/margin_version.h" "$libdir/libmargin.so" \
    "$pkgconfigdir/margin.pc"; do
    if [ ! -e "$stage$f" ]; then
        echo "FAIL: $f was not installed"
        status=1
    fi
done
# Internal headers must not be installed.
if [ -e "$stage$includedir/dec.h" ] || [ -e "$stage$includedir/engine.h" ]; then
    echo "FAIL: an internal header was installed"
    status=1
fi
[ "$status" -eq 0 ] || exit 1

PKG_CONFIG_PATH="$stage$pkgconfigdir"
PKG_CONFIG_SYSROOT_DIR="$stage"
PKG_CONFIG_LIBDIR="$stage$pkgconfigdir" # nothing but the staged copy
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR
if ! flags=$(pkg-config --cflags --libs margin); then
    echo "FAIL: pkg-config --cflags --libs margin"
    exit 1
fi
ver=$(pkg-config --modversion margin)
echo "pkg-config margin $ver: $flags"

# The rpath: the -L directory pkg-config gives.
rpath=
for w in $(pkg-config --libs-only-L margin); do
    rpath="$rpath -Wl,-rpath,${w#-L}"
done

# A sanitizer build of the library needs its runtime in the program too.
san=
if command -v readelf >/dev/null 2>&1 &&
    readelf -d "$stage$libdir/libmargin.so" 2>/dev/null | grep -q libasan; then
    san="-fsanitize=address,undefined"
fi

# Build in a directory of its own, so that nothing of the build tree is in reach.
mkdir "$tmp/app"
cp "$top_srcdir/examples/seed.c" "$tmp/app/seed.c"
# shellcheck disable=SC2086
if ! (cd "$tmp/app" && $CC $san seed.c $flags $rpath -o seed) >"$tmp/cc.log" 2>&1; then
    echo "FAIL: building examples/seed.c with: $CC $san seed.c $flags $rpath"
    cat "$tmp/cc.log"
    exit 1
fi

# It must load the installed library, not the build tree's.
if command -v ldd >/dev/null 2>&1; then
    where=$(env -u LD_LIBRARY_PATH ldd "$tmp/app/seed" | grep 'libmargin' || true)
    echo "seed loads: $where"
    case $where in
    *"$stage"*) ;;
    *)
        echo "FAIL: the example does not load the staged libmargin"
        exit 1
        ;;
    esac
fi

env -u LD_LIBRARY_PATH "$tmp/app/seed" >"$tmp/seed.out" 2>&1
rc=$?
cat "$tmp/seed.out"
if [ "$rc" -ne 0 ]; then
    echo "FAIL: the seed example exited with $rc"
    exit 1
fi
# The figures the example prints, worked out by hand in examples/seed.c.
for want in \
    "libmargin $ver" \
    "liquidation price      19076.30522089" \
    "bankruptcy price       19000" \
    "margin                 100 USDT" \
    "margin ratio           0.84844445" \
    "insurance fund         5 USDT" \
    "seed: all figures match the hand calculation"; do
    if ! grep -q "$want" "$tmp/seed.out"; then
        echo "FAIL: the output lacks '$want'"
        status=1
    fi
done
[ "$status" -eq 0 ] && echo "PASS: installed copy works through pkg-config alone"
exit "$status"
