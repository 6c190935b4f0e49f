#!/bin/sh
# Rust bindings: `cargo test --offline` for the bindings/rust workspace (margin-sys and
# margin), linked against the library just built in this build tree.
#
# Environment (set by `make check`; defaults let it run by hand from a build directory):
#   top_srcdir, top_builddir, CARGO, MARGIN_LIBRARY.
# Exit: 0 all passed, 77 skipped (no cargo), anything else a failure.
# The build goes to $top_builddir/bindings-rust-target, so the source tree stays clean
# (distcheck builds from a read-only source tree; Cargo.lock is committed and unchanged).

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
top_builddir=$(cd "$top_builddir" && pwd)

# cargo: $CARGO, else the one in PATH (Debian's /usr/bin/cargo on a fresh machine), else
# rustup's ~/.cargo/bin/cargo.
cargo=${CARGO:-}
if [ -z "$cargo" ] || ! command -v "$cargo" >/dev/null 2>&1; then
    cargo=$(command -v cargo 2>/dev/null) || cargo=
    if [ -z "$cargo" ] && [ -x "$HOME/.cargo/bin/cargo" ]; then
        cargo=$HOME/.cargo/bin/cargo
    fi
fi
if [ -z "$cargo" ]; then
    echo "SKIP: cargo not found (PATH=$PATH; apt-get install cargo)"
    exit 77
fi
cargo=$(command -v "$cargo")
# The rustc and rustdoc that come with that cargo (Debian's cargo with rustup's rustc
# first in PATH would otherwise mix toolchains).
cargo_dir=$(dirname "$cargo")
if [ -z "${RUSTC:-}" ] && [ -x "$cargo_dir/rustc" ]; then
    RUSTC=$cargo_dir/rustc
    export RUSTC
fi
if [ -z "${RUSTDOC:-}" ] && [ -x "$cargo_dir/rustdoc" ]; then
    RUSTDOC=$cargo_dir/rustdoc
    export RUSTDOC
fi
PATH=$cargo_dir:$PATH
export PATH

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
# Doc tests under ASan: cargo before 1.89 does not run them through the runner above, so
# they would start without the ASan runtime first and abort ("ASan runtime does not come
# first in initial library list"). With such a cargo they are skipped in a sanitizer
# build only (they run in the normal build), and this says so.
what="--workspace"
skipped=
if [ -n "${runner_var:-}" ]; then
    minor=$("$cargo" --version | sed -n 's/^cargo 1\.\([0-9]*\).*/\1/p')
    if [ -n "$minor" ] && [ "$minor" -lt 89 ]; then
        what="--workspace --lib --bins --tests"
        skipped="doc tests skipped under ASan: $("$cargo" --version | cut -d' ' -f1-2) does not run them through the runner; they run in the normal build"
        echo "SKIPPED PART: $skipped"
    fi
fi
# Build first (a failure here is a build failure), then run every test and doc test.
# shellcheck disable=SC2086
"$cargo" test --offline --manifest-path "$manifest" $what --no-run >"$log" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then
    # shellcheck disable=SC2086
    "$cargo" test --offline --manifest-path "$manifest" $what --no-fail-fast >>"$log" 2>&1
    rc=$?
fi
cat "$log"

# The README's recipe for a crate of one's own (issue 10): an out-of-tree crate with the
# README's Cargo.toml, build.rs and src/main.rs, built offline, whose program runs with no
# LD_LIBRARY_PATH thanks to the run path its build.rs adds from DEP_MARGIN_LIB_DIRS.
app=$top_builddir/bindings-rust-app
rm -rf "$app"
mkdir -p "$app/src"
readme=$top_srcdir/bindings/rust/README.md
sed -n '/^```toml$/,/^```$/p' "$readme" | sed '1d;$d' |
    sed "s|/path/to/libmargin|$top_srcdir|g" >"$app/Cargo.toml"
sed -n '/^```rust,ignore$/,/^```$/p' "$readme" | awk '
    /^```rust,ignore$/ { n++; next } /^```$/ { next }
    n == 1 { print > "'"$app"'/build.rs" } n == 2 { print > "'"$app"'/src/main.rs" }'
# Its own workspace root, so that cargo does not look for one above it.
printf '\n[workspace]\n' >>"$app/Cargo.toml"
app_rc=0
if [ ! -s "$app/build.rs" ] || [ ! -s "$app/src/main.rs" ] || ! grep -q margin-sys "$app/Cargo.toml"; then
    echo "FAIL: the README's out-of-tree recipe (Cargo.toml, build.rs, src/main.rs) was not found"
    app_rc=1
elif ! (cd "$app" && CARGO_TARGET_DIR=$top_builddir/bindings-rust-app-target \
    "$cargo" build --offline) >"$app/build.log" 2>&1; then
    cat "$app/build.log"
    echo "FAIL: the README's out-of-tree crate does not build"
    app_rc=1
else
    out=$(env -u LD_LIBRARY_PATH ${runner_var:+LD_PRELOAD=$preload} \
        "$top_builddir/bindings-rust-app-target/debug/margin-app" 2>&1)
    echo "out-of-tree crate: $out"
    if [ "$out" != "liquidation price 19076.30522089" ]; then
        echo "FAIL: the README's out-of-tree crate did not print liquidation price 19076.30522089"
        app_rc=1
    fi
fi
[ "$rc" -ne 0 ] || rc=$app_rc
echo
# The counts, summed over every test binary and the doc tests.
# A test binary that aborts (e.g. a sanitizer stopping the process) prints no result
# line, so the exit status is reported as well.
awk -v rc="$rc" -v skipped="$skipped" -v app="$app_rc" '/^test result:/ { p += $4; f += $6; i += $8 }
     END { printf "rust: %d passed, %d failed, %d ignored, out-of-tree crate %s (exit %d%s)%s\n",
           p, f, i, app == 0 ? "ok" : "FAILED", rc, rc == 0 ? "" : ": FAILED",
           skipped == "" ? "" : "; " skipped }' "$log"
rm -f "$log"
exit $rc
