#!/bin/sh
# Run the libFuzzer harnesses that `make fuzz` built, one after another, at low priority.
#
#   fuzz/run.sh [-t SECONDS] BUILDDIR [engine|snapshot|dec ...]     (default: all three)
#
# For each harness NAME, first every committed seed in fuzz/corpus-NAME is replayed on its
# own: a seed that fails (a regression input whose bug is back, or still open) is reported
# by name. Then the harness runs for SECONDS (default 60, or $FUZZ_SECONDS) over
# BUILDDIR/fuzz/corpus-NAME, where the inputs it finds go (scratch, kept between runs), and
# the seeds that passed. Anything found (crash-*, leak-*, timeout-*, oom-*, slow-unit-*) is
# written to BUILDDIR/fuzz/findings-NAME/, the full log to BUILDDIR/fuzz/NAME.log. One line
# per harness says how it went; a finding prints the input's path, the report's key lines
# and how to replay it, and makes the exit status 1.
# Environment: FUZZ_SECONDS, FUZZ_NICE (default 10), FUZZ_FLAGS (more libFuzzer flags).
set -u
seconds=${FUZZ_SECONDS:-60}
if [ "${1:-}" = "-t" ]; then
    seconds=$2
    shift 2
fi
if [ $# -lt 1 ]; then
    echo "usage: fuzz/run.sh [-t SECONDS] BUILDDIR [engine|snapshot|dec ...]" >&2
    exit 2
fi
build=$(cd "$1" && pwd) || exit 2
shift
src=$(cd "$(dirname "$0")/.." && pwd)
[ $# -gt 0 ] || set -- engine snapshot dec

# the key lines of a libFuzzer log: the sanitizer's or the harness's own words, the frames
# in the harness and the library
report() { # log
    grep -E 'ERROR:|runtime error|SUMMARY|check failed|fuzz_snapshot: one allocation|Test unit written|^ +#[0-9]+ 0x[0-9a-f]+ in [A-Za-z_0-9]+ [^ ]*\.[ch]' \
        "$1" | grep -v ' csu/' | head -n 20 | sed 's/^/    /'
}

status=0
for name in "$@"; do
    bin=$build/fuzz/fuzz_$name
    case $name in
    engine) flags="-max_len=4096 -len_control=0" ;;
    snapshot) flags="-max_len=16384" ;;
    dec) flags="-max_len=80" ;;
    *)
        echo "fuzz/run.sh: unknown harness $name (engine, snapshot or dec)" >&2
        exit 2
        ;;
    esac
    if [ ! -x "$bin" ]; then
        echo "fuzz_$name: not built ($bin): run make fuzz in $build first" >&2
        status=1
        continue
    fi
    work=$build/fuzz/corpus-$name
    found=$build/fuzz/findings-$name
    log=$build/fuzz/$name.log
    seeds=$src/fuzz/corpus-$name
    passed=$build/fuzz/seeds-$name
    replay=$build/fuzz/replay-$name
    mkdir -p "$work" "$found"
    rm -rf "$passed" "$replay"
    mkdir -p "$passed" "$replay"
    rm -f "$found"/crash-* "$found"/leak-* "$found"/timeout-* "$found"/oom-* "$found"/slow-unit-*
    start=$(date +%s)
    nseeds=0
    nbad=0
    if [ -d "$seeds" ]; then
        for seed in "$seeds"/*; do
            [ -f "$seed" ] || continue
            nseeds=$((nseeds + 1))
            if nice -n "${FUZZ_NICE:-10}" "$bin" -timeout=30 -rss_limit_mb=2048 \
                -artifact_prefix="$replay/" "$seed" >"$log" 2>&1 </dev/null; then
                cp "$seed" "$passed/"
                continue
            fi
            nbad=$((nbad + 1))
            status=1
            echo "fuzz_$name: FINDING: the committed seed $seed fails"
            echo "  replay: $bin $seed"
            report "$log"
        done
    fi
    rc=0
    # shellcheck disable=SC2086
    nice -n "${FUZZ_NICE:-10}" "$bin" $flags -max_total_time="$seconds" -timeout=30 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$found/" \
        ${FUZZ_FLAGS:-} "$work" "$passed" >"$log" 2>&1 </dev/null || rc=$?
    took=$(($(date +%s) - start))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -n 1)
    artifact=$(find "$found" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
        -o -name 'oom-*' -o -name 'slow-unit-*' \) | head -n 1)
    if [ "$rc" -eq 0 ] && [ -z "$artifact" ]; then
        if [ "$nbad" -eq 0 ]; then
            echo "fuzz_$name: ${took}s, ${runs:-?} runs, ${cov:-no coverage line}, $nseeds seeds, no finding"
        else
            echo "fuzz_$name: ${took}s, ${runs:-?} runs, ${cov:-no coverage line}, $nseeds seeds of which $nbad FAIL (above), no new finding"
        fi
        continue
    fi
    status=1
    echo "fuzz_$name: FINDING after ${took}s (exit $rc)"
    if [ -n "$artifact" ]; then
        echo "  input: $artifact"
        echo "  replay: $bin $artifact   (build with FUZZ_EXTRA_CFLAGS=-DFUZZ_DEBUG to see the failing check)"
    else
        echo "  no input was saved; see $log"
    fi
    echo "  report ($log):"
    report "$log"
done
exit $status
