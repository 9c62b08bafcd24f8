package testnet

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node"
)

// TestLoadWithLeaderKilledMidRun: the load generator runs against all
// three nodes (with the toolkit's failover) while the leader is killed;
// after the killed node restarts every usage the generator saw confirmed
// is on every node exactly once, and the books balance.
func TestLoadWithLeaderKilledMidRun(t *testing.T) {
	ctx := ctxFor(t, 180*time.Second)
	nw := NewTestNetwork(t, NetworkSpec{Name: "LOAD", Nodes: 3}, testOpts())
	dur := 4 * time.Second
	if testing.Short() {
		dur = 2 * time.Second
	}
	opts := nw.LoadOptions(LoadOptions{Duration: dur, Concurrency: 8, Seed: 7, FailRatio: 0.1})

	type out struct {
		res *LoadResult
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := RunLoad(ctx, opts)
		done <- out{res, err}
	}()
	// Kill the leader once some usage is on the books.
	l := nw.LeaderIndex()
	ln := nw.Node(l)
	for {
		st, err := ln.Store().Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.UsageRecords >= 20 {
			break
		}
		if err := pause(ctx, 10*time.Millisecond); err != nil {
			t.Fatalf("no usage recorded before the deadline: %v", err)
		}
	}
	if err := nw.Kill(l); err != nil {
		t.Fatal(err)
	}
	if _, err := nw.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	res := o.res
	t.Logf("calls %d completed %d failed attempts %d errors %d confirmed usages %d",
		res.Calls, res.Completed, res.FailedAttempts, res.CallErrors, len(res.Confirmed))
	if res.Completed == 0 || len(res.Confirmed) == 0 {
		t.Fatal("no call completed")
	}
	if res.TokenFailures != 0 {
		t.Fatalf("%d token failures: %v", res.TokenFailures, res.TokenFailuresByCheck)
	}
	if err := nw.Restart(ctx, l); err != nil {
		t.Fatal(err)
	}
	mustConverge(t, ctx, nw)
	if err := nw.VerifyExactlyOnce(res.Confirmed); err != nil {
		t.Fatal(err)
	}
	// The admin-API-free UsageLedger view agrees.
	if err := VerifyUsages(nw, 4)(ctx, res.Confirmed[:min(50, len(res.Confirmed))]); err != nil {
		t.Fatal(err)
	}
}

// TestDurabilityLeaderKilled is the replicated-ledger durability check:
// RecordUsage commands (unmatched usage, idempotency key Reporter +
// ReporterKey) are proposed concurrently through all three nodes; the
// leader is killed in the middle. A command that fails with
// node.ErrUnavailable is retried (same key) through another node until it
// is acknowledged. Afterwards every acknowledged command is on every node
// exactly once and the digests are equal.
func TestDurabilityLeaderKilled(t *testing.T) {
	total := 20000
	if testing.Short() {
		total = 3000
	}
	if v := os.Getenv("TESTNET_DURABILITY_COMMANDS"); v != "" { // full-size run under -race
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 {
			t.Fatalf("TESTNET_DURABILITY_COMMANDS=%q", v)
		}
		total = n
	}
	ctx := ctxFor(t, 300*time.Second)
	nw := NewTestNetwork(t, NetworkSpec{Name: "DUR", Nodes: 3}, testOpts())
	nodes := nw.Nodes()
	const workers = 96
	var (
		next   atomic.Int64
		acked  atomic.Int64
		dups   atomic.Int64
		failMu sync.Mutex
		fail   error
		wg     sync.WaitGroup
	)
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	killAt := int64(total / 2)
	killed := make(chan int, 1)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(total) {
					return
				}
				if i == killAt {
					l := nw.LeaderIndex()
					if l >= 0 && nw.Kill(l) == nil {
						killed <- l
					}
				}
				cmd := ledger.RecordUsage{At: at, Role: ledger.RoleSource, Reporter: ledger.MemberAccount(CarrierA),
					ReporterKey: fmt.Sprintf("dur-%d", i), Calling: "14048724799", Called: "33145551234",
					CallID: fmt.Sprintf("call-%d", i), DurationMillis: 30000, End: at}
				for attempt := 0; ; attempt++ {
					n := nodes[(w+attempt)%len(nodes)]
					res, err := n.Propose(ctx, cmd)
					if err == nil {
						if res.Code == ledger.Duplicate {
							dups.Add(1)
						} else if res.Err() != nil {
							failMu.Lock()
							fail = errors.Join(fail, fmt.Errorf("command %d: %w", i, res.Err()))
							failMu.Unlock()
							return
						}
						acked.Add(1)
						break
					}
					if !errors.Is(err, node.ErrUnavailable) || ctx.Err() != nil {
						failMu.Lock()
						fail = errors.Join(fail, fmt.Errorf("command %d: %w", i, err))
						failMu.Unlock()
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if fail != nil {
		t.Fatal(fail)
	}
	var l int
	select {
	case l = <-killed:
	default:
		t.Fatal("the leader was not killed")
	}
	t.Logf("%d commands acknowledged (%d answered as duplicates of a retried commit)", acked.Load(), dups.Load())
	if err := nw.Restart(ctx, l); err != nil {
		t.Fatal(err)
	}
	mustConverge(t, ctx, nw)
	for _, n := range nw.Nodes() {
		counts, err := UsageCounts(n.Store())
		if err != nil {
			t.Fatal(err)
		}
		for i := range total {
			k := UsageKey{Role: "reporter", ComponentID: ledger.MemberAccount(CarrierA) + "/" + fmt.Sprintf("dur-%d", i)}
			if counts[k] != 1 {
				t.Fatalf("%s: command %d present %d times", n.ID(), i, counts[k])
			}
		}
		if len(counts) != total {
			t.Fatalf("%s: %d usage keys, want %d", n.ID(), len(counts), total)
		}
	}
}
