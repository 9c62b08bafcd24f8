package consensus

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/hashicorp/go-hclog"
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

// BackupInfo describes a snapshot streamed by Backup.
type BackupInfo struct {
	Index uint64 // the last log index the snapshot includes
	Term  uint64
	Size  int64
}

// Backup streams a consistent copy of the state machine to w: it forces a
// snapshot (raft takes it on its FSM goroutine, between two applied
// entries, so it is exactly the state after Index) and copies it; when
// nothing was applied since the latest snapshot, that snapshot is the
// state and is copied instead. The copy is the state machine's Persist
// stream (for ospnode, a ledger.db image). Safe for concurrent use.
func (n *Node) Backup(w io.Writer) (BackupInfo, error) {
	f := n.raft.Snapshot()
	var (
		meta *raft.SnapshotMeta
		rc   io.ReadCloser
		err  = f.Error()
	)
	switch {
	case err == nil:
		meta, rc, err = f.Open()
	case errors.Is(err, raft.ErrNothingNewToSnapshot):
		meta, rc, err = n.latestSnapshot()
	case errors.Is(err, raft.ErrRaftShutdown):
		return BackupInfo{}, fmt.Errorf("%w: %w", ErrClosed, err)
	}
	if err != nil {
		return BackupInfo{}, fmt.Errorf("consensus: backup: %w", err)
	}
	defer rc.Close()
	// A later snapshot may reap this one meanwhile: its file stays readable
	// through the open descriptor.
	written, err := io.Copy(w, rc)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("consensus: backup: copy: %w", err)
	}
	if written != meta.Size {
		return BackupInfo{}, fmt.Errorf("consensus: backup: copied %d bytes of a %d-byte snapshot", written, meta.Size)
	}
	return BackupInfo{Index: meta.Index, Term: meta.Term, Size: written}, nil
}

func (n *Node) latestSnapshot() (*raft.SnapshotMeta, io.ReadCloser, error) {
	list, err := n.snaps.List()
	if err != nil {
		return nil, nil, err
	}
	if len(list) == 0 {
		return nil, nil, errors.New("no snapshot: nothing was ever applied")
	}
	return n.snaps.Open(list[0].ID)
}

// SeedSnapshot prepares dir (a Config.Dir that holds no Raft state) to
// start a new one-node cluster from a backup: it stores r — a Backup
// stream of a state at index — as the only snapshot, whose configuration
// is nodeID alone at addr. Open on dir then restores it into the state
// machine (it is behind the snapshot), numbers new log entries from
// index+1 (so a state machine that skips indexes it has applied applies
// them), and elects nodeID; other nodes join as usual and receive the
// snapshot by InstallSnapshot. Bootstrap is then not needed (and ignored:
// the directory has state).
func SeedSnapshot(dir, nodeID, addr string, index uint64, r io.Reader) error {
	if nodeID == "" || addr == "" || index == 0 {
		return errors.New("consensus: seed: node ID, address and a non-zero index are required")
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("consensus: seed: %s already holds Raft state: restore into a new data directory", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("consensus: seed: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hclog.NewNullLogger())
	if err != nil {
		return fmt.Errorf("consensus: seed: %w", err)
	}
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(nodeID), Address: raft.ServerAddress(addr)}}}
	// Term 1: the new cluster's first election moves to a term of its own;
	// no log entry of the old cluster survives to compare terms with.
	// The transport only encodes the peer addresses of the legacy snapshot
	// metadata; an in-memory one encodes them as the network transport does.
	_, trans := raft.NewInmemTransport(raft.ServerAddress(addr))
	defer trans.Close()
	sink, err := snaps.Create(raft.SnapshotVersionMax, index, 1, conf, index, trans)
	if err != nil {
		return fmt.Errorf("consensus: seed: %w", err)
	}
	if _, err := io.Copy(sink, r); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("consensus: seed: copy: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("consensus: seed: %w", err)
	}
	return nil
}
