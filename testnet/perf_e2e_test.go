package testnet

import (
	"encoding/json"
	"fmt"
	"github.com/ospnode/ospnode/ledger/money"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node"
)

// perfSpec is the default seed with carrier B terminating on five trunks,
// so that an AuthorizationRequest from carrier A is answered with five
// destinations (five tokens), every one of the given token kind.
func perfSpec(name string, nodes int, tokenKind string) NetworkSpec {
	members, trunks, routes, decks := DefaultSeed("USD")
	limits := os.Getenv("OSPNODE_E2E_LIMITS") == "1"
	for i := range members {
		members[i].TokenKind = tokenKind
		members[i].SharedToken = os.Getenv("OSPNODE_E2E_SHARED_TOKEN") == "1"
		if limits {
			// Limits no run reaches: every authorisation goes through
			// cluster-wide admission (a credit hold, a concurrent-call
			// slot, a CPS token) without being refused.
			members[i].CreditLimit = money.MustNew("100000000", "USD")
			members[i].ConcurrentLimit = 1_000_000
			members[i].CPSLimit = 1_000_000
		}
	}
	var cands []ledger.RouteCandidate
	for _, tr := range trunks {
		if tr.MemberID == CarrierA {
			cands = append(cands, ledger.RouteCandidate{Kind: ledger.CandidateTrunk, ID: tr.ID, Weight: 1})
		}
	}
	for i := 1; i <= 5; i++ {
		id := fmt.Sprintf("b-perf-%d", i)
		trunks = append(trunks, ledger.Trunk{ID: id, MemberID: CarrierB,
			Address: fmt.Sprintf("[%s]:%d", CarrierBSource, 5060+i), Protocol: "udp", Weight: 1})
		cands = append(cands, ledger.RouteCandidate{Kind: ledger.CandidateTrunk, ID: id, Weight: 1})
	}
	for i := range routes {
		routes[i].Candidates = cands
	}
	return NetworkSpec{Name: name, Nodes: nodes, Members: members, Trunks: trunks, Routes: routes, Decks: decks, TokenKind: tokenKind}
}

// envInt reads an integer knob of the end-to-end benchmark.
func perfEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestE2EThroughput is the reproducible end-to-end measurement of the hot
// path: in-process networks of 1 and 3 nodes (real HTTP, real Raft over
// loopback TCP, bbolt with fsync), driven by RunLoad from the same process
// with calls of one AuthorizationRequest (5 destinations) and two
// UsageIndications, unsigned (text) and ECDSA-signed tokens. For each case
// it runs closed loop at OSPNODE_E2E_CONCURRENCY (default 128) for
// OSPNODE_E2E_SECONDS (default 5), then open loop at 70% of the closed-loop
// rate, and checks every confirmed usage is on every node exactly once.
// It only runs with OSPNODE_E2E_BENCH=1 (it is a measurement, not a test):
//
//	OSPNODE_E2E_BENCH=1 go test -run TestE2EThroughput -v -count=1 ./testnet/
//
// After the closed loop come open loops at 70% of the rate it sustained
// and, for 3 nodes, at 70% of issue #7's target rate.
// OSPNODE_E2E_RATE skips the closed loop and runs one open loop at that
// many calls/s (on a cold cluster). OSPNODE_E2E_PROGRESS=1 prints the
// open loops' progress every 500 ms. OSPNODE_E2E_CASES filters cases by substring ("3n-text", "1n", …);
// OSPNODE_E2E_INFLIGHT and OSPNODE_E2E_MAXWAIT_US override group commit's
// MaxInFlight and MaxWait (consensus defaults otherwise).
// OSPNODE_E2E_LEDGER_FSYNC=false runs the nodes with node.LedgerNoFsync
// (the Raft log as the durable source; ledger.db not fsynced per entry).
// OSPNODE_E2E_SHARED_TOKEN=1 sets ledger.Member.SharedToken on every
// member (one token per call instead of five).
// OSPNODE_E2E_LIMITS=1 gives every member credit, concurrent-call and CPS
// limits that no run reaches, to measure cluster-wide admission's cost.
// OSPNODE_E2E_LEADER_ONLY=1 sends every message to the leader (callers whose
// primary service point is the leader) instead of spreading them over all
// nodes, which makes two thirds of them forwarded by a follower.
// perfGCPercent and perfProcsPerCPU mirror cmd.DefaultGCPercent and
// cmd.DefaultProcsPerCPU (testnet cannot import cmd).
const (
	perfGCPercent   = 400
	perfProcsPerCPU = 2
)

func TestE2EThroughput(t *testing.T) {
	if os.Getenv("OSPNODE_E2E_BENCH") != "1" {
		t.Skip("set OSPNODE_E2E_BENCH=1 to run the end-to-end throughput measurement")
	}
	if raceEnabled {
		t.Skip("a throughput measurement under -race means nothing")
	}
	// The nodes and the generator share this process: give them the
	// collector target that `ospnode serve` and `ospnode bench` set
	// (cmd.DefaultGCPercent), unless GOGC says otherwise.
	if os.Getenv("GOGC") == "" {
		old := debug.SetGCPercent(perfGCPercent)
		t.Cleanup(func() { debug.SetGCPercent(old) })
	}
	// The same for the scheduler: `ospnode serve` runs two Ps per CPU so
	// that Ps blocked in fsync do not stall runnable work (cmd/procs.go).
	if os.Getenv("GOMAXPROCS") == "" {
		old := runtime.GOMAXPROCS(perfProcsPerCPU * runtime.GOMAXPROCS(0))
		t.Cleanup(func() { runtime.GOMAXPROCS(old) })
	}
	secs := perfEnvInt("OSPNODE_E2E_SECONDS", 5)
	conc := perfEnvInt("OSPNODE_E2E_CONCURRENCY", 128)
	filter := os.Getenv("OSPNODE_E2E_CASES")
	for _, nodes := range []int{1, 3} {
		for _, kind := range []string{ledger.TokenText, ledger.TokenSigned} {
			name := fmt.Sprintf("%dn-%s", nodes, kind)
			if filter != "" && !strings.Contains(name, filter) {
				continue
			}
			t.Run(name, func(t *testing.T) {
				ctx := ctxFor(t, 10*time.Minute)
				opts := testOpts()
				opts.Direct = true // no faultnet proxy in the replication path
				opts.Batch.MaxInFlight = perfEnvInt("OSPNODE_E2E_INFLIGHT", 0)
				opts.Batch.MaxWait = time.Duration(perfEnvInt("OSPNODE_E2E_MAXWAIT_US", 0)) * time.Microsecond
				if os.Getenv("OSPNODE_E2E_LEDGER_FSYNC") == "false" {
					opts.Configure = func(c *node.Config) { c.LedgerSync = node.LedgerNoFsync }
				}
				nw := NewTestNetwork(t, perfSpec("PERF", nodes, kind), opts)
				base := LoadOptions{Concurrency: conc, Duration: time.Duration(secs) * time.Second, Seed: 1,
					AcceptUnsigned: kind != ledger.TokenSigned}
				lo := nw.LoadOptions(base)
				lo.Failover = false // count every answer as given
				if os.Getenv("OSPNODE_E2E_LEADER_ONLY") == "1" {
					lo.URLs = []string{nw.Leader().OSPURL()}
				}
				closed := &LoadResult{CallsPerSecond: float64(perfEnvInt("OSPNODE_E2E_RATE", 0)) / 0.7, Types: make([]MessageResult, 3)}
				if closed.CallsPerSecond == 0 {
					var err error
					if closed, err = RunLoad(ctx, lo); err != nil {
						t.Fatal(err)
					}
					perfReport(t, "closed", closed)
				}
				if closed.CallErrors != 0 || closed.TokenFailures != 0 {
					t.Errorf("closed loop: %d call errors, %d token failures", closed.CallErrors, closed.TokenFailures)
				}
				if d := closed.Types[0].Status; len(d) != 0 {
					t.Errorf("authorisation refusals: %v", d)
				}

				// A node refuses a source's 257th connection
				// (MaxConnsPerSource): cap calls in flight below that
				// per node (round robin spreads them evenly).
				lo.Concurrency = 200 * nodes
				if os.Getenv("OSPNODE_E2E_PROGRESS") == "1" {
					lo.Progress = os.Stderr
					lo.ProgressInterval = 500 * time.Millisecond
				}
				all := append([]ConfirmedUsage(nil), closed.Confirmed...)
				openAt := func(rate float64, seed uint64) {
					t.Helper()
					lo.Rate, lo.Seed = rate, seed
					open, err := RunLoad(ctx, lo)
					if err != nil {
						t.Fatal(err)
					}
					perfReport(t, fmt.Sprintf("open@%.0f/s", lo.Rate), open)
					if open.CallErrors != 0 {
						t.Errorf("open loop: %d call errors", open.CallErrors)
					}
					all = append(all, open.Confirmed...)
				}
				// 70% of what this run sustained, the stricter reading of
				// the target; then, for the cluster, 70% of the target rate
				// itself (issue #7: 2,000 calls/s unsigned, 1,000 signed).
				openAt(0.7*closed.CallsPerSecond, 2)
				if target := perfTargetRate(nodes, kind); target > 0 && os.Getenv("OSPNODE_E2E_RATE") == "" {
					openAt(0.7*target, 3)
				}

				if _, err := nw.WaitConverged(ctx); err != nil {
					t.Fatal(err)
				}
				if err := nw.VerifyExactlyOnce(all); err != nil {
					t.Fatal(err)
				}
				if err := nw.AssertBooksBalance(); err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: %d confirmed usages on every node exactly once, books balance", name, len(all))
			})
		}
	}
}

// perfTargetRate is issue #7's completed calls/s for a 3-node cluster (0:
// no target for this case).
func perfTargetRate(nodes int, kind string) float64 {
	switch {
	case nodes != 3:
		return 0
	case kind == ledger.TokenSigned:
		return 1000
	default:
		return 2000
	}
}

func perfReport(t *testing.T, label string, r *LoadResult) {
	t.Helper()
	lat := func(i int) LatencySummary { return r.Types[i].Latency }
	t.Logf("%-14s calls/s %7.0f  completed %6d  errors %d  auth p50 %6.2fms p99 %6.2fms  usage-src p99 %6.2fms  usage-dst p99 %6.2fms  cpu %3.0f%% of a core  lag %v",
		label, r.CallsPerSecond, r.Completed, r.CallErrors,
		perfMs(lat(0).P50), perfMs(lat(0).P99), perfMs(lat(1).P99), perfMs(lat(2).P99), r.CPUPercent, r.ScheduleLag)
	for _, m := range r.Types {
		if len(m.Status)+len(m.Transport) > 0 {
			t.Logf("  %s: status %v transport %v", m.Type, m.Status, m.Transport)
		}
	}
}

func perfMs(d time.Duration) float64 { return float64(d) / 1e6 }

// TestWritePerfTopology writes the topology of TestE2EThroughput (one
// network, OSPNODE_E2E_NODES nodes, five destinations per call, tokens of
// OSPNODE_E2E_TOKEN kind) to the file OSPNODE_E2E_TOPOLOGY, for measuring
// through processes with `ospnode testnet up --topology FILE` and
// `ospnode bench`.
func TestWritePerfTopology(t *testing.T) {
	path := os.Getenv("OSPNODE_E2E_TOPOLOGY")
	if path == "" {
		t.Skip("set OSPNODE_E2E_TOPOLOGY=FILE to write the benchmark topology")
	}
	kind := os.Getenv("OSPNODE_E2E_TOKEN")
	if kind == "" {
		kind = ledger.TokenText
	}
	spec := TopologySpec{Networks: []NetworkSpec{perfSpec("PERF", perfEnvInt("OSPNODE_E2E_NODES", 3), kind)}}
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
