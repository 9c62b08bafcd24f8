package node

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/osp"
)

// openCredit opens a demo node whose carrier-a has a credit limit of
// limit USD (its sell rate to 1678 is 0.0300 a minute, 60/60, no connect
// fee, and MaxTimeLimit 7200 s costs 3.6000).
func openCredit(t *testing.T, clk *fakeClock, limit string) *Node {
	t.Helper()
	cfg := testConfig(t, "n1")
	cfg.Bootstrap, cfg.Demo = true, true
	if clk != nil {
		cfg.Clock = clk.now
	}
	n := openNode(t, cfg)
	ma, err := n.Store().Member(DemoCarrierA)
	if err != nil {
		t.Fatal(err)
	}
	ma.CreditLimit = money.MustNew(limit, "USD")
	mustPropose(t, n, ledger.PutMember{Member: ma})
	return n
}

// authLimit authorises a call and returns the status code, the
// transaction and the time limit of the first destination.
func authLimit(t *testing.T, n *Node, src, msgID, callID string) (osp.Status, uint64, int) {
	t.Helper()
	ar := authResponse(t, exchange(t, client(src), n.OSPURL(), authRequest(msgID, callID, called, 5)))
	if !ar.Status.OK() {
		if len(ar.Destinations) != 0 {
			t.Fatalf("refusal with destinations: %+v", ar)
		}
		return ar.Status, ar.TransactionID, 0
	}
	if len(ar.Destinations) == 0 {
		t.Fatalf("success without destinations: %+v", ar)
	}
	lim := ar.Destinations[0].TimeLimit()
	for _, d := range ar.Destinations {
		if d.TimeLimit() != lim {
			t.Fatalf("destinations with different limits: %+v", ar.Destinations)
		}
	}
	return ar.Status, ar.TransactionID, lim
}

func wantHeld(t *testing.T, n *Node, member, sum string, count int) {
	t.Helper()
	// Store.Admission reads the last committed file version (up to one
	// commit interval behind the log): commit what was applied first.
	if err := n.Store().Flush(); err != nil {
		t.Fatal(err)
	}
	got, c, err := n.adm.held(member, "USD")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(money.MustNew(sum, "USD")) || c != count {
		t.Fatalf("%s holds %s in %d calls, want %s in %d", member, got, c, sum, count)
	}
}

// TestCreditHolds: calls in flight hold credit on the node that authorised
// them, so a second concurrent call gets what the first left, a third is
// refused; a retry holds nothing more; usage and expiry release.
func TestCreditHolds(t *testing.T) {
	clk := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	n := openCredit(t, clk, "6.00")
	const a = "127.0.0.1"

	st, tx1, lim := authLimit(t, n, a, "1", "call-1@a")
	if st.Code != osp.StatusOK || lim != 7200 {
		t.Fatalf("first call: %+v limit %d, want 200 and the full 7200 s", st, lim)
	}
	wantHeld(t, n, DemoCarrierA, "3.60", 1)

	// A retry (same messageId and Call-ID): same transaction, no second hold.
	st, again, lim := authLimit(t, n, a, "1", "call-1@a")
	if st.Code != osp.StatusOK || again != tx1 || lim != 7200 {
		t.Fatalf("retry: %+v tx %d limit %d, want 200 tx %d 7200", st, again, lim, tx1)
	}
	wantHeld(t, n, DemoCarrierA, "3.60", 1)

	// Concurrent second call: 6.00 − 3.60 = 2.40 buys 80 minutes.
	st, tx2, lim := authLimit(t, n, a, "2", "call-2@a")
	if st.Code != osp.StatusOK || lim != 4800 {
		t.Fatalf("second call: %+v limit %d, want 200 and 4800 s", st, lim)
	}
	wantHeld(t, n, DemoCarrierA, "6.00", 2)

	// Third: the holds exhaust the credit.
	st, _, _ = authLimit(t, n, a, "3", "call-3@a")
	if st.Code != codeConcurrent || st.Description != "credit limit reached" {
		t.Fatalf("third call: %+v, want %d credit limit reached", st, codeConcurrent)
	}
	wantHeld(t, n, DemoCarrierA, "6.00", 2)
	// A retry of the second is still answered, holding nothing more.
	if st, again, lim := authLimit(t, n, a, "2", "call-2@a"); st.Code != osp.StatusOK || again != tx2 || lim != 4800 {
		t.Fatalf("retry of the second: %+v tx %d limit %d", st, again, lim)
	}
	wantHeld(t, n, DemoCarrierA, "6.00", 2)

	// Usage for the first call (30 s: one minute, 0.03 posted) releases
	// its hold: 6.00 − 0.03 − 2.40 = 3.57 buys 119 minutes.
	u := exchange(t, client(a), n.OSPURL(), usageIndication("10", "1", osp.RoleSource, tx1, "call-1@a", called, "30.000"))
	if c := usageStatus(t, u); c != osp.StatusOK {
		t.Fatalf("usage: %d", c)
	}
	if got := balance(t, n.Store(), ledger.MemberAccount(DemoCarrierA)); got != "0.0300" {
		t.Fatalf("carrier-a balance %s, want 0.03", got)
	}
	wantHeld(t, n, DemoCarrierA, "2.40", 1)
	st, _, lim = authLimit(t, n, a, "4", "call-4@a")
	if st.Code != osp.StatusOK || lim != 7140 {
		t.Fatalf("call after usage: %+v limit %d, want 200 and 7140 s", st, lim)
	}
	wantHeld(t, n, DemoCarrierA, "5.97", 2)

	// Once the longest possible calls are over, their holds lapse:
	// 6.00 − 0.03 buys the full limit again.
	clk.add(n.cfg.TokenValidity + 7200*time.Second + time.Second)
	st, _, lim = authLimit(t, n, a, "5", "call-5@a")
	if st.Code != osp.StatusOK || lim != 7200 {
		t.Fatalf("call after expiry: %+v limit %d, want 200 and 7200 s", st, lim)
	}
	wantHeld(t, n, DemoCarrierA, "3.60", 1)

	// A member without a credit limit is unaffected and holds nothing.
	for i := range 3 {
		st, _, lim := authLimit(t, n, "127.0.0.3", fmt.Sprint(20+i), fmt.Sprintf("call-b%d", i))
		if st.Code != osp.StatusOK || lim != 7200 {
			t.Fatalf("carrier-b call %d: %+v limit %d", i, st, lim)
		}
	}
	wantHeld(t, n, DemoCarrierB, "0", 0)
}

// TestCreditHoldsConcurrent: authorisations racing each other share the
// credit: 6.00 buys 7200 + 4800 s in all, whatever the order.
func TestCreditHoldsConcurrent(t *testing.T) {
	n := openCredit(t, nil, "6.00")
	const calls = 5
	var wg sync.WaitGroup
	var mu sync.Mutex
	total, refused := 0, 0
	for i := range calls {
		wg.Go(func() {
			ar := authResponse(t, exchange(t, client("127.0.0.1"), n.OSPURL(), authRequest(fmt.Sprint(i+1), fmt.Sprintf("race-%d", i), called, 5)))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case ar.Status.Code == codeConcurrent && ar.Status.Description == "credit limit reached":
				refused++
			case ar.Status.OK() && len(ar.Destinations) > 0:
				total += ar.Destinations[0].TimeLimit()
			default:
				t.Errorf("call %d: %+v", i, ar)
			}
		})
	}
	wg.Wait()
	if total != 12000 || refused != calls-2 {
		t.Fatalf("granted %d s with %d refused, want 12000 s and %d refused", total, refused, calls-2)
	}
	wantHeld(t, n, DemoCarrierA, "6.00", 2)
}

// TestCreditHoldNotFreedByDestinationReport: only the caller's own
// source-role report ends its hold; a destination-role report on the
// caller's transaction (which posts nothing to the caller) must not free
// the caller's credit or concurrency slot.
func TestCreditHoldNotFreedByDestinationReport(t *testing.T) {
	n := openCredit(t, nil, "6.00")
	const a = "127.0.0.1"
	st, tx, lim := authLimit(t, n, a, "1", "call-1@a")
	if st.Code != osp.StatusOK || lim != 7200 {
		t.Fatalf("call: %+v limit %d", st, lim)
	}
	wantHeld(t, n, DemoCarrierA, "3.60", 1)
	u := exchange(t, client(a), n.OSPURL(), usageIndication("10", "1", osp.RoleDestination, tx, "call-1@a", called, "30.000"))
	if c := usageStatus(t, u); c != osp.StatusOK {
		t.Fatalf("destination usage from the caller: %d", c)
	}
	wantHeld(t, n, DemoCarrierA, "3.60", 1)
	u = exchange(t, client(a), n.OSPURL(), usageIndication("11", "1", osp.RoleSource, tx, "call-1@a", called, "30.000"))
	if c := usageStatus(t, u); c != osp.StatusOK {
		t.Fatalf("source usage: %d", c)
	}
	wantHeld(t, n, DemoCarrierA, "0", 0)
}
