#!/usr/bin/env bash
# Runs the Go benchmarks and prints them with the machine they ran on.
# BENCH.md is the curated record; paste from bench-results.txt into it.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench-results.txt
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "go: $(go version)"
  echo "command: go test -run '^\$' -bench . -benchmem -benchtime ${BENCHTIME:-1s} ./..."
  go test -run '^$' -bench . -benchmem -benchtime "${BENCHTIME:-1s}" ./...
} | tee "$out"
