package cmd

import (
	"os"
	"runtime"
)

// DefaultProcsPerCPU is how many Go scheduler Ps `ospnode serve` runs per
// CPU available to it. A node's hot path blocks in fsync (the Raft log on
// every entry, ledger.db at each deferred commit) and in network writes.
// A goroutine blocked in a system call keeps its P until the runtime's
// monitor takes the P back, which under load can take milliseconds; with
// one P per CPU, the proposers, HTTP handlers and replication goroutines
// queue behind those stalls while the CPU idles. On the 3-node benchmark
// (BENCH.md) two Ps per CPU raised completed calls/s by ~20% and cut
// authorisation p99 at 70% load from ~45 ms to ~22 ms. The CPUs used stay
// the same; only the number of runnable threads changes.
const DefaultProcsPerCPU = 2

// setProcs sets GOMAXPROCS to n, or to DefaultProcsPerCPU times the CPUs Go
// sees (its default GOMAXPROCS, which honours a container's CPU limit) when
// n is 0. A GOMAXPROCS environment variable wins; a negative n keeps Go's
// default.
func setProcs(n int) {
	if n < 0 || os.Getenv("GOMAXPROCS") != "" {
		return
	}
	if n == 0 {
		n = DefaultProcsPerCPU * runtime.GOMAXPROCS(0)
	}
	runtime.GOMAXPROCS(n)
}
