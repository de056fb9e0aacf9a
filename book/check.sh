#!/usr/bin/env bash
# CI for the book: the generated outputs must match what the binaries print
# now, and the book must build with no broken links.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

echo "== book: regenerating outputs into $TMP"
bash book/generate.sh "$TMP/generated" >/dev/null
if ! diff -ru book/src/generated "$TMP/generated" > "$TMP/diff"; then
    cat "$TMP/diff" >&2
    echo "book/check.sh: book/src/generated/ is stale: the binaries now print something else." >&2
    echo "Run 'bash book/generate.sh', review the diff, update the chapters if needed, and commit." >&2
    exit 1
fi

echo "== book: every {{#include FILE:ANCHOR}} names an existing file and anchor"
# mdbook silently includes nothing for an unknown anchor, so check here.
bad=0
while IFS= read -r inc; do
    md="${inc%%:*}"; rest="${inc#*:}"
    spec="$(sed -E 's/.*\{\{#include ([^}]*)\}\}.*/\1/' <<<"$rest")"
    file="${spec%%:*}"; anchor=""
    [[ "$spec" == *:* ]] && anchor="${spec#*:}"
    path="$(dirname "$md")/$file"
    if [[ ! -f "$path" ]]; then
        echo "book/check.sh: $md includes $file, which does not exist" >&2; bad=1; continue
    fi
    if [[ -n "$anchor" && ! "$anchor" =~ ^[0-9:]+$ ]] && ! grep -q "ANCHOR: $anchor\$" "$path"; then
        echo "book/check.sh: $md includes $file:$anchor, but $file has no 'ANCHOR: $anchor'" >&2; bad=1
    fi
done < <(grep -Ho '^{{#include [^}]*}}' book/src/*.md)
[[ $bad == 0 ]] || exit 1

echo "== book: mdbook build (html + linkcheck2)"
command -v mdbook >/dev/null || { echo "book/check.sh: mdbook is required (cargo install --locked mdbook)" >&2; exit 1; }
command -v mdbook-linkcheck2 >/dev/null || { echo "book/check.sh: mdbook-linkcheck2 is required (cargo install --locked mdbook-linkcheck2)" >&2; exit 1; }
if ! mdbook build book > "$TMP/build.log" 2>&1; then
    cat "$TMP/build.log" >&2
    echo "book/check.sh: mdbook build failed (a broken link or include?)" >&2
    exit 1
fi
if grep -qE '(WARN|ERROR)' "$TMP/build.log"; then
    cat "$TMP/build.log" >&2
    echo "book/check.sh: mdbook reported warnings or errors (a missing include? a broken link?)" >&2
    exit 1
fi
echo "book: ok"
