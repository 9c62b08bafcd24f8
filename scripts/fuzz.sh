#!/usr/bin/env bash
# Runs every fuzz target in the module for the given budget each (default 30s).
# The budget is go test's -fuzztime: a duration ("30s") or an execution count
# ("20000x"). go test accepts one -fuzz pattern per package run, so targets go
# one by one.
#
# Go 1.26's fuzzing coordinator can report a bare "context deadline exceeded"
# at the end of a duration budget when a busy machine starves a worker
# (go.dev/issue/75804, fixed in Go 1.27). That is not a finding: a finding
# writes its input under testdata/fuzz/<target>/. Such a run is retried once
# with an execution-count budget, which has no deadline to race; any other
# failure, or a written input, fails the script.
set -euo pipefail
budget=${1:-30s}
cd "$(dirname "$0")/.."

corpus_files() { find "$1/testdata/fuzz/$2" -type f 2>/dev/null | sort; }

run_target() { # pkg dir target budget
  local pkg=$1 dir=$2 target=$3 fuzztime=$4 out before status=0
  before=$(corpus_files "$dir" "$target")
  out=$(mktemp)
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$out" || status=$?
  if [ "$status" -ne 0 ] && [ "$(corpus_files "$dir" "$target")" = "$before" ] &&
    grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out"; then
    rm -f "$out"
    return 75 # the coordinator's deadline race, no finding
  fi
  rm -f "$out"
  return "$status"
}

for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "== $pkg $target ($budget)"
    status=0
    run_target "$pkg" "$dir" "$target" "$budget" || status=$?
    if [ "$status" -eq 75 ]; then
      echo "fuzz: $target hit Go's fuzztime deadline race (go.dev/issue/75804) with no finding; retrying with a count budget" >&2
      status=0
      run_target "$pkg" "$dir" "$target" 20000x || status=$?
    fi
    if [ "$status" -ne 0 ]; then
      echo "fuzz: $target failed (status $status)" >&2
      exit 1
    fi
  done
done
