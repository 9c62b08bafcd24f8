package consensus

import (
	"context"
	"errors"
)

// errUnimplemented marks the API-first commit; replaced by the implementation.
var errUnimplemented = errors.New("consensus: not implemented yet")

// Node is one member of a Raft cluster replicating a StateMachine. All methods
// are safe for concurrent use. A Node is created by Open and ends with Close.
type Node struct{}

// Open starts a node: it opens (or creates) the Raft state in cfg.Dir, starts
// listening, bootstraps a single-node cluster if cfg.Bootstrap and the
// directory is fresh, and starts serving Raft and the internal channel on
// one listener. If sm.AppliedIndex() is behind the latest local snapshot,
// the snapshot is restored into sm first; otherwise the on-disk state is kept
// and raft replays only the entries after it.
func Open(cfg Config, sm StateMachine) (*Node, error) { return nil, errUnimplemented }

// Propose replicates cmd and returns the StateMachine's result for it. On the
// leader it goes through group commit; on a follower it is forwarded (and
// batched) to the leader. Success means the command committed and was applied
// on the leader. On error see the package's error docs: the command may still
// commit after ErrTimeout, ErrNoQuorum or ErrClosed.
func (n *Node) Propose(ctx context.Context, cmd []byte) ([]byte, error) { return nil, errUnimplemented }

// Barrier is a read barrier for linearizable reads: when it returns nil, the
// local StateMachine reflects every write committed before the call. On a
// follower it asks the leader for its (verified) commit index and waits until
// it is applied locally.
func (n *Node) Barrier(ctx context.Context) error { return errUnimplemented }

// Join adds (or re-addresses) voter id at addr; a follower forwards it to the
// leader. Joining an existing member with the same address is a no-op.
func (n *Node) Join(ctx context.Context, id, addr string) error { return errUnimplemented }

// JoinCluster asks the member at seedAddr (any member; it forwards to the
// leader) to add this node as a voter, retrying transient failures until ctx
// ends. This is how `ospnode serve --join ADDR` works.
func (n *Node) JoinCluster(ctx context.Context, seedAddr string) error { return errUnimplemented }

// Remove removes server id from the cluster; a follower forwards it.
func (n *Node) Remove(ctx context.Context, id string) error { return errUnimplemented }

// TransferLeadership hands leadership to id ("" = any up-to-date voter); a
// follower forwards it to the leader.
func (n *Node) TransferLeadership(ctx context.Context, id string) error { return errUnimplemented }

// Status reports this node's view of the cluster.
func (n *Node) Status() Status { return Status{} }

// IsLeader reports whether this node is currently the leader.
func (n *Node) IsLeader() bool { return false }

// WaitForLeader blocks until some leader is known or ctx ends (ctx.Err()
// wrapped with ErrNoQuorum).
func (n *Node) WaitForLeader(ctx context.Context) error { return errUnimplemented }

// Stats returns group-commit and forwarding counters.
func (n *Node) Stats() Stats { return Stats{} }

// Close shuts the node down: pending proposals fail with ErrClosed, raft
// stops, and the listener and stores are closed. It is idempotent.
func (n *Node) Close() error { return nil }
