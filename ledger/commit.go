package ledger

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Deferred commit (group commit on the state machine side).
//
// The Raft log is the durable record of every applied entry: an entry is
// confirmed only once a quorum has it fsynced in raft-boltdb, and ApplyBatch
// is a deterministic function of it. Committing (and fsyncing) the ledger's
// bbolt file after every entry therefore buys nothing for durability; it only
// decides how much of the log a restart must replay. So, as etcd's backend
// does with its WAL, ApplyBatch applies entries into one open bbolt write
// transaction and commits it when CommitInterval has passed since its first
// entry, after CommitEntries entries, or when something needs the committed
// file to be current:
//
//   - every read through Store.view (all read APIs but the few documented as
//     possibly stale) commits first, so a caller reads its own writes;
//   - Snapshot commits first, so a snapshot holds exactly AppliedIndex;
//   - Close and Restore commit first.
//
// On a crash the file holds the last committed transaction and its applied
// index; raft replays its log from its latest snapshot and ApplyBatch skips
// what the file already holds. Snapshot commits first, so the file's applied
// index is never below the latest snapshot, and raft never compacts log
// entries after its latest snapshot: the entries to replay are always there.
//
// Locking order: s.mu (shared) before s.wmu. A commit that fails is a
// storage failure: the store records it and every later ApplyBatch panics
// with it (the node must stop and restart, replaying from the file's
// applied index), and reads return it.

// DefaultCommitInterval and DefaultCommitEntries bound how long and how many
// applied entries may wait in the open write transaction.
const (
	DefaultCommitInterval = 20 * time.Millisecond
	DefaultCommitEntries  = 1000
)

// pendingWrites is the state of the open write transaction.
type pendingWrites struct {
	wmu     sync.Mutex
	wtx     *bolt.Tx // nil when nothing is pending
	entries int      // log entries applied into wtx
	timer   *time.Timer
	broken  error // a failed commit; sticky

	// dirty mirrors wtx != nil for readers that must not wait on wmu when
	// there is nothing to commit.
	dirty atomic.Bool

	// newTx holds the transactions authorised in wtx, so that a read of one
	// (the usage of a call authorised a moment ago) need not force a
	// commit. Transactions are immutable once written. Cleared only after
	// the commit that made them visible returns.
	txmu     sync.Mutex
	newTx    map[uint64]*Transaction
	newTxKey map[string]uint64 // Authorize idempotency keys of newTx
}

func (s *Store) commitPolicy() (time.Duration, int) {
	return s.opts.CommitInterval, s.opts.CommitEntries
}

// writeTxLocked returns the open write transaction, beginning one if none
// is. The caller holds s.mu (shared) and s.p.wmu.
func (s *Store) writeTxLocked() (*bolt.Tx, error) {
	if s.p.wtx != nil {
		return s.p.wtx, nil
	}
	tx, err := s.db.Begin(true)
	if err != nil {
		return nil, err
	}
	s.p.wtx = tx
	s.p.entries = 0
	s.p.dirty.Store(true)
	if interval, _ := s.commitPolicy(); interval > 0 {
		if s.p.timer == nil {
			s.p.timer = time.AfterFunc(interval, s.commitAged)
		} else {
			s.p.timer.Reset(interval)
		}
	}
	return tx, nil
}

// entryAppliedLocked counts one applied entry and commits when the policy
// says so. The caller holds s.mu (shared) and s.p.wmu.
func (s *Store) entryAppliedLocked() error {
	s.p.entries++
	interval, maxEntries := s.commitPolicy()
	if interval <= 0 || s.p.entries >= maxEntries {
		return s.commitLocked()
	}
	return nil
}

// commitLocked commits the open write transaction, if any. The caller holds
// s.mu (shared or exclusive) and s.p.wmu.
func (s *Store) commitLocked() error {
	if s.p.broken != nil {
		return s.p.broken
	}
	if s.p.wtx == nil {
		return nil
	}
	if s.p.timer != nil {
		s.p.timer.Stop()
	}
	err := s.p.wtx.Commit()
	s.p.wtx = nil
	s.p.entries = 0
	s.p.dirty.Store(false)
	if err != nil {
		// The applied entries are gone from this file but AppliedIndex
		// claims them: nothing may be applied or read on top of that.
		s.p.broken = fmt.Errorf("ledger: commit: %w", err)
		s.log.Error("ledger commit failed; the node must restart and replay its log", "err", err)
		return s.p.broken
	}
	s.p.txmu.Lock()
	clear(s.p.newTx)
	clear(s.p.newTxKey)
	s.p.txmu.Unlock()
	return nil
}

// rollbackLocked drops the open write transaction and what it held, after
// a panic inside apply. AppliedIndex goes back to the file's.
func (s *Store) rollbackLocked() {
	if s.p.wtx == nil {
		return
	}
	if s.p.timer != nil {
		s.p.timer.Stop()
	}
	_ = s.p.wtx.Rollback()
	s.p.wtx = nil
	s.p.entries = 0
	s.p.dirty.Store(false)
	s.p.txmu.Lock()
	clear(s.p.newTx)
	clear(s.p.newTxKey)
	s.p.txmu.Unlock()
	_ = s.loadCaches()
}

// commitAged is the timer's callback: it commits entries that have waited
// CommitInterval.
func (s *Store) commitAged() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return
	}
	s.p.wmu.Lock()
	defer s.p.wmu.Unlock()
	_ = s.commitLocked() // a failure is recorded in s.p.broken
}

// flushLocked commits pending entries so that a read sees them. The caller
// holds s.mu (shared or exclusive) but not s.p.wmu.
func (s *Store) flushLocked() error {
	if !s.p.dirty.Load() {
		s.p.wmu.Lock()
		err := s.p.broken
		s.p.wmu.Unlock()
		return err
	}
	s.p.wmu.Lock()
	defer s.p.wmu.Unlock()
	return s.commitLocked()
}

// Flush commits every applied entry to the file now (and fsyncs it unless
// the store is Unsynced or NoSync). Reads do this themselves; Flush is for
// callers that want the file current, such as tools copying it.
func (s *Store) Flush() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return ErrClosed
	}
	return s.flushLocked()
}

// rememberTx records a transaction authorised in the open write
// transaction (see pendingWrites.newTx).
func (s *Store) rememberTx(id uint64, t *Transaction) {
	s.p.txmu.Lock()
	if s.p.newTx == nil {
		s.p.newTx = make(map[uint64]*Transaction)
		s.p.newTxKey = make(map[string]uint64)
	}
	s.p.newTx[id] = t
	// Both spellings of the key, as TransactionByKey looks up both.
	s.p.newTxKey[string(txIdemKey(t.SourceMember, t.MessageID, t.CallID))] = id
	s.p.newTxKey[string(txIdemKeyV1(t.SourceMember, t.MessageID, t.CallID))] = id
	s.p.txmu.Unlock()
}

// pendingTxByKey is pendingTx by Authorize idempotency key.
func (s *Store) pendingTxByKey(member, messageID, callID string) *Transaction {
	s.p.txmu.Lock()
	id, ok := s.p.newTxKey[string(txIdemKey(member, messageID, callID))]
	if !ok {
		id, ok = s.p.newTxKey[string(txIdemKeyV1(member, messageID, callID))]
	}
	s.p.txmu.Unlock()
	if !ok {
		return nil
	}
	return s.pendingTx(id)
}

// pendingTx returns a copy of a transaction authorised in the open write
// transaction, or nil.
func (s *Store) pendingTx(id uint64) *Transaction {
	s.p.txmu.Lock()
	t := s.p.newTx[id]
	s.p.txmu.Unlock()
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// viewCommitted runs fn on the last committed state without committing
// pending entries first: it may miss up to CommitInterval of the most
// recent applies. Only for reads documented as possibly stale.
func (s *Store) viewCommitted(fn func(tx *bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return ErrClosed
	}
	return s.db.View(fn)
}
