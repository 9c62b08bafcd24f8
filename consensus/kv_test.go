package consensus

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
)

// kvSM is the tests' StateMachine: a bbolt key set with the applied index, a
// rolling digest of everything applied (raft's fuzzy tests do the same) and a
// count of commands applied twice, all updated in the entry's one
// transaction. Commands are unique keys; a command applied twice would bump
// dups, so "dups == 0" is the exactly-once check.
type kvSM struct {
	path string

	mu sync.RWMutex // guards db against Restore's swap
	db *bbolt.DB

	applied atomic.Uint64
	calls   atomic.Uint64 // ApplyBatch calls that applied something

	// applies records what this process applied at each index (not kept
	// across a restart or restore): when replicas do not converge,
	// firstDifference names the entry where they parted.
	hmu      sync.Mutex
	applies  map[uint64]string
	restores atomic.Uint64
	noSync   bool

	// Deferred commit, as ledger does (ledger/commit.go): with interval > 0
	// applied entries wait in one open write transaction until interval
	// passes or something reads; the Raft log already holds them.
	interval time.Duration
	wmu      sync.Mutex
	wtx      *bbolt.Tx
	timer    *time.Timer
}

var (
	bktKV   = []byte("kv")
	bktMeta = []byte("meta")
	keyIdx  = []byte("applied")
	keyDig  = []byte("digest")
	keyDups = []byte("dups")
)

func openKV(path string) (*kvSM, error) { return openKVSync(path, false) }

// kvCommitInterval is the test clusters' deferred commit interval: the
// ledger's default, so restarts and kills replay uncommitted entries.
const kvCommitInterval = 20 * time.Millisecond

// openKVSync opens a kvSM whose commits skip fsync when noSync (the
// unsynced-ledger comparison in BenchmarkCommit).
func openKVSync(path string, noSync bool) (*kvSM, error) {
	s := &kvSM{path: path, noSync: noSync}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *kvSM) open() error {
	db, err := bbolt.Open(s.path, 0o600, &bbolt.Options{NoSync: s.noSync, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bktKV, bktMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if v := tx.Bucket(bktMeta).Get(keyIdx); v != nil {
			s.applied.Store(binary.BigEndian.Uint64(v))
		} else {
			s.applied.Store(0)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return err
	}
	s.db = db
	return nil
}

// writeTx returns the open write transaction or begins one. Caller holds
// s.mu (shared) and s.wmu.
func (s *kvSM) writeTx() (*bbolt.Tx, error) {
	if s.wtx != nil {
		return s.wtx, nil
	}
	tx, err := s.db.Begin(true)
	if err != nil {
		return nil, err
	}
	s.wtx = tx
	if s.timer == nil {
		s.timer = time.AfterFunc(s.interval, s.commitAged)
	} else {
		s.timer.Reset(s.interval)
	}
	return tx, nil
}

// flush commits the open write transaction. Caller holds s.mu.
func (s *kvSM) flush() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.wtx == nil {
		return
	}
	s.timer.Stop()
	err := s.wtx.Commit()
	s.wtx = nil
	if err != nil {
		panic(fmt.Sprintf("kvSM commit: %v", err))
	}
}

func (s *kvSM) commitAged() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db != nil {
		s.flush()
	}
}

func (s *kvSM) ApplyBatch(index uint64, cmds [][]byte) [][]byte {
	if index <= s.applied.Load() {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	res := make([][]byte, len(cmds))
	update := s.db.Update
	if s.interval > 0 {
		update = func(fn func(*bbolt.Tx) error) error {
			s.wmu.Lock()
			defer s.wmu.Unlock()
			tx, err := s.writeTx()
			if err != nil {
				return err
			}
			return fn(tx)
		}
	}
	err := update(func(tx *bbolt.Tx) error {
		kv, meta := tx.Bucket(bktKV), tx.Bucket(bktMeta)
		h := sha256.New()
		h.Write(meta.Get(keyDig))
		var ib [8]byte
		binary.BigEndian.PutUint64(ib[:], index)
		h.Write(ib[:])
		dups := u64(meta.Get(keyDups))
		for i, c := range cmds {
			h.Write(c)
			if bytes.HasPrefix(c, []byte("reject:")) {
				res[i] = []byte("rejected") // a business rejection is a result
				continue
			}
			if kv.Get(c) != nil {
				dups++
			}
			if err := kv.Put(c, ib[:]); err != nil {
				return err
			}
			res[i] = []byte("ok:" + strconv.FormatUint(index, 10))
		}
		if err := meta.Put(keyDig, h.Sum(nil)); err != nil {
			return err
		}
		if err := meta.Put(keyDups, be(dups)); err != nil {
			return err
		}
		return meta.Put(keyIdx, ib[:])
	})
	if err != nil {
		// Storage failure: the test state machine cannot continue safely.
		panic(fmt.Sprintf("kvSM apply %d: %v", index, err))
	}
	s.applied.Store(index)
	s.calls.Add(1)
	s.hmu.Lock()
	if s.applies == nil {
		s.applies = map[uint64]string{}
	}
	s.applies[index] = fmt.Sprintf("%q", cmds)
	s.hmu.Unlock()
	if os.Getenv("CONSENSUS_TEST_LOG") != "" {
		fmt.Fprintf(os.Stderr, "time=%s kvSM %s applied index %d: %q\n", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), s.path, index, cmds)
	}
	return res
}

func (s *kvSM) AppliedIndex() uint64 { return s.applied.Load() }

type kvSnap struct {
	s  *kvSM
	tx *bbolt.Tx
}

func (s *kvSM) Snapshot() (Snapshot, error) {
	s.mu.RLock()
	s.flush()
	tx, err := s.db.Begin(false)
	if err != nil {
		s.mu.RUnlock()
		return nil, err
	}
	return &kvSnap{s: s, tx: tx}, nil
}

func (k *kvSnap) Persist(w io.Writer) error {
	_, err := k.tx.WriteTo(w)
	return err
}

func (k *kvSnap) Release() {
	_ = k.tx.Rollback()
	k.s.mu.RUnlock()
}

func (s *kvSM) Restore(r io.Reader) error {
	tmp := s.path + ".restore"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flush()
	if err := s.db.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return err
	}
	s.restores.Add(1)
	return s.open()
}

func (s *kvSM) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flush()
	return s.db.Close()
}

// view is a consistent read of the state.
type kvView struct {
	applied uint64
	digest  string
	dups    uint64
	keys    int
}

func (s *kvSM) view() kvView {
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.flush()
	var v kvView
	_ = s.db.View(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		v.applied = u64(meta.Get(keyIdx))
		v.digest = fmt.Sprintf("%x", meta.Get(keyDig))
		v.dups = u64(meta.Get(keyDups))
		v.keys = tx.Bucket(bktKV).Stats().KeyN
		return nil
	})
	return v
}

// missing returns the keys of want that the state does not hold.
func (s *kvSM) missing(want [][]byte) [][]byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.flush()
	var out [][]byte
	_ = s.db.View(func(tx *bbolt.Tx) error {
		kv := tx.Bucket(bktKV)
		for _, k := range want {
			if kv.Get(k) == nil {
				out = append(out, k)
			}
		}
		return nil
	})
	return out
}

func (s *kvSM) has(key string) bool { return len(s.missing([][]byte{[]byte(key)})) == 0 }

func u64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func be(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// firstDifference compares what s and o applied in this process, index by
// index, and describes the first index where they differ ("" when they
// agree). An index only one of them recorded is a difference too: the other
// skipped it, or applied it before a restart or through a snapshot (so read
// it with the test's history in mind).
func (s *kvSM) firstDifference(o *kvSM) string {
	s.hmu.Lock()
	a := maps.Clone(s.applies)
	s.hmu.Unlock()
	o.hmu.Lock()
	b := maps.Clone(o.applies)
	o.hmu.Unlock()
	var idx []uint64
	for i := range a {
		idx = append(idx, i)
	}
	for i := range b {
		if _, ok := a[i]; !ok {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	for _, i := range idx {
		x, okA := a[i]
		y, okB := b[i]
		if okA && okB && x == y {
			continue
		}
		return fmt.Sprintf("index %d: the first applied %s, the second %s", i, orNone(x, okA), orNone(y, okB))
	}
	return ""
}

func orNone(s string, ok bool) string {
	if !ok {
		return "nothing"
	}
	return s
}
