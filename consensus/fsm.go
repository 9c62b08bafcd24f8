package consensus

import (
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// fsm adapts a StateMachine to raft.FSM. It is thin on purpose: it decodes the
// group-commit envelope and hands the whole batch to the StateMachine, which
// applies it in one storage transaction.
type fsm struct {
	sm   StateMachine
	log  *slog.Logger
	halt atomic.Pointer[HaltError] // set: stop applying (see Apply)
	// onHalt, when set, is called once (in its own goroutine) when the fsm
	// halts: the node hands leadership away.
	onHalt    func(*HaltError)
	handingOn atomic.Bool
}

// handOff runs onHalt in the background, one at a time: a halted node that
// wins an election again hands leadership on at its next entry.
func (f *fsm) handOff(h *HaltError) {
	if f.onHalt == nil || !f.handingOn.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer f.handingOn.Store(false)
		f.onHalt(h)
	}()
}

// HaltError is why a node stopped applying its log: the entry at Index could
// not be decoded, or the StateMachine panicked applying it (an unknown
// command type, a storage failure). Node.Halted returns it; errors.Is(err,
// ErrHalted) holds.
type HaltError struct {
	Index uint64
	Err   error
}

func (e *HaltError) Error() string {
	return fmt.Sprintf("consensus: stopped applying the log at entry %d: %v (this node serves nothing until it is fixed; "+
		"see node/DESIGN.md, \"A log entry this node cannot apply\")", e.Index, e.Err)
}

func (e *HaltError) Unwrap() []error { return []error{ErrHalted, e.Err} }

// applyResult is what fsm.Apply returns to the proposer's future.
type applyResult struct {
	results [][]byte
	skipped bool  // index already held by the on-disk state (restart replay)
	err     error // the StateMachine broke its contract, or the fsm is halted
}

// Apply runs on raft's FSM goroutine for every committed command entry.
//
// A log entry we cannot decode, or that the StateMachine refuses by
// panicking (an unknown command type: a corrupt or newer log), must not be
// skipped: that would silently diverge this replica from the others
// (Consul and Nomad panic for the same reason). Panicking, though, makes a
// node that restarts on the same log panic again forever. So the fsm halts:
// it applies nothing from that entry on (every later entry gets the same
// error), refuses snapshots (raft would label one with an index whose
// effects the state does not hold), and reports the HaltError through
// Node.Halted, which the node turns into an unhealthy status. The
// StateMachine's state stays at the entry before (the ledger rolls back
// what it had pending when it panics); a restart replays the same entries
// and halts at the same index. A Restore (a snapshot from the leader)
// clears the halt.
func (f *fsm) Apply(l *raft.Log) (out any) {
	if h := f.halt.Load(); h != nil {
		f.handOff(h)
		return applyResult{err: h}
	}
	cmds, err := decodeBatch(l.Data)
	if err != nil {
		return f.stop(l.Index, fmt.Errorf("cannot decode log entry: %w", err))
	}
	// The on-disk state may already hold this entry: raft replays everything
	// after the last snapshot on restart (NoSnapshotRestoreOnStart).
	if l.Index <= f.sm.AppliedIndex() {
		return applyResult{skipped: true}
	}
	defer func() {
		if r := recover(); r != nil {
			out = f.stop(l.Index, fmt.Errorf("state machine refused the entry: %v", r))
		}
	}()
	res := f.sm.ApplyBatch(l.Index, cmds)
	if len(res) != len(cmds) {
		return applyResult{err: fmt.Errorf("consensus: state machine returned %d results for %d commands at index %d", len(res), len(cmds), l.Index)}
	}
	return applyResult{results: res}
}

// stop halts the fsm at index.
func (f *fsm) stop(index uint64, err error) applyResult {
	h := &HaltError{Index: index, Err: err}
	if f.halt.CompareAndSwap(nil, h) {
		if f.log != nil {
			f.log.Error("consensus: cannot apply a log entry; this node stops applying its log", "index", index, "err", err)
		}
		f.handOff(h)
	} else {
		h = f.halt.Load()
	}
	return applyResult{err: h}
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if h := f.halt.Load(); h != nil {
		return nil, h
	}
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
	if h := f.halt.Swap(nil); h != nil && f.log != nil {
		f.log.Warn("consensus: snapshot restored; applying the log again", "halted_at", h.Index)
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
