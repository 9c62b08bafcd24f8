package consensus

import (
	"sync"

	"github.com/hashicorp/raft"
)

// commitClampTransport corrects a follower-side safety bug of hashicorp/raft
// v1.7.3 on the receiving end of every AppendEntries request.
//
// raft.go's appendEntries sets a follower's commit index to
// min(LeaderCommitIndex, the follower's last log index). The Raft paper says
// min(LeaderCommitIndex, index of the last new entry): only entries the
// request proved to match the leader's log may be committed. The difference
// matters when the follower's log has a stale tail from an old term beyond
// what the request carried. Seen in TestPartitionedMinorityRefusesWrites
// (about 1 run in 90 on a loaded machine): leader a, isolated, appends
// "minority-leader" at index 7 (term 2) and never commits it; c becomes leader
// in term 3 and commits its own 7 and 8 without a; on healing, c's
// replicateTo loop, still bounded by the lastIndex it captured before its
// term's first entry (6), backs nextIndex off after a rejection and sends
// prev=5, entries=[6], LeaderCommitIndex=8. Index 6 matches, nothing is
// truncated, and a commits min(8, 7) = 7: it applies its own stale entry,
// which the next request then truncates from the log but not from the state
// machine. The ledger would diverge on that node for good.
//
// Clamping LeaderCommitIndex to the last index the request covers makes the
// library's rule the paper's rule. It costs nothing in liveness: the leader's
// next request (at most CommitTimeout later) starts where this one ended and
// carries the commit index forward. Upgrading hashicorp/raft is not an option
// today (v1.8.0 breaks the raft-boltdb/v2 build; see go.mod).
type commitClampTransport struct {
	*raft.NetworkTransport // everything else, including the WithPreVote and WithClose markers

	consumeCh chan raft.RPC
	stop      chan struct{}
	stopOnce  sync.Once
}

func newCommitClampTransport(inner *raft.NetworkTransport) *commitClampTransport {
	t := &commitClampTransport{
		NetworkTransport: inner,
		consumeCh:        make(chan raft.RPC),
		stop:             make(chan struct{}),
	}
	go t.forward()
	return t
}

// forward hands every RPC the inner transport decoded to raft, clamped.
// Unbuffered like the inner channel, so raft's pace still throttles readers.
func (t *commitClampTransport) forward() {
	in := t.NetworkTransport.Consumer()
	for {
		select {
		case rpc := <-in:
			clampRPC(rpc)
			select {
			case t.consumeCh <- rpc:
			case <-t.stop:
				return
			}
		case <-t.stop:
			return
		}
	}
}

// Consumer implements raft.Transport.
func (t *commitClampTransport) Consumer() <-chan raft.RPC { return t.consumeCh }

// SetHeartbeatHandler implements raft.Transport. Heartbeats carry no commit
// index today; clamping them too keeps the rule true whatever raft sends.
func (t *commitClampTransport) SetHeartbeatHandler(cb func(rpc raft.RPC)) {
	if cb == nil {
		t.NetworkTransport.SetHeartbeatHandler(nil)
		return
	}
	t.NetworkTransport.SetHeartbeatHandler(func(rpc raft.RPC) {
		clampRPC(rpc)
		cb(rpc)
	})
}

// Close implements raft.WithClose: it stops forwarding and closes the inner
// transport. Idempotent.
func (t *commitClampTransport) Close() error {
	t.stopOnce.Do(func() { close(t.stop) })
	return t.NetworkTransport.Close()
}

func clampRPC(rpc raft.RPC) {
	if req, ok := rpc.Command.(*raft.AppendEntriesRequest); ok {
		clampLeaderCommit(req)
	}
}

// clampLeaderCommit lowers req.LeaderCommitIndex to the last log index the
// request itself covers: its last entry, or PrevLogEntry when it carries none.
func clampLeaderCommit(req *raft.AppendEntriesRequest) {
	covered := req.PrevLogEntry
	if n := len(req.Entries); n > 0 && req.Entries[n-1] != nil {
		covered = req.Entries[n-1].Index
	}
	if req.LeaderCommitIndex > covered {
		req.LeaderCommitIndex = covered
	}
}
