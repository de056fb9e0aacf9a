#!/usr/bin/env bash
# Installs what the Explorer browser test (tests/tests/explorer.rs) needs,
# only when it is missing: Chromium and an emoji font (the Explorer's page
# uses emoji) from apt, and playwright-core from tests/browser's lock file.
# Idempotent and quiet; prints one line per thing it installs.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || missing+=(fonts-noto-color-emoji)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-browser: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_if_needed apt-get update -qq >/dev/null
  sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v node >/dev/null || { echo "install-browser: node is required" >&2; exit 1; }
if [ ! -d tests/browser/node_modules/playwright-core ] \
  || [ tests/browser/package-lock.json -nt tests/browser/node_modules/.package-lock.json ]; then
  echo "install-browser: npm ci in tests/browser"
  (cd tests/browser && npm ci --silent --no-audit --no-fund >/dev/null)
fi
