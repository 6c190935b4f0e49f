#!/bin/sh
# Smoke test of bench/margin-bench (issues 6, 11 and 12): it runs at a tiny size with minimal
# samples and prints what it promises. Only the FORMAT is checked, never a timing: one JSON
# object per line with name, positions, value and unit; every required measurement present,
# once, for the requested N (the cross ones with an "accounts" member); the replay of the
# real candles present when ../shared/data has them, else one "skipped" line; the machine
# line first. Also: bad arguments are refused with status 2.
# Run by `make check` (top_builddir and top_srcdir come from the harness).
set -u

: "${top_builddir:?top_builddir is not set (run through make check)}"
bench="$top_builddir/bench/margin-bench"
if [ ! -x "$bench" ]; then
    echo "FAIL: $bench was not built"
    exit 99
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/margin-bench-smoke.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0
n=1000

# The real candles of cross_band_resplits: given explicitly when they are there.
data="${top_srcdir:-}/../shared/data/btcusdt-1m-2023-03-01_21.csv"
if [ -z "${top_srcdir:-}" ]; then
    replay_want=any
    set --
elif [ -r "$data" ]; then
    replay_want=lines
    set -- --data "$data"
else
    replay_want=skipped
    set --
fi

if ! "$bench" --positions "$n" --json --quick "$@" >"$tmp/out" 2>"$tmp/err"; then
    echo "FAIL: margin-bench --positions $n --json --quick exited non-zero:"
    cat "$tmp/err"
    exit 1
fi
if [ -s "$tmp/err" ]; then
    echo "FAIL: margin-bench wrote to stderr:"
    cat "$tmp/err"
    fail=1
fi

# Every line: {"name":"...","positions":N,"value":NUMBER,"unit":"..."} with, for the machine
# line only, more string or number members after unit.
num='-?[0-9]+(\.[0-9]+)?'
line_re="^\\{\"name\":\"[a-z_]+\",\"positions\":[0-9]+,\"value\":$num,\"unit\":\"[A-Za-z/]+\"(,\"[a-z_]+\":(\"([^\"\\\\]|\\\\.)*\"|$num))*\\}\$"
if grep -Evq "$line_re" "$tmp/out"; then
    echo "FAIL: lines that are not one flat JSON object with name, positions, value, unit:"
    grep -Ev "$line_re" "$tmp/out"
    fail=1
fi

first=$(sed -n '1s/^{"name":"\([a-z_]*\)".*/\1/p' "$tmp/out")
if [ "$first" != machine ]; then
    echo "FAIL: the first line is not the machine line"
    fail=1
fi
for key in '"cpu":' '"compiler":' '"cflags":'; do
    if ! head -n 1 "$tmp/out" | grep -q "$key"; then
        echo "FAIL: the machine line has no $key"
        fail=1
    fi
done

cross="cross_mark_update_no_trigger cross_mark_update_full_scan cross_speedup_vs_full_scan \
    cross_liquidation"
replay="cross_band_resplits cross_band_resplits_per_account_day cross_replay_liquidations"
snapshot="snapshot_save snapshot_save_throughput snapshot_load snapshot_load_throughput \
    snapshot_bytes_per_position state_hash"
for name in mark_update_no_trigger mark_update_full_scan liquidation open_position \
    close_position liquidation_price funding bytes_per_position mark_update_naive_scan \
    speedup_vs_naive_scan $snapshot $cross $replay; do
    case " $cross $replay " in
    *" $name "*) pat="^{\"name\":\"$name\",\"positions\":$n,.*,\"accounts\":[0-9][0-9]*}\$" ;;
    *) pat="^{\"name\":\"$name\",\"positions\":$n," ;;
    esac
    count=$(grep -c "$pat" "$tmp/out")
    case " $replay " in
    *" $name "*)
        skips=$(grep -c "^{\"name\":\"skipped\",\"positions\":$n,.*\"what\":\"cross_band_resplits\"" "$tmp/out")
        if [ "$replay_want" = lines ] && [ "$count" -ne 1 ]; then
            echo "FAIL: $name for positions $n appears $count times (want 1: $data is there)"
            fail=1
        elif [ "$replay_want" = skipped ] && { [ "$count" -ne 0 ] || [ "$skips" -ne 1 ]; }; then
            echo "FAIL: $name appears $count times and its skip line $skips times (want 0 and 1: no $data)"
            fail=1
        elif [ "$replay_want" = any ] && [ "$count" -ne 1 ] && [ "$skips" -ne 1 ]; then
            echo "FAIL: $name for positions $n appears $count times, its skip line $skips times"
            fail=1
        fi
        continue ;;
    esac
    if [ "$count" -ne 1 ]; then
        echo "FAIL: $name for positions $n appears $count times (want 1)"
        fail=1
    fi
done

# A JSON parser agrees, when there is one (standard library only).
py="${PYTHON3:-}"
if [ -z "$py" ]; then
    py=$(command -v python3 2>/dev/null) || py=
fi
if [ -n "$py" ] && "$py" -c 'import json' >/dev/null 2>&1; then
    if ! "$py" - "$tmp/out" "$n" <<'EOF'; then
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
bad = 0
with open(path) as f:
    for i, line in enumerate(f, 1):
        o = json.loads(line)
        if not isinstance(o, dict) or list(o)[:4] != ["name", "positions", "value", "unit"]:
            print("line %d: not an object starting with name, positions, value, unit" % i); bad = 1
            continue
        ok = (isinstance(o["name"], str) and isinstance(o["unit"], str) and
              isinstance(o["positions"], int) and isinstance(o["value"], (int, float)))
        if not ok:
            print("line %d: member of the wrong type" % i); bad = 1
        if o["name"] != "machine" and o["positions"] != n:
            print("line %d: positions %r, not %d" % (i, o["positions"], n)); bad = 1
sys.exit(bad)
EOF
        echo "FAIL: python's json module disagrees (above)"
        fail=1
    fi
fi

# Human-readable output (no --json) names the same measurements.
if ! "$bench" --positions 200 --quick "$@" >"$tmp/text" 2>"$tmp/err"; then
    echo "FAIL: margin-bench --positions 200 --quick exited non-zero:"
    cat "$tmp/err"
    fail=1
elif ! grep -q '^N = 200 positions' "$tmp/text" || ! grep -q 'mark_update_no_trigger' "$tmp/text" ||
    ! grep -q '^  snapshot_load ' "$tmp/text" || ! grep -q '^  state_hash ' "$tmp/text" ||
    ! grep -q '^N = 200 cross accounts' "$tmp/text" || ! grep -q '^  cross_liquidation ' "$tmp/text" ||
    ! grep -q '^machine:' "$tmp/text"; then
    echo "FAIL: the readable output lacks the N line, a measurement or the machine:"
    cat "$tmp/text"
    fail=1
fi

# --huge-pages restarts the bench with glibc's huge-page tunable and says so on the machine
# line (the figures themselves are not checked: THP may be off here).
if ! "$bench" --positions 200 --json --quick --huge-pages --only state_hash >"$tmp/huge" \
    2>"$tmp/err"; then
    echo "FAIL: margin-bench --huge-pages exited non-zero:"
    cat "$tmp/err"
    fail=1
elif ! head -n 1 "$tmp/huge" | grep -q '"huge_pages":1}$' ||
    ! head -n 1 "$tmp/huge" | grep -q '"thp":"' || ! grep -q '^{"name":"state_hash"' "$tmp/huge" ||
    ! head -n 1 "$tmp/out" | grep -q '"huge_pages":0}$'; then
    echo "FAIL: the machine line does not say whether malloc ran on huge pages:"
    head -n 1 "$tmp/out" "$tmp/huge"
    fail=1
fi

# Bad arguments: status 2, nothing measured.
for args in "--positions 0" "--positions abc" "--positions" "--bogus" "--only cross_bogus" \
    "--data $tmp/no-such-file"; do
    # shellcheck disable=SC2086
    "$bench" $args >"$tmp/bad" 2>/dev/null
    rc=$?
    if [ "$rc" -ne 2 ] || [ -s "$tmp/bad" ]; then
        echo "FAIL: margin-bench $args: status $rc (want 2) or printed to stdout"
        fail=1
    fi
done

if [ "$fail" -eq 0 ]; then
    echo "PASS: margin-bench output format ($(wc -l <"$tmp/out") JSON lines)"
fi
exit "$fail"
