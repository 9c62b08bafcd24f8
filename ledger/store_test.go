package ledger

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestEveryCommandRoundTrip: apply a log that uses every command type,
// then (1) snapshot → restore into a fresh store with other state,
// (2) replay into a fresh store, (3) re-apply old indexes: all equal digests.
func TestEveryCommandRoundTrip(t *testing.T) {
	a := openTest(t)
	log := buildFull(t, a)

	used := map[CommandType]bool{}
	for _, b := range log {
		for _, c := range b.cmds {
			used[CommandType(c[0])] = true
		}
	}
	for typ := range commands {
		if !used[typ] {
			t.Errorf("fullLog does not use %s", typ)
		}
	}
	want := digest(t, a)

	// Snapshot → restore into a store that already holds different state.
	b := openTest(t)
	apply1(t, b, PutMember{Member{ID: "other"}})
	if err := b.Restore(persisted(t, a)); err != nil {
		t.Fatal(err)
	}
	eq(t, "restored digest", digest(t, b), want)
	eq(t, "restored applied index", b.AppliedIndex(), a.AppliedIndex())
	eq(t, "restored generations", b.Generations(), a.Generations())
	if _, err := b.Member("other"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("restore kept old state: %v", err)
	}

	// Replay into a fresh store.
	c := openTest(t)
	applyLog(t, c, log)
	eq(t, "replayed digest", digest(t, c), want)

	// Re-applying old indexes is a no-op with nil results.
	for _, bt := range log {
		for i, r := range a.ApplyBatch(bt.index, bt.cmds) {
			if r != nil {
				t.Fatalf("index %d cmd %d re-applied", bt.index, i)
			}
		}
	}
	eq(t, "digest after re-apply", digest(t, a), want)

	// Reads agree on the restored store.
	if ok, _ := b.IsRevoked("abc01"); !ok {
		t.Error("revoked serial lost")
	}
	if rep, err := b.Audit(); err != nil || !rep.OK {
		t.Fatalf("audit after restore: %+v %v", rep, err)
	}
}

func TestRestartKeepsAppliedIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := buildFull(t, s)
	want := digest(t, s)
	idx := s.AppliedIndex()
	gens := s.Generations()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Members(); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	eq(t, "applied index after reopen", s.AppliedIndex(), idx)
	eq(t, "generations after reopen", s.Generations(), gens)
	// Raft replays the whole log after a restart: everything is skipped.
	applyLog2 := func() {
		for _, b := range log {
			for _, r := range s.ApplyBatch(b.index, b.cmds) {
				if r != nil {
					t.Fatal("replay re-applied a durable entry")
				}
			}
		}
	}
	applyLog2()
	eq(t, "digest after replay", digest(t, s), want)
}

func TestRestoreRejectsGarbage(t *testing.T) {
	s := openTest(t)
	apply1(t, s, PutMember{Member{ID: "a"}})
	want := digest(t, s)
	if err := s.Restore(bytes.NewReader([]byte("not a bbolt file at all"))); err == nil {
		t.Fatal("garbage restored")
	}
	eq(t, "digest after failed restore", digest(t, s), want)
	if _, err := s.Member("a"); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownCommandTypes(t *testing.T) {
	s := openTest(t)
	rs := applyLog(t, s, []batch{{1, [][]byte{{byte(Ignorable | 0x11), 1}, {}}}})
	eq(t, "ignorable code", rs[0][0].Code, Ignored)
	eq(t, "empty code", rs[0][1].Code, Invalid)
	eq(t, "applied", s.AppliedIndex(), uint64(1))
	before := digest(t, s)

	for _, tc := range []struct {
		name string
		cmd  []byte
	}{
		{"unknown type", []byte{0x7e, 1, 0}},
		{"unknown version of a known type", []byte{byte(TypePutMember), 9, '{', '}'}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			func() {
				defer func() {
					if recover() == nil {
						t.Fatal("no panic")
					}
				}()
				// A valid command before it must not be half-applied.
				s.ApplyBatch(2, [][]byte{enc(t, PutMember{Member{ID: "x"}}), tc.cmd})
			}()
			eq(t, "applied index after panic", s.AppliedIndex(), uint64(1))
			eq(t, "digest after panic", digest(t, s), before)
		})
	}
}

func TestGenerations(t *testing.T) {
	s := openTest(t)
	g0 := s.Generations()
	apply1(t, s, PutRoutes{Routes: []Route{{Prefix: "1"}}})
	g1 := s.Generations()
	if g1.Routes != g0.Routes+1 || g1.Config != g0.Config+1 || g1.Members != g0.Members {
		t.Fatalf("generations %+v → %+v", g0, g1)
	}
	// A rejected config command changes nothing.
	rs := apply1(t, s, PutTrunk{Trunk{ID: "t", MemberID: "nobody", Address: "x"}})
	eq(t, "code", rs[0].Code, Rejected)
	eq(t, "generation after rejection", s.Generation(), g1.Config)
	// Usage does not touch config generations.
	apply1(t, s, PutMember{Member{ID: "a"}})
	g2 := s.Generation()
	apply1(t, s, RecordUsage{At: t0, Role: RoleSource, Reporter: "member:a", ReporterKey: "k"})
	eq(t, "generation after usage", s.Generation(), g2)
}

// TestSnapshotIsPointInTime: Persist after later applies still writes the
// state as of Snapshot(), and the live store keeps applying meanwhile.
func TestSnapshotIsPointInTime(t *testing.T) {
	s := openTest(t)
	setupMembers(t, s)
	tx := authorize(t, s, "m1").TransactionID
	mustOK(t, apply1(t, s, rated(tx, "0.05", "0.03")))
	atSnap := digest(t, s)
	idx := s.AppliedIndex()
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ { // grow the file while the snapshot is open
		c := rated(0, "0.01", "0.005")
		c.ReporterKey = "later-" + itoa(uint64(i))
		mustOK(t, apply1(t, s, c))
	}
	var buf bytes.Buffer
	if err := snap.Persist(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	r := openTest(t)
	if err := r.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	eq(t, "restored digest", digest(t, r), atSnap)
	eq(t, "restored index", r.AppliedIndex(), idx)
	// The restored replica catches up by applying what followed.
	if s.AppliedIndex() == idx {
		t.Fatal("live store did not advance")
	}
}

func TestClosedStore(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "c.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
	if _, err := s.Snapshot(); !errors.Is(err, ErrClosed) {
		t.Fatalf("snapshot: %v", err)
	}
	if _, err := s.Digest(); !errors.Is(err, ErrClosed) {
		t.Fatalf("digest: %v", err)
	}
	if err := s.Restore(bytes.NewReader(nil)); err == nil {
		t.Fatal("restore on closed store")
	}
}

func TestRestoreRejectsTruncatedAndEmpty(t *testing.T) {
	src := openTest(t)
	buildFull(t, src)
	snap, _ := src.Snapshot()
	var buf bytes.Buffer
	if err := snap.Persist(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	s := openTest(t)
	apply1(t, s, PutMember{Member{ID: "keep"}})
	want := digest(t, s)
	for name, data := range map[string][]byte{
		"empty":     nil,
		"truncated": buf.Bytes()[:buf.Len()-4096],
		"header":    buf.Bytes()[:8192],
	} {
		if err := s.Restore(bytes.NewReader(data)); err == nil {
			t.Errorf("%s snapshot restored", name)
		}
		eq(t, name+": digest kept", digest(t, s), want)
	}
	// A bbolt file that is not a ledger.
	other := filepath.Join(t.TempDir(), "x.db")
	db, err := bolt.Open(other, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("x")); return err })
	var ob bytes.Buffer
	db.View(func(tx *bolt.Tx) error { _, err := tx.WriteTo(&ob); return err })
	db.Close()
	if err := s.Restore(&ob); err == nil {
		t.Error("foreign bbolt file restored")
	}
}
