#!/usr/bin/env bash
# Mutation score of the model checker: cargo-mutants mutates the protocol
# code (specs/src/raft, specs/src/kraft, specs/src/quorum.rs,
# specs/src/membership.rs; see .cargo/mutants.toml) and runs the standard
# suite on the checker against each mutant (model/tests/mutant_suite.rs,
# not the unit tests). A missed mutant is a change to the protocol code
# that no property of the standard suite notices.
#
# Run by hand or nightly, not from .ci/run: each mutant costs a release
# build of specs and the model (about 30 s) plus up to one suite run
# (about 110 s on 2 shared cores), and there are about 490 mutants.
#
# Usage: model/mutants.sh [options] [-- extra cargo-mutants options]
#   --file PATH     mutate only PATH (a glob; repeatable), e.g.
#                   --file specs/src/quorum.rs
#   --shard K/N     run only shard K of N (0-based, consecutive slices)
#   --re REGEX      only mutants whose name matches REGEX (repeatable)
#   --timeout S     per-mutant test timeout in seconds (default 330:
#                   three times the clean suite)
#   --suite NAME    standard (default) or deep (not there yet: errors out)
#   --baseline      also check the unmutated tree first (default: skip it;
#                   run `cargo test --release -p kraftwerk-model --test
#                   mutant_suite -- --ignored` yourself once)
#   --in-place      mutate this tree instead of a copy (reuses the target
#                   directory; do not edit specs/ while it runs)
#   --out DIR       write DIR/mutants.out (default: the repository root)
#   --list          list the mutants that would run, and stop
#   --summary       only print the summary of an existing mutants.out
#
# Prints caught / missed / unviable / timeout counts, per file, and the
# missed mutants. Needs cargo-mutants (`cargo install --locked
# cargo-mutants`; this was written against 27.1). Runs under nice -n 19.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

files=()
res=()
shard=""
timeout=330
suite=standard
baseline=skip
in_place=()
out="$root"
list=false
summary_only=false
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --file) files+=("--file=$2"); shift 2 ;;
        --shard) shard="$2"; shift 2 ;;
        --re) res+=("--re=$2"); shift 2 ;;
        --timeout) timeout="$2"; shift 2 ;;
        --suite) suite="$2"; shift 2 ;;
        --baseline) baseline=run; shift ;;
        --in-place) in_place=(--in-place); shift ;;
        --out) out="$2"; shift 2 ;;
        --list) list=true; shift ;;
        --summary) summary_only=true; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "mutants.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done

case "$suite" in
    standard) ;;
    deep)
        echo "mutants.sh: there is no deep suite yet: 'kraftwerk check' has only the" \
             "standard suite (cli::default_suite); add the deep suite to" \
             "model/tests/mutant_suite.rs once the checker has one" >&2
        exit 2 ;;
    *) echo "mutants.sh: unknown suite '$suite' (expected standard or deep)" >&2; exit 2 ;;
esac

mo="$out/mutants.out"

summary() {
    if [ ! -d "$mo" ]; then
        echo "mutants.sh: no $mo" >&2
        return 1
    fi
    local f
    for f in caught missed unviable timeout; do touch "$mo/$f.txt"; done
    echo "== mutation score ($mo)"
    printf '%-32s %7s %7s %9s %8s\n' file caught missed unviable timeout
    # Each line of the outcome files starts with "path:line:col: ".
    for f in caught missed unviable timeout; do
        sed "s/:.*//; s/\$/ $f/" "$mo/$f.txt"
    done | awk '
        { n[$1, $2]++; files[$1] = 1; tot[$2]++ }
        END {
            for (f in files)
                printf "%-32s %7d %7d %9d %8d\n", f, n[f, "caught"], n[f, "missed"], n[f, "unviable"], n[f, "timeout"] | "sort"
            close("sort")
            printf "%-32s %7d %7d %9d %8d\n", "total", tot["caught"], tot["missed"], tot["unviable"], tot["timeout"]
        }'
    local caught missed
    caught=$(wc -l <"$mo/caught.txt")
    missed=$(wc -l <"$mo/missed.txt")
    if [ $((caught + missed)) -gt 0 ]; then
        echo "score: $caught caught of $((caught + missed)) viable mutants that finished" \
             "($((100 * caught / (caught + missed)))%)"
    fi
    echo "== missed mutants"
    if [ -s "$mo/missed.txt" ]; then cat "$mo/missed.txt"; else echo "(none)"; fi
    if [ -s "$mo/timeout.txt" ]; then
        echo "== timeouts (not counted as caught)"
        cat "$mo/timeout.txt"
    fi
}

if $summary_only; then
    summary
    exit
fi

command -v cargo-mutants >/dev/null || {
    echo "mutants.sh: cargo-mutants is not installed (cargo install --locked cargo-mutants)" >&2
    exit 2
}

args=(mutants --config "$root/.cargo/mutants.toml" --output "$out" --timeout "$timeout"
      --baseline "$baseline" --jobs 1 --no-shuffle)
# The protocol code, unless --file chose a subset.
[ ${#files[@]} -eq 0 ] && files=(--file='specs/src/raft/*.rs' --file='specs/src/kraft/*.rs'
                                 --file=specs/src/quorum.rs --file=specs/src/membership.rs)
args+=(--package kraftwerk-specs "${files[@]}")
[ ${#res[@]} -gt 0 ] && args+=("${res[@]}")
[ -n "$shard" ] && args+=(--shard "$shard")
[ ${#in_place[@]} -gt 0 ] && args+=("${in_place[@]}")
[ ${#extra[@]} -gt 0 ] && args+=("${extra[@]}")

if $list; then
    exec cargo "${args[@]}" --list
fi

echo "== cargo ${args[*]}"
started=$(date +%s)
status=0
nice -n 19 cargo "${args[@]}" || status=$?
echo "== cargo-mutants exited $status after $(( $(date +%s) - started )) s"
summary
# cargo-mutants: 0 all caught, 2 some missed, 3 some timed out, 1 usage
# error, 4 the baseline failed, 70 internal error. Missed and timed-out
# mutants are results, not failures of this script.
case "$status" in
    0|2|3) exit 0 ;;
    *) exit "$status" ;;
esac
