package node

import (
	"sync"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
)

// creditHolds holds, per member, the credit of its calls in flight on this
// node: what each authorised call may cost at most (its time limit at the
// member's sell rate, connect fee and increments included). The ledger
// keeps the cluster-wide holds (ledger/admission.go: every node's admitted
// calls, released by their source usage), but a node reads them from the
// committed file, which lags the log by up to one commit interval, and an
// authorisation in flight is in no file yet. So the member's remaining
// credit is its credit limit − posted balance − the ledger's holds − the
// holds here that the file read does not have yet: pending ones, and
// committed ones whose log index is past the file's. N concurrent
// authorisations on one node therefore share the credit instead of each
// getting all of it, and the ledger refuses what would overcommit across
// nodes. A hold lives as long as the call's concurrent-call slot in fraud:
// taken at authorisation, released when usage for the transaction is
// recorded or when the longest possible call has ended. Safe for
// concurrent use.
type creditHolds struct {
	now   func() time.Time
	mu    sync.Mutex
	byMem map[string]map[*creditHold]struct{}
	byTx  map[uint64]*creditHold
}

// creditHold is one call's hold: pending (tx 0) between the credit check
// and the commit of its transaction, then keyed by the transaction.
type creditHold struct {
	member string
	amount money.Amount
	until  time.Time // after it the call cannot be in progress any more
	tx     uint64
}

func newCreditHolds(now func() time.Time) *creditHolds {
	return &creditHolds{now: now, byMem: map[string]map[*creditHold]struct{}{}, byTx: map[uint64]*creditHold{}}
}

// take computes member's remaining credit — unheld (credit limit − posted
// balance − the ledger's holds, as of the file version at index) minus
// this node's live holds that version does not count — hands it to size,
// and records the hold size returns (none when its amount is zero or has
// no currency). All of it runs under one lock, so two concurrent
// authorisations of a member on this node cannot spend the same credit;
// unheld is read under the lock too, so a usage that posts and releases
// its hold meanwhile is counted once or twice (the safe side), never
// missed. A hold returned must be passed to commit or cancel; nil: none.
func (c *creditHolds) take(member string, unheld func() (money.Amount, uint64, error), size func(remaining money.Amount, err error) (money.Amount, time.Time)) *creditHold {
	c.mu.Lock()
	defer c.mu.Unlock()
	rem, index, err := unheld()
	if err == nil {
		rem, err = c.subHeldLocked(member, rem, index)
	}
	amount, until := size(rem, err)
	if amount.Currency() == "" || amount.Sign() <= 0 {
		return nil
	}
	h := &creditHold{member: member, amount: amount, until: until}
	set := c.byMem[member]
	if set == nil {
		set = map[*creditHold]struct{}{}
		c.byMem[member] = set
	}
	set[h] = struct{}{}
	return h
}

// subHeldLocked returns rem minus member's live holds in rem's currency
// that the ledger's file version at index does not count (pending, or
// committed at a later index), dropping the holds that have expired.
func (c *creditHolds) subHeldLocked(member string, rem money.Amount, index uint64) (money.Amount, error) {
	now := c.now()
	for h := range c.byMem[member] {
		if now.After(h.until) {
			c.dropLocked(h)
			continue
		}
		if h.tx != 0 && ledger.TransactionIndex(h.tx) <= index {
			// The ledger's file has this call: it counts the hold, and
			// releases it when the call's usage reaches any node. Keeping it
			// here would count a call whose usage went to another node
			// until it expired.
			c.dropLocked(h)
			continue
		}
		if h.amount.Currency() != rem.Currency() {
			continue
		}
		r, err := rem.Sub(h.amount)
		if err != nil {
			return rem, err
		}
		rem = r
	}
	return rem, nil
}

// commit keys hold h by its committed transaction tx, to live until
// until. A transaction
// that already has a hold (a retry that raced its first attempt to the
// ledger and got the same transaction back) keeps the one it has and h is
// dropped: one call, one hold. h may be nil.
func (c *creditHolds) commit(h *creditHold, tx uint64, until time.Time) {
	if h == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, live := c.byMem[h.member][h]; !live || c.now().After(h.until) {
		c.dropLocked(h) // expired while pending
		return
	}
	if tx == 0 || c.byTx[tx] != nil {
		c.dropLocked(h)
		return
	}
	h.tx, h.until = tx, until
	c.byTx[tx] = h
}

// cancel releases a pending hold whose authorisation was refused or not
// committed. h may be nil.
func (c *creditHolds) cancel(h *creditHold) {
	if h == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(h)
}

// release drops the hold of transaction tx (its usage was recorded).
func (c *creditHolds) release(tx uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h := c.byTx[tx]; h != nil {
		c.dropLocked(h)
	}
}

// held returns the credit member's calls in progress hold in currency on
// every node, as this node sees it: the ledger's holds (from view, one
// committed file version and its index) plus this node's holds that
// version does not have; and how many calls that is. For tests and
// operators.
func (c *creditHolds) held(member, currency string, view func() (money.Amount, int, uint64, error)) (money.Amount, int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sum, calls, index, err := view()
	if err != nil {
		return money.Amount{}, 0, err
	}
	if sum.Currency() == "" {
		sum = money.Zero(currency)
	}
	now := c.now()
	for h := range c.byMem[member] {
		if now.After(h.until) || h.amount.Currency() != currency || (h.tx != 0 && ledger.TransactionIndex(h.tx) <= index) {
			continue
		}
		if s, err := sum.Add(h.amount); err == nil {
			sum, calls = s, calls+1
		}
	}
	return sum, calls, nil
}

func (c *creditHolds) dropLocked(h *creditHold) {
	if set := c.byMem[h.member]; set != nil {
		delete(set, h)
		if len(set) == 0 {
			delete(c.byMem, h.member)
		}
	}
	if h.tx != 0 && c.byTx[h.tx] == h {
		delete(c.byTx, h.tx)
	}
}
