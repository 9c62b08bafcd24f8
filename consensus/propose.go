package consensus

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

// Propose replicates cmd and returns the StateMachine's result for it. On the
// leader it goes through group commit; on a follower it is forwarded (and
// batched) to the leader. Success means the command committed and was applied
// on the leader. Failures that guarantee nothing was appended (no leader yet,
// leader moved) are retried until Config.LeaderWait; after that, ErrNoQuorum.
// After ErrTimeout, ErrNoQuorum or ErrClosed the command may still commit:
// callers make retries harmless with idempotency keys inside the command.
// Propose retains cmd (it may still be encoded or sent after an error
// return): the caller must not modify it afterwards.
func (n *Node) Propose(ctx context.Context, cmd []byte) ([]byte, error) {
	res, err := n.propose(ctx, [][]byte{cmd}, false)
	if err != nil {
		n.proposeErrors.Add(1)
		return nil, err
	}
	return res[0], nil
}

// propose submits cmds as one unit. leaderOnly is set for requests forwarded
// by a follower: this node must not forward them again.
func (n *Node) propose(ctx context.Context, cmds [][]byte, leaderOnly bool) ([][]byte, error) {
	if h := n.Halted(); h != nil {
		// A halted node's state is stale: it proposes nothing, and a
		// follower forwarding to it retries once leadership has moved.
		if leaderOnly {
			return nil, fmt.Errorf("%w: %w", errNotAppended, h)
		}
		return nil, h
	}
	ctx, cancel := n.opContext(ctx)
	defer cancel()
	if leaderOnly {
		if n.isClosing() {
			return nil, ErrClosed
		}
		if !n.IsLeader() {
			return nil, fmt.Errorf("%w: %w", ErrNotLeader, errNotAppended)
		}
		return n.await(ctx, n.leaderB, newProposal(cmds))
	}
	var res [][]byte
	err := n.untilLeader(ctx, notAppended, func(leaderID, _ string) error {
		b := n.forwardB // forward re-checks the leader and refuses if it moved
		if leaderID == n.id && n.IsLeader() {
			b = n.leaderB
		}
		var err error
		res, err = n.await(ctx, b, newProposal(cmds))
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// await queues p on b and waits for its outcome.
func (n *Node) await(ctx context.Context, b *batcher, p *proposal) ([][]byte, error) {
	if !b.enqueue(p) {
		return nil, ErrClosed
	}
	select {
	case r := <-p.done:
		return r.results, r.err
	case <-ctx.Done():
		if p.cancel() {
			return nil, fmt.Errorf("%w: never submitted", ctxErr(ctx))
		}
		return nil, fmt.Errorf("%w: outcome unknown, the command may still commit", ctxErr(ctx))
	case <-n.closing:
		if p.cancel() {
			return nil, ErrClosed
		}
		// Submitted: wait for raft's shutdown to fail (or commit) it.
		select {
		case r := <-p.done:
			return r.results, r.err
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: outcome unknown, the command may still commit", ctxErr(ctx))
		}
	}
}

// submitEntry is the leader batcher's submit: one raft log entry per batch.
func (n *Node) submitEntry(batch []*proposal, count int) {
	var cmds [][]byte
	if len(batch) == 1 {
		cmds = batch[0].cmds
	} else {
		cmds = make([][]byte, 0, count)
		for _, p := range batch {
			cmds = append(cmds, p.cmds...)
		}
	}
	n.entries.Add(1)
	n.commands.Add(uint64(count))
	n.hist.observe(count)
	n.entryWG.Add(1)
	// raft.Apply blocks until raft's main loop takes the entry (applyCh is
	// unbuffered, see Open), so it runs here rather than in the batcher loop;
	// entries from concurrent proposers have no order to keep.
	go func() {
		defer n.entryWG.Done()
		f := n.raft.Apply(encodeBatch(cmds), n.cfg.ApplyTimeout)
		err := n.waitEntry(f)
		var res applyResult
		if err == nil {
			res, _ = f.Response().(applyResult)
			switch {
			case res.err != nil:
				err = res.err
			case res.skipped || len(res.results) != count:
				err = fmt.Errorf("consensus: entry %d produced no results for its proposers", f.Index())
			}
		} else {
			err = mapRaftErr(err)
		}
		n.leaderB.complete()
		off := 0
		for _, p := range batch {
			if err != nil {
				p.finish(proposalResult{err: err})
				continue
			}
			p.finish(proposalResult{results: res.results[off : off+len(p.cmds)]})
			off += len(p.cmds)
		}
	}()
}

// waitEntry waits for an applied entry's future, or for raft to have shut
// down. raft v1.7.3 can strand a future: an entry handed to its FSM
// goroutine's queue is never answered when that goroutine exits on
// shutdown, and a log future, unlike raft's other futures, does not watch
// the shutdown channel. Close waits for every entry goroutine, so without
// this a leader closed while entries were being applied hung for ever. A
// stranded entry may have committed: ErrRaftShutdown maps to ErrClosed,
// whose contract says so. The helper goroutine of a stranded future stays
// parked (at most MaxInFlight per closed node).
func (n *Node) waitEntry(f raft.ApplyFuture) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-n.raftDown:
		select {
		case err := <-done:
			return err
		default:
			return raft.ErrRaftShutdown
		}
	}
}

// mapRaftErr translates raft's errors into this package's. Errors that
// guarantee nothing was appended wrap errNotAppended so Propose may retry.
func mapRaftErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress),
		errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %w: %w", ErrNotLeader, errNotAppended, err)
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%w: %w", ErrNoQuorum, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	default:
		return fmt.Errorf("consensus: %w", err)
	}
}

// submitForward is the follower batcher's submit: one RPC to the leader.
func (n *Node) submitForward(batch []*proposal, count int) {
	cmds := make([][]byte, 0, count)
	for _, p := range batch {
		cmds = append(cmds, p.cmds...)
	}
	n.forwardedOut.Add(uint64(count))
	n.entryWG.Add(1)
	go func() {
		defer n.entryWG.Done()
		results, err := n.forward(cmds)
		n.forwardB.complete()
		off := 0
		for _, p := range batch {
			if err != nil {
				p.finish(proposalResult{err: err})
				continue
			}
			p.finish(proposalResult{results: results[off : off+len(p.cmds)]})
			off += len(p.cmds)
		}
	}()
}

func (n *Node) forward(cmds [][]byte) ([][]byte, error) {
	addr, id := n.raft.LeaderWithID()
	if addr == "" || string(id) == n.id {
		// Leadership moved since the proposer looked: let it retry.
		return nil, fmt.Errorf("%w: leader changed", errNotAppended)
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
	defer cancel()
	var body wbuf
	body.uvarint(uint64(n.cfg.ApplyTimeout))
	body = appendCmds(body, cmds)
	out, err := n.rpcc.call(ctx, string(addr), rpcPropose, body)
	if err != nil {
		return nil, err
	}
	r := rbuf{b: out}
	res := r.cmds()
	if r.err != nil || len(res) != len(cmds) {
		return nil, fmt.Errorf("%w: bad forward response from %s", ErrNoQuorum, addr)
	}
	return res, nil
}
