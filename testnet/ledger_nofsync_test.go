package testnet

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node"
)

// TestLedgerNoFsyncLeaderCrash: three nodes with node.LedgerNoFsync under
// the load generator; the leader snapshots, is killed mid-run, and its
// ledger.db is left as a power loss may leave an unsynced file (marker
// present, file torn). On restart it rebuilds the ledger from its Raft
// snapshot and log: every confirmed usage is on every node exactly once,
// the digests converge and the books balance.
func TestLedgerNoFsyncLeaderCrash(t *testing.T) {
	ctx := ctxFor(t, 180*time.Second)
	opts := testOpts()
	opts.Configure = func(c *node.Config) { c.LedgerSync = node.LedgerNoFsync }
	nw := NewTestNetwork(t, NetworkSpec{Name: "NOFSYNC", Nodes: 3}, opts)
	// The kill waits for usage counts, not a time: a run long enough to
	// reach them under -race on a loaded machine.
	dur := 8 * time.Second
	lopts := nw.LoadOptions(LoadOptions{Duration: dur, Concurrency: 8, Seed: 11})
	type out struct {
		res *LoadResult
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := RunLoad(ctx, lopts)
		done <- out{res, err}
	}()
	l := nw.LeaderIndex()
	ln := nw.Node(l)
	waitUsage := func(n uint64) {
		t.Helper()
		for {
			st, err := ln.Store().Stats()
			if err != nil {
				t.Fatal(err)
			}
			if st.UsageRecords >= n {
				return
			}
			select {
			case o := <-done:
				t.Fatalf("the load ended (%v) before %d usages were recorded", o.err, n)
			default:
			}
			if err := pause(ctx, 10*time.Millisecond); err != nil {
				t.Fatalf("fewer than %d usages before the deadline: %v", n, err)
			}
		}
	}
	waitUsage(20)
	if err := ln.Snapshot(); err != nil {
		t.Fatal(err)
	}
	waitUsage(40) // some entries only in the log after the snapshot
	if err := nw.Kill(l); err != nil {
		t.Fatal(err)
	}
	// What a power loss may leave: the marker of an unsynced run and a
	// torn file.
	path := filepath.Join(nw.DataDir(l), "ledger.db")
	if err := os.WriteFile(path+ledger.UnsyncedMarkerSuffix, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
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
	if nw.Node(l).Store().Discarded() == "" {
		t.Fatal("the torn ledger.db was trusted")
	}
	mustConverge(t, ctx, nw)
	if err := nw.VerifyExactlyOnce(res.Confirmed); err != nil {
		t.Fatal(err)
	}
}
