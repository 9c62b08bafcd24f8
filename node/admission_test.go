package node

import (
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/osp"
)

// openPair opens a bootstrapped demo node and a second node joined to it,
// and sets carrier-a's limits through the first.
func openPair(t *testing.T, set func(m *ledger.Member)) (*Node, *Node) {
	t.Helper()
	c1 := testConfig(t, "n1")
	c1.Bootstrap, c1.Demo = true, true
	n1 := openNode(t, c1)
	c2 := testConfig(t, "n2")
	c2.Join = []string{n1.ClusterAddr()}
	n2 := openNode(t, c2)
	ma, err := n1.Store().Member(DemoCarrierA)
	if err != nil {
		t.Fatal(err)
	}
	set(&ma)
	mustPropose(t, n1, ledger.PutMember{Member: ma})
	waitFor(t, "n2 to have carrier-a's limits", 20*time.Second, func() bool {
		m, err := n2.Store().Member(DemoCarrierA)
		return err == nil && m.ConcurrentLimit == ma.ConcurrentLimit && m.CreditLimit.Equal(ma.CreditLimit)
	})
	return n1, n2
}

// waitAdmitted waits until n's committed ledger file shows calls calls
// in progress for carrier-a (it lags the log by a commit interval).
func waitAdmitted(t *testing.T, n *Node, calls int) {
	t.Helper()
	waitFor(t, "the ledger file to show the calls in progress", 10*time.Second, func() bool {
		ad, err := n.Store().Admission(DemoCarrierA, "USD", time.Now())
		return err == nil && ad.Calls == calls
	})
}

// waitFile waits until n's committed ledger file holds the log up to
// index. A node's own admission check reads that file (up to a commit
// interval behind the log): until it holds a released call, the node
// still counts the call, on the safe side.
func waitFile(t *testing.T, n *Node, index uint64) {
	t.Helper()
	waitFor(t, "the ledger file to catch up", 10*time.Second, func() bool {
		ad, err := n.Store().Admission(DemoCarrierA, "USD", time.Now())
		return err == nil && ad.Index >= index
	})
}

// applied is the highest index the nodes have applied: at least that of
// every command they have answered (the leader applies before answering).
func applied(ns ...*Node) uint64 {
	var m uint64
	for _, n := range ns {
		m = max(m, n.Store().AppliedIndex())
	}
	return m
}

// TestAdmissionClusterWideConcurrency: a member's concurrent-call limit
// holds across nodes. With a limit of one, a call in progress through
// one node makes the other refuse, until its source usage (reported to
// either node) ends it.
func TestAdmissionClusterWideConcurrency(t *testing.T) {
	n1, n2 := openPair(t, func(m *ledger.Member) { m.ConcurrentLimit = 1 })
	const a = "127.0.0.1"
	st, tx, _ := authLimit(t, n1, a, "1", "call-1@a")
	if st.Code != osp.StatusOK {
		t.Fatalf("first call on n1: %+v", st)
	}
	st, _, _ = authLimit(t, n2, a, "2", "call-2@a")
	if st.Code != codeConcurrent || st.Description != "concurrent call limit reached" {
		t.Fatalf("second call on n2 while the first is in progress: %+v, want %d concurrent call limit reached", st, codeConcurrent)
	}
	u := exchange(t, client(a), n2.OSPURL(), usageIndication("3", "1", osp.RoleSource, tx, "call-1@a", called, "30.000"))
	if c := usageStatus(t, u); c != osp.StatusOK {
		t.Fatalf("source usage on n2: %d", c)
	}
	waitFile(t, n2, applied(n1, n2)) // the leader applied the usage before n2 answered
	st, tx4, _ := authLimit(t, n2, a, "4", "call-4@a")
	if st.Code != osp.StatusOK {
		t.Fatalf("a call on n2 after the first ended: %+v", st)
	}
	st, _, _ = authLimit(t, n1, a, "5", "call-5@a")
	if st.Code != codeConcurrent {
		t.Fatalf("a call on n1 while n2's is in progress: %+v", st)
	}
	// Both calls ended through n2: n1, which authorised the first, must
	// not keep counting it (its own slot for it is dropped once its
	// ledger file has the call).
	u = exchange(t, client(a), n2.OSPURL(), usageIndication("6", "1", osp.RoleSource, tx4, "call-4@a", called, "30.000"))
	if c := usageStatus(t, u); c != osp.StatusOK {
		t.Fatalf("source usage of the second call on n2: %d", c)
	}
	waitFile(t, n1, applied(n1, n2))
	st, _, _ = authLimit(t, n1, a, "7", "call-7@a")
	if st.Code != osp.StatusOK {
		t.Fatalf("a call on n1 after every call ended on n2: %+v", st)
	}
}

// TestAdmissionClusterWideCredit: credit held by a call authorised on one
// node reduces what the other node grants: the demo sell rate is 0.0300 a
// minute, so with 6.00 of credit the first call (7,200 s) holds 3.60, the
// second, on the other node, gets what 2.40 buys (4,800 s), and a third,
// on either, is refused.
func TestAdmissionClusterWideCredit(t *testing.T) {
	n1, n2 := openPair(t, func(m *ledger.Member) { m.CreditLimit = money.MustNew("6.00", "USD") })
	const a = "127.0.0.1"
	st, _, lim := authLimit(t, n1, a, "1", "call-1@a")
	if st.Code != osp.StatusOK || lim != 7200 {
		t.Fatalf("first call on n1: %+v limit %d", st, lim)
	}
	waitAdmitted(t, n2, 1)
	st, _, lim = authLimit(t, n2, a, "2", "call-2@a")
	if st.Code != osp.StatusOK || lim != 4800 {
		t.Fatalf("second call on n2: %+v limit %d, want 4800 s", st, lim)
	}
	for i, n := range []*Node{n1, n2} {
		waitAdmitted(t, n, 2)
		st, _, _ = authLimit(t, n, a, "3"+string(rune('a'+i)), "call-3@a"+string(rune('a'+i)))
		if st.Code != codeConcurrent || st.Description != "credit limit reached" {
			t.Fatalf("third call on n%d: %+v, want credit limit reached", i+1, st)
		}
	}
}
