#!/bin/sh
# Rust bindings: `cargo test --offline` for the bindings/rust workspace (margin-sys and
# margin), linked against the library just built in this build tree.
#
# Environment (set by `make check`; defaults let it run by hand from a build directory):
#   top_srcdir, top_builddir, CARGO, MARGIN_LIBRARY.
# Exit: 0 all passed, 77 skipped (no cargo), anything else a failure.
# The build goes to $top_builddir/bindings-rust-target, so the source tree stays clean
# (distcheck builds from a read-only source tree; Cargo.lock is committed and unchanged).

export PATH="$HOME/.cargo/bin:$PATH"

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
top_builddir=$(cd "$top_builddir" && pwd)

cargo=${CARGO:-cargo}
if ! command -v "$cargo" >/dev/null 2>&1; then
    if command -v cargo >/dev/null 2>&1; then
        cargo=cargo
    else
        echo "SKIP: cargo not found (PATH=$PATH)"
        exit 77
    fi
fi

manifest=$top_srcdir/bindings/rust/Cargo.toml
if [ ! -f "$manifest" ]; then
    echo "FAIL: $manifest is missing" >&2
    exit 1
fi
lib=${MARGIN_LIBRARY:-$top_builddir/lib/.libs/libmargin.so}
if [ ! -f "$lib" ]; then
    echo "FAIL: the library is not built: $lib" >&2
    exit 1
fi

# Find the library through the build tree's margin-uninstalled.pc (pkg-config prefers it
# to margin.pc); without pkg-config, point margin-sys at the library directly.
unset PKG_CONFIG_DISABLE_UNINSTALLED MARGIN_LIB_DIR
PKG_CONFIG_PATH=$top_builddir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH
if ! pkg-config --exists margin 2>/dev/null; then
    MARGIN_LIB_DIR=$(dirname "$lib")
    export MARGIN_LIB_DIR
    echo "pkg-config cannot find margin; using MARGIN_LIB_DIR=$MARGIN_LIB_DIR"
else
    echo "pkg-config margin: $(pkg-config --libs margin)"
fi
CARGO_TARGET_DIR=$top_builddir/bindings-rust-target
export CARGO_TARGET_DIR
MARGIN_HEADER=$top_srcdir/include/margin.h
export MARGIN_HEADER
# Keep cargo's own files (registry cache) out of a read-only HOME, if any.
if [ -z "${CARGO_HOME:-}" ] && [ ! -w "${HOME:-/nonexistent}" ]; then
    CARGO_HOME=$top_builddir/bindings-rust-cargo-home
    export CARGO_HOME
fi

"$cargo" --version
log=$top_builddir/bindings-rust-test.out
# A library built with AddressSanitizer (configure --enable-sanitizers) needs the ASan
# runtime first in every process that loads it. Preloading it into cargo's whole run
# would also load it into rustdoc, which crashes; so it is preloaded only into the test
# executables (doc tests included), through cargo's runner for the host target.
# Leak checking is left to the C suite under valgrind.
if command -v ldd >/dev/null 2>&1 && ldd "$lib" 2>/dev/null | grep -q 'libasan'; then
    cc=${CC:-cc}
    preload=$($cc -print-file-name=libasan.so 2>/dev/null)
    if ldd "$lib" 2>/dev/null | grep -q 'libubsan'; then
        preload=$preload:$($cc -print-file-name=libubsan.so 2>/dev/null)
    fi
    rustc=$(dirname "$(command -v "$cargo")")/rustc
    [ -x "$rustc" ] || rustc=rustc
    host=$("$rustc" -vV | sed -n 's/^host: //p' | tr 'a-z-' 'A-Z_')
    runner_var=CARGO_TARGET_${host}_RUNNER
    eval "$runner_var=\"env LD_PRELOAD=$preload\""
    export "$runner_var"
    ASAN_OPTIONS=detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}
    export ASAN_OPTIONS
    echo "sanitized library: $runner_var=env LD_PRELOAD=$preload ASAN_OPTIONS=$ASAN_OPTIONS"
fi
# Build first (a failure here is a build failure), then run every test and doc test.
"$cargo" test --offline --manifest-path "$manifest" --workspace --no-run >"$log" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then
    "$cargo" test --offline --manifest-path "$manifest" --workspace --no-fail-fast >>"$log" 2>&1
    rc=$?
fi
cat "$log"
echo
# The counts, summed over every test binary and the doc tests.
# A test binary that aborts (e.g. a sanitizer stopping the process) prints no result
# line, so the exit status is reported as well.
awk -v rc="$rc" '/^test result:/ { p += $4; f += $6; i += $8 }
     END { printf "rust: %d passed, %d failed, %d ignored (cargo exit %d%s)\n", p, f, i, rc,
           rc == 0 ? "" : ": FAILED" }' "$log"
rm -f "$log"
exit $rc
