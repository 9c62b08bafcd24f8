package ledger

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// openDeferred opens a store with the given commit policy.
func openDeferred(t testing.TB, interval time.Duration, entries int) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "ledger.db"), Options{CommitInterval: interval, CommitEntries: entries})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// crashImage copies the store's file as it is on disk now, which is what a
// process killed at this moment leaves behind (bbolt writes nothing before
// a commit), and opens the copy.
func crashImage(t testing.TB, s *Store) *Store {
	t.Helper()
	b, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Open(path, Options{CommitInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestDeferredCommitCrashReplay: entries applied but not yet committed are
// absent from a crash image, which reports the committed applied index;
// replaying the log from there (as raft does) gives the same state.
func TestDeferredCommitCrashReplay(t *testing.T) {
	s := openDeferred(t, time.Hour, 1_000_000)
	log := fullLog(t)
	applyLog(t, s, log[:2])
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	committed := s.AppliedIndex()
	for _, rs := range applyLog(t, s, log[2:]) {
		mustOK(t, rs[:len(rs)-1])
	}
	if !s.p.dirty.Load() {
		t.Fatal("entries were committed at once; the policy says an hour")
	}

	c := crashImage(t, s)
	eq(t, "crash image applied index", c.AppliedIndex(), committed)
	for _, b := range log { // raft replays from its snapshot: ≤ AppliedIndex is skipped
		c.ApplyBatch(b.index, b.cmds)
	}
	eq(t, "replayed applied index", c.AppliedIndex(), s.AppliedIndex())
	if digest(t, c) != digest(t, s) { // Digest commits s first
		t.Fatal("replayed crash image differs from the live store")
	}
	if s.p.dirty.Load() {
		t.Fatal("a read left entries uncommitted")
	}
}

// TestDeferredCommitBounds: the open write transaction commits after
// CommitEntries entries, after CommitInterval, and before every read.
func TestDeferredCommitBounds(t *testing.T) {
	t.Run("entries", func(t *testing.T) {
		s := openDeferred(t, time.Hour, 3)
		setupMembers(t, s) // index 1
		authorize(t, s, "m1")
		eq(t, "on disk after 2 entries", crashImage(t, s).AppliedIndex(), 0)
		authorize(t, s, "m2")
		eq(t, "on disk after 3 entries", crashImage(t, s).AppliedIndex(), 3)
	})
	t.Run("interval", func(t *testing.T) {
		s := openDeferred(t, 5*time.Millisecond, 1_000_000)
		setupMembers(t, s)
		deadline := time.Now().Add(10 * time.Second)
		for s.p.dirty.Load() {
			if time.Now().After(deadline) {
				t.Fatal("not committed 10 s after a 5 ms interval")
			}
			time.Sleep(time.Millisecond) // polling a condition, with a deadline
		}
		eq(t, "on disk after the interval", crashImage(t, s).AppliedIndex(), 1)
	})
	t.Run("every-entry", func(t *testing.T) {
		s := openDeferred(t, -1, 0)
		setupMembers(t, s)
		if s.p.dirty.Load() {
			t.Fatal("CommitInterval < 0 must commit every entry")
		}
		eq(t, "on disk", crashImage(t, s).AppliedIndex(), 1)
	})
	t.Run("read", func(t *testing.T) {
		s := openDeferred(t, time.Hour, 1_000_000)
		setupMembers(t, s)
		if _, err := s.Member("a"); err != nil {
			t.Fatal(err)
		}
		eq(t, "on disk after a read", crashImage(t, s).AppliedIndex(), 1)
	})
}

// TestPendingTransactionReads: the reads made on every call find a
// transaction authorised a moment ago without forcing a commit.
func TestPendingTransactionReads(t *testing.T) {
	s := openDeferred(t, time.Hour, 1_000_000)
	setupMembers(t, s)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	r := authorize(t, s, "m1")
	mustOK(t, []*Result{r})
	tx, err := s.Transaction(r.TransactionID)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "by id", tx.CallID, "call-m1")
	tx, err = s.TransactionByKey("a", "m1", "call-m1")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "by key", tx.ID, r.TransactionID)
	if _, err := s.TransactionByKey("a", "m2", "call-m2"); err == nil {
		t.Fatal("found a transaction never authorised")
	}
	if !s.p.dirty.Load() {
		t.Fatal("a transaction read forced a commit")
	}
	// After the commit the same reads come from the file.
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(s.p.newTx) != 0 {
		t.Fatal("pending transactions kept after their commit")
	}
	if tx, err := s.TransactionByKey("a", "m1", "call-m1"); err != nil || tx.ID != r.TransactionID {
		t.Fatalf("after commit: %v %v", tx, err)
	}
}

// TestSnapshotCommitsPending: a snapshot taken with entries pending holds
// them all: restored elsewhere it has the same applied index and digest.
func TestSnapshotCommitsPending(t *testing.T) {
	s := openDeferred(t, time.Hour, 1_000_000)
	buildFull(t, s)
	r := openDeferred(t, time.Hour, 1_000_000)
	if err := r.Restore(persisted(t, s)); err != nil {
		t.Fatal(err)
	}
	eq(t, "restored applied index", r.AppliedIndex(), s.AppliedIndex())
	if digest(t, r) != digest(t, s) {
		t.Fatal("restored snapshot differs")
	}
}

// TestCloseCommitsPending: a clean close leaves nothing to replay.
func TestCloseCommitsPending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := Open(path, Options{CommitInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	setupMembers(t, s)
	authorize(t, s, "m1")
	want := s.AppliedIndex()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	eq(t, "applied index after reopen", s.AppliedIndex(), want)
}
