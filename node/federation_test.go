package node_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/ospnode/ospnode/federation"
	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node"
	"github.com/ospnode/ospnode/osp"
)

const fedCalled = "447700900123" // a YELLOW member's number

// onehop builds PURPLE → YELLOW: carrier a (PURPLE) calls carrier b
// (YELLOW). Rates per minute: a pays PURPLE 0.10; PURPLE pays YELLOW 0.07
// (PURPLE's buy deck for the peer = YELLOW's sell deck for member purple);
// YELLOW pays b 0.05.
func onehop(t testing.TB, size int, mod func(*node.Config)) (purple, yellow *testNet) {
	t.Helper()
	yellow = startNet(t, "yellow", size, func(c *node.Config) {
		c.MaxTimeLimit = 3600 // the chain's minimum: a gets YELLOW's limit
		if mod != nil {
			mod(c)
		}
	})
	purple = startNet(t, "purple", size, mod)
	yellow.propose(t,
		deck("y-sell-purple", ledger.MemberAccount("purple"), ledger.DirectionSell, "44", "0.07"),
		deck("y-buy-b", ledger.MemberAccount("b"), ledger.DirectionBuy, "44", "0.05"),
		peerMember("purple", "y-sell-purple"),
		carrier("b", addrDest, "", "y-buy-b"),
		ledger.PutTrunk{Trunk: ledger.Trunk{ID: "b1", MemberID: "b", Address: "[" + addrDest + "]:5060"}},
		route("44", ledger.RouteCandidate{Kind: ledger.CandidateTrunk, ID: "b1"}),
	)
	purple.propose(t,
		deck("p-sell-a", ledger.MemberAccount("a"), ledger.DirectionSell, "44", "0.10"),
		deck("p-buy-yellow", ledger.PeerAccount("yellow"), ledger.DirectionBuy, "44", "0.07"),
		carrier("a", addrSource, "p-sell-a", ""),
		peerTo(yellow, "purple", "p-buy-yellow"),
		route("44", ledger.RouteCandidate{Kind: ledger.CandidatePeer, ID: "yellow"}),
	)
	yellow.sync(t)
	purple.sync(t)
	return purple, yellow
}

// TestFederationOneHop: a PURPLE member's call to a YELLOW member's number
// is authorised through YELLOW; YELLOW's token verifies with YELLOW's CA
// at the terminating side; PURPLE's source usage cascades to YELLOW (the
// outbox drains); YELLOW's member's destination usage lands in YELLOW;
// both audits pass and the cascade invariant holds to the cent.
func TestFederationOneHop(t *testing.T) {
	purple, yellow := onehop(t, 1, nil)
	p, y := purple.node(t, 0), yellow.node(t, 0)
	a, b := client(addrSource), client(addrDest)

	resp := authResponse(t, exchange(t, a, p.OSPURL(), fedAuth("101", "call-1@a", fedCalled)))
	if !resp.Status.OK() || len(resp.Destinations) != 1 {
		t.Fatalf("authorisation: %+v", resp)
	}
	tP := resp.TransactionID
	txP, err := p.Store().Transaction(tP)
	if err != nil {
		t.Fatal(err)
	}
	if txP.UpstreamPeer != "yellow" || txP.UpstreamTransactionID == 0 || txP.Destinations[0].Kind != ledger.DestPeer ||
		txP.Destinations[0].PeerTransactionID != txP.UpstreamTransactionID {
		t.Fatalf("PURPLE transaction %+v", txP)
	}
	tY := txP.UpstreamTransactionID
	txY, err := y.Store().Transaction(tY)
	if err != nil || txY.SourceMember != "purple" || txY.UpstreamPeer != "" {
		t.Fatalf("YELLOW transaction %+v %v", txY, err)
	}
	d := resp.Destinations[0]
	if d.SignalAddress != "["+addrDest+"]" {
		t.Fatalf("destination %q", d.SignalAddress)
	}
	if got := d.TimeLimit(); got != 3600 || txP.TimeLimit != 3600 {
		t.Fatalf("time limit %d / %d, want the chain's minimum 3600", got, txP.TimeLimit)
	}
	// The terminating proxy trusts YELLOW's CA: the token is YELLOW's,
	// untouched, for YELLOW's transaction.
	claims, err := osp.VerifyToken(d.Token, osp.TokenVerifyOptions{Roots: yellow.roots(), Calling: calling, Called: fedCalled, CallID: d.CallID})
	if err != nil {
		t.Fatalf("token does not verify with YELLOW's CA: %v", err)
	}
	if claims.TransactionID != tY {
		t.Fatalf("token transaction %d, want YELLOW's %d", claims.TransactionID, tY)
	}
	if _, err := osp.VerifyToken(d.Token, osp.TokenVerifyOptions{Roots: purple.roots(), Calling: calling, Called: fedCalled, CallID: d.CallID}); err == nil {
		t.Fatal("YELLOW's token verified with PURPLE's CA")
	}
	// …and YELLOW's own OSP server validates it (AuthorizationIndication).
	ai := exchange(t, b, y.OSPURL(), &osp.Message{MessageID: "v1", Components: []osp.Component{{ID: "1",
		AuthorizationIndication: &osp.AuthorizationIndication{Timestamp: time.Now().UTC().Truncate(time.Second), Token: d.Token, CallID: d.CallID,
			CallInfo: osp.CallInfo{SourceInfo: osp.TypedValues{{Type: osp.TypeE164, Value: calling}},
				DestinationInfo: osp.TypedValues{{Type: osp.TypeE164, Value: fedCalled}}}}}}})
	if st := ai.Components[0].AuthorizationConfirmation.Status; !st.OK() {
		t.Fatalf("YELLOW refuses its own token: %+v", st)
	}

	// A retry of the same request gets the same transaction, with YELLOW's
	// (same) transaction inside a fresh token.
	again := authResponse(t, exchange(t, a, p.OSPURL(), fedAuth("101", "call-1@a", fedCalled)))
	if again.TransactionID != tP || len(again.Destinations) != 1 {
		t.Fatalf("retry: %+v", again)
	}
	if c, err := osp.VerifyToken(again.Destinations[0].Token, osp.TokenVerifyOptions{Roots: yellow.roots(), Calling: calling, Called: fedCalled, CallID: d.CallID}); err != nil || c.TransactionID != tY {
		t.Fatalf("retry token: %+v %v", c, err)
	}

	// Usage: a (source) to PURPLE with PURPLE's id; b (destination) to
	// YELLOW with YELLOW's id — both toolkits use componentId 1.
	if code := usageStatus(t, exchange(t, a, p.OSPURL(), fedUsage("201", "1", osp.RoleSource, tP, "call-1@a", fedCalled, 95))); code != 200 {
		t.Fatalf("source usage: %d", code)
	}
	if code := usageStatus(t, exchange(t, b, y.OSPURL(), fedUsage("301", "1", osp.RoleDestination, tY, "call-1@a", fedCalled, 95))); code != 200 {
		t.Fatalf("destination usage: %d", code)
	}
	waitDrained(t, purple)
	waitUsage(t, y, tY, ledger.RoleSource, ledger.MemberAccount("purple"))

	purple.audit(t)
	yellow.audit(t)
	// 95 s at 1/1 increments, 4 decimals half-up:
	// a → PURPLE 0.10/min = 0.1583; PURPLE → YELLOW 0.07/min = 0.1108;
	// YELLOW → b 0.05/min = 0.0792.
	costA := fedBalance(t, p, ledger.MemberAccount("a"))
	revB := neg(fedBalance(t, y, ledger.MemberAccount("b")))
	eqDec(t, "a's cost", costA, dec("0.1583"))
	eqDec(t, "b's revenue", revB, dec("0.0792"))
	eqDec(t, "PURPLE owes YELLOW", neg(fedBalance(t, p, ledger.PeerAccount("yellow"))), dec("0.1108"))
	eqDec(t, "YELLOW's claim on PURPLE", fedBalance(t, y, ledger.MemberAccount("purple")), dec("0.1108"))
	eqDec(t, "cascade invariant: a's cost = b's revenue + margins", costA, sum(t, revB, margin(t, p), margin(t, y)))

	// The ack is counted once AckOutbox returns, just after the outbox
	// emptied.
	waitFor(t, "the cascade metrics", 10*time.Second, func() bool { return p.CascadeMetrics().Acked == 1 })
	if m := p.CascadeMetrics(); m.Sent < 1 || m.Failed != 0 {
		t.Fatalf("cascade metrics %+v", m)
	}
	if hs := p.PeerHealth(); len(hs) != 1 || hs[0].ID != "yellow" {
		t.Fatalf("peer health %+v", hs)
	}
	var sb strings.Builder
	p.WriteMetricsForTest(&sb)
	for _, want := range []string{"ospnode_cascade_acked_total 1", `ospnode_federation_forwards_total{outcome="ok"} 2`, `ospnode_peer_in_flight{peer="yellow"} 0`} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// waitDrained waits until a network's outbox is empty on every open node.
func waitDrained(t *testing.T, tn *testNet) {
	t.Helper()
	for _, n := range tn.Nodes() {
		waitFor(t, n.ID()+" outbox to drain", 30*time.Second, func() bool {
			items, err := n.PendingOutbox("", 0)
			return err == nil && len(items) == 0
		})
	}
}

// waitUsage waits until n holds a usage of tx in role reported by reporter,
// and returns it.
func waitUsage(t *testing.T, n *node.Node, tx uint64, role ledger.Role, reporter string) ledger.Usage {
	t.Helper()
	var u ledger.Usage
	waitFor(t, n.ID()+" to record the usage", 30*time.Second, func() bool {
		us, err := n.Store().ListUsage(ledger.UsageFilter{})
		if err != nil {
			return false
		}
		for _, x := range us {
			if x.TransactionID == tx && x.Role == role && x.Reporter == reporter {
				u = x
				return true
			}
		}
		return false
	})
	return u
}

// threeTiers builds PURPLE → HUB → YELLOW. Per minute: a pays PURPLE
// 0.10; PURPLE pays HUB 0.08; HUB pays YELLOW 0.06; YELLOW pays b 0.05.
func threeTiers(t *testing.T, size int) (purple, hub, yellow *testNet) {
	t.Helper()
	yellow = startNet(t, "yellow", size, nil)
	hub = startNet(t, "hub", size, nil)
	purple = startNet(t, "purple", size, nil)
	yellow.propose(t,
		deck("y-sell-hub", ledger.MemberAccount("hub"), ledger.DirectionSell, "44", "0.06"),
		deck("y-buy-b", ledger.MemberAccount("b"), ledger.DirectionBuy, "44", "0.05"),
		peerMember("hub", "y-sell-hub"),
		carrier("b", addrDest, "", "y-buy-b"),
		ledger.PutTrunk{Trunk: ledger.Trunk{ID: "b1", MemberID: "b", Address: "[" + addrDest + "]:5060"}},
		route("44", ledger.RouteCandidate{Kind: ledger.CandidateTrunk, ID: "b1"}),
	)
	hub.propose(t,
		deck("h-sell-purple", ledger.MemberAccount("purple"), ledger.DirectionSell, "44", "0.08"),
		deck("h-buy-yellow", ledger.PeerAccount("yellow"), ledger.DirectionBuy, "44", "0.06"),
		peerMember("purple", "h-sell-purple"),
		peerTo(yellow, "hub", "h-buy-yellow"),
		route("44", ledger.RouteCandidate{Kind: ledger.CandidatePeer, ID: "yellow"}),
	)
	purple.propose(t,
		deck("p-sell-a", ledger.MemberAccount("a"), ledger.DirectionSell, "44", "0.10"),
		deck("p-buy-hub", ledger.PeerAccount("hub"), ledger.DirectionBuy, "44", "0.08"),
		carrier("a", addrSource, "p-sell-a", ""),
		peerTo(hub, "purple", "p-buy-hub", yellow),
		route("44", ledger.RouteCandidate{Kind: ledger.CandidatePeer, ID: "hub"}),
	)
	for _, tn := range []*testNet{yellow, hub, purple} {
		tn.sync(t)
	}
	return purple, hub, yellow
}

// fedCall is one completed call: our transaction at PURPLE and YELLOW's.
type fedCall struct{ tP, tY uint64 }

// placeCall authorises a call at PURPLE and reports its usage (see
// authorizeCall and reportCall). It reports false when no node authorised
// the call.
func placeCall(t *testing.T, purple, yellow *testNet, i int) (fedCall, bool) {
	t.Helper()
	c, ok := authorizeCall(t, purple, yellow, i)
	if ok {
		reportCall(t, purple, yellow, i, c)
	}
	return c, ok
}

// authorizeCall authorises call i at PURPLE, trying its nodes in turn as
// the toolkit does on a 5xx, and checks YELLOW's token. It reports false
// when no node authorised the call.
func authorizeCall(t *testing.T, purple, yellow *testNet, i int) (fedCall, bool) {
	t.Helper()
	a := client(addrSource)
	msg, callID := "m"+strconv.Itoa(i), "call-"+strconv.Itoa(i)+"@a"
	var resp *osp.AuthorizationResponse
	for _, n := range purple.Nodes() {
		r := authResponse(t, exchange(t, a, n.OSPURL(), fedAuth(msg, callID, fedCalled)))
		if r.Status.OK() {
			resp = r
			break
		}
		if r.Status.Code != osp.StatusUnavailable && r.Status.Code != osp.StatusTransientProblem {
			t.Fatalf("call %d refused: %+v", i, r.Status)
		}
	}
	if resp == nil {
		return fedCall{}, false
	}
	d := resp.Destinations[0]
	claims, err := osp.VerifyToken(d.Token, osp.TokenVerifyOptions{Roots: yellow.roots(), Calling: calling, Called: fedCalled, CallID: d.CallID})
	if err != nil {
		t.Fatalf("call %d: token: %v", i, err)
	}
	return fedCall{tP: resp.TransactionID, tY: claims.TransactionID}, true
}

// reportCall reports call i's source usage to PURPLE and its destination
// usage to YELLOW, each retried on the network's nodes until confirmed.
func reportCall(t *testing.T, purple, yellow *testNet, i int, c fedCall) {
	t.Helper()
	a, b := client(addrSource), client(addrDest)
	msg, callID := "m"+strconv.Itoa(i), "call-"+strconv.Itoa(i)+"@a"
	confirm := func(tn *testNet, cl *http.Client, m *osp.Message) {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			for _, n := range tn.Nodes() {
				if usageStatus(t, exchange(t, cl, n.OSPURL(), m)) == 200 {
					return
				}
			}
		}
		t.Fatalf("call %d: usage never confirmed by %s", i, tn.id)
	}
	confirm(purple, a, fedUsage("s"+msg, "1", osp.RoleSource, c.tP, callID, fedCalled, 95))
	confirm(yellow, b, fedUsage("d"+msg, "1", osp.RoleDestination, c.tY, callID, fedCalled, 95))
}

// TestFederationThreeTiers: PURPLE → HUB → YELLOW with three nodes each
// (one under -short). HUB's leader is closed in the middle of the traffic:
// every confirmed usage reaches all three ledgers exactly once, the
// outboxes drain after recovery, every audit passes and the cascade
// invariant holds to the cent across the chain.
func TestFederationThreeTiers(t *testing.T) {
	size := 3
	if testing.Short() {
		size = 1
	}
	purple, hub, yellow := threeTiers(t, size)
	const before, after = 6, 6
	var calls []fedCall
	for i := 0; i < before; i++ {
		c, ok := placeCall(t, purple, yellow, i)
		if !ok {
			t.Fatalf("call %d not authorised with every network healthy", i)
		}
		calls = append(calls, c)
	}
	if size == 3 {
		// Hold HUB's cascade so that items are pending when its leader
		// goes: authorise three calls, point HUB's YELLOW peer at a dead
		// service point, report the usage, and wait until HUB's leader
		// holds the three items.
		const held = 3
		waitDrained(t, purple)
		waitDrained(t, hub)
		var pending []fedCall
		for i := before; i < before+held; i++ {
			c, ok := authorizeCall(t, purple, yellow, i)
			if !ok {
				t.Fatalf("call %d not authorised", i)
			}
			pending = append(pending, c)
		}
		hub.propose(t, ledger.PutPeer{Peer: ledger.Peer{ID: "yellow", Status: ledger.PeerActive, OurMemberID: "hub", BuyDeckID: "h-buy-yellow",
			TrustedCAs: yellow.caPEM(), ServicePoints: []ledger.ServicePoint{{URL: deadURL(t), Weight: 1}}}})
		for k, c := range pending {
			reportCall(t, purple, yellow, before+k, c)
		}
		l, li := hub.leader(t)
		waitFor(t, "HUB's leader to hold the held usage", 30*time.Second, func() bool {
			items, err := l.PendingOutbox("yellow", 0)
			return err == nil && len(items) == held
		})
		if err := hub.Kill(li); err != nil {
			t.Fatalf("close HUB leader: %v", err)
		}
		// The operator repairs the peer on the surviving nodes; the new
		// leader drains what the old one enqueued.
		hub.propose(t, peerTo(yellow, "hub", "h-buy-yellow"))
		calls = append(calls, pending...)
		refused := 0
		for i := before + held; len(calls) < before+held+after; i++ {
			c, ok := placeCall(t, purple, yellow, i)
			if !ok {
				refused++ // during the election: the member tries again later
				if refused > 50 {
					t.Fatal("HUB never recovered")
				}
				continue
			}
			calls = append(calls, c)
		}
		t.Logf("HUB leader %s closed; %d calls refused during the election", l.ID(), refused)
	}
	n := len(calls)
	for _, tn := range []*testNet{purple, hub} {
		waitDrained(t, tn)
	}
	// Every hop holds every call exactly once.
	y := yellow.Nodes()[0]
	for _, c := range calls {
		waitUsage(t, y, c.tY, ledger.RoleSource, ledger.MemberAccount("hub"))
		waitUsage(t, y, c.tY, ledger.RoleDestination, ledger.MemberAccount("b"))
	}
	for _, tn := range []*testNet{purple, hub, yellow} {
		tn.sync(t)
		tn.audit(t)
		for _, nd := range tn.Nodes() {
			us, err := nd.Store().ListUsage(ledger.UsageFilter{})
			if err != nil {
				t.Fatal(err)
			}
			want := n
			if tn == yellow {
				want = 2 * n
			}
			if len(us) != want {
				t.Fatalf("%s holds %d usage records, want %d", nd.ID(), len(us), want)
			}
		}
	}
	p, h := purple.Nodes()[0], hub.Nodes()[0]
	// Per call (95 s, 1/1, 4 decimals): a 0.1583, PURPLE→HUB 0.1267,
	// HUB→YELLOW 0.0950, b 0.0792.
	times := func(s string) *apd.Decimal {
		var d apd.Decimal
		if _, err := apd.BaseContext.WithPrecision(34).Mul(&d, dec(s), apd.New(int64(n), 0)); err != nil {
			t.Fatal(err)
		}
		return &d
	}
	costA := fedBalance(t, p, ledger.MemberAccount("a"))
	revB := neg(fedBalance(t, y, ledger.MemberAccount("b")))
	eqDec(t, "a's cost", costA, times("0.1583"))
	eqDec(t, "b's revenue", revB, times("0.0792"))
	eqDec(t, "PURPLE owes HUB", neg(fedBalance(t, p, ledger.PeerAccount("hub"))), times("0.1267"))
	eqDec(t, "HUB's claim on PURPLE", fedBalance(t, h, ledger.MemberAccount("purple")), times("0.1267"))
	eqDec(t, "HUB owes YELLOW", neg(fedBalance(t, h, ledger.PeerAccount("yellow"))), times("0.0950"))
	eqDec(t, "YELLOW's claim on HUB", fedBalance(t, y, ledger.MemberAccount("hub")), times("0.0950"))
	eqDec(t, "cascade invariant", costA, sum(t, revB, margin(t, p), margin(t, h), margin(t, y)))
}

// TestFederationLoopRefused: two misconfigured networks each route the
// prefix to the other. The request goes X → Z → X, where X finds itself in
// the forwarding path and refuses (404); Z has no other candidate and
// refuses in turn; the member gets 404 at once — not a request bouncing
// until a timeout — and neither ledger authorised anything.
func TestFederationLoopRefused(t *testing.T) {
	x := startNet(t, "x", 1, nil)
	z := startNet(t, "z", 1, nil)
	x.propose(t,
		carrier("a", addrSource, "", ""),
		peerMember("z", ""),
		peerTo(z, "x", ""),
		route("99", ledger.RouteCandidate{Kind: ledger.CandidatePeer, ID: "z"}),
	)
	z.propose(t,
		peerMember("x", ""),
		peerTo(x, "z", ""),
		route("99", ledger.RouteCandidate{Kind: ledger.CandidatePeer, ID: "x"}),
	)
	x.sync(t)
	z.sync(t)
	xn, zn := x.node(t, 0), z.node(t, 0)
	start := time.Now()
	resp := authResponse(t, exchange(t, client(addrSource), xn.OSPURL(), fedAuth("1", "loop@a", "9912345")))
	if took := time.Since(start); took > xn.Config().ForwardBudget {
		t.Fatalf("loop took %v", took)
	}
	if resp.Status.Code != federation.LoopStatus || len(resp.Destinations) != 0 {
		t.Fatalf("answer %+v, want %d", resp, federation.LoopStatus)
	}
	if tx, err := xn.Store().TransactionByKey("a", "1", "loop@a"); err == nil {
		t.Fatalf("x authorised the looping call: %+v", tx)
	}
	upMsg := federation.UpstreamMessageID("x", "a", "1", []byte("loop@a"))
	if tx, err := zn.Store().TransactionByKey("x", upMsg, "loop@a"); err == nil {
		t.Fatalf("z authorised the looping call: %+v", tx)
	}
	var sb strings.Builder
	xn.WriteMetricsForTest(&sb)
	if !strings.Contains(sb.String(), `ospnode_federation_forwards_total{outcome="loop_refused"} 1`) ||
		!strings.Contains(sb.String(), `ospnode_federation_forwards_total{outcome="refused"} 1`) {
		t.Fatalf("x metrics:\n%s", grepLines(sb.String(), "federation_forwards"))
	}

	// A request arriving with a spent hop limit may not be forwarded: Z
	// answers "no route" without calling X.
	m := fedAuth("2", "hop@x", "9912345")
	m.Components[0].AuthorizationRequest.HopLimit = 1
	m.Components[0].AuthorizationRequest.DeviceID = "x"
	r2 := authResponse(t, exchange(t, client(addrPeer), zn.OSPURL(), m))
	if r2.Status.Code != osp.StatusNoRoute {
		t.Fatalf("hop limit 1: %+v", r2.Status)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestFederationSlowUpstream: a peer whose service points hang (accept,
// never answer) or are dead costs at most the forwarding budget; the
// member's request falls over to the next candidate — another peer, or a
// local trunk — and is answered within the budget.
func TestFederationSlowUpstream(t *testing.T) {
	const budget = 2 * time.Second
	purple, yellow := onehop(t, 1, func(c *node.Config) { c.ForwardBudget = budget })
	p := purple.node(t, 0)
	purple.propose(t,
		deck("p-buy-c", ledger.MemberAccount("c"), ledger.DirectionBuy, "44", "0.09"),
		carrier("c", addrDest, "", "p-buy-c"),
		ledger.PutTrunk{Trunk: ledger.Trunk{ID: "c1", MemberID: "c", Address: "[" + addrDest + "]:5070"}},
		ledger.PutPeer{Peer: ledger.Peer{ID: "slow", Status: ledger.PeerActive, OurMemberID: "purple", BuyDeckID: "p-buy-yellow",
			ServicePoints: []ledger.ServicePoint{{URL: blackhole(t), Weight: 1}, {URL: deadURL(t)}}}},
		ledger.PutPeer{Peer: ledger.Peer{ID: "yellow", Status: ledger.PeerActive, OurMemberID: "purple", BuyDeckID: "p-buy-yellow",
			TrustedCAs:    yellow.caPEM(),
			ServicePoints: []ledger.ServicePoint{{URL: blackhole(t), Weight: 1}, {URL: yellow.node(t, 0).OSPURL()}}}},
		ledger.PutRoutes{Routes: []ledger.Route{
			{Prefix: "44", Candidates: []ledger.RouteCandidate{{Kind: ledger.CandidatePeer, ID: "slow"}, {Kind: ledger.CandidateTrunk, ID: "c1", Priority: 2}}},
			{Prefix: "4477", Candidates: []ledger.RouteCandidate{{Kind: ledger.CandidatePeer, ID: "slow"},
				{Kind: ledger.CandidatePeer, ID: "yellow", Priority: 1}, {Kind: ledger.CandidateTrunk, ID: "c1", Priority: 2}}},
		}},
	)
	a := client(addrSource)
	slack := time.Second // scheduling under -race on a shared machine

	// The only peer hangs: the local trunk answers, within the budget.
	start := time.Now()
	r1 := authResponse(t, exchange(t, a, p.OSPURL(), fedAuth("1", "slow1@a", "447800900001")))
	if took := time.Since(start); took > budget+slack {
		t.Fatalf("fallback to the local trunk took %v (budget %v)", took, budget)
	}
	if !r1.Status.OK() || len(r1.Destinations) != 1 || r1.Destinations[0].SignalAddress != "["+addrDest+"]:5070" {
		t.Fatalf("answer %+v", r1)
	}
	if tx, _ := p.Store().Transaction(r1.TransactionID); tx == nil || tx.UpstreamPeer != "" {
		t.Fatalf("local answer recorded as forwarded: %+v", tx)
	}

	// The hanging peer first, then a peer whose first point hangs and
	// whose backup answers: YELLOW's answer arrives within the budget.
	start = time.Now()
	r2 := authResponse(t, exchange(t, a, p.OSPURL(), fedAuth("2", "slow2@a", fedCalled)))
	if took := time.Since(start); took > budget+slack {
		t.Fatalf("failover took %v (budget %v)", took, budget)
	}
	if !r2.Status.OK() || len(r2.Destinations) != 1 || r2.Destinations[0].SignalAddress != "["+addrDest+"]" {
		t.Fatalf("answer %+v", r2)
	}
	d := r2.Destinations[0]
	if _, err := osp.VerifyToken(d.Token, osp.TokenVerifyOptions{Roots: yellow.roots(), Calling: calling, Called: fedCalled, CallID: d.CallID}); err != nil {
		t.Fatalf("token: %v", err)
	}
	if tx, _ := p.Store().Transaction(r2.TransactionID); tx == nil || tx.UpstreamPeer != "yellow" {
		t.Fatalf("transaction %+v", tx)
	}
	fails := 0
	for _, h := range p.PeerHealth() {
		if h.ID == "slow" {
			for _, sp := range h.ServicePoints {
				fails += int(sp.Failures)
			}
		}
	}
	if fails < 3 {
		t.Fatalf("peer health does not show the failures: %+v", p.PeerHealth())
	}
}

// TestFederationRoutingPolicy: a peer is a route candidate beside local
// trunks, ranked by the same policy (priority, then least cost from the
// peer's buy deck, minimum margin), and an answer comes from one source at
// a time: a winning local trunk means no forwarding at all; a winning peer
// means only that peer's destinations, even with a local trunk left and
// room for more destinations.
func TestFederationRoutingPolicy(t *testing.T) {
	purple, _ := onehop(t, 1, nil)
	p := purple.node(t, 0)
	purple.propose(t,
		deck("p-buy-c", ledger.MemberAccount("c"), ledger.DirectionBuy, "44", "0.09"),
		deck("p-buy-dear", ledger.PeerAccount("dear"), ledger.DirectionBuy, "44", "0.11"),
		carrier("c", addrDest, "", "p-buy-c"),
		ledger.PutTrunk{Trunk: ledger.Trunk{ID: "c1", MemberID: "c", Address: "[" + addrDest + "]:5070"}},
		// "dear" costs more than a pays: never offered (minimum margin).
		ledger.PutPeer{Peer: ledger.Peer{ID: "dear", Status: ledger.PeerActive, OurMemberID: "purple", BuyDeckID: "p-buy-dear",
			ServicePoints: []ledger.ServicePoint{{URL: deadURL(t)}}}},
	)
	type want struct {
		addr     string
		upstream string
	}
	for _, tc := range []struct {
		name   string
		prefix string
		cands  []ledger.RouteCandidate
		want   want
	}{
		{"cheaper peer wins (LCR 0.07 < 0.09)", "4477", []ledger.RouteCandidate{
			{Kind: ledger.CandidateTrunk, ID: "c1"}, {Kind: ledger.CandidatePeer, ID: "yellow"}}, want{"[" + addrDest + "]", "yellow"}},
		{"priority beats cost", "44770", []ledger.RouteCandidate{
			{Kind: ledger.CandidateTrunk, ID: "c1"}, {Kind: ledger.CandidatePeer, ID: "yellow", Priority: 1}}, want{"[" + addrDest + "]:5070", ""}},
		{"peer below margin is dropped", "447700", []ledger.RouteCandidate{
			{Kind: ledger.CandidatePeer, ID: "dear"}, {Kind: ledger.CandidateTrunk, ID: "c1", Priority: 1}}, want{"[" + addrDest + "]:5070", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			purple.propose(t, ledger.PutRoutes{Routes: []ledger.Route{{Prefix: tc.prefix, Candidates: tc.cands}}, ReplaceAll: true})
			before := forwards(t, p)
			r := authResponse(t, exchange(t, client(addrSource), p.OSPURL(), fedAuth(tc.prefix, "pol-"+tc.prefix+"@a", fedCalled)))
			if !r.Status.OK() || len(r.Destinations) != 1 || r.Destinations[0].SignalAddress != tc.want.addr {
				t.Fatalf("answer %+v, want only %s", r, tc.want.addr)
			}
			tx, err := p.Store().Transaction(r.TransactionID)
			if err != nil || tx.UpstreamPeer != tc.want.upstream || len(tx.Destinations) != 1 {
				t.Fatalf("transaction %+v %v", tx, err)
			}
			if tc.want.upstream == "" && forwards(t, p) != before {
				t.Fatal("a local answer forwarded a request")
			}
		})
	}
}
