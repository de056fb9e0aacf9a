#!/usr/bin/env bash
# Regenerates the command outputs and counterexample traces the book shows,
# from the real `kraftwerk` binary, into book/src/generated/ (or into the
# directory given as $1). Timings and rates are masked so that the files are
# deterministic; progress lines (stderr) are not kept.
#
#   bash book/generate.sh            # rewrite book/src/generated/*.txt
#   bash book/generate.sh /tmp/out   # write elsewhere (book/check.sh does)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$ROOT/book/src/generated}"
mkdir -p "$OUT"
cd "$ROOT"
export CARGO_TERM_COLOR=never
cargo build --quiet --release --bin kraftwerk
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/kraftwerk"

# Masks what changes from run to run: elapsed times ("0.2s", "14 s",
# "123ms") and rates ("250000 states/s").
mask() {
    sed -E \
        -e 's/[0-9][0-9,]*(\.[0-9]+)? ?states\/s/N states\/s/g' \
        -e 's/\b[0-9]+(\.[0-9]+)? ?(ms|µs|us|s)\b/Ns/g'
}

# run FILE ARGS...: writes "$ kraftwerk ARGS" then stdout and the exit code.
run() {
    local file="$1"; shift
    local code=0
    {
        echo "\$ kraftwerk $*"
        "$BIN" "$@" 2>/dev/null || code=$?
        echo "(exit code $code)"
    } > "$OUT/$file.tmp"
    mask < "$OUT/$file.tmp" > "$OUT/$file"
    rm -f "$OUT/$file.tmp"
}

run help.txt --help
run check-help.txt check --help
run explore-help.txt explore --help
run bugs.txt bugs
run small-check.txt check --servers 2 --max-term 1 --crashes 0 --network unordered-nonduplicating --threads 1
run unpersisted-vote.txt check --bug unpersisted-vote --shortest
run kraft-ignore-diverging-epoch.txt check --bug kraft-ignore-diverging-epoch --shortest
run joint-skip-old-majority.txt check --bug joint-skip-old-majority --shortest
run joint-skip-old-majority-kraft.txt check --bug joint-skip-old-majority --protocol kraft --shortest

# The trace files --trace-out writes (JSON and ITF) for one bug.
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
"$BIN" check --bug unpersisted-vote --shortest --trace-out "$TMP/t.json" >/dev/null 2>&1 || true
"$BIN" check --bug unpersisted-vote --shortest --trace-out "$TMP/t.itf.json" --trace-format itf >/dev/null 2>&1 || true
mask < "$TMP/t.json" > "$OUT/unpersisted-vote.trace.json"
mask < "$TMP/t.itf.json" > "$OUT/unpersisted-vote.itf.json"
echo "generated $(ls "$OUT" | wc -l) files in $OUT"
