package testnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The reliability scenarios (reliability_test.go) each boot a network, run
// the load generator against every node's OSP URL (closed loop, failover
// on, as a toolkit with all service points), inject their faults while the
// load runs, stop the load, and then check that every usage the generator
// saw confirmed is on every node exactly once, that the books balance and
// that the digests converge. Their figures go to the test log and, with
// OSPNODE_RELIABILITY_OUT=path, as one JSON line per scenario to path
// (scripts/reliability.sh renders RELIABILITY.md from them).
//
// Times are measured by polling a condition (10 ms period) from the moment
// the fault or the repair was made, so they carry up to one period of
// polling error; they are what a carrier or an operator would observe.

// Figures are the measured outcome of one scenario run.
type Figures struct {
	Scenario   string `json:"scenario"`
	Title      string `json:"title"`
	Nodes      int    `json:"nodes"`
	Scale      int    `json:"scale"`
	Race       bool   `json:"race"`
	GoMaxProcs int    `json:"gomaxprocs"`

	Calls          uint64 `json:"callsDriven"`
	Completed      uint64 `json:"completed"`
	FailedAttempts uint64 `json:"failedAttempts"`
	CallErrors     uint64 `json:"callErrors"`
	// Faults lists every fault injected, in order ("kill leader", ...).
	Faults []string `json:"faults"`
	// Confirmed counts the usages the servers confirmed; Lost how many of
	// them a node lacks (max over nodes; must be 0); Duplicated how many
	// are recorded more than once on some node (must be 0).
	Confirmed  int `json:"confirmedUsages"`
	Lost       int `json:"confirmedUsageLost"`
	Duplicated int `json:"duplicated"`

	// WriteRecoveryMs: per fault, from the fault to the first successful
	// authorisation (a committed write) through a node that can commit.
	WriteRecoveryMs []float64 `json:"writeRecoveryMs,omitempty"`
	// CatchUpMs: per repair (heal, restart, rejoin), from the repair to the
	// repaired node having applied everything committed at that moment.
	CatchUpMs []float64 `json:"catchUpMs,omitempty"`
	// ConvergeMs: from the end of the load to equal digests on every node.
	ConvergeMs float64 `json:"convergeMs"`
	ElapsedMs  float64 `json:"elapsedMs"`
	// Extra holds scenario-specific figures (documented where set).
	Extra map[string]float64 `json:"extra,omitempty"`
	Notes []string           `json:"notes,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Round(100*time.Microsecond)) / 1e6 }

// reliabilityScale multiplies the load phases and fault counts: 1 by
// default, OSPNODE_RELIABILITY_SCALE to override (the soak uses 4).
func reliabilityScale(t *testing.T, def int) int {
	if v := os.Getenv("OSPNODE_RELIABILITY_SCALE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			t.Fatalf("OSPNODE_RELIABILITY_SCALE=%q: want 1..100", v)
		}
		return n
	}
	return def
}

var figuresMu sync.Mutex

// writeFigures logs f and appends it to OSPNODE_RELIABILITY_OUT if set.
func writeFigures(t *testing.T, f *Figures) {
	t.Helper()
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("figures: %s", b)
	path := os.Getenv("OSPNODE_RELIABILITY_OUT")
	if path == "" {
		return
	}
	figuresMu.Lock()
	defer figuresMu.Unlock()
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.Write(append(b, '\n')); err != nil {
		t.Fatal(err)
	}
}

// scenario is one run in progress.
type scenario struct {
	t     *testing.T
	ctx   context.Context
	nw    *Network
	fig   *Figures
	scale int
	start time.Time
}

func newScenario(t *testing.T, ctx context.Context, nw *Network, name, title string, scale int) *scenario {
	return &scenario{t: t, ctx: ctx, nw: nw, scale: scale, start: time.Now(),
		fig: &Figures{Scenario: name, Title: title, Nodes: nw.Size(), Scale: scale, Race: raceEnabled,
			GoMaxProcs: runtime.GOMAXPROCS(0), Extra: map[string]float64{}}}
}

func (sc *scenario) fault(what string) { sc.fig.Faults = append(sc.fig.Faults, what) }

// usageRecords is the largest usage count among the running nodes.
func usageRecords(nw *Network) uint64 {
	var most uint64
	for _, n := range nw.Nodes() {
		if st, err := n.Store().Stats(); err == nil && st.UsageRecords > most {
			most = st.UsageRecords
		}
	}
	return most
}

// waitProgress polls until some node has recorded k×scale more usages:
// the load is making progress (used between faults instead of sleeping).
func (sc *scenario) waitProgress(k int) {
	sc.t.Helper()
	k *= sc.scale
	base := usageRecords(sc.nw)
	for usageRecords(sc.nw) < base+uint64(k) {
		if err := pause(sc.ctx, 10*time.Millisecond); err != nil {
			sc.t.Fatalf("no progress (%d more usages) before the deadline: %v", k, err)
		}
	}
}

// probeWrite polls until an authorisation (a committed transaction)
// succeeds through a running node other than those in skip, and returns
// the time from since. Each attempt is bounded so a hung node is skipped.
func (sc *scenario) probeWrite(since time.Time, skip ...int) time.Duration {
	sc.t.Helper()
	for {
		for _, i := range sc.nw.Running() {
			if contains(skip, i) {
				continue
			}
			n := sc.nw.Node(i)
			if n == nil {
				continue
			}
			actx, cancel := context.WithTimeout(sc.ctx, 2*time.Second)
			_, err := Authorize(actx, n.OSPURL(), CarrierAParty(), "14048724799", "4420794601234")
			cancel()
			if err == nil {
				return time.Since(since)
			}
		}
		if err := pause(sc.ctx, 10*time.Millisecond); err != nil {
			sc.t.Fatalf("no write succeeded after the fault: %v", err)
		}
	}
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// waitCaughtUp polls until node i has applied (raft applied index)
// everything the other running nodes had committed when called, and
// returns the time from since.
func (sc *scenario) waitCaughtUp(i int, since time.Time) time.Duration {
	sc.t.Helper()
	var target uint64
	for _, j := range sc.nw.Running() {
		if j == i {
			continue
		}
		if n := sc.nw.Node(j); n != nil {
			target = max(target, n.Consensus().Status().CommitIndex)
		}
	}
	for {
		n := sc.nw.Node(i)
		if n != nil && n.Consensus().Status().AppliedIndex >= target {
			return time.Since(since)
		}
		if err := pause(sc.ctx, 10*time.Millisecond); err != nil {
			sc.t.Fatalf("%s did not catch up to index %d: %v", sc.nw.NodeID(i), target, err)
		}
	}
}

// waitLeaderOther polls until a running node other than old is the leader
// and returns its slot.
func (sc *scenario) waitLeaderOther(old int) int {
	sc.t.Helper()
	for {
		for _, i := range sc.nw.Running() {
			if i == old {
				continue
			}
			if n := sc.nw.Node(i); n != nil && n.Consensus().IsLeader() {
				return i
			}
		}
		if err := pause(sc.ctx, 10*time.Millisecond); err != nil {
			sc.t.Fatalf("no new leader besides %s: %v", sc.nw.NodeID(old), err)
		}
	}
}

// loadRunning is a load run in the background, stopped by stop.
type loadRunning struct {
	cancel context.CancelFunc
	done   chan struct{}
	res    *LoadResult
	err    error
}

// startLoad runs RunLoad(opts) until stop (opts.Duration is only a cap).
func (sc *scenario) startLoad(opts LoadOptions) *loadRunning {
	ctx, cancel := context.WithCancel(sc.ctx)
	lr := &loadRunning{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(lr.done)
		lr.res, lr.err = RunLoad(ctx, opts)
	}()
	return lr
}

// stop ends the load and records its counters.
func (sc *scenario) stop(lr *loadRunning) *LoadResult {
	sc.t.Helper()
	lr.cancel()
	<-lr.done
	if lr.err != nil && !errors.Is(lr.err, context.Canceled) {
		sc.t.Fatalf("load: %v", lr.err)
	}
	res := lr.res
	if res == nil {
		sc.t.Fatal("load returned no result")
	}
	sc.fig.Calls += res.Calls
	sc.fig.Completed += res.Completed
	sc.fig.FailedAttempts += res.FailedAttempts
	sc.fig.CallErrors += res.CallErrors
	if res.Completed == 0 || len(res.Confirmed) == 0 {
		sc.t.Fatalf("no call completed: %+v", res)
	}
	if res.TokenFailures != 0 {
		sc.t.Fatalf("%d token failures: %v", res.TokenFailures, res.TokenFailuresByCheck)
	}
	return res
}

// finish converges nw, checks the books and exactly-once presence of
// confirmed on every running node, records the figures and writes them.
func (sc *scenario) finish(nw *Network, confirmed []ConfirmedUsage) {
	sc.t.Helper()
	t0 := time.Now()
	if _, err := nw.WaitConverged(sc.ctx); err != nil {
		sc.t.Fatal(err)
	}
	sc.fig.ConvergeMs = ms(time.Since(t0))
	if err := nw.AssertBooksBalance(); err != nil {
		sc.t.Fatal(err)
	}
	lost, dup, err := countLost(nw, confirmed)
	if err != nil {
		sc.t.Fatal(err)
	}
	sc.fig.Confirmed += len(confirmed)
	sc.fig.Lost = max(sc.fig.Lost, lost)
	sc.fig.Duplicated = max(sc.fig.Duplicated, dup)
	sc.fig.ElapsedMs = ms(time.Since(sc.start))
	writeFigures(sc.t, sc.fig)
	if err := nw.VerifyExactlyOnce(confirmed); err != nil {
		sc.t.Fatal(err)
	}
	if lost != 0 || dup != 0 {
		sc.t.Fatalf("%d confirmed usages lost, %d duplicated", lost, dup)
	}
}

// countLost returns, over the running nodes, the largest number of
// confirmed usages a node lacks and the largest number it holds twice.
func countLost(nw *Network, confirmed []ConfirmedUsage) (lost, dup int, err error) {
	for _, n := range nw.Nodes() {
		counts, err := UsageCounts(n.Store())
		if err != nil {
			return 0, 0, err
		}
		var l, d int
		for _, c := range confirmed {
			switch counts[UsageKey{c.TransactionID, c.Role, c.ComponentID}] {
			case 0:
				l++
			case 1:
			default:
				d++
			}
		}
		lost, dup = max(lost, l), max(dup, d)
	}
	return lost, dup, nil
}

func (f *Figures) String() string {
	return fmt.Sprintf("%s: calls %d, faults %d, confirmed %d, lost %d, recovery %v ms, catch-up %v ms, converge %.0f ms",
		f.Scenario, f.Calls, len(f.Faults), f.Confirmed, f.Lost, f.WriteRecoveryMs, f.CatchUpMs, f.ConvergeMs)
}
