package consensus

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// gatedSM is a memSM whose ApplyBatch waits for gate to be closed.
type gatedSM struct {
	*memSM
	gate chan struct{}
}

func (g *gatedSM) ApplyBatch(index uint64, cmds [][]byte) [][]byte {
	<-g.gate
	return g.memSM.ApplyBatch(index, cmds)
}

// TestWaitAppliedWaitsForTheStateMachine: raft counts an entry as applied
// once it has handed it to the FSM goroutine; WaitApplied must wait for
// the state machine itself (a read after it must see the entry's effects).
func TestWaitAppliedWaitsForTheStateMachine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sm := &gatedSM{memSM: newMemSM(), gate: make(chan struct{})}
	n, err := Open(Config{NodeID: "a", Dir: filepath.Join(t.TempDir(), "raft"), Listener: ln, Bootstrap: true,
		Logger: testLogger(t), HeartbeatTimeout: tHeartbeat, ElectionTimeout: tElection,
		LeaderLeaseTimeout: tLease, CommitTimeout: tCommit, ApplyTimeout: 10 * time.Second}, sm)
	if err != nil {
		t.Fatal(err)
	}
	opened := true
	defer func() {
		if opened {
			close(sm.gate)
		}
		n.Close()
	}()
	ctx := ctxT(t, 20*time.Second)
	if err := n.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	// The leader's own entries (configuration, no-op) never reach the
	// state machine: wait for raft to have applied them.
	deadline := time.Now().Add(10 * time.Second)
	for n.raft.AppliedIndex() < n.raft.LastIndex() {
		if time.Now().After(deadline) {
			t.Fatal("raft never applied its own entries")
		}
		time.Sleep(time.Millisecond)
	}
	base := n.raft.AppliedIndex()
	done := make(chan error, 1)
	go func() {
		_, err := n.Propose(ctx, []byte("x"))
		done <- err
	}()
	// Raft hands the command's entry to the (blocked) FSM goroutine and
	// counts it applied.
	for n.raft.AppliedIndex() <= base {
		if time.Now().After(deadline) {
			t.Fatal("raft never dispatched the entry")
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
	idx := n.raft.AppliedIndex()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := n.WaitApplied(short, idx); !errors.Is(err, ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitApplied(%d) with the state machine at %d: %v, want a timeout", idx, sm.AppliedIndex(), err)
	}
	close(sm.gate)
	opened = false
	if err := n.WaitApplied(ctx, idx); err != nil {
		t.Fatal(err)
	}
	if sm.AppliedIndex() < idx {
		t.Fatalf("WaitApplied returned with the state machine at %d < %d", sm.AppliedIndex(), idx)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
