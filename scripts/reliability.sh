#!/usr/bin/env bash
# Regenerates RELIABILITY.md: runs testnet's fault-tolerance scenarios
# without -race at OSPNODE_RELIABILITY_SCALE (default 3: three times the
# load phases and faults of `go test`), collects their figures (JSON lines,
# OSPNODE_RELIABILITY_OUT) and renders them with the machine, command and date.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${OSPNODE_RELIABILITY_SCALE:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmd="OSPNODE_RELIABILITY_SCALE=$scale go test -count=1 -timeout 30m -run '^TestReliability' ./testnet/"
echo "running: $cmd" >&2
OSPNODE_RELIABILITY_OUT="$work/figures.jsonl" OSPNODE_RELIABILITY_SCALE="$scale" \
  go test -count=1 -timeout 30m -run '^TestReliability' -v ./testnet/ >"$work/log.txt" 2>&1 || {
  grep -E '^(--- FAIL|FAIL|panic)|_test.go:[0-9]+:' "$work/log.txt" | tail -40 >&2
  exit 1
}
grep -E '^--- ' "$work/log.txt" >&2
OSPNODE_RELIABILITY_RENDER="$work/figures.jsonl" OSPNODE_RELIABILITY_MD="$PWD/RELIABILITY.md" \
  OSPNODE_RELIABILITY_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  OSPNODE_RELIABILITY_MACHINE="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)" \
  OSPNODE_RELIABILITY_GO="$(go version)" OSPNODE_RELIABILITY_COMMAND="$cmd" \
  go test -count=1 -run '^TestRenderReliabilityMarkdown$' ./testnet/ >&2
echo "wrote RELIABILITY.md" >&2
