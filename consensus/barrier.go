package consensus

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Barrier is a read barrier for linearizable reads: when it returns nil, the
// local StateMachine reflects every write committed before the call. The
// leader commits a no-op entry (shared by concurrent callers) to prove it
// still leads and to apply everything before it; a follower asks the leader
// for the resulting index and waits until it has applied that far.
// Errors: ErrNoQuorum, ErrTimeout, ErrClosed.
func (n *Node) Barrier(ctx context.Context) error {
	ctx, cancel := n.opContext(ctx)
	defer cancel()
	// A barrier has no effect of its own, so a leader that lost its
	// leadership or quorum during the round is just a leader change: retry.
	return n.untilLeader(ctx, idempotent, func(leaderID, leaderAddr string) error {
		if leaderID == n.id {
			_, err := n.leaderBarrier(ctx)
			return err
		}
		var body wbuf
		body.uvarint(uint64(remaining(ctx, n.cfg.ApplyTimeout)))
		out, err := n.rpcc.call(ctx, leaderAddr, rpcReadIndex, body)
		if err != nil {
			return err
		}
		r := rbuf{b: out}
		idx := r.uvarint()
		if r.err != nil {
			return fmt.Errorf("%w: bad read-index response from %s", ErrNoQuorum, leaderAddr)
		}
		return n.waitApplied(ctx, idx)
	})
}

// barrierRound is one raft.Barrier shared by every caller that arrived
// before it started.
type barrierRound struct {
	done  chan struct{}
	index uint64
	err   error
}

// leaderBarrier runs (or joins) a raft.Barrier and returns the state
// machine's applied index after it.
func (n *Node) leaderBarrier(ctx context.Context) (uint64, error) {
	n.barrierMu.Lock()
	r := n.barrierNext
	if r == nil {
		r = &barrierRound{done: make(chan struct{})}
		n.barrierNext = r
	}
	if !n.barrierRunning {
		n.barrierRunning = true
		go n.runBarriers()
	}
	n.barrierMu.Unlock()
	select {
	case <-r.done:
		return r.index, r.err
	case <-ctx.Done():
		return 0, ctxErr(ctx)
	case <-n.closing:
		return 0, ErrClosed
	}
}

func (n *Node) runBarriers() {
	for {
		n.barrierMu.Lock()
		r := n.barrierNext
		n.barrierNext = nil
		if r == nil {
			n.barrierRunning = false
			n.barrierMu.Unlock()
			return
		}
		n.barrierMu.Unlock()
		if err := n.raft.Barrier(n.cfg.ApplyTimeout).Error(); err != nil {
			r.err = mapRaftErr(err)
		} else {
			// The state machine's index, not raft's: after the barrier
			// it holds every command before it, and it is the index a
			// follower's state machine reaches (raft's also counts
			// barrier and configuration entries, which the state machine
			// never sees).
			r.index = n.sm.AppliedIndex()
		}
		close(r.done)
	}
}

// WaitApplied waits until this node's state machine has applied the
// command entry at index, for a read that needs the effects of one known
// entry (the authorisation of a call whose usage reached another node)
// without a full Barrier: no leader round trip and no barrier entry, only
// the local apply of what the leader already committed. It returns at once
// when index is already applied.
//
// It watches the StateMachine's AppliedIndex, not raft's: raft v1.7.3
// advances its applied index when it hands entries to the FSM goroutine,
// before the FSM has applied them, so a read right after raft's index
// reached the entry could still miss its effects (a usage recorded unrated
// because its call's authorisation was not found yet). The state machine
// counts command entries only, so index must be one.
//
// An index this node's log cannot reach soon (more than MaxWaitAhead past
// its commit index: not an entry of this cluster) fails at once with
// ErrNotApplied; otherwise it waits until ctx ends (ErrTimeout) or the node
// closes (ErrClosed).
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	if n.sm.AppliedIndex() >= index {
		return nil
	}
	if index > n.raft.CommitIndex()+MaxWaitAhead {
		return fmt.Errorf("%w: index %d is past commit index %d", ErrNotApplied, index, n.raft.CommitIndex())
	}
	if err := n.waitApplied(ctx, index); err != nil {
		return fmt.Errorf("consensus: waiting for index %d: %w", index, err)
	}
	return nil
}

// MaxWaitAhead bounds how far past its commit index WaitApplied waits for.
const MaxWaitAhead = 1 << 16

// ErrNotApplied: WaitApplied was asked for an index that is not an entry
// this node will apply soon.
var ErrNotApplied = errors.New("consensus: index not applied")

// waitApplied polls the state machine's applied index until it reaches idx.
func (n *Node) waitApplied(ctx context.Context, idx uint64) error {
	backoff := 100 * time.Microsecond
	for n.sm.AppliedIndex() < idx {
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctxErr(ctx)
		case <-n.closing:
			t.Stop()
			return ErrClosed
		}
		backoff = min(2*backoff, 5*time.Millisecond)
	}
	return nil
}
