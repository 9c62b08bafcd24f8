package consensus

import (
	"fmt"
	"io"

	"github.com/hashicorp/raft"
)

// fsm adapts a StateMachine to raft.FSM. It is thin on purpose: it decodes the
// group-commit envelope and hands the whole batch to the StateMachine, which
// applies it in one storage transaction.
type fsm struct {
	sm StateMachine
}

// applyResult is what fsm.Apply returns to the proposer's future.
type applyResult struct {
	results [][]byte
	skipped bool  // index already held by the on-disk state (restart replay)
	err     error // the StateMachine broke its contract; the entry is applied
}

// Apply runs on raft's FSM goroutine for every committed command entry.
func (f *fsm) Apply(l *raft.Log) any {
	cmds, err := decodeBatch(l.Data)
	if err != nil {
		// A log entry we cannot decode is a corrupt or newer log. Skipping it
		// would silently diverge this replica from the others, so stop here
		// (Consul and Nomad do the same for unknown command types).
		panic(fmt.Sprintf("consensus: cannot decode log entry %d: %v", l.Index, err))
	}
	// The on-disk state may already hold this entry: raft replays everything
	// after the last snapshot on restart (NoSnapshotRestoreOnStart).
	if l.Index <= f.sm.AppliedIndex() {
		return applyResult{skipped: true}
	}
	res := f.sm.ApplyBatch(l.Index, cmds)
	if len(res) != len(cmds) {
		return applyResult{err: fmt.Errorf("consensus: state machine returned %d results for %d commands at index %d", len(res), len(cmds), l.Index)}
	}
	return applyResult{results: res}
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	s, err := f.sm.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("consensus: state machine snapshot: %w", err)
	}
	return fsmSnapshot{s}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.sm.Restore(rc); err != nil {
		return fmt.Errorf("consensus: state machine restore: %w", err)
	}
	return nil
}

type fsmSnapshot struct{ s Snapshot }

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.s.Persist(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("consensus: persist snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("consensus: close snapshot: %w", err)
	}
	return nil
}

func (s fsmSnapshot) Release() { s.s.Release() }
