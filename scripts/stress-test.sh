#!/usr/bin/env bash
# Reruns packages' tests repeatedly under the race detector, optionally while a
# CPU-heavy load runs beside them, to find tests that depend on an idle machine.
#
#   scripts/stress-test.sh [--busy] [-count N] [-run REGEX] [-timeout D] PKG...
#
#   --busy       run a load generator beside the tests: `go build -a std` into a
#                throw-away cache, in a loop, one per core (GOMAXPROCS-wide
#                compiles), until the tests end. This is what "another make test
#                running beside it" does to the scheduler.
#   -count N     how many times to run each package's tests (default 5); each
#                round is a separate `go test -count=1` so a failure names its round.
#   -run REGEX   only the tests matching REGEX (passed to go test -run).
#   -timeout D   go test's -timeout per round (default 20m).
#
# Exits non-zero if any round failed; prints a summary of failed rounds and the
# failing tests' names. Output of each failed round is kept under $OUT (default
# a temporary directory, printed at the end).
set -uo pipefail
cd "$(dirname "$0")/.."

count=5 busy=0 run="" timeout=20m pkgs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --busy) busy=1 ;;
    -count|--count) count=$2; shift ;;
    -count=*|--count=*) count=${1#*=} ;;
    -run|--run) run=$2; shift ;;
    -run=*|--run=*) run=${1#*=} ;;
    -timeout|--timeout) timeout=$2; shift ;;
    -timeout=*|--timeout=*) timeout=${1#*=} ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    -*) echo "stress-test: unknown flag $1" >&2; exit 2 ;;
    *) pkgs+=("$1") ;;
  esac
  shift
done
if [ ${#pkgs[@]} -eq 0 ]; then
  echo "usage: scripts/stress-test.sh [--busy] [-count N] [-run REGEX] PKG..." >&2
  exit 2
fi
case "$count" in ''|*[!0-9]*) echo "stress-test: -count wants a number" >&2; exit 2 ;; esac

OUT=${OUT:-$(mktemp -d -t stress-test.XXXXXX)}
mkdir -p "$OUT"

busy_pid=""
stop_busy() {
  if [ -n "$busy_pid" ]; then
    kill -- "-$busy_pid" 2>/dev/null || kill "$busy_pid" 2>/dev/null
    wait "$busy_pid" 2>/dev/null
    busy_pid=""
  fi
}
trap stop_busy EXIT
trap 'stop_busy; exit 130' INT TERM

if [ "$busy" = 1 ]; then
  cache="$OUT/busy-gocache"
  mkdir -p "$cache"
  # Its own process group (set -m) so that stop_busy ends the compilers too.
  set -m
  (
    while :; do
      for _ in $(seq "$(nproc 2>/dev/null || echo 2)"); do
        (cd /tmp && GOCACHE="$cache" GOFLAGS= go build -a std >/dev/null 2>&1) &
      done
      wait
      rm -rf "$cache" && mkdir -p "$cache"
    done
  ) &
  busy_pid=$!
  set +m
  echo "stress-test: load generator running (pid $busy_pid)"
fi

args=(-race -count=1 -timeout "$timeout")
[ -n "$run" ] && args+=(-run "$run")

fails=0
for pkg in "${pkgs[@]}"; do
  for i in $(seq 1 "$count"); do
    log="$OUT/$(echo "$pkg" | tr '/.' '__')-$i.log"
    start=$(date +%s)
    if go test "${args[@]}" "$pkg" >"$log" 2>&1; then
      echo "ok   $pkg round $i/$count ($(( $(date +%s) - start ))s)"
      rm -f "$log"
    else
      fails=$((fails + 1))
      echo "FAIL $pkg round $i/$count ($(( $(date +%s) - start ))s): $log"
      grep -E '^\s*--- FAIL|^panic:|timed out|DATA RACE' "$log" | sort -u | head -20 | sed 's/^/       /'
    fi
  done
done
stop_busy
if [ "$fails" -gt 0 ]; then
  echo "stress-test: $fails failed round(s); logs in $OUT"
  exit 1
fi
echo "stress-test: all rounds passed"
rmdir "$OUT" 2>/dev/null || rm -rf "$OUT/busy-gocache"
