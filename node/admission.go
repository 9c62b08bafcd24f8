package node

import (
	"container/heap"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/settlement"
)

// admission is a node's call admission control: a member's calls per
// second, concurrent calls and credit, checked before anything is proposed
// so that a member over a limit is refused without a Raft round trip.
//
// It is a cache in front of the ledger, not a second source of truth. The
// limits hold cluster-wide in the ledger (ledger/admission.go: every
// replica applies the same decision to every Authorize, whichever node it
// came through). The ledger's view reaches a node through Store.Admission:
// one committed version of ledger.db, at most one commit interval behind
// the log, with its log index. What that version cannot show yet is what
// this node did since: its calls in flight (reserved, not yet committed),
// its calls committed at a later index, and its calls whose end (their
// usage, recorded here) came after that index. admission keeps exactly
// those and corrects the ledger's counts with them; each call counts here
// only until a version includes it (TransactionIndex(tx) ≤ index), from
// then on the ledger counts it and releases it when its usage reaches any
// node, and an end counts here only until a version may include it. Only
// the CPS bucket is this node's own (in front of the ledger's).
//
// Use: r, refusal := adm.Reserve(...); defer r.Release(); …; r.Commit(tx,
// until) once the ledger returned the call's transaction. Release is
// idempotent and releases whatever was not committed, so a refusal, an
// error or a panic recovered between Reserve and Commit never leaks a
// slot or a hold. End ends a committed call locally (its usage was
// recorded).
//
// The zero value is not usable; build it with newAdmission. Safe for
// concurrent use.
type admission struct {
	now      func() time.Time
	validity time.Duration // tokens' validity: a call authorised at t for L s ends by t + validity + L
	view     func(member, currency string, at time.Time) (ledger.Admission, error)
	applied  func() uint64 // this replica's applied log index
	// txIndex reads the log index out of a transaction id (the network's
	// id layout: Network.TransactionIndex); set before use.
	txIndex func(uint64) uint64

	fraudRefused atomic.Uint64 // calls Screen refused (metrics)

	mu    sync.Mutex
	cps   map[string]*bucket
	calls map[string]map[*reservation]struct{} // member → its calls here the ledger's file does not have yet
	ended map[string]map[*reservation]struct{} // member → its calls ended here that the ledger's file may still count
	byTx  map[uint64]*reservation              // committed calls by transaction, until they end or expire
	exp   expiryHeap                           // byTx by until, to forget expired calls
}

// bucket is one member's CPS token bucket on this node.
type bucket struct {
	tokens float64
	last   time.Time
}

// newAdmission returns an admission that reads the ledger's view with view
// (Store.Admission), this replica's applied index with applied
// (Store.AppliedIndex) and the time with now; validity is the tokens'
// validity (a call's slot and hold last until its token expired plus its
// time limit).
func newAdmission(now func() time.Time, validity time.Duration, view func(member, currency string, at time.Time) (ledger.Admission, error), applied func() uint64) *admission {
	return &admission{now: now, validity: validity, view: view, applied: applied, txIndex: ledger.TransactionIndex,
		cps: map[string]*bucket{}, calls: map[string]map[*reservation]struct{}{},
		ended: map[string]map[*reservation]struct{}{}, byTx: map[uint64]*reservation{}}
}

// refusal is why an authorisation is refused: the OSP status code and the
// description of the answer.
type refusal struct {
	code int
	desc string
}

// reservation is one call admitted by Reserve: its granted time limit and
// credit hold, and its place in the member's counts until it is committed
// (then until it ends) or released. Its methods are safe for concurrent
// use; a nil *reservation does nothing.
type reservation struct {
	a       *admission
	member  string
	limited bool // the member has a limit: the ledger must admit the call too
	tracked bool // counted here (the member has a concurrency or credit limit)
	limit   int
	hold    money.Amount
	active  time.Time // when the call can no longer be in progress (the ledger's ActiveUntil)

	// under a.mu
	until   time.Time // when it stops counting here
	tx      uint64    // its transaction once committed
	index   uint64    // the log index of tx's entry (a.txIndex)
	done    bool      // committed or released
	endedAt uint64    // ended here: this replica's applied index then (the usage is at or after it)
}

// Reserve admits one call of member m authorised at at, planned by credit
// (settlement's credit policy for this call): calls per second (this
// node's bucket of m.CPSLimit tokens refilled at CPSLimit per second), then
// credit (credit.Grant of m's remaining credit: CreditLimit − posted
// balance − credit held by its calls on every node), then concurrent calls
// (calls in progress on every node); both as the ledger's file shows them,
// corrected by what this node did since (see admission). The credit check
// and the hold are one step under one lock, so N concurrent authorisations
// share the credit instead of each getting all of it. A ledger view that
// cannot be read counts this node's calls only, and grants the full time
// limit without a hold (as before the ledger kept admission).
//
// It returns the reservation, or a refusal (codeCPS; codeConcurrent with
// "credit limit reached" or "concurrent call limit reached") and a nil
// reservation. The caller must Release the reservation (defer it), and
// Commit it once the call's transaction is recorded.
func (a *admission) Reserve(at time.Time, m *ledger.Member, credit settlement.CallCredit) (*reservation, *refusal) {
	cl := m.CreditLimit
	hasCredit := cl.Currency() != "" && !cl.IsZero()
	r := &reservation{a: a, member: m.ID, limit: credit.Max,
		limited: m.CPSLimit > 0 || m.ConcurrentLimit > 0 || hasCredit,
		tracked: m.ConcurrentLimit > 0 || hasCredit}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.allowCallLocked(m.ID, m.CPSLimit, now) {
		return nil, &refusal{code: codeCPS}
	}
	if !r.tracked {
		r.active, r.done = at.Add(a.validity).Add(secondsDur(r.limit)), true
		return r, nil
	}
	currency := ""
	if hasCredit {
		currency = cl.Currency()
	}
	calls, held, ad, err := a.countLocked(m.ID, currency, now)
	if hasCredit && err == nil { // unreadable: as before, the full limit without a hold
		rem, err := cl.Sub(ad.Balance)
		if err == nil {
			rem, err = rem.Sub(held)
		}
		if err == nil {
			limit, hold, why := credit.Grant(rem)
			if limit <= 0 {
				return nil, &refusal{code: codeConcurrent, desc: why}
			}
			r.limit, r.hold = limit, hold
		}
	}
	if m.ConcurrentLimit > 0 && calls >= m.ConcurrentLimit {
		return nil, &refusal{code: codeConcurrent, desc: "concurrent call limit reached"}
	}
	r.active = at.Add(a.validity).Add(secondsDur(r.limit))
	r.until = r.active
	addTo(a.calls, r)
	return r, nil
}

// countLocked returns member's calls in progress on every node and the
// credit they hold in currency ("" : calls only), with the ledger's view
// they are based on: the file's figures corrected by this node's calls the
// file does not have yet and by its ended calls whose end the file does
// not have yet. It stops counting what no longer needs correcting. On a
// view error it counts this node's calls only and returns the error.
func (a *admission) countLocked(member, currency string, now time.Time) (int, money.Amount, ledger.Admission, error) {
	ad, err := a.view(member, currency, now)
	if err != nil {
		a.dropExpiredLocked(member, now)
		return len(a.calls[member]), money.Amount{}, ad, err
	}
	held := ad.Held
	if held.Currency() != currency {
		held = money.Zero(currency)
	}
	calls := ad.Calls
	for r := range a.calls[member] {
		switch {
		case now.After(r.until):
			a.dropLocked(r)
		case r.tx != 0 && r.index <= ad.Index:
			// The file has the call: the ledger counts it, and releases it
			// when its usage reaches any node. (byTx keeps it for End.)
			uncount(a.calls, r)
		default:
			calls++
			held = addSame(held, r.hold, 1)
		}
	}
	for r := range a.ended[member] {
		switch {
		case ad.Index >= r.endedAt || now.After(r.active):
			uncount(a.ended, r) // the file may have the end, or the call is over anyway
		case r.index <= ad.Index:
			// The file has the call but not its end: it still counts it.
			calls = max(calls-1, 0)
			held = addSame(held, r.hold, -1)
		}
	}
	return calls, held, ad, nil
}

// addSame returns sum + sign × x when x is in sum's currency, else sum.
func addSame(sum, x money.Amount, sign int) money.Amount {
	if x.Currency() != sum.Currency() || x.IsZero() {
		return sum
	}
	if sign < 0 {
		x = x.Neg()
	}
	if s, err := sum.Add(x); err == nil {
		return s
	}
	return sum
}

func addTo(sets map[string]map[*reservation]struct{}, r *reservation) {
	set := sets[r.member]
	if set == nil {
		set = map[*reservation]struct{}{}
		sets[r.member] = set
	}
	set[r] = struct{}{}
}

func uncount(sets map[string]map[*reservation]struct{}, r *reservation) {
	if set := sets[r.member]; set != nil {
		delete(set, r)
		if len(set) == 0 {
			delete(sets, r.member)
		}
	}
}

// expiryHeap orders committed calls by until (container/heap).
type expiryHeap []*reservation

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(*reservation)) }
func (h *expiryHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return r
}

// forgetExpiredLocked forgets the committed calls that are over: End
// would find nothing left to correct for them.
func (a *admission) forgetExpiredLocked(now time.Time) {
	for len(a.exp) > 0 && now.After(a.exp[0].until) {
		r := heap.Pop(&a.exp).(*reservation)
		a.dropLocked(r)
		uncount(a.ended, r)
	}
}

// Limit returns the call's granted time limit in seconds.
func (r *reservation) Limit() int { return r.limit }

// Hold returns the credit the call holds (zero, no currency: none).
func (r *reservation) Hold() money.Amount { return r.hold }

// ActiveUntil returns when the call can no longer be in progress (its
// token's validity plus its limit), or the zero time when the member has
// no limit for the ledger to check: what Authorize.ActiveUntil carries.
func (r *reservation) ActiveUntil() time.Time {
	if !r.limited {
		return time.Time{}
	}
	return r.active
}

// Commit turns the reservation into the call tx, counted here until until
// (when it can no longer be in progress) or until the ledger's file has
// it. A transaction that already counts here (a retry that raced its first
// attempt to the ledger and got the same transaction back) keeps its one
// slot and hold and this reservation is dropped: one call, one slot. A
// reservation already released or committed, or expired, is not counted
// again.
func (r *reservation) Commit(tx uint64, until time.Time) {
	if r == nil {
		return
	}
	a := r.a
	index := a.txIndex(tx) // outside the lock: it reads the node's view
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.done {
		return
	}
	r.done = true
	if _, live := a.calls[r.member][r]; !live || tx == 0 || a.byTx[tx] != nil || a.now().After(r.until) {
		a.dropLocked(r)
		return
	}
	r.tx, r.index, r.until = tx, index, until
	a.byTx[tx] = r
	heap.Push(&a.exp, r)
	a.forgetExpiredLocked(a.now())
}

// Release gives back what the reservation holds if it was not committed:
// its concurrent-call slot and its credit hold. It is idempotent and does
// nothing after Commit, so callers defer it right after Reserve. The CPS
// token stays spent.
func (r *reservation) Release() {
	if r == nil {
		return
	}
	a := r.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.done {
		return
	}
	r.done = true
	a.dropLocked(r)
}

// End ends the call tx here: its usage was recorded, so it no longer
// counts against its member's concurrent calls or credit on this node, and
// until the ledger's file may have that usage, the file's count of the call
// is corrected (the ledger ends it in the same command as the usage).
// Unknown transactions are ignored; a second End does nothing.
func (a *admission) End(tx uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.byTx[tx]
	if r == nil {
		return
	}
	a.dropLocked(r)
	r.endedAt = a.applied()
	addTo(a.ended, r)
}

// held returns the credit member's calls in progress hold in currency on
// every node, as this node sees it, and how many calls are in progress.
// For tests and operators.
func (a *admission) held(member, currency string) (money.Amount, int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	calls, held, _, err := a.countLocked(member, currency, now)
	if err != nil {
		return money.Amount{}, 0, err
	}
	return held, calls, nil
}

// allowCallLocked takes one token from member's CPS bucket; false when
// limit (calls per second, > 0) is exhausted.
func (a *admission) allowCallLocked(member string, limit int, now time.Time) bool {
	if limit <= 0 {
		return true
	}
	b := a.cps[member]
	if b == nil {
		b = &bucket{tokens: float64(limit), last: now}
		a.cps[member] = b
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

// dropExpiredLocked drops member's calls that are over.
func (a *admission) dropExpiredLocked(member string, now time.Time) {
	for r := range a.calls[member] {
		if now.After(r.until) {
			a.dropLocked(r)
		}
	}
}

// dropLocked stops counting r here (it may stay in exp, which holds it
// until it is over, and in ended).
func (a *admission) dropLocked(r *reservation) {
	uncount(a.calls, r)
	if r.tx != 0 && a.byTx[r.tx] == r {
		delete(a.byTx, r.tx)
	}
}

// fraudBlocks indexes the ledger's active fraud blocks (ledger.FraudBlock)
// for Screen: by member, and by calling number for the blocks of every
// member. Immutable once built (one per Fraud generation of the view).
type fraudBlocks struct {
	byMember  map[string][]*ledger.FraudBlockRecord
	anyMember map[string][]*ledger.FraudBlockRecord // calling number → blocks of every member
	active    int
}

func newFraudBlocks(rs []ledger.FraudBlockRecord) *fraudBlocks {
	b := &fraudBlocks{byMember: map[string][]*ledger.FraudBlockRecord{}, anyMember: map[string][]*ledger.FraudBlockRecord{}}
	for i := range rs {
		r := &rs[i]
		if !r.Active() {
			continue
		}
		b.active++
		if r.Member == "" {
			b.anyMember[r.Calling] = append(b.anyMember[r.Calling], r)
		} else {
			b.byMember[r.Member] = append(b.byMember[r.Member], r)
		}
	}
	return b
}

// match returns the first active block that refuses a call of member
// from calling to called, or nil.
func (b *fraudBlocks) match(member, calling, called string) *ledger.FraudBlockRecord {
	if b == nil || b.active == 0 {
		return nil
	}
	for _, r := range b.byMember[member] {
		if r.Matches(member, calling, called) {
			return r
		}
	}
	if calling != "" {
		for _, r := range b.anyMember[calling] {
			if r.Matches(member, calling, called) {
				return r
			}
		}
	}
	return nil
}

// callingDigits is the form fraud control keys and matches calling
// numbers by: the digits of the user part ("+1 (555) 000-1234",
// "tel:+15550001234" and "sip:15550001234@proxy;user=phone" are all
// 15550001234), so that a member cannot step around a calling-number
// block by formatting the number differently. "" when there are none.
func callingDigits(s string) string {
	if i := strings.IndexAny(s, "@;"); i >= 0 {
		s = s[:i]
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	if n == len(s) {
		return s
	}
	b := make([]byte, 0, n)
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// Screen refuses a call that one of the ledger's fraud blocks matches
// (blocks, the view's): 403, the status the toolkit knows as a blocked
// route, naming the block for the member's operators to quote. It runs
// first in admission, before a retry is answered from the ledger: a
// block stops fresh tokens for a call authorised before it too. calling
// is callingDigits of the request's calling number ("" when none), called
// its E.164 digits.
func (a *admission) Screen(blocks *fraudBlocks, member, calling, called string) *refusal {
	r := blocks.match(member, calling, called)
	if r == nil {
		return nil
	}
	a.fraudRefused.Add(1)
	what := "destination " + r.Prefix
	if r.Calling != "" {
		what = "calling number " + r.Calling
	}
	return &refusal{code: codeBlocked, desc: what + " blocked by fraud control (block " + r.ID + ", rule " + r.Rule + ")"}
}
