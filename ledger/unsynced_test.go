package ledger

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func exists(t *testing.T, p string) bool {
	t.Helper()
	_, err := os.Stat(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// crash closes the bbolt file without Store.Close: the marker stays, as
// after a killed process.
func crash(t *testing.T, s *Store) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	s.db = nil
}

// TestUnsyncedCleanCloseIsTrusted: an unsynced store holds its marker while
// open, removes it on Close, and reopens (in either mode) with its state.
func TestUnsyncedCleanCloseIsTrusted(t *testing.T) {
	for _, reopenUnsynced := range []bool{true, false} {
		path := filepath.Join(t.TempDir(), "ledger.db")
		s, err := Open(path, Options{Unsynced: true})
		if err != nil {
			t.Fatal(err)
		}
		if !exists(t, path+UnsyncedMarkerSuffix) {
			t.Fatal("no marker while an unsynced store is open")
		}
		buildFull(t, s)
		want, idx := digest(t, s), s.AppliedIndex()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if exists(t, path+UnsyncedMarkerSuffix) {
			t.Fatal("marker left after a clean close")
		}
		s, err = Open(path, Options{Unsynced: reopenUnsynced})
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "discarded", s.Discarded(), "")
		eq(t, "applied index", s.AppliedIndex(), idx)
		eq(t, "digest", digest(t, s), want)
		eq(t, "marker while open", exists(t, path+UnsyncedMarkerSuffix), reopenUnsynced)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUnsyncedUncleanIsRebuilt: after an unsynced store was not closed
// (intact, torn or truncated file), Open moves the file aside and starts
// empty, in either mode; replaying the log rebuilds the same state.
func TestUnsyncedUncleanIsRebuilt(t *testing.T) {
	damage := map[string]func(t *testing.T, path string){
		"intact": func(*testing.T, string) {},
		"truncated": func(t *testing.T, path string) {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, fi.Size()/3); err != nil {
				t.Fatal(err)
			}
		},
		"meta pages zeroed": func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(make([]byte, 2*os.Getpagesize()), 0); err != nil {
				t.Fatal(err)
			}
		},
		"empty": func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, dmg := range damage {
		for _, reopenUnsynced := range []bool{true, false} {
			t.Run(name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "ledger.db")
				s, err := Open(path, Options{Unsynced: true})
				if err != nil {
					t.Fatal(err)
				}
				log := buildFull(t, s)
				want := digest(t, s)
				crash(t, s)
				dmg(t, path)
				s, err = Open(path, Options{Unsynced: reopenUnsynced})
				if err != nil {
					t.Fatalf("open after an unclean stop: %v", err)
				}
				defer s.Close()
				eq(t, "discarded", s.Discarded(), path+UntrustedSuffix)
				eq(t, "applied index", s.AppliedIndex(), uint64(0))
				if !exists(t, path+UntrustedSuffix) {
					t.Fatal("untrusted file not kept aside")
				}
				eq(t, "marker while open", exists(t, path+UnsyncedMarkerSuffix), reopenUnsynced)
				applyLog(t, s, log)
				eq(t, "digest after replay", digest(t, s), want)
			})
		}
	}
}

// TestSyncedStoreNeverDiscarded: a file written with fsync has no marker,
// so an unsynced open after a crash of a synced run trusts it.
func TestSyncedStoreNeverDiscarded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	buildFull(t, s)
	want := digest(t, s)
	if exists(t, path+UnsyncedMarkerSuffix) {
		t.Fatal("a synced store wrote the marker")
	}
	crash(t, s)
	s, err = Open(path, Options{Unsynced: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	eq(t, "discarded", s.Discarded(), "")
	eq(t, "digest", digest(t, s), want)
}
