package consensus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPartitionedMinorityRefusesWrites(t *testing.T) {
	c := newTestCluster(t, nil)
	c.boot("a", "b", "c")
	l := c.waitLeader()
	var f *testNode
	for _, tn := range c.running() {
		if tn.id != l.id {
			f = tn
			break
		}
	}
	ctx := ctxT(t, 60*time.Second)
	bound := 3*tElection + 5*time.Second // LeaderWait plus slack for a loaded machine

	// An isolated follower refuses writes within a bounded time.
	c.isolate(f.id, true)
	start := time.Now()
	_, err := f.n.Propose(ctx, []byte("minority-follower"))
	if !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("isolated follower: err = %v, want ErrNoQuorum", err)
	}
	if d := time.Since(start); d > bound {
		t.Fatalf("isolated follower took %v to refuse", d)
	}
	if err := f.n.Barrier(ctx); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("isolated follower Barrier: %v", err)
	}
	// The majority carries on.
	c.proposeAcked(ctx, l, []byte("majority-1"))
	// After healing, the follower accepts writes again.
	c.isolate(f.id, false)
	c.eventually(20*time.Second, "healed follower accepts writes", func() error {
		_, err := f.n.Propose(ctx, []byte(fmt.Sprintf("healed-%d", time.Now().UnixNano())))
		return err
	})

	// An isolated leader steps down and refuses writes too.
	l = c.waitLeader()
	c.isolate(l.id, true)
	t.Logf("%s: leader %s isolated", time.Now().UTC().Format("15:04:05.000"), l.id)
	start = time.Now()
	_, err = l.n.Propose(ctx, []byte("minority-leader"))
	t.Logf("%s: minority-leader answered %v", time.Now().UTC().Format("15:04:05.000"), err)
	if !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("isolated leader: err = %v, want ErrNoQuorum", err)
	}
	if d := time.Since(start); d > bound {
		t.Fatalf("isolated leader took %v to refuse", d)
	}
	var others []string
	for _, tn := range c.running() {
		if tn.id != l.id {
			others = append(others, tn.id)
		}
	}
	nl := c.waitLeader(others...)
	c.proposeAcked(ctx, nl, []byte("majority-2"))
	c.isolate(l.id, false)
	c.eventually(20*time.Second, "old leader accepts writes again", func() error {
		_, err := l.n.Propose(ctx, []byte(fmt.Sprintf("rejoined-%d", time.Now().UnixNano())))
		return err
	})
	v := c.converged(30 * time.Second)
	if v.dups != 0 {
		t.Fatalf("dups: %+v", v)
	}
	for _, tn := range c.running() {
		for _, k := range []string{"majority-1", "majority-2"} {
			if !tn.sm.has(k) {
				t.Fatalf("%s lacks %s", tn.id, k)
			}
		}
	}
}

func TestLateJoinerBySnapshotAndLostStateRestore(t *testing.T) {
	c := newTestCluster(t, func(cfg *Config) {
		cfg.TrailingLogs = 5
		cfg.SnapshotThreshold = 1 << 20 // only the forced snapshots below
	})
	a := c.start("a", true)
	c.waitLeader()
	ctx := ctxT(t, 60*time.Second)
	for i := range 60 {
		if _, err := a.n.Propose(ctx, fmt.Appendf(nil, "early-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.n.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	first, err := a.n.store.FirstIndex()
	if err != nil || first <= 1 {
		t.Fatalf("log not compacted: first index %d, %v", first, err)
	}

	// b joins after the log it would need is gone: it must get a snapshot.
	b := c.start("b", false)
	if err := b.n.JoinCluster(ctx, a.addr); err != nil {
		t.Fatal(err)
	}
	v := c.converged(30 * time.Second)
	if b.sm.restores.Load() == 0 {
		t.Fatal("late joiner caught up without a snapshot")
	}
	if v.keys != 60 || v.dups != 0 {
		t.Fatalf("after join: %+v", v)
	}
	// Writes through the new follower.
	c.proposeAcked(ctx, b, []byte("late"))
	c.converged(30 * time.Second)

	// b loses its state database; it restores its local snapshot on Open and
	// catches up from the log.
	if err := b.n.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	c.stop("b")
	if _, err := a.n.Propose(ctx, []byte("while-b-down")); err == nil {
		t.Fatal("a 2-node cluster with one node down committed a write")
	}
	if err := os.Remove(filepath.Join(b.dir, "state.db")); err != nil {
		t.Fatal(err)
	}
	b = c.start("b", false)
	if b.sm.restores.Load() == 0 {
		t.Fatal("lost state was not restored from the local snapshot")
	}
	v = c.converged(30 * time.Second)
	if v.dups != 0 || !b.sm.has("late") || !b.sm.has("early-0") {
		t.Fatalf("after lost-state restart: %+v", v)
	}
}
