package ledger

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ospnode/ospnode/ledger/money"
)

// Cluster-wide admission (DESIGN.md, "Admission"). Every authorisation is
// a Raft command, so the state machine sees every node's calls: an
// Authorize carrying ActiveUntil is checked here against the source
// member's limits, the same on every replica, instead of against one
// node's memory. The state lives in the admission bucket, created by the
// first such command (a log without one leaves the file, and so the
// digest, exactly as before):
//
//	'm' member            → admissionState: calls in progress, credit held, CPS bucket
//	'e' member 0 until id → hold (amount): the calls by when they end
//	't' id                → member 0 until: the call of a transaction, to release it
//
// A call ends when its source usage is recorded (recordUsage) or when
// ActiveUntil passes; expired calls are dropped when the member's next
// admitted authorisation is applied, judged by that command's proposer
// time, never a clock.
var bAdmission = []byte("admission")

// admissionState is one member's admission record.
type admissionState struct {
	Calls int64
	// Held is the credit held by the calls in progress, in the currency
	// of the member's credit limit when they were admitted.
	Held money.Amount
	// CPS token bucket: thousandths of a call, refilled at the member's
	// CPSLimit per second of proposer time, and the time of the last
	// refill.
	TokensMilli int64
	Refilled    time.Time
}

func encodeAdmissionState(s *admissionState) []byte {
	var w wbuf
	w.i(s.Calls)
	w.amount(s.Held)
	w.i(s.TokensMilli)
	w.time(s.Refilled)
	return w.b
}

func decodeAdmissionState(v []byte) (admissionState, error) {
	r := rbuf{b: v}
	s := admissionState{Calls: r.i(), Held: r.amount(), TokensMilli: r.i(), Refilled: r.time()}
	return s, r.done()
}

func admissionMemberKey(member string) []byte { return append([]byte{'m'}, member...) }

func admissionEndPrefix(member string) []byte {
	k := append([]byte{'e'}, member...)
	return append(k, 0)
}

func admissionEndKey(member string, until time.Time, tx uint64) []byte {
	k := admissionEndPrefix(member)
	k = binary.BigEndian.AppendUint64(k, uint64(until.UnixNano()))
	return binary.BigEndian.AppendUint64(k, tx)
}

func admissionTxKey(tx uint64) []byte { return binary.BigEndian.AppendUint64([]byte{'t'}, tx) }

// memberLimits are the Member fields admission reads.
type memberLimits struct {
	CreditLimit     money.Amount
	CPSLimit        int
	ConcurrentLimit int
}

// admission is the outcome of checking one Authorize: a refusal, or the
// writes that admit it (done by commit once the transaction is stored).
type admission struct {
	member  string
	state   admissionState
	expired [][]byte // 'e' keys of calls that have ended
	hold    money.Amount
	until   time.Time
	held    bool // hold counts against the credit limit
}

// admit checks c against its source member's limits lim at c.At. It writes nothing:
// a refused command leaves the store untouched, and commit does the
// writes of an admitted one.
func (a *applier) admit(c *Authorize, lim memberLimits) (*admission, *Result) {
	ad := &admission{member: c.SourceMember, until: c.ActiveUntil, hold: c.Hold}
	b := a.tx.Bucket(bAdmission)
	if b != nil {
		if v := b.Get(admissionMemberKey(c.SourceMember)); v != nil {
			var err error
			ad.state, err = decodeAdmissionState(v)
			must(err)
		}
		// Calls whose end has passed, oldest first: they stop counting.
		pre := admissionEndPrefix(c.SourceMember)
		cur := b.Cursor()
		for k, v := cur.Seek(pre); k != nil && bytes.HasPrefix(k, pre); k, v = cur.Next() {
			end := int64(binary.BigEndian.Uint64(k[len(pre):]))
			if end > c.At.UnixNano() {
				break
			}
			ad.expired = append(ad.expired, bytes.Clone(k))
			ad.state.Calls--
			if h := decodeHold(v); !h.IsZero() && h.Currency() == ad.state.Held.Currency() {
				held, err := ad.state.Held.Sub(h)
				must(err)
				ad.state.Held = held
			}
		}
	}

	if c.Hold.Sign() < 0 {
		return nil, invalid("authorize: negative credit hold %s", c.Hold)
	}
	if lim.CPSLimit > 0 {
		full := int64(lim.CPSLimit) * 1000
		if ad.state.Refilled.IsZero() {
			ad.state.TokensMilli = full
		} else if el := c.At.Sub(ad.state.Refilled); el > 0 {
			// Proposers' clocks differ: time only moves forward here.
			el = min(el, time.Hour)
			ad.state.TokensMilli += int64(el) * int64(lim.CPSLimit) / int64(time.Millisecond)
		}
		ad.state.TokensMilli = min(full, ad.state.TokensMilli) // also after the limit was lowered
		if c.At.After(ad.state.Refilled) {
			ad.state.Refilled = c.At.UTC()
		}
		if ad.state.TokensMilli < 1000 {
			return nil, &Result{Code: RefusedCPS, Message: "calls per second limit reached"}
		}
		ad.state.TokensMilli -= 1000
	}
	ad.state.Calls = max(ad.state.Calls, 0)
	if lim.ConcurrentLimit > 0 && ad.state.Calls >= int64(lim.ConcurrentLimit) {
		return nil, &Result{Code: RefusedConcurrent, Message: "concurrent call limit reached"}
	}
	if cl := lim.CreditLimit; cl.Currency() != "" && !cl.IsZero() {
		if ad.state.Held.Currency() != cl.Currency() && ad.state.Held.IsZero() {
			// No hold yet, or only ended ones of a former limit's currency.
			ad.state.Held = money.Zero(cl.Currency())
		}
		rem, err := cl.Sub(a.balance(MemberAccount(c.SourceMember), cl.Currency()))
		must(err)
		if ad.state.Held.Currency() == cl.Currency() {
			rem, err = rem.Sub(ad.state.Held)
			must(err)
		}
		if rem.Sign() <= 0 {
			return nil, &Result{Code: RefusedCredit, Message: "credit limit reached"}
		}
		if h := c.Hold; !h.IsZero() && h.Currency() == cl.Currency() && ad.state.Held.Currency() == cl.Currency() {
			if cmp, err := h.Cmp(rem); err == nil && cmp > 0 {
				return nil, &Result{Code: RefusedCredit, Message: "credit limit reached: the call's hold of " + h.String() + " exceeds the remaining " + rem.String()}
			}
			ad.held = true
		}
	}
	return ad, nil
}

// commitAdmission records transaction id as a call in progress.
func (a *applier) commitAdmission(ad *admission, id uint64) {
	b, err := a.tx.CreateBucketIfNotExists(bAdmission)
	must(err)
	for _, k := range ad.expired {
		tx := binary.BigEndian.Uint64(k[len(k)-8:])
		must(b.Delete(k))
		must(b.Delete(admissionTxKey(tx)))
	}
	hold := money.Amount{}
	if ad.held {
		hold = ad.hold
		held, err := ad.state.Held.Add(hold)
		must(err)
		ad.state.Held = held
	}
	ad.state.Calls++
	var w wbuf
	w.amount(hold)
	must(b.Put(admissionEndKey(ad.member, ad.until, id), w.b))
	tk := append([]byte(ad.member), 0)
	tk = binary.BigEndian.AppendUint64(tk, uint64(ad.until.UnixNano()))
	must(b.Put(admissionTxKey(id), tk))
	must(b.Put(admissionMemberKey(ad.member), encodeAdmissionState(&ad.state)))
}

// releaseCall ends transaction id's call when its source member reports
// its usage (reporter is the member's account). A call that was never
// admitted, or already ended, is left alone.
func (a *applier) releaseCall(id uint64, reporter string) {
	b := a.tx.Bucket(bAdmission)
	if b == nil {
		return
	}
	v := b.Get(admissionTxKey(id))
	if len(v) < 9 {
		return
	}
	member := string(v[:len(v)-9])
	if reporter != MemberAccount(member) {
		return
	}
	until := time.Unix(0, int64(binary.BigEndian.Uint64(v[len(v)-8:])))
	ek := admissionEndKey(member, until, id)
	hold := money.Amount{}
	if hv := b.Get(ek); hv != nil {
		hold = decodeHold(hv)
	}
	st := admissionState{}
	if sv := b.Get(admissionMemberKey(member)); sv != nil {
		var err error
		st, err = decodeAdmissionState(sv)
		must(err)
	}
	st.Calls = max(st.Calls-1, 0)
	if !hold.IsZero() && hold.Currency() == st.Held.Currency() {
		held, err := st.Held.Sub(hold)
		must(err)
		st.Held = held
	}
	must(b.Delete(ek))
	must(b.Delete(admissionTxKey(id)))
	must(b.Put(admissionMemberKey(member), encodeAdmissionState(&st)))
}

// decodeHold reads a call's hold as the apply path needs it (a corrupt
// value stops the node); parseHold is the error-returning form.
func decodeHold(v []byte) money.Amount {
	h, err := parseHold(v)
	must(err)
	return h
}

func parseHold(v []byte) (money.Amount, error) {
	r := rbuf{b: v}
	h := r.amount()
	return h, r.done()
}

// balance is account's balance in currency as of this command: the
// batch's running balance when a posting of the batch touched it.
func (a *applier) balance(account, currency string) money.Amount {
	k := appendBalanceKey(nil, account, currency)
	if cur, ok := a.balances[string(k)]; ok {
		return *cur
	}
	if v := a.tx.Bucket(bBalances).Get(k); v != nil {
		b, err := decodeBalance(k, v)
		must(err)
		return b.Amount
	}
	return money.Zero(currency)
}

// Admission is a member's credit position and cluster-wide admission
// state as of one committed version of the file (Store.Admission).
type Admission struct {
	// Calls in progress and the credit they hold (in the currency of the
	// member's credit limit; zero value when none is held).
	Calls int
	Held  money.Amount
	// Balance is the member's posted balance in the currency asked for.
	Balance money.Amount
	// Index is the log index this version reflects: a call authorised at
	// a later index is not counted in it yet.
	Index uint64
}

// Admission returns member's posted balance in currency (none for ""), its calls in
// progress at time at and the credit they hold, all from one committed
// version of the file (read without forcing a commit, like
// CommittedBalance: at most one commit interval stale), and that version's
// index. It reads the member's record and subtracts the calls that ended
// by at but have not been dropped yet (the member's next admitted
// authorisation drops them): one read plus one per such call, not one per
// call in progress.
func (s *Store) Admission(member, currency string, at time.Time) (Admission, error) {
	out := Admission{Balance: money.Zero(currency)}
	err := s.viewCommitted(func(tx *bolt.Tx) error {
		out.Index = getU64(tx.Bucket(bMeta), kApplied)
		if currency != "" {
			k := balanceKey(MemberAccount(member), currency)
			if v := tx.Bucket(bBalances).Get(k); v != nil {
				b, err := decodeBalance(k, v)
				if err != nil {
					return err
				}
				out.Balance = b.Amount
			}
		}
		b := tx.Bucket(bAdmission)
		if b == nil {
			return nil
		}
		v := b.Get(admissionMemberKey(member))
		if v == nil {
			return nil
		}
		st, err := decodeAdmissionState(v)
		if err != nil {
			return err
		}
		pre := admissionEndPrefix(member)
		cur := b.Cursor()
		for k, v := cur.Seek(pre); k != nil && bytes.HasPrefix(k, pre); k, v = cur.Next() {
			if int64(binary.BigEndian.Uint64(k[len(pre):])) > at.UnixNano() {
				break
			}
			st.Calls--
			if h, err := parseHold(v); err == nil && !h.IsZero() && h.Currency() == st.Held.Currency() {
				held, err := st.Held.Sub(h)
				if err != nil {
					return err
				}
				st.Held = held
			}
		}
		out.Calls, out.Held = int(max(st.Calls, 0)), st.Held
		return nil
	})
	if err != nil {
		return Admission{}, fmt.Errorf("ledger: admission of %s: %w", member, err)
	}
	return out, nil
}
