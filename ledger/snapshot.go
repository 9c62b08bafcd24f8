package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Snapshot is a point-in-time view of the store that can be written out.
// It matches the shape consensus expects of an FSM snapshot.
type Snapshot interface {
	// Persist writes the whole store (a bbolt file image) to w.
	Persist(w io.Writer) error
	// Release ends the view; it must be called exactly once.
	Release()
}

type boltSnapshot struct {
	tx *bolt.Tx
}

// Persist streams the file image of the snapshot's read transaction.
func (s *boltSnapshot) Persist(w io.Writer) error {
	if _, err := s.tx.WriteTo(w); err != nil {
		return fmt.Errorf("ledger: persist snapshot: %w", err)
	}
	return nil
}

// Release ends the read transaction.
func (s *boltSnapshot) Release() { _ = s.tx.Rollback() }

// Snapshot captures the current state cheaply (it opens a bbolt read
// transaction); Persist does the I/O and may run concurrently with
// ApplyBatch. Release must be called, or the file cannot be closed and its
// freed pages are never reused.
func (s *Store) Snapshot() (Snapshot, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return nil, ErrClosed
	}
	// The snapshot must hold exactly AppliedIndex (raft records it as the
	// snapshot's index and may compact the log up to it).
	if err := s.flushLocked(); err != nil {
		return nil, fmt.Errorf("ledger: snapshot: %w", err)
	}
	tx, err := s.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("ledger: snapshot: %w", err)
	}
	return &boltSnapshot{tx: tx}, nil
}

// Restore replaces the whole state with a snapshot written by Persist. It
// streams r into a new file beside the store, checks it opens as a ledger,
// then swaps it in under the exclusive lock (waiting for outstanding reads
// and snapshots). On error the current state is left untouched.
func (s *Store) Restore(r io.Reader) error {
	if s.opts.ReadOnly {
		return fmt.Errorf("ledger: restore: %w", ErrReadOnly)
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".restore-*")
	if err != nil {
		return fmt.Errorf("ledger: restore: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // no-op after the rename
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return fmt.Errorf("ledger: restore: copy snapshot: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("ledger: restore: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("ledger: restore: %w", err)
	}
	// Validate before touching the live file.
	if err := validateSnapshotFile(tmpName); err != nil {
		return fmt.Errorf("ledger: restore: %w", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return ErrClosed
	}
	// Commit what is pending so the current file matches AppliedIndex
	// should the swap fail and the old file be reopened.
	if err := s.flushLocked(); err != nil {
		return fmt.Errorf("ledger: restore: %w", err)
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("ledger: restore: close current: %w", err)
	}
	s.db = nil
	if err := os.Rename(tmpName, s.path); err != nil {
		// Reopen the old file so the store stays usable.
		if db, oerr := s.openDB(s.path); oerr == nil {
			s.db = db
		}
		return fmt.Errorf("ledger: restore: swap: %w", err)
	}
	if d, err := os.Open(filepath.Dir(s.path)); err == nil {
		_ = d.Sync() // make the rename durable
		d.Close()
	}
	db, err := s.openDB(s.path)
	if err != nil {
		return fmt.Errorf("ledger: restore: reopen: %w", err)
	}
	s.db = db
	if err := s.loadCachesLocked(); err != nil {
		return err
	}
	s.log.Info("ledger restored", "applied_index", s.applied.Load())
	return nil
}

func (s *Store) loadCachesLocked() error { return s.loadCaches() }

// Digest returns a canonical SHA-256 over every bucket, key and value, in
// key order. Replicas that applied the same log have equal digests,
// including after snapshot and restore (which copy bytes exactly).
func (s *Store) Digest() ([32]byte, error) {
	var out [32]byte
	h := sha256.New()
	err := s.view(func(tx *bolt.Tx) error {
		var lenbuf [binary.MaxVarintLen64]byte
		put := func(tag byte, p []byte) {
			h.Write([]byte{tag})
			n := binary.PutUvarint(lenbuf[:], uint64(len(p)))
			h.Write(lenbuf[:n])
			h.Write(p)
		}
		var walk func(b *bolt.Bucket) error
		walk = func(b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				if v == nil { // nested bucket
					put('B', k)
					if err := walk(b.Bucket(k)); err != nil {
						return err
					}
					put('E', nil)
					return nil
				}
				put('K', k)
				put('V', v)
				return nil
			})
		}
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			put('B', name)
			if err := walk(b); err != nil {
				return err
			}
			put('E', nil)
			return nil
		})
	})
	if err != nil {
		return out, fmt.Errorf("ledger: digest: %w", err)
	}
	copy(out[:], h.Sum(nil))
	return out, nil
}

// validateSnapshotFile opens a restored file read-only and checks that it
// is a complete ledger: bbolt meta pages valid, the file as long as the
// pages its meta claims (a truncated stream would otherwise fault when a
// missing page is touched), our schema and an applied index.
func validateSnapshotFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("snapshot is not a bbolt file: %w", err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		if tx.Size() > fi.Size() {
			return fmt.Errorf("snapshot truncated: %d bytes, its pages need %d", fi.Size(), tx.Size())
		}
		meta := tx.Bucket(bMeta)
		if meta == nil {
			return errors.New("snapshot is not a ledger (no meta bucket)")
		}
		if v := meta.Get(kSchema); len(v) != 1 || v[0] != schemaVersion {
			return fmt.Errorf("snapshot schema %v not supported (want %d)", v, schemaVersion)
		}
		return nil
	})
}
