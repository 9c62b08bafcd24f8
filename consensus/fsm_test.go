package consensus

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// panicky is a memSM that panics on commands starting with 0x7e, as the
// ledger does for an unknown command type.
type panicky struct{ *memSM }

func (p panicky) ApplyBatch(index uint64, cmds [][]byte) [][]byte {
	for _, c := range cmds {
		if len(c) > 0 && c[0] == 0x7e {
			panic("unknown command type 126")
		}
	}
	return p.memSM.ApplyBatch(index, cmds)
}

// TestFSMHaltsInsteadOfPanicking: an entry that cannot be decoded, or that
// the state machine refuses by panicking, halts the fsm at its index: no
// panic escapes, that entry and every later one are refused (never
// skipped: the state stays at the entry before), snapshots are refused,
// and a restored snapshot clears the halt.
func TestFSMHaltsInsteadOfPanicking(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"unknown entry version", []byte{0xff, 1, 0}, "unknown entry version"},
		{"truncated entry", []byte{entryVersion, 5}, "cannot decode"},
		{"state machine panic", encodeBatch([][]byte{{0x7e, 1}}), "unknown command type 126"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sm := panicky{newMemSM()}
			halted := make(chan *HaltError, 4)
			f := &fsm{sm: sm, onHalt: func(h *HaltError) { halted <- h }}
			if r, _ := f.Apply(&raft.Log{Index: 1, Data: encodeBatch([][]byte{[]byte("a")})}).(applyResult); r.err != nil {
				t.Fatal(r.err)
			}
			r, _ := f.Apply(&raft.Log{Index: 2, Data: tc.data}).(applyResult)
			var h *HaltError
			if !errors.As(r.err, &h) || h.Index != 2 || !errors.Is(r.err, ErrHalted) || !strings.Contains(h.Error(), tc.want) {
				t.Fatalf("apply: %v, want a HaltError at 2 mentioning %q", r.err, tc.want)
			}
			if got := <-halted; got.Index != 2 {
				t.Fatalf("onHalt(%d)", got.Index)
			}
			r, _ = f.Apply(&raft.Log{Index: 3, Data: encodeBatch([][]byte{[]byte("b")})}).(applyResult)
			if !errors.Is(r.err, ErrHalted) || sm.AppliedIndex() != 1 {
				t.Fatalf("entry after the halt: %v, applied %d; want refused, applied 1", r.err, sm.AppliedIndex())
			}
			if _, err := f.Snapshot(); !errors.Is(err, ErrHalted) {
				t.Fatalf("snapshot while halted: %v", err)
			}
			good := newMemSM()
			good.ApplyBatch(3, [][]byte{[]byte("c")})
			snap, _ := good.Snapshot()
			var buf bytes.Buffer
			if err := snap.Persist(&buf); err != nil {
				t.Fatal(err)
			}
			if err := f.Restore(nopCloser{&buf}); err != nil {
				t.Fatal(err)
			}
			if r, _ := f.Apply(&raft.Log{Index: 4, Data: encodeBatch([][]byte{[]byte("d")})}).(applyResult); r.err != nil || sm.AppliedIndex() != 4 {
				t.Fatalf("after restore: %v, applied %d", r.err, sm.AppliedIndex())
			}
		})
	}
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }
