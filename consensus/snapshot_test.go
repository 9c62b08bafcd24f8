package consensus

import (
	"fmt"
	"testing"
	"time"
)

// TestSnapshotForcesCompactionAndInstallSnapshot: the public Snapshot
// compacts the log to TrailingLogs, LogInfo shows it, and a node joining
// afterwards is caught up by InstallSnapshot (its LogInfo has a snapshot
// and starts past the compacted entries).
func TestSnapshotForcesCompactionAndInstallSnapshot(t *testing.T) {
	c := newTestCluster(t, func(cfg *Config) {
		cfg.TrailingLogs = 4
		cfg.SnapshotThreshold = 1 << 20 // only the forced snapshot
	})
	a := c.start("a", true)
	c.waitLeader()
	ctx := ctxT(t, 60*time.Second)
	before, err := a.n.LogInfo()
	if err != nil {
		t.Fatal(err)
	}
	if before.SnapshotIndex != 0 {
		t.Fatalf("fresh node has a snapshot: %+v", before)
	}
	for i := range 30 {
		if _, err := a.n.Propose(ctx, fmt.Appendf(nil, "k-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if err := a.n.Snapshot(); err != nil { // nothing new: not an error
		t.Fatalf("second snapshot: %v", err)
	}
	li, err := a.n.LogInfo()
	if err != nil {
		t.Fatal(err)
	}
	if li.SnapshotIndex < 30 || li.FirstIndex <= 1 || li.LastIndex < li.SnapshotIndex {
		t.Fatalf("after Snapshot: %+v", li)
	}
	b := c.start("b", false)
	if err := b.n.JoinCluster(ctx, a.addr); err != nil {
		t.Fatal(err)
	}
	c.converged(30 * time.Second)
	// raft records the installed snapshot's index just after the state
	// machine's Restore returns, so the digests can converge a moment
	// before LogInfo shows it: poll.
	c.eventually(10*time.Second, "joiner installs the snapshot", func() error {
		bi, err := b.n.LogInfo()
		if err != nil {
			return err
		}
		if bi.SnapshotIndex < li.SnapshotIndex || b.sm.restores.Load() == 0 {
			return fmt.Errorf("joiner did not install the snapshot: %+v, %d restores (leader %+v)", bi, b.sm.restores.Load(), li)
		}
		return nil
	})
	c.closeAll()
	if err := a.n.Snapshot(); err == nil {
		t.Fatal("Snapshot after Close succeeded")
	}
}
