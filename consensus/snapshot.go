package consensus

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/hashicorp/raft"
)

// LogInfo describes the local Raft log: the first and last index it holds
// and the index of the latest snapshot. A node that caught up by
// InstallSnapshot has SnapshotIndex > 0 and FirstIndex past the entries it
// never received; a fresh log has FirstIndex 0.
type LogInfo struct {
	FirstIndex    uint64
	LastIndex     uint64
	SnapshotIndex uint64
}

// Snapshot forces a snapshot of the state machine now (raft's user
// snapshot) and compacts the log down to Config.TrailingLogs entries behind
// it, instead of waiting for SnapshotThreshold and SnapshotInterval. A
// follower that lacks the compacted entries is then brought up to date by
// InstallSnapshot. Nothing new since the last snapshot is not an error.
// Safe for concurrent use; errors wrap ErrClosed after Close.
func (n *Node) Snapshot() error {
	err := n.raft.Snapshot().Error()
	switch {
	case err == nil, errors.Is(err, raft.ErrNothingNewToSnapshot):
		return nil
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	default:
		return fmt.Errorf("consensus: snapshot: %w", err)
	}
}

// LogInfo reports the local log bounds and the latest snapshot index.
// Safe for concurrent use.
func (n *Node) LogInfo() (LogInfo, error) {
	first, err := n.store.FirstIndex()
	if err != nil {
		return LogInfo{}, fmt.Errorf("consensus: log info: %w", err)
	}
	last, err := n.store.LastIndex()
	if err != nil {
		return LogInfo{}, fmt.Errorf("consensus: log info: %w", err)
	}
	snap, _ := strconv.ParseUint(n.raft.Stats()["last_snapshot_index"], 10, 64)
	return LogInfo{FirstIndex: first, LastIndex: last, SnapshotIndex: snap}, nil
}
