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
[ "$status" -eq 0 ] || exit "$status"
echo "PASS: installed copy works through pkg-config alone"

# ---------------------------------------------------------------- the install hook (issue 10)
# A staged install must not run ldconfig, and must say so.
if ! grep -q 'not running ldconfig: staged install' "$tmp/install.log"; then
    echo "FAIL: make install DESTDIR=... does not say that it skips ldconfig"
    cat "$tmp/install.log"
    exit 1
fi
echo "PASS: a staged install says it does not run ldconfig"

# ---------------------------------------------------------------- the READMEs, as written
# The top README's C section and the Python README's install block, on a real install to
# /usr/local with DESTDIR empty, as root, as a new user would do it. So as to change nothing
# on this machine, it runs in a private mount namespace (unshare) where /usr/local is an
# empty tmpfs and the ld.so cache that the install hook's ldconfig writes is bound over
# /etc/ld.so.cache. Needs root, unshare and a build configured with the default prefix.
skip_part() {
    echo "SKIPPED PART: $* (the staged checks above passed)"
    exit 0
}
[ "$(id -u)" -eq 0 ] || skip_part "READMEs as written: not root"
case $libdir in
/usr/local/lib) ;;
*) skip_part "READMEs as written: libdir is $libdir, not the default /usr/local/lib" ;;
esac
command -v unshare >/dev/null 2>&1 || skip_part "READMEs as written: no unshare"
unshare --mount true 2>/dev/null || skip_part "READMEs as written: unshare --mount is not permitted"

# The README's C program, its compile command, and the Python README's install block.
mkdir "$tmp/readme"
sed -n '/^## Use it from C/,/^## Documentation/p' "$top_srcdir/README.md" |
    sed -n '/^```c$/,/^```$/p' | sed '1d;$d' >"$tmp/readme/app.c"
cc_line=$(sed -n '/^## Use it from C/,/^## Documentation/p' "$top_srcdir/README.md" |
    sed -n '/^```sh$/,/^```$/p' | grep '^cc ' | head -n 1)
sed -n '/^## Install/,/^## The seed/p' "$top_srcdir/bindings/python/README.md" |
    sed -n '/^```sh$/,/^```$/p' | sed '1d;$d' | grep -v '^apt-get ' >"$tmp/pyblock.sh"
if [ ! -s "$tmp/readme/app.c" ] || [ -z "$cc_line" ] || [ ! -s "$tmp/pyblock.sh" ]; then
    echo "FAIL: cannot find the README's C program, its cc line or the Python install block"
    exit 1
fi
printf '%s %s\n' "$cc_line" "$san" >"$tmp/ccline.sh"

# Python for the venv: Debian's (what a fresh machine has), else PYTHON3; the block needs
# venv, ensurepip and the system's setuptools and wheel (python3-venv, python3-setuptools,
# python3-wheel).
py=
for cand in /usr/bin/python3 "${PYTHON3:-}"; do
    [ -n "$cand" ] || continue
    if "$cand" -c 'import venv, ensurepip, setuptools, wheel' >/dev/null 2>&1; then
        py=$(command -v "$cand")
        break
    fi
done

cat >"$tmp/inside.sh" <<'EOF'
set -u
mount --make-rprivate / 2>/dev/null
mount -t tmpfs tmpfs /usr/local || exit 90
unset LD_LIBRARY_PATH PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR MARGIN_LIBRARY
unset MAKEFLAGS MFLAGS MAKELEVEL PYTHONPATH
echo "---- make install (DESTDIR empty, as root, to /usr/local)"
$MAKE -C "$top_builddir" install LDCONFIG="ldconfig -C $tmp/ld.so.cache" \
    >"$tmp/sysinstall.log" 2>&1 || { cat "$tmp/sysinstall.log"; exit 91; }
grep 'ldconfig' "$tmp/sysinstall.log"
grep -q 'running ldconfig -C' "$tmp/sysinstall.log" ||
    { echo "FAIL: the install hook did not run ldconfig"; exit 92; }
test -s "$tmp/ld.so.cache" || { echo "FAIL: ldconfig wrote no cache"; exit 93; }

if [ -n "$py" ]; then
    echo "---- the Python README's install block in a fresh venv ($py), before ldconfig's cache is in force"
    mkdir -p "$tmp/home" "$tmp/tree/bindings"
    cp -R "$top_srcdir/bindings/python" "$tmp/tree/bindings/python"
    chmod -R u+w "$tmp/tree"
    rm -rf "$tmp/tree/bindings/python/build" "$tmp/tree/bindings/python/"*.egg-info \
        "$tmp/tree/bindings/python/margin/_build_config.py"
    cat "$tmp/pyblock.sh"
    # (A sanitizer build's library needs the ASan runtime first in the interpreter.)
    (cd "$tmp/tree" && HOME="$tmp/home" PATH="$(dirname "$py"):/usr/bin:/bin:/usr/sbin:/sbin" \
        env ${pypreload:+LD_PRELOAD=$pypreload ASAN_OPTIONS=detect_leaks=0} \
        sh -e "$tmp/pyblock.sh") >"$tmp/py.log" 2>&1
    prc=$?
    cat "$tmp/py.log"
    [ "$prc" -eq 0 ] || { echo "FAIL: the Python README's install block failed"; exit 94; }
    tail -n 1 "$tmp/py.log" | grep -qx '/usr/local/lib/libmargin.so.0' ||
        { echo "FAIL: the installed binding did not load /usr/local/lib/libmargin.so.0"; exit 95; }
fi

mount --bind "$tmp/ld.so.cache" /etc/ld.so.cache || exit 96
echo "---- the README's C section, then ./app (no LD_LIBRARY_PATH, no rpath)"
cat "$tmp/ccline.sh"
cd "$tmp/readme" || exit 97
sh -e "$tmp/ccline.sh" || { echo "FAIL: the README's cc line"; exit 98; }
./app || { echo "FAIL: the README's program failed"; exit 99; }
echo "---- the installed margin tool"
/usr/local/bin/margin --version || { echo "FAIL: /usr/local/bin/margin does not run"; exit 100; }
exit 0
EOF
pypreload=
if [ -n "$san" ]; then
    pypreload=$($CC -print-file-name=libasan.so):$($CC -print-file-name=libubsan.so)
fi
export top_builddir top_srcdir MAKE tmp py pypreload
env -u LD_LIBRARY_PATH unshare --mount sh "$tmp/inside.sh" >"$tmp/inside.log" 2>&1
rc=$?
cat "$tmp/inside.log"
if [ "$rc" -ne 0 ]; then
    echo "FAIL: the READMEs as written (exit $rc)"
    exit 1
fi
if ! grep -q '^liquidation price 19076.30522089$' "$tmp/inside.log"; then
    echo "FAIL: the README's program did not print its liquidation price 19076.30522089"
    exit 1
fi
if [ -z "$py" ]; then
    echo "SKIPPED PART: the Python README's install block: no python3 with venv, ensurepip, setuptools and wheel"
fi
echo "PASS: the README's C section (and Python install block) work on a real install, with no LD_LIBRARY_PATH"
exit 0
