package testnet

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/internal/faultnet"
	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

// forwarded is one call DOWN forwarded to UP.
type forwarded struct {
	txid, upTxid          uint64
	callID                string
	calling, called       string
	usageConfirmed        bool
	confirmedDuringOutage bool
}

// runUpstreamDownThenSlow: DOWN (3 nodes) forwards 33… to UP (1 node)
// through a faultnet proxy in front of UP's OSP port. The load runs local
// calls (44, 49) on DOWN the whole time while a driver sends forwarded
// calls and their source usage. UP is killed: forwarded calls are refused
// within the forward budget, local calls go on, source usage of earlier
// forwarded calls is confirmed by DOWN and waits in its outbox. UP
// restarts: forwarded calls succeed again and the outbox drains. Then the
// link is slowed (calls succeed, slower) and black-holed (refused within
// budget), and restored. Every forwarded source usage confirmed by DOWN is
// on every DOWN node once and cascaded to UP exactly once.
func runUpstreamDownThenSlow(t *testing.T, scale int) {
	ctx := scenarioCtx(t, scale)
	o := testOpts()
	o.Configure = fastFederation
	spec := TopologySpec{
		Networks: []NetworkSpec{{Name: "DOWN", Nodes: 3}, {Name: "UP"}},
		Links:    []Link{{From: "DOWN", To: "UP", Prefixes: []string{"33"}}},
	}
	tp := NewTestTopology(t, spec, o)
	down, up := tp.Network("DOWN"), tp.Network("UP")

	// DOWN reaches UP's OSP port through a proxy the test controls.
	px, err := faultnet.New(hostPort(up.AllOSPURLs()[0]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = px.Close() })
	peer, err := down.Node(0).Store().Peer(PeerID("UP"))
	if err != nil {
		t.Fatal(err)
	}
	peer.ServicePoints = []ledger.ServicePoint{{URL: "http://" + px.Addr() + "/osp", Weight: 1}}
	if _, err := down.Propose(ctx, ledger.PutPeer{Peer: peer}); err != nil {
		t.Fatal(err)
	}
	if _, err := down.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}

	sc := newScenario(t, ctx, down, "upstream-down-slow", "an upstream peer network down, then slow, then black-holed", scale)
	lo := loadOpts(down, 16)
	lo.CalledCountries = []string{"44", "49"}
	lr := sc.startLoad(lo)

	budget := 2 * time.Second // fastFederation's ForwardBudget
	refuseBound := budget + 3*time.Second
	var calls []*forwarded
	seq := 0
	// call sends one forwarded authorisation through a DOWN node.
	call := func() (*forwarded, time.Duration, error) {
		urls := down.OSPURLs()
		seq++
		sc.fig.Extra["forwardedCalls"]++
		f := &forwarded{calling: "14048724799", called: "3314555" + pad4(seq)}
		t0 := time.Now()
		actx, cancel := context.WithTimeout(ctx, 15*time.Second)
		ar, err := Authorize(actx, urls[seq%len(urls)], CarrierAParty(), f.calling, f.called)
		cancel()
		took := time.Since(t0)
		if err != nil {
			return nil, took, err
		}
		f.txid, f.callID = ar.TransactionID, string(ar.Destinations[0].CallID)
		return f, took, nil
	}
	report := func(f *forwarded) {
		t.Helper()
		urls := down.OSPURLs()
		for attempt := 0; ; attempt++ {
			err := ReportUsage(ctx, urls[attempt%len(urls)], CarrierAParty(), osp.RoleSource, f.txid, f.callID, f.calling, f.called, 42)
			if err == nil {
				f.usageConfirmed = true
				return
			}
			if err := pause(ctx, 20*time.Millisecond); err != nil {
				t.Fatalf("source usage of txid %d never confirmed by DOWN: %v", f.txid, err)
			}
		}
	}
	mustRefuse := func(what string, n int) {
		t.Helper()
		worst, fastest := time.Duration(0), time.Duration(1<<62)
		for range n {
			f, took, err := call()
			if err == nil {
				t.Fatalf("%s: forwarded call %s answered with destinations (txid %d)", what, f.called, f.txid)
			}
			if took > refuseBound {
				t.Fatalf("%s: refusal took %v (bound %v)", what, took, refuseBound)
			}
			worst, fastest = max(worst, took), min(fastest, took)
		}
		sc.fig.Extra["refusedWithinMs"] = max(sc.fig.Extra["refusedWithinMs"], ms(worst))
		key := "refusedFastestDownMs"
		if strings.Contains(what, "black") {
			key = "refusedFastestBlackHoleMs"
		}
		sc.fig.Extra[key] = ms(fastest)
	}
	// recover polls forwarded calls until one succeeds; it returns the time
	// from since.
	recoverFwd := func(since time.Time) time.Duration {
		t.Helper()
		for {
			if f, _, err := call(); err == nil {
				calls = append(calls, f)
				return time.Since(since)
			}
			if err := pause(ctx, 20*time.Millisecond); err != nil {
				t.Fatalf("forwarded calls did not recover: %v", err)
			}
		}
	}

	// Healthy: forwarded calls succeed; half report usage now.
	n := 4 * scale
	for i := range n {
		f, _, err := call()
		if err != nil {
			t.Fatalf("healthy forwarded call: %v", err)
		}
		calls = append(calls, f)
		if i%2 == 0 {
			report(f)
		}
	}
	sc.waitProgress(20)

	// UP down.
	if err := up.Kill(0); err != nil {
		t.Fatal(err)
	}
	sc.fault("upstream killed")
	mustRefuse("upstream down", 2*scale)
	for _, f := range calls { // usage of calls made before the outage
		if !f.usageConfirmed {
			report(f)
			f.confirmedDuringOutage = true
		}
	}
	sc.waitProgress(20) // local calls go on
	pending := 0
	if l := down.Leader(); l != nil {
		if st, err := l.Store().Stats(); err == nil {
			pending = st.OutboxPending
		}
	}
	sc.fig.Extra["outboxPendingDuringOutage"] = float64(pending)
	t1 := time.Now()
	if err := up.Restart(ctx, 0); err != nil {
		t.Fatal(err)
	}
	sc.fig.WriteRecoveryMs = append(sc.fig.WriteRecoveryMs, ms(recoverFwd(t1)))
	sc.fig.Extra["outboxDrainedMs"] = ms(waitOutboxDrained(t, ctx, down, t1))

	// Slow link: forwarded calls still succeed within the budget.
	px.SetDelay(200 * time.Millisecond)
	sc.fault("upstream link slowed (200 ms per chunk each way)")
	var slowest time.Duration
	for range 2 * scale {
		f, took, err := call()
		if err != nil {
			t.Fatalf("forwarded call over the slow link: %v", err)
		}
		slowest = max(slowest, took)
		calls = append(calls, f)
		report(f)
	}
	sc.fig.Extra["slowForwardMaxMs"] = ms(slowest)

	// Black hole: refused within budget; then restored.
	px.Pause()
	sc.fault("upstream link black-holed")
	mustRefuse("upstream black-holed", 2*scale)
	px.SetDelay(0)
	px.Resume()
	t2 := time.Now()
	sc.fig.WriteRecoveryMs = append(sc.fig.WriteRecoveryMs, ms(recoverFwd(t2)))
	for _, f := range calls {
		if !f.usageConfirmed {
			report(f)
		}
	}
	sc.waitProgress(20)
	res := sc.stop(lr)
	waitOutboxDrained(t, ctx, down, time.Now())

	// The cascade invariant: each forwarded call's source usage is on
	// every DOWN node once and on UP once (under UP's transaction id).
	mustConvergeCtx(t, ctx, up)
	if _, err := down.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	upCounts := usageByTx(t, up.Node(0).Store())
	lostFwd := 0
	for _, f := range calls {
		tx, err := down.Node(0).Store().Transaction(f.txid)
		if err != nil {
			t.Fatal(err)
		}
		if tx.UpstreamPeer != PeerID("UP") || tx.UpstreamTransactionID == 0 {
			t.Fatalf("txid %d was not forwarded: %+v", f.txid, tx)
		}
		for _, nd := range down.Nodes() {
			if c := usageByTx(t, nd.Store())[txRole{f.txid, ledger.RoleSource}]; c != 1 {
				t.Errorf("%s: source usage of txid %d recorded %d times", nd.ID(), f.txid, c)
				lostFwd++
			}
		}
		if c := upCounts[txRole{tx.UpstreamTransactionID, ledger.RoleSource}]; c != 1 {
			t.Errorf("UP: cascaded usage of txid %d (UP %d) recorded %d times", f.txid, tx.UpstreamTransactionID, c)
			lostFwd++
		}
	}
	sc.fig.Extra["forwardedUsagesCascaded"] = float64(len(calls))
	sc.fig.Confirmed += len(calls)
	sc.fig.Calls += uint64(sc.fig.Extra["forwardedCalls"])
	sc.fig.Lost += lostFwd
	sc.finish(down, res.Confirmed)
	t.Log(sc.fig)
}

func pad4(i int) string {
	b := []byte("0000")
	for j := 3; j >= 0 && i > 0; j-- {
		b[j] = byte('0' + i%10)
		i /= 10
	}
	return string(b)
}

type txRole struct {
	txid uint64
	role ledger.Role
}

func usageByTx(t *testing.T, st *ledger.Store) map[txRole]int {
	t.Helper()
	out := map[txRole]int{}
	var after uint64
	for {
		page, err := st.ListUsage(ledger.UsageFilter{After: after, Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range page {
			out[txRole{u.TransactionID, u.Role}]++
			after = u.ID
		}
		if len(page) < 10000 {
			return out
		}
	}
}

// waitOutboxDrained polls until no DOWN node has outbox items pending and
// returns the time from since.
func waitOutboxDrained(t *testing.T, ctx context.Context, nw *Network, since time.Time) time.Duration {
	t.Helper()
	for {
		pending := 0
		for _, n := range nw.Nodes() {
			st, err := n.Store().Stats()
			if err != nil {
				t.Fatal(err)
			}
			pending += st.OutboxPending
		}
		if pending == 0 {
			return time.Since(since)
		}
		if err := pause(ctx, 10*time.Millisecond); err != nil {
			t.Fatalf("outbox still holds %d items: %v", pending, err)
		}
	}
}

func mustConvergeCtx(t *testing.T, ctx context.Context, nw *Network) {
	t.Helper()
	if _, err := nw.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	if err := nw.AssertBooksBalance(); err != nil {
		t.Fatal(err)
	}
}
