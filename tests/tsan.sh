#!/bin/sh
# Runs tests/tsan_threads (tests/tsan_threads.c): four threads, each driving its own engine,
# plus the engine-less functions from every thread at once, compared with a single-threaded
# run. In a --enable-tsan build (.ci/run makes one in build-tsan/) ThreadSanitizer watches
# it: any report fails the test (halt_on_error=1, exit code 66). In other builds it runs as a
# plain threaded test.
#
# ThreadSanitizer needs the address-space layout it was built for: on kernels with more
# mmap randomization bits than it knows (vm.mmap_rnd_bits = 32, kernels >= 6.5 with older
# runtimes) it stops with "unexpected memory mapping" before main. The test then runs again
# under `setarch -R` (no randomization), and says so.
#
# Environment: top_builddir (set by `make check`), TSAN_STEPS (steps per script, default
# 1000), TSAN_OPTIONS (added to the defaults below).
set -u
bin=${top_builddir:-.}/tests/tsan_threads
if [ ! -x "$bin" ]; then
    echo "SKIP: tests/tsan_threads was not built (configure found no -pthread)"
    exit 77
fi
steps=${TSAN_STEPS:-1000}
TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 history_size=4 ${TSAN_OPTIONS:-}"
export TSAN_OPTIONS
out=${TMPDIR:-/tmp}/tsan-threads.$$.out
trap 'rm -f "$out"' EXIT

rc=0
"$bin" "$steps" >"$out" 2>&1 || rc=$?
if [ "$rc" -ne 0 ] && grep -q 'unexpected memory mapping\|FATAL: ThreadSanitizer' "$out" &&
    ! grep -q 'WARNING: ThreadSanitizer' "$out"; then
    cat "$out"
    if command -v setarch >/dev/null 2>&1; then
        echo "tsan.sh: ThreadSanitizer could not map its shadow memory; again under setarch -R"
        rc=0
        setarch "$(uname -m)" -R "$bin" "$steps" >"$out" 2>&1 || rc=$?
    fi
fi
cat "$out"
if [ "$rc" -eq 66 ] || grep -q 'WARNING: ThreadSanitizer' "$out"; then
    echo "FAIL: ThreadSanitizer reported a data race or another thread error (above)"
    exit 1
fi
if [ "$rc" -ne 0 ]; then
    echo "FAIL: tests/tsan_threads exited with $rc"
    exit 1
fi
exit 0
