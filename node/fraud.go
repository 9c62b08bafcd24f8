package node

import (
	"sync"
	"time"

	"github.com/ospnode/ospnode/ledger"
)

// fraud is a node's first line of call admission: calls per second (a
// token bucket of CPSLimit tokens refilled at CPSLimit per second, this
// node's requests only) and concurrent calls (the ledger's count of calls
// in progress on every node, plus this node's calls it does not show
// yet). It refuses without a Raft round trip; the ledger's admission
// (ledger/admission.go) is what holds the limits cluster-wide. Safe for
// concurrent use.
type fraud struct {
	now func() time.Time
	mu  sync.Mutex
	cps map[string]*bucket
	act map[string]*active // member → its calls in progress
	own map[uint64]string  // transaction → member, to release on usage
	// holds is the credit held by calls in flight (credit.go): same
	// lifetime as a concurrent-call slot, released by end too.
	holds *creditHolds
}

type bucket struct {
	tokens float64
	last   time.Time
}

type active struct {
	pending int                  // reserved, not yet committed
	calls   map[uint64]time.Time // transaction → when it can no longer be in progress
}

func newFraud(now func() time.Time) *fraud {
	return &fraud{now: now, cps: map[string]*bucket{}, act: map[string]*active{}, own: map[uint64]string{},
		holds: newCreditHolds(now)}
}

// allowCall takes one token from member's bucket; false when limit (calls
// per second, > 0) is exhausted.
func (f *fraud) allowCall(member string, limit int) bool {
	if limit <= 0 {
		return true
	}
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.cps[member]
	if b == nil {
		b = &bucket{tokens: float64(limit), last: now}
		f.cps[member] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(float64(limit), b.tokens+el*float64(limit))
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// reserve claims a concurrent-call slot for member (limit > 0); false when
// the member already has limit calls in progress. view, when not nil,
// reads the ledger's count of the member's calls in progress on every
// node (one committed file version and its log index, Store.Admission):
// the calls here that version has are dropped (the ledger releases them
// when their usage reaches any node) and the rest are added to its count.
// A view error falls back to this node's own count. A successful reserve
// must be followed by commit or cancel.
func (f *fraud) reserve(member string, limit int, view func() (int, uint64, error)) bool {
	if limit <= 0 {
		return true
	}
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.act[member]
	if a == nil {
		a = &active{calls: map[uint64]time.Time{}}
		f.act[member] = a
	}
	for tx, until := range a.calls {
		if now.After(until) {
			delete(a.calls, tx)
			delete(f.own, tx)
		}
	}
	elsewhere := 0
	if view != nil {
		if calls, index, err := view(); err == nil {
			elsewhere = calls
			for tx := range a.calls {
				if ledger.TransactionIndex(tx) <= index {
					delete(a.calls, tx)
					delete(f.own, tx)
				}
			}
		}
	}
	if elsewhere+a.pending+len(a.calls) >= limit {
		return false
	}
	a.pending++
	return true
}

// commit turns a reservation into the call tx, in progress until until
// (a retried authorisation commits the same tx again: one slot).
func (f *fraud) commit(member string, limit int, tx uint64, until time.Time) {
	if limit <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.act[member]
	if a == nil {
		return
	}
	a.pending = max(a.pending-1, 0)
	a.calls[tx] = until
	f.own[tx] = member
}

// cancel releases a reservation that did not become a call.
func (f *fraud) cancel(member string, limit int) {
	if limit <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if a := f.act[member]; a != nil {
		a.pending = max(a.pending-1, 0)
	}
}

// end releases the slot and the credit hold of transaction tx (usage was
// reported).
func (f *fraud) end(tx uint64) {
	f.holds.release(tx)
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.own[tx]
	if !ok {
		return
	}
	delete(f.own, tx)
	if a := f.act[m]; a != nil {
		delete(a.calls, tx)
	}
}
