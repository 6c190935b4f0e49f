#!/bin/bash
# Mutation testing: plant one-line bugs in lib/, one at a time, and check that the unit tests
# catch each of them (`make mutants`; not part of `make check`).
#
# The mutants are listed in tests/mutants.txt, one per line:
#     file | exact source text | replacement | short description [| equivalent: reason]
# Fields are separated by " | " (space, bar, space), so the source text itself must not
# contain " | ": pick another unique slice of the line. The source text must occur exactly
# once in the file, else the mutant is reported STALE (the list is maintained as lib/
# changes) and the script fails. A mutant with an `equivalent:` note is one shown not to
# change behaviour; it is still run, but left out of the kill ratio if it survives.
#
# Nothing in the working tree is changed: the tree (tracked files plus untracked files that
# are not ignored, build directories left out) is copied to a temporary directory, built
# there once, out of tree, with plain CFLAGS (-O1, no sanitizers); then for each mutant the
# copy of one file is edited, tests/check_margin and tests/check_realdata are rebuilt and
# run, and the file is restored. A mutant is killed when the build fails, a test fails or
# the run times out.
#
# Environment:
#   MUTANTS_ONLY=3,7,10-12  run only these mutants (numbered from 1, comments not counted)
#   JOBS=n                  run n mutants at a time, each in its own copy (default 1)
#   TIMEOUT=s               seconds allowed per test program run (default 120)
#   MIN_RATIO=95            the kill ratio (%) below which the script fails
#   MUTANTS_FILE=path       another list (default tests/mutants.txt beside this script)
#   KEEP=1                  keep the temporary directory (its path is printed)
#   MUTANTS_CHECK=1         only report stale patterns in the working tree, then exit
#   CFLAGS                  default -O1
# Exit status: 0 when the ratio is at least MIN_RATIO and no mutant is stale; 1 otherwise;
# 2 when the unmutated copy does not build or pass its tests.
set -u
set -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
list=${MUTANTS_FILE:-$here/mutants.txt}
njobs=${JOBS:-1}
timeout_s=${TIMEOUT:-120}
min_ratio=${MIN_RATIO:-95}
cflags=${CFLAGS:--O1}
only=${MUTANTS_ONLY:-}
nice_cmd=(nice -n 10)

die() { echo "mutants: $*" >&2; exit 2; }

[ -f "$list" ] || die "no mutant list at $list"
case $njobs in '' | *[!0-9]* | 0) die "JOBS must be a positive integer" ;; esac
command -v timeout >/dev/null || die "timeout(1) is required"

# ---------------------------------------------------------------- the list
# Arrays indexed by mutant number (1-based).
m_file=() m_src=() m_rep=() m_desc=() m_equiv=()
n=0
lineno=0
sep=' | '
while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    case $line in '' | '#'*) continue ;; esac
    n=$((n + 1))
    rest=$line
    fields=()
    while [[ $rest == *"$sep"* ]]; do
        fields+=("${rest%%"$sep"*}")
        rest=${rest#*"$sep"}
    done
    fields+=("$rest")
    if [ ${#fields[@]} -lt 4 ] || [ ${#fields[@]} -gt 5 ]; then
        die "$list:$lineno: want 'file | source | replacement | description [| equivalent: why]'"
    fi
    m_file[n]=${fields[0]}
    m_src[n]=${fields[1]}
    m_rep[n]=${fields[2]}
    m_desc[n]=${fields[3]}
    m_equiv[n]=
    if [ ${#fields[@]} -eq 5 ]; then
        case ${fields[4]} in
        'equivalent:'*) m_equiv[n]=${fields[4]#equivalent:} ;;
        *) die "$list:$lineno: the fifth field must start with 'equivalent:'" ;;
        esac
    fi
    [ "${m_src[n]}" != "${m_rep[n]}" ] || die "$list:$lineno: replacement equals the source"
    case ${m_file[n]} in lib/*) ;; *) die "$list:$lineno: mutants live in lib/, not ${m_file[n]}" ;; esac
done <"$list"
[ "$n" -gt 0 ] || die "no mutants in $list"

# Which mutants to run.
selected=()
if [ -n "$only" ]; then
    IFS=, read -r -a parts <<<"$only"
    for part in "${parts[@]}"; do
        case $part in
        *-*) lo=${part%-*} hi=${part#*-} ;;
        *) lo=$part hi=$part ;;
        esac
        case $lo$hi in '' | *[!0-9]*) die "bad MUTANTS_ONLY entry '$part'" ;; esac
        for ((i = lo; i <= hi; i++)); do
            [ "$i" -ge 1 ] && [ "$i" -le "$n" ] || die "no mutant number $i (1..$n)"
            selected+=("$i")
        done
    done
else
    for ((i = 1; i <= n; i++)); do selected+=("$i"); done
fi

# Stale patterns: each source text must occur exactly once in its file under $1. Sets
# `stale` and `runnable` (the selected mutants that can be applied).
count_in() { # file text -> number of occurrences
    local content rest
    content=$(<"$1")
    rest=${content//"$2"/}
    echo $(((${#content} - ${#rest}) / ${#2}))
}
check_stale() {
    local base=$1 i f c
    stale=0
    runnable=()
    for i in "${selected[@]}"; do
        f=$base/${m_file[i]}
        if [ ! -f "$f" ]; then
            printf 'mutant %3d STALE      %s: no such file\n' "$i" "${m_file[i]}"
            stale=$((stale + 1))
            continue
        fi
        c=$(count_in "$f" "${m_src[i]}")
        if [ "$c" -ne 1 ]; then
            printf 'mutant %3d STALE      %s: source text found %d times: %s\n' "$i" \
                "${m_file[i]}" "$c" "${m_src[i]}"
            stale=$((stale + 1))
            continue
        fi
        runnable+=("$i")
    done
}

# MUTANTS_CHECK=1: only check the list against the working tree (no copy, no build).
if [ "${MUTANTS_CHECK:-0}" = 1 ]; then
    check_stale "$root"
    echo "mutants: ${#selected[@]} checked, $stale stale"
    [ "$stale" -eq 0 ]
    exit
fi

# ---------------------------------------------------------------- the copy
tmp=$(mktemp -d "${TMPDIR:-/tmp}/margin-mutants.XXXXXX") || die "mktemp failed"
cleanup() {
    local pids
    pids=$(jobs -p)
    [ -z "$pids" ] || kill $pids 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then
        echo "mutants: kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

src=$tmp/w1/src
mkdir -p "$src" "$tmp/w1/build" "$tmp/logs" "$tmp/results"

# Build directories (any top-level directory holding a config.status, and build*/, _build*/)
# are not part of the tree.
skip_dirs=()
for d in "$root"/*/; do
    d=${d%/}
    b=${d##*/}
    case $b in build | build-* | _build*) skip_dirs+=("$b"); continue ;; esac
    [ -f "$d/config.status" ] && skip_dirs+=("$b")
done
in_skipped() {
    local f=$1 b
    for b in "${skip_dirs[@]}"; do
        case $f in "$b"/*) return 0 ;; esac
    done
    return 1
}

if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$root" ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do
            in_skipped "$f" && continue
            [ -e "$root/$f" ] || continue # deleted in the working tree
            printf '%s\0' "$f"
        done >"$tmp/files"
else
    # a release tarball: everything but build directories and generated files
    (cd "$root" && find . -type f ! -name config.status ! -name config.log -print0) |
        while IFS= read -r -d '' f; do
            f=${f#./}
            in_skipped "$f" && continue
            printf '%s\0' "$f"
        done >"$tmp/files"
fi
(cd "$root" && tar -cf - --null -T "$tmp/files") | (cd "$src" && tar -xf -) ||
    die "copying the tree failed"

echo "mutants: $n in the list, ${#selected[@]} selected; copy in $tmp"

check_stale "$src"

# ---------------------------------------------------------------- build once
echo "mutants: building the unmutated copy (CFLAGS=$cflags)"
(
    cd "$src" && "${nice_cmd[@]}" ./autogen.sh &&
        cd "$tmp/w1/build" && "${nice_cmd[@]}" ../src/configure CFLAGS="$cflags" \
        --disable-shared --enable-silent-rules &&
        "${nice_cmd[@]}" make -j"$((njobs > 1 ? njobs : 2))" tests/check_margin tests/check_realdata
) >"$tmp/logs/baseline-build.log" 2>&1 || {
    tail -n 30 "$tmp/logs/baseline-build.log" >&2
    die "the unmutated copy does not build (log above)"
}

# Run the two test programs of worker dir $1; log to $2. 0: pass.
run_tests() {
    local b=$1 log=$2 rc
    for t in tests/check_margin tests/check_realdata; do
        (cd "$b" && top_srcdir=$root CK_VERBOSITY=minimal \
            timeout -k 5 "$timeout_s" "${nice_cmd[@]}" "./$t") >>"$log" 2>&1
        rc=$?
        # 77: check_realdata skips without its data file
        [ $rc -eq 0 ] || [ $rc -eq 77 ] || return $rc
    done
    return 0
}
run_tests "$tmp/w1/build" "$tmp/logs/baseline-tests.log" || {
    tail -n 30 "$tmp/logs/baseline-tests.log" >&2
    die "the unmutated copy fails its tests (log above)"
}
for ((w = 2; w <= njobs; w++)); do
    cp -a "$tmp/w1" "$tmp/w$w" || die "copying the build for worker $w failed"
done

# ---------------------------------------------------------------- one mutant
# Apply mutant $1 in worker $2, build, test, restore; print one line and store the verdict.
mutate() {
    local i=$1 w=$2 f content rc verdict why log
    f=$tmp/w$w/src/${m_file[i]}
    log=$tmp/logs/$i.log
    : >"$log"
    cp -p "$f" "$f.orig"
    content=$(<"$f")
    printf '%s\n' "${content/"${m_src[i]}"/"${m_rep[i]}"}" >"$f"
    if ! (cd "$tmp/w$w/build" && timeout -k 5 600 "${nice_cmd[@]}" \
        make tests/check_margin tests/check_realdata) >>"$log" 2>&1; then
        verdict=KILLED why="build fails"
    else
        run_tests "$tmp/w$w/build" "$log"
        rc=$?
        case $rc in
        0) verdict=SURVIVED why="" ;;
        124 | 137) verdict=KILLED why="timeout" ;;
        *) verdict=KILLED why="tests fail" ;;
        esac
    fi
    # restore; the new mtime makes the next build recompile the file
    mv -f "$f.orig" "$f"
    touch "$f"
    if [ -n "${m_equiv[i]}" ]; then
        case $verdict in
        SURVIVED) verdict=EQUIVALENT why="${m_equiv[i]# }" ;;
        KILLED) why="$why; marked equivalent but killed: the note is wrong" ;;
        esac
    fi
    echo "$verdict" >"$tmp/results/$i"
    printf 'mutant %3d %-10s %s: %s%s\n' "$i" "$verdict" "${m_file[i]}" "${m_desc[i]}" \
        "${why:+ ($why)}"
}

worker() {
    local w=$1 k
    for ((k = w - 1; k < ${#runnable[@]}; k += njobs)); do
        mutate "${runnable[k]}" "$w"
    done
}

for ((w = 1; w <= njobs; w++)); do
    worker "$w" &
done
wait

# ---------------------------------------------------------------- summary
killed=0 survived=0 equiv=0
survivors=()
for i in "${runnable[@]}"; do
    v=$(cat "$tmp/results/$i" 2>/dev/null || echo MISSING)
    case $v in
    KILLED) killed=$((killed + 1)) ;;
    SURVIVED) survived=$((survived + 1)); survivors+=("$i") ;;
    EQUIVALENT) equiv=$((equiv + 1)) ;;
    *) echo "mutant $i: no result (see $tmp/logs/$i.log)" >&2; stale=$((stale + 1)) ;;
    esac
done
total=$((killed + survived))
if [ $total -gt 0 ]; then
    ratio_x10=$((killed * 1000 / total))
    ratio="$((ratio_x10 / 10)).$((ratio_x10 % 10))"
else
    ratio_x10=1000 ratio=100
fi
for i in "${survivors[@]}"; do
    printf 'survivor %3d: %s: %s\n' "$i" "${m_file[i]}" "${m_desc[i]}"
done
[ $stale -eq 0 ] || echo "mutants: $stale stale (fix their source text in $list)"
echo "mutants: $killed killed, $survived survived, $equiv equivalent, kill ratio $ratio%"
if [ $stale -gt 0 ] || [ $ratio_x10 -lt $((min_ratio * 10)) ]; then
    exit 1
fi
exit 0
