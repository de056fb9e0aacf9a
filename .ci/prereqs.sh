#!/usr/bin/env bash
# Installs what the test suite needs beyond cargo, only what is missing
# (idempotent; one line per thing it installs; needs root or sudo):
# - Chromium, an emoji font and playwright-core: the Explorer browser test
#   (tests/tests/explorer.rs), via .ci/install-browser.sh;
# - etcd 3.4 (Debian etcd-server, etcd-client): the benchmark test
#   (tests/tests/bench.rs) runs etcd beside kraftwerk-node;
# - iproute2 and iptables: the nemesis (tests/tests/nemesis.rs) runs nodes
#   in network namespaces and cuts links with iptables.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

bash .ci/install-browser.sh

missing=()
command -v etcd >/dev/null || missing+=(etcd-server etcd-client)
command -v ip >/dev/null || missing+=(iproute2)
command -v iptables >/dev/null || missing+=(iptables)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "prereqs: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_if_needed apt-get update -qq >/dev/null
  sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The etcd package's own service is not needed: the benchmark test starts
  # its own members.
  sudo_if_needed systemctl disable --now etcd >/dev/null 2>&1 || true
fi
