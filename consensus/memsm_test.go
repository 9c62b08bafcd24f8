package consensus

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/gob"
	"io"
	"sync"
	"sync/atomic"
)

// memSM is an in-memory StateMachine for benchmarks that isolate the
// consensus layer's cost (the Raft log is still fsynced): a key set, the
// applied index and a rolling digest.
type memSM struct {
	mu      sync.Mutex
	keys    map[string]uint64
	digest  [32]byte
	applied atomic.Uint64
}

func newMemSM() *memSM { return &memSM{keys: map[string]uint64{}} }

func (m *memSM) ApplyBatch(index uint64, cmds [][]byte) [][]byte {
	if index <= m.applied.Load() {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	h := sha256.New()
	h.Write(m.digest[:])
	var ib [8]byte
	binary.BigEndian.PutUint64(ib[:], index)
	h.Write(ib[:])
	res := make([][]byte, len(cmds))
	ok := []byte("ok")
	for i, c := range cmds {
		h.Write(c)
		m.keys[string(c)] = index
		res[i] = ok
	}
	h.Sum(m.digest[:0])
	m.applied.Store(index)
	return res
}

func (m *memSM) AppliedIndex() uint64 { return m.applied.Load() }

type memState struct {
	Keys    map[string]uint64
	Digest  [32]byte
	Applied uint64
}

type memSnap struct{ st memState }

func (m *memSM) Snapshot() (Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make(map[string]uint64, len(m.keys))
	for k, v := range m.keys {
		keys[k] = v
	}
	return &memSnap{memState{Keys: keys, Digest: m.digest, Applied: m.applied.Load()}}, nil
}

func (s *memSnap) Persist(w io.Writer) error { return gob.NewEncoder(w).Encode(&s.st) }
func (s *memSnap) Release()                  {}

func (m *memSM) Restore(r io.Reader) error {
	var st memState
	if err := gob.NewDecoder(r).Decode(&st); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys, m.digest = st.Keys, st.Digest
	if m.keys == nil {
		m.keys = map[string]uint64{}
	}
	m.applied.Store(st.Applied)
	return nil
}
