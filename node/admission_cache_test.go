package node

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/settlement"
)

// fakeLedger is the ledger's view of admission as Store.Admission gives
// it: one committed file version (index) with the member's calls, holds
// and balance.
type fakeLedger struct {
	ad      ledger.Admission
	err     error
	applied uint64 // the replica's applied index
}

func (f *fakeLedger) view(member, currency string, at time.Time) (ledger.Admission, error) {
	if f.err != nil {
		return ledger.Admission{}, f.err
	}
	ad := f.ad
	if ad.Held.Currency() == "" && currency != "" {
		ad.Held = money.Zero(currency)
	}
	return ad, nil
}

// testAdmission returns an admission over fl and a credit plan selling a
// minute at 1 USD (no deck: holds are whole minutes × 1), with a maximum
// of 600 s, so a call with enough credit holds 10 USD.
func testAdmission(clk *fakeClock, fl *fakeLedger) (*admission, settlement.CallCredit) {
	a := newAdmission(clk.now, 0, fl.view, func() uint64 { return fl.applied })
	return a, settlement.CallCredit{Max: 600, Sell: money.MustNew("1", "USD"), SellOK: true, Called: "1678", At: clk.now()}
}

func txAt(index uint64) uint64 {
	tx, ok := ledger.TransactionIDFor(0, index, 0)
	if !ok {
		panic("no transaction id")
	}
	return tx
}

// TestAdmissionReservations: what a reservation counts, for how long, and
// that Release and Commit settle it exactly once, whatever the order.
func TestAdmissionReservations(t *testing.T) {
	credit := &ledger.Member{ID: "m", CreditLimit: money.MustNew("25", "USD")}
	conc := &ledger.Member{ID: "m", ConcurrentLimit: 2}
	type step struct {
		do      string // reserve, commit, release, end, wait
		arg     uint64 // transaction (commit, end) or seconds (wait)
		refused string // reserve: the refusal's description, "" admitted
		limit   int    // reserve: the granted limit
	}
	tests := []struct {
		name  string
		m     *ledger.Member
		steps []step
		held  string // USD held at the end, as the node sees it
		calls int    // calls holding it
		local int    // calls counted here
	}{
		{"credit is shared by calls in flight", credit, []step{
			{do: "reserve", limit: 600}, {do: "reserve", limit: 600}, {do: "reserve", limit: 300},
			{do: "reserve", refused: "credit limit reached"},
		}, "25", 3, 3},
		{"release gives back, twice is once", credit, []step{
			{do: "reserve", limit: 600}, {do: "release"}, {do: "release"}, {do: "reserve", limit: 600},
		}, "10", 1, 1},
		{"release after commit keeps the call", credit, []step{
			{do: "reserve", limit: 600}, {do: "commit", arg: txAt(7)}, {do: "release"},
		}, "10", 1, 1},
		{"one transaction, one hold", credit, []step{
			{do: "reserve", limit: 600}, {do: "commit", arg: txAt(7)},
			{do: "reserve", limit: 600}, {do: "commit", arg: txAt(7)}, {do: "commit", arg: txAt(7)},
		}, "10", 1, 1},
		{"end releases a committed call", credit, []step{
			{do: "reserve", limit: 600}, {do: "commit", arg: txAt(7)}, {do: "end", arg: txAt(7)}, {do: "end", arg: txAt(7)},
		}, "0", 0, 0},
		{"expired calls lapse, pending or committed", credit, []step{
			{do: "reserve", limit: 600}, {do: "reserve", limit: 600}, {do: "commit", arg: txAt(7)},
			{do: "wait", arg: 601}, {do: "reserve", limit: 600},
		}, "10", 1, 1},
		{"concurrent calls", conc, []step{
			{do: "reserve", limit: 600}, {do: "reserve", limit: 600},
			{do: "reserve", refused: "concurrent call limit reached"},
			{do: "release"}, {do: "reserve", limit: 600},
		}, "0", 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
			a, cc := testAdmission(clk, &fakeLedger{})
			var last *reservation
			for i, s := range tc.steps {
				switch s.do {
				case "reserve":
					r, ref := a.Reserve(clk.now(), tc.m, cc)
					switch {
					case s.refused != "" && (ref == nil || ref.desc != s.refused || r != nil):
						t.Fatalf("step %d: %v %+v, want refused %q", i, r, ref, s.refused)
					case s.refused == "" && (ref != nil || r.Limit() != s.limit):
						t.Fatalf("step %d: %+v, want admitted for %d s", i, ref, s.limit)
					}
					if r != nil {
						last = r
					}
				case "commit":
					last.Commit(s.arg, clk.now().Add(10*time.Minute))
				case "release":
					last.Release()
				case "end":
					a.End(s.arg)
				case "wait":
					clk.add(time.Duration(s.arg) * time.Second)
				}
			}
			got, calls, err := a.held("m", "USD")
			if err != nil || !got.Equal(money.MustNew(tc.held, "USD")) || calls != tc.calls {
				t.Fatalf("held %s in %d calls (%v), want %s in %d", got, calls, err, tc.held, tc.calls)
			}
			if n := len(a.calls["m"]); n != tc.local {
				t.Fatalf("%d calls counted here, want %d", n, tc.local)
			}
		})
	}
}

// TestAdmissionPanicDoesNotLeak: a panic between Reserve and Commit,
// recovered as the OSP server recovers one, leaves no slot or hold behind
// (node/fraud.go's pending counter used to leak one until restart).
func TestAdmissionPanicDoesNotLeak(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	a, cc := testAdmission(clk, &fakeLedger{})
	m := &ledger.Member{ID: "m", ConcurrentLimit: 1, CreditLimit: money.MustNew("10", "USD")}
	for range 3 {
		func() {
			defer func() { _ = recover() }()
			r, ref := a.Reserve(clk.now(), m, cc)
			if ref != nil {
				t.Fatalf("refused: %+v", ref)
			}
			defer r.Release()
			panic("bug between reserve and commit")
		}()
	}
	if len(a.calls) != 0 || len(a.byTx) != 0 {
		t.Fatalf("left behind: %v %v", a.calls, a.byTx)
	}
}

// TestAdmissionLedgerTakesOver: once the ledger file a node reads has a
// call (its transaction's log index is at or below the file's), the node's
// own count of it is dropped and only the ledger's counts, so a call whose
// usage went to another node does not stay counted here until it expires;
// a call the file does not have yet still counts. An unreadable view
// counts this node's calls only and grants the full limit without a hold.
func TestAdmissionLedgerTakesOver(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	fl := &fakeLedger{}
	a, cc := testAdmission(clk, fl)
	m := &ledger.Member{ID: "m", ConcurrentLimit: 2, CreditLimit: money.MustNew("30", "USD")}
	reserve := func() *reservation {
		t.Helper()
		r, ref := a.Reserve(clk.now(), m, cc)
		if ref != nil {
			t.Fatalf("refused: %+v", ref)
		}
		return r
	}
	r1 := reserve()
	r1.Commit(txAt(5), clk.now().Add(time.Hour))
	reserve()       // pending: counts
	fl.ad.Index = 4 // the file does not have tx 5 yet
	if _, ref := a.Reserve(clk.now(), m, cc); ref == nil || ref.desc != "concurrent call limit reached" {
		t.Fatalf("third call with two here: %+v", ref)
	}
	// The file has tx 5 now, with its hold, released elsewhere already.
	fl.ad = ledger.Admission{Index: 5, Calls: 0, Held: money.MustNew("0", "USD")}
	r3 := reserve()
	if _, ok := a.calls["m"][r1]; ok {
		t.Fatal("the call the ledger has is still counted here")
	}
	if got, n, _ := a.held("m", "USD"); got.Text() != "20" || n != 2 {
		t.Fatalf("held %s in %d, want 20 in 2", got.Text(), n)
	}
	// The ledger's own counts come first.
	r3.Release()
	fl.ad = ledger.Admission{Index: 5, Calls: 1, Held: money.MustNew("15", "USD"), Balance: money.MustNew("10", "USD")}
	// 30 − 10 posted − 15 held by the ledger − 10 pending here < 0.
	if _, ref := a.Reserve(clk.now(), m, cc); ref == nil || ref.desc != "credit limit reached" {
		t.Fatalf("over the credit with the ledger's holds: %+v", ref)
	}
	// An unreadable view: this node's calls only, the full limit, no hold.
	fl.err = errors.New("file closed")
	if r, ref := a.Reserve(clk.now(), m, cc); ref != nil || r.Limit() != 600 || r.Hold().Currency() != "" {
		t.Fatalf("view unreadable: %+v %+v", r, ref)
	}
}

// TestAdmissionEndBeforeTheFile: a call whose usage was recorded here no
// longer counts, even while the ledger's file (read at an index between
// the call and its usage) still counts it; once the file may have the
// usage, the ledger's figures stand alone.
func TestAdmissionEndBeforeTheFile(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	fl := &fakeLedger{}
	a, cc := testAdmission(clk, fl)
	m := &ledger.Member{ID: "m", ConcurrentLimit: 1, CreditLimit: money.MustNew("10", "USD")}
	r, ref := a.Reserve(clk.now(), m, cc)
	if ref != nil {
		t.Fatal(ref)
	}
	r.Commit(txAt(5), clk.now().Add(time.Hour))
	// The file has the call (index 5) and its hold, not its usage (index 7).
	fl.ad = ledger.Admission{Index: 6, Calls: 1, Held: money.MustNew("10", "USD"), Balance: money.MustNew("0", "USD")}
	if _, ref := a.Reserve(clk.now(), m, cc); ref == nil {
		t.Fatal("admitted over the limit")
	}
	fl.applied = 7
	a.End(txAt(5))
	a.End(txAt(5)) // twice is once
	if got, n, _ := a.held("m", "USD"); !got.IsZero() || n != 0 {
		t.Fatalf("after End: held %s in %d, want nothing", got, n)
	}
	r2, ref := a.Reserve(clk.now(), m, cc)
	if ref != nil {
		t.Fatalf("refused after the call ended here: %+v", ref)
	}
	r2.Release()
	// The file reaches the usage: its figures alone (here: still a call,
	// from another node).
	fl.ad.Index = 7
	if _, ref := a.Reserve(clk.now(), m, cc); ref == nil {
		t.Fatal("the correction outlived the file's catching up")
	}
	if len(a.ended) != 0 {
		t.Fatalf("ended calls kept: %v", a.ended)
	}
}

// TestAdmissionCPS: the bucket holds CPSLimit tokens, refills at CPSLimit
// per second, and a refusal takes nothing else.
func TestAdmissionCPS(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	a, cc := testAdmission(clk, &fakeLedger{err: errors.New("no file")})
	m := &ledger.Member{ID: "m", CPSLimit: 2}
	var got []string
	for _, wait := range []time.Duration{0, 0, 0, 500 * time.Millisecond, 0, time.Second, 0, 0} {
		clk.add(wait)
		r, ref := a.Reserve(clk.now(), m, cc)
		switch {
		case ref != nil:
			got = append(got, fmt.Sprint(ref.code))
		default:
			got = append(got, "ok")
			if r.ActiveUntil().IsZero() {
				t.Fatal("a member with a CPS limit must ask the ledger too (ActiveUntil)")
			}
			r.Release()
		}
	}
	want := fmt.Sprint([]string{"ok", "ok", fmt.Sprint(codeCPS), "ok", fmt.Sprint(codeCPS), "ok", "ok", fmt.Sprint(codeCPS)})
	if fmt.Sprint(got) != want {
		t.Fatalf("got %v, want %v", got, want)
	}
	if r, _ := a.Reserve(clk.now(), &ledger.Member{ID: "free"}, cc); r == nil || !r.ActiveUntil().IsZero() || r.Limit() != 600 {
		t.Fatal("a member without limits: admitted for the maximum, nothing for the ledger to check")
	}
}

// TestAdmissionNumberedNetworkIDs: a numbered network's transaction ids
// (ledger.Network.TxIDNetwork) are read in its layout, so a call the
// ledger's file has is no longer counted here too; read in the layout
// without a number its index would be far in the future and the call
// counted twice until it expired.
func TestAdmissionNumberedNetworkIDs(t *testing.T) {
	nw := ledger.Network{ID: "purple", TxIDNetwork: 99}
	tx, ok := ledger.NetworkTransactionIDFor(nw.TxIDNetwork, 0, 5, 0)
	if !ok {
		t.Fatal("no transaction id")
	}
	clk := &fakeClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	fl := &fakeLedger{}
	a, cc := testAdmission(clk, fl)
	a.txIndex = nw.TransactionIndex
	m := &ledger.Member{ID: "m", ConcurrentLimit: 1}
	r, ref := a.Reserve(clk.now(), m, cc)
	if ref != nil {
		t.Fatal(ref)
	}
	r.Commit(tx, clk.now().Add(time.Hour))
	// The file has the call and has seen it end (its own count is 0).
	fl.ad = ledger.Admission{Index: 5}
	if _, ref := a.Reserve(clk.now(), m, cc); ref != nil {
		t.Fatalf("the call the ledger has is still counted here: %+v", ref)
	}
}
