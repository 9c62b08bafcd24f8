package consensus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSingleNodeRestartNoDoubleApply(t *testing.T) {
	c := newTestCluster(t, nil)
	a := c.start("a", true)
	c.waitLeader()
	ctx := ctxT(t, 30*time.Second)

	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := a.n.Propose(ctx, fmt.Appendf(nil, "cmd-%d", i))
			if err == nil && !strings.HasPrefix(string(res), "ok:") {
				err = fmt.Errorf("result %q", res)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// A business rejection comes back as a result, not an error.
	if res, err := a.n.Propose(ctx, []byte("reject:x")); err != nil || string(res) != "rejected" {
		t.Fatalf("reject: %q, %v", res, err)
	}
	before := a.sm.view()
	if before.keys != n || before.dups != 0 {
		t.Fatalf("before restart: %+v", before)
	}
	st := a.n.Stats()
	if st.Commands != n+1 || st.BatchSizeSum != st.Commands || st.Entries == 0 || st.Entries > st.Commands {
		t.Fatalf("stats: %+v", st)
	}

	c.stop("a")
	a = c.start("a", true) // Bootstrap is ignored on existing state
	c.waitLeader()
	if err := a.n.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	after := a.sm.view()
	if after != before {
		t.Fatalf("after restart %+v, want %+v", after, before)
	}
	if calls := a.sm.calls.Load(); calls != 0 {
		t.Fatalf("replay applied %d entries again", calls)
	}
	if _, err := a.n.Propose(ctx, []byte("after-restart")); err != nil {
		t.Fatal(err)
	}
	if v := a.sm.view(); v.keys != n+1 || v.dups != 0 {
		t.Fatalf("after new write: %+v", v)
	}
}

func TestFollowerForwardingAndBarrier(t *testing.T) {
	c := newTestCluster(t, nil)
	c.boot("a", "b", "c")
	ctx := ctxT(t, 60*time.Second)

	// A write proposed on a follower is forwarded and answered. On a busy
	// machine leadership can move while it commits (the tests' lease is
	// 100 ms); the write then goes again on whichever node follows now, until
	// one was answered through forwarding.
	c.eventually(30*time.Second, "a write forwarded by a follower", func() error {
		l, f, err := c.leaderAndFollower()
		if err != nil {
			return err
		}
		before := f.n.Stats().ForwardedOut
		res := c.proposeAcked(ctx, f, []byte("via-follower"))
		if res != nil && !strings.HasPrefix(string(res), "ok:") {
			t.Fatalf("forwarded propose: %q", res)
		}
		if f.n.Stats().ForwardedOut == before {
			return fmt.Errorf("%s did not forward (leader was %s)", f.id, l.id)
		}
		return nil
	})
	var in uint64
	for _, tn := range c.running() {
		c.barrier(ctx, tn)
		if !tn.sm.has("via-follower") {
			t.Fatalf("%s does not hold the forwarded write", tn.id)
		}
		in += tn.n.Stats().ForwardedIn
	}
	if in == 0 {
		t.Fatal("no node counted a forwarded command in")
	}

	// Barrier on a follower sees every write acknowledged before it, whoever
	// leads by then.
	for i := range 20 {
		key := fmt.Sprintf("leader-%d", i)
		var l, f *testNode
		c.eventually(20*time.Second, "a leader and a follower", func() (err error) {
			l, f, err = c.leaderAndFollower()
			return err
		})
		c.proposeAcked(ctx, l, []byte(key))
		c.barrier(ctx, f)
		if !f.sm.has(key) {
			t.Fatalf("after Barrier the follower %s lacks %s", f.id, key)
		}
	}

	c.eventually(20*time.Second, "a follower's status names the leader", func() error {
		l, f, err := c.leaderAndFollower()
		if err != nil {
			return err
		}
		st := f.n.Status()
		if st.LeaderID != l.id || st.LeaderAddr != l.addr || st.State != "Follower" || len(st.Members) != 3 || st.Term == 0 {
			return fmt.Errorf("status of %s (leader %s): %+v", f.id, l.id, st)
		}
		return nil
	})
	if v := c.converged(20 * time.Second); v.dups != 0 {
		t.Fatalf("a command applied twice: %+v", v)
	}
}

func TestMembershipAndLeadershipTransfer(t *testing.T) {
	c := newTestCluster(t, nil)
	c.boot("a", "b", "c")
	l := c.waitLeader()
	ctx := ctxT(t, 30*time.Second)

	var target, other *testNode
	for _, tn := range c.running() {
		if tn.id != l.id {
			if target == nil {
				target = tn
			} else {
				other = tn
			}
		}
	}
	// Issued on a follower: forwarded to the leader.
	if err := other.n.TransferLeadership(ctx, target.id); err != nil {
		t.Fatal(err)
	}
	c.waitLeader(target.id)
	if err := l.n.TransferLeadership(ctx, "nobody"); err == nil {
		t.Fatal("transfer to an unknown server succeeded")
	}

	// Join of an existing member with its address is a no-op.
	if err := l.n.Join(ctx, other.id, other.addr); err != nil {
		t.Fatal(err)
	}
	// Remove from a follower, forwarded.
	if err := l.n.Remove(ctx, other.id); err != nil {
		t.Fatal(err)
	}
	c.eventually(10*time.Second, "two members", func() error {
		if m := c.node(target.id).n.Status().Members; len(m) != 2 {
			return fmt.Errorf("members %v", m)
		}
		return nil
	})
	c.stop(other.id)
	c.proposeAcked(ctx, c.node(l.id), []byte("two-node"))
	if err := l.n.Join(ctx, "", ""); err == nil {
		t.Fatal("join without id succeeded")
	}
}

func TestClosedNode(t *testing.T) {
	c := newTestCluster(t, nil)
	a := c.start("a", true)
	c.waitLeader()
	c.stop("a")
	ctx := ctxT(t, 5*time.Second)
	if _, err := a.n.Propose(ctx, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("propose after close: %v", err)
	}
	if err := a.n.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := a.n.WaitForLeader(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitForLeader after close: %v", err)
	}
}

func TestOpenValidation(t *testing.T) {
	sm, err := openKV(t.TempDir() + "/s.db")
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	for _, cfg := range []Config{
		{Dir: t.TempDir(), BindAddr: "127.0.0.1:0"},
		{NodeID: "a", BindAddr: "127.0.0.1:0"},
		{NodeID: "a", Dir: t.TempDir()},
		{NodeID: "a", Dir: t.TempDir(), BindAddr: "127.0.0.1:0", HeartbeatTimeout: time.Millisecond},
	} {
		if n, err := Open(cfg, sm); err == nil {
			n.Close()
			t.Errorf("Open(%+v) succeeded", cfg)
		}
	}
	if _, err := Open(Config{NodeID: "a", Dir: t.TempDir(), BindAddr: "127.0.0.1:0"}, nil); err == nil {
		t.Error("nil state machine accepted")
	}
	_ = context.Background
}
