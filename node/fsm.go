package node

import (
	"io"

	"github.com/ospnode/ospnode/consensus"
	"github.com/ospnode/ospnode/ledger"
)

// stateMachine adapts *ledger.Store to consensus.StateMachine: the two
// packages declare their own Snapshot interfaces (neither imports the
// other), so Snapshot needs a one-line conversion. watch, when set, sees
// every applied batch with its results after the ledger applied it (fraud
// detection, fraud.go); it must be quick and must not propose.
type stateMachine struct {
	s     *ledger.Store
	watch func(cmds, results [][]byte)
	// restored, when set, runs after a successful Restore (node rebuilds
	// what it derives from the ledger outside it: route quality, fraud
	// baselines).
	restored func()
}

var _ consensus.StateMachine = stateMachine{}

func (m stateMachine) ApplyBatch(index uint64, cmds [][]byte) [][]byte {
	results := m.s.ApplyBatch(index, cmds)
	if m.watch != nil {
		m.watch(cmds, results)
	}
	return results
}

func (m stateMachine) AppliedIndex() uint64 { return m.s.AppliedIndex() }

func (m stateMachine) Snapshot() (consensus.Snapshot, error) {
	snap, err := m.s.Snapshot()
	if err != nil {
		return nil, err
	}
	return snap, nil // ledger.Snapshot has Persist and Release: same method set
}

func (m stateMachine) Restore(r io.Reader) error {
	if err := m.s.Restore(r); err != nil {
		return err
	}
	if m.restored != nil {
		m.restored()
	}
	return nil
}
