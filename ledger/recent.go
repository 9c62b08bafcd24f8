package ledger

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bounded reverse scans of the recent history, for the in-memory state a
// node rebuilds on start instead of persisting it (route-quality windows,
// fraud baselines). Transaction ids carry their log index and usage ids
// are dense in apply order, so walking either bucket backwards from its
// last key walks the log backwards; each scan stops at the first record
// older than its cutoff (records are stamped by their proposers, so near
// the cutoff a record a few milliseconds out of order may be left out).

// maxRecentScan caps what one scan returns, whatever the caller asks:
// a rebuild must not hold more than a bounded slice of the ledger in
// memory.
const maxRecentScan = 1_000_000

// RecentCall is an admitted authorisation as a rebuild reads it: the
// transaction, and when the call could no longer be in progress if the
// ledger's admission index still counts it (Authorize.ActiveUntil; zero
// once the call ended or the member's limits never asked for it).
type RecentCall struct {
	Transaction
	ActiveUntil time.Time
}

// RecentCalls returns the transactions created at or after since, at most
// limit (capped at 1,000,000: the newest), in ID (log) order.
func (s *Store) RecentCalls(since time.Time, limit int) ([]RecentCall, error) {
	limit = min(max(limit, 0), maxRecentScan)
	var rev []*Transaction // newest first: copied once, in order, at the end
	var until []time.Time
	err := s.view(func(tx *bolt.Tx) error {
		adm := tx.Bucket(bAdmission)
		c := tx.Bucket(bTx).Cursor()
		for k, v := c.Last(); k != nil && len(rev) < limit; k, v = c.Prev() {
			r := rbuf{b: v}
			t := decodeTransaction(&r)
			if err := r.done(); err != nil {
				return fmt.Errorf("ledger: transaction %d: %w", beU64(k), err)
			}
			if t.CreatedAt.Before(since) {
				break
			}
			var au time.Time
			if adm != nil {
				// member, 0, until (UnixNano): admissionTxKey's value.
				if av := adm.Get(admissionTxKey(t.ID)); len(av) >= 8 {
					au = time.Unix(0, int64(binary.BigEndian.Uint64(av[len(av)-8:]))).UTC()
				}
			}
			rev, until = append(rev, t), append(until, au)
		}
		return nil
	})
	out := make([]RecentCall, len(rev))
	for i, t := range rev {
		out[len(rev)-1-i] = RecentCall{Transaction: *t, ActiveUntil: until[i]}
	}
	return out, err
}

// UsageSince returns the usage records recorded at or after since, and
// before them as many older ones as it takes to return atLeast records;
// at most limit in all (capped at 1,000,000: the newest), in ID (apply)
// order. A zero since with atLeast n is RecentUsage(n).
func (s *Store) UsageSince(since time.Time, atLeast, limit int) ([]Usage, error) {
	limit = min(max(limit, 0), maxRecentScan)
	var rev []*Usage // newest first: copied once, in order, at the end
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bUsage).Cursor()
		for k, v := c.Last(); k != nil && len(rev) < limit; k, v = c.Prev() {
			r := rbuf{b: v}
			u := decodeUsage(&r)
			if r.err != nil {
				return fmt.Errorf("ledger: usage %d: %w", beU64(k), r.err)
			}
			if len(rev) >= atLeast && u.RecordedAt.Before(since) {
				break
			}
			rev = append(rev, u)
		}
		return nil
	})
	out := make([]Usage, len(rev))
	for i, u := range rev {
		out[len(rev)-1-i] = *u
	}
	return out, err
}

// FirstActivity returns when the ledger's history of calls begins: the
// earlier of its oldest transaction's and oldest usage record's times
// (zero when it holds neither). A rebuilt fraud detector's learning
// period counts from it, as a node that applied the whole log counts
// from its first event.
func (s *Store) FirstActivity() (time.Time, error) {
	var first time.Time
	err := s.view(func(tx *bolt.Tx) error {
		if k, v := tx.Bucket(bTx).Cursor().First(); k != nil {
			r := rbuf{b: v}
			t := decodeTransaction(&r)
			if err := r.done(); err != nil {
				return fmt.Errorf("ledger: transaction %d: %w", beU64(k), err)
			}
			first = t.CreatedAt
		}
		if k, v := tx.Bucket(bUsage).Cursor().First(); k != nil {
			r := rbuf{b: v}
			u := decodeUsage(&r)
			if r.err != nil {
				return fmt.Errorf("ledger: usage %d: %w", beU64(k), r.err)
			}
			if first.IsZero() || u.RecordedAt.Before(first) {
				first = u.RecordedAt
			}
		}
		return nil
	})
	return first, err
}
