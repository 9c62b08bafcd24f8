package ledger

import (
	"bytes"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestUsageByKey(t *testing.T) {
	s := openTest(t)
	setupMembers(t, s)
	tx := authorize(t, s, "k1").TransactionID
	src := RecordUsage{At: t0.Add(time.Hour), TransactionID: tx, Role: RoleSource, ComponentID: "1", Reporter: MemberAccount("a"),
		Called: "12125550100", DurationMillis: 60000}
	dst := src
	dst.Role, dst.Reporter, dst.DurationMillis = RoleDestination, MemberAccount("b"), 59000
	other := src
	other.ComponentID, other.DurationMillis = "2", 1000
	keyed := RecordUsage{At: t0.Add(time.Hour), Role: RoleSource, Reporter: MemberAccount("a"), ReporterKey: "rk-1"}
	rs := apply1(t, s, src, dst, other, keyed)
	mustOK(t, rs)

	tests := []struct {
		name     string
		txid     uint64
		role     Role
		comp     string
		wantID   uint64 // 0: ErrNotFound
		wantDur  int64
		wantRole Role
	}{
		{"source", tx, RoleSource, "1", rs[0].UsageID, 60000, RoleSource},
		{"destination same component", tx, RoleDestination, "1", rs[1].UsageID, 59000, RoleDestination},
		{"other component", tx, RoleSource, "2", rs[2].UsageID, 1000, RoleSource},
		{"unknown component", tx, RoleSource, "3", 0, 0, 0},
		{"unknown role for component", tx, RoleDestination, "2", 0, 0, 0},
		{"unknown transaction", tx + 1, RoleSource, "1", 0, 0, 0},
		{"no transaction id", 0, RoleSource, "", 0, 0, 0},
		{"component with separator bytes", tx, RoleSource, "1\x00", 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := s.UsageByKey(tc.txid, tc.role, tc.comp)
			if tc.wantID == 0 {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("got %+v, %v; want ErrNotFound", u, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "id", u.ID, tc.wantID)
			eq(t, "duration", u.DurationMillis, tc.wantDur)
			eq(t, "role", u.Role, tc.wantRole)
			eq(t, "txid", u.TransactionID, tc.txid)
		})
	}
	// A retry returns the first record, not a new one.
	eq(t, "retry", apply1(t, s, src)[0].Code, Duplicate)
	u, err := s.UsageByKey(tx, RoleSource, "1")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "after retry", u.ID, rs[0].UsageID)
	s.Close()
	if _, err := s.UsageByKey(tx, RoleSource, "1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

// TestUsageByKeyV1: a usage applied from a version 1 envelope (an old
// log) is found by the same key.
func TestUsageByKeyV1(t *testing.T) {
	s := openTest(t)
	setupMembers(t, s)
	tx := authorize(t, s, "v1k").TransactionID
	c := RecordUsage{At: t0.Add(time.Hour), TransactionID: tx, Role: RoleDestination, ComponentID: "7", Reporter: MemberAccount("b")}
	b := enc(t, c)
	b[1] = 1
	rs := applyLog(t, s, []batch{{s.AppliedIndex() + 1, [][]byte{b}}})
	mustOK(t, rs[0])
	u, err := s.UsageByKey(tx, RoleDestination, "7")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "id", u.ID, rs[0][0].UsageID)
}

func TestReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	rw, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	buildFull(t, rw)
	wantDigest := digest(t, rw)
	wantApplied := rw.AppliedIndex()
	wantGens := rw.Generations()
	var snap bytes.Buffer
	sn, err := rw.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := sn.Persist(&snap); err != nil {
		t.Fatal(err)
	}
	sn.Release()

	// A read-write holder excludes a read-only open (how `ledger audit`
	// detects a running node).
	if _, err := Open(path, Options{ReadOnly: true, LockTimeout: 50 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Fatalf("read-only open while held read-write: %v, want ErrLocked", err)
	}
	if err := rw.Close(); err != nil {
		t.Fatal(err)
	}

	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if !ro.ReadOnly() {
		t.Fatal("ReadOnly() = false")
	}
	// Two read-only opens share the lock.
	ro2, err := Open(path, Options{ReadOnly: true, LockTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("second read-only open: %v", err)
	}
	ro2.Close()

	eq(t, "applied", ro.AppliedIndex(), wantApplied)
	eq(t, "generations", ro.Generations(), wantGens)
	eq(t, "digest", digest(t, ro), wantDigest)
	rep, err := ro.Audit()
	if err != nil || !rep.OK {
		t.Fatalf("audit %+v %v", rep, err)
	}
	if _, err := ro.ListUsage(UsageFilter{}); err != nil {
		t.Fatal(err)
	}

	// Writes fail cleanly and leave the file as it was.
	if err := ro.Restore(bytes.NewReader(snap.Bytes())); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Restore: %v, want ErrReadOnly", err)
	}
	func() {
		defer func() {
			r := recover()
			err, _ := r.(error)
			if !errors.Is(err, ErrReadOnly) {
				t.Fatalf("ApplyBatch panicked with %v, want ErrReadOnly", r)
			}
		}()
		ro.ApplyBatch(wantApplied+1, [][]byte{enc(t, RemovePeer{ID: "yellow"})})
		t.Fatal("ApplyBatch on a read-only store did not panic")
	}()
	// An index already applied is a no-op, as on any store.
	if rs := ro.ApplyBatch(wantApplied, [][]byte{enc(t, RemovePeer{ID: "yellow"})}); rs[0] != nil {
		t.Fatalf("replayed index returned %v", rs)
	}
	eq(t, "digest after refused writes", digest(t, ro), wantDigest)
	if _, err := ro.Peer("yellow"); err != nil {
		t.Fatalf("peer after refused write: %v", err)
	}
}

func TestReadOnlyOpenErrors(t *testing.T) {
	dir := t.TempDir()
	// A bbolt file that is not a ledger (never opened by Open).
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("x")); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	tests := []struct {
		name, path, want string
	}{
		{"missing file", filepath.Join(dir, "missing.db"), "no such file"},
		{"foreign bbolt file", foreign, "bucket"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(tc.path, Options{ReadOnly: true})
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

// BenchmarkUsageByKey: one lookup by (txid, role, component) in a store of
// 20,000 usage records: an index read and a record decode.
func BenchmarkUsageByKey(b *testing.B) {
	const n = 20000
	s, ids := benchStore(b, true, n)
	for i := 0; i < n; i += 256 {
		var cmds [][]byte
		for j := i; j < i+256 && j < n; j++ {
			cmds = append(cmds, enc(b, benchUsage(ids[j], j)))
		}
		s.ApplyBatch(s.AppliedIndex()+1, cmds)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % n
		u, err := s.UsageByKey(ids[j], RoleSource, strconv.Itoa(j))
		if err != nil || u.TransactionID != ids[j] {
			b.Fatalf("lookup %d: %v %v", j, u, err)
		}
	}
}
