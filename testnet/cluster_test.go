package testnet

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node"
)

func testOpts() Options {
	o := Options{}
	if os.Getenv("TESTNET_LOG") != "" {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return o
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// authorizeAll sends one call from carrier A to every running node and
// checks each answers 2xx with destinations; it returns the txids.
func authorizeAll(t *testing.T, ctx context.Context, nw *Network) []uint64 {
	t.Helper()
	var ids []uint64
	for _, u := range nw.OSPURLs() {
		ar, err := Authorize(ctx, u, CarrierAParty(), "14048724799", "16785551234")
		if err != nil {
			t.Fatal(err)
		}
		if ar.TransactionID == 0 {
			t.Fatalf("%s: no transaction id", u)
		}
		ids = append(ids, ar.TransactionID)
	}
	return ids
}

func mustConverge(t *testing.T, ctx context.Context, nw *Network) {
	t.Helper()
	if _, err := nw.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	if err := nw.AssertBooksBalance(); err != nil {
		t.Fatal(err)
	}
}

// hasTransactions checks every running node holds every id.
func hasTransactions(t *testing.T, nw *Network, ids []uint64) {
	t.Helper()
	for _, n := range nw.Nodes() {
		for _, id := range ids {
			if _, err := n.Store().Transaction(id); err != nil {
				t.Fatalf("%s: transaction %d: %v", n.ID(), id, err)
			}
		}
	}
}

func TestNetworkBootsAndServesOSPOnEveryNode(t *testing.T) {
	ctx := ctxFor(t, 90*time.Second)
	nw := NewTestNetwork(t, NetworkSpec{Name: "PURPLE", Nodes: 3}, testOpts())
	if got := len(nw.OSPURLs()); got != 3 {
		t.Fatalf("%d OSP URLs", got)
	}
	for i := range 3 {
		if nw.AdminURL(i) == "" || nw.AdminToken(i) == "" || nw.ClusterAddr(i) == "" {
			t.Fatalf("node %d: missing endpoint", i)
		}
	}
	if len(nw.Followers()) != 2 || nw.Leader() == nil {
		t.Fatalf("leader %v, %d followers", nw.Leader() != nil, len(nw.Followers()))
	}
	ids := authorizeAll(t, ctx, nw)
	mustConverge(t, ctx, nw)
	hasTransactions(t, nw, ids)
	for _, n := range nw.Nodes() {
		netw, err := n.Store().Network()
		if err != nil || netw.ID != "PURPLE" {
			t.Fatalf("%s: network %+v, %v", n.ID(), netw, err)
		}
	}
	// An unknown source is refused, so identification is real.
	if _, err := Authorize(ctx, nw.OSPURLs()[0], Party{Bind: "127.0.0.9"}, "14048724799", "16785551234"); err == nil {
		t.Fatal("unknown source authorised")
	}
}

func TestLeaderKilledWritesResumeAndRestartConverges(t *testing.T) {
	ctx := ctxFor(t, 120*time.Second)
	nw := NewTestNetwork(t, NetworkSpec{Name: "KILL", Nodes: 3}, testOpts())
	before := authorizeAll(t, ctx, nw)
	l := nw.LeaderIndex()
	if err := nw.Kill(l); err != nil {
		t.Fatal(err)
	}
	if err := nw.Kill(l); !errors.Is(err, ErrNodeDown) {
		t.Fatalf("second kill: %v", err)
	}
	nl, err := nw.WaitForLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if nl == l {
		t.Fatal("killed node still leader")
	}
	during := authorizeAll(t, ctx, nw) // both survivors, leader and follower
	if err := nw.Restart(ctx, l); err != nil {
		t.Fatal(err)
	}
	if len(nw.Running()) != 3 {
		t.Fatalf("running %v", nw.Running())
	}
	mustConverge(t, ctx, nw)
	hasTransactions(t, nw, append(before, during...))
	after := authorizeAll(t, ctx, nw) // the restarted node serves OSP on its old port
	mustConverge(t, ctx, nw)
	hasTransactions(t, nw, after)
}

func TestPartitionedFollowerRefusesThenCatchesUp(t *testing.T) {
	ctx := ctxFor(t, 120*time.Second)
	nw := NewTestNetwork(t, NetworkSpec{Name: "PART", Nodes: 3}, testOpts())
	l := nw.LeaderIndex()
	f := (l + 1) % 3
	fn := nw.Node(f)
	if err := nw.Partition(f); err != nil {
		t.Fatal(err)
	}
	// The follower loses the leader and refuses writes (ErrUnavailable →
	// OSP 503), within LeaderWait plus slack.
	deadline := time.Now().Add(30 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := fn.Propose(pctx, ledger.PutTrunk{Trunk: ledger.Trunk{ID: "t-part", MemberID: CarrierB, Address: "[127.0.0.3]:5070"}})
		cancel()
		if errors.Is(err, node.ErrUnavailable) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("partitioned follower still commits (last err %v)", err)
		}
	}
	if _, err := Authorize(ctx, fn.OSPURL(), CarrierAParty(), "14048724799", "16785551234"); err == nil {
		t.Fatal("partitioned follower authorised a call it cannot commit")
	}
	// The majority carries on.
	var ids []uint64
	for _, i := range []int{l, (l + 2) % 3} {
		ar, err := Authorize(ctx, nw.Node(i).OSPURL(), CarrierAParty(), "14048724799", "4420794601234")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ar.TransactionID)
	}
	if _, err := fn.Store().Transaction(ids[0]); err == nil {
		t.Fatal("partitioned follower received entries")
	}
	if err := nw.Heal(f); err != nil {
		t.Fatal(err)
	}
	mustConverge(t, ctx, nw)
	hasTransactions(t, nw, ids)
	if _, err := Authorize(ctx, fn.OSPURL(), CarrierAParty(), "14048724799", "16785551234"); err != nil {
		t.Fatalf("healed follower: %v", err)
	}
}

func TestSlowLinkStillConverges(t *testing.T) {
	ctx := ctxFor(t, 90*time.Second)
	nw := NewTestNetwork(t, NetworkSpec{Name: "SLOW", Nodes: 3}, testOpts())
	f := (nw.LeaderIndex() + 1) % 3
	if err := nw.SetDelay(f, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ids := authorizeAll(t, ctx, nw)
	mustConverge(t, ctx, nw)
	hasTransactions(t, nw, ids)
	if err := nw.SetDelay(f, 0); err != nil {
		t.Fatal(err)
	}
}

func TestWipedNodeRejoinsAndConverges(t *testing.T) {
	ctx := ctxFor(t, 120*time.Second)
	nw := NewTestNetwork(t, NetworkSpec{Name: "WIPE", Nodes: 3}, testOpts())
	ids := authorizeAll(t, ctx, nw)
	f := (nw.LeaderIndex() + 1) % 3
	oldToken := nw.AdminToken(f)
	if _, err := nw.Wipe(ctx, f); err != nil {
		t.Fatal(err)
	}
	if nw.AdminToken(f) == oldToken {
		t.Fatal("wiped node kept its admin token: data dir not wiped")
	}
	mustConverge(t, ctx, nw)
	hasTransactions(t, nw, ids)
	ids = authorizeAll(t, ctx, nw)
	mustConverge(t, ctx, nw)
	hasTransactions(t, nw, ids)
}

func TestFaultErrors(t *testing.T) {
	ctx := ctxFor(t, 60*time.Second)
	o := testOpts()
	o.Direct = true
	nw := NewTestNetwork(t, NetworkSpec{Name: "ONE"}, o)
	if err := nw.Partition(0); !errors.Is(err, ErrNoProxy) {
		t.Fatalf("partition direct: %v", err)
	}
	if err := nw.Kill(5); err == nil {
		t.Fatal("kill of a missing slot")
	}
	if err := nw.Restart(ctx, 0); err == nil {
		t.Fatal("restart of a running node")
	}
	if _, err := nw.Wipe(ctx, 0); err == nil {
		t.Fatal("wipe of the only node rejoined nothing")
	}
	if _, err := StartNetwork(ctx, NetworkSpec{Nodes: 9}, Options{Dir: t.TempDir()}); !errors.Is(err, ErrSpec) {
		t.Fatalf("9 nodes: %v", err)
	}
	if _, err := StartNetwork(ctx, NetworkSpec{}, Options{}); !errors.Is(err, ErrSpec) {
		t.Fatalf("no dir: %v", err)
	}
}

func TestTopologyBootsNetworksWithPeersRecorded(t *testing.T) {
	ctx := ctxFor(t, 120*time.Second)
	spec := TopologySpec{
		Networks: []NetworkSpec{{Name: "PURPLE", Nodes: 2}, {Name: "HUB"}, {Name: "YELLOW", Currency: "EUR"}},
		Links:    []Link{{From: "PURPLE", To: "HUB"}, {From: "HUB", To: "YELLOW", Prefixes: []string{"33", "49"}}},
	}
	tp := NewTestTopology(t, spec, testOpts())
	purple, hub, yellow := tp.Network("purple"), tp.Network("HUB"), tp.Network("YELLOW")
	for _, nw := range tp.Networks() {
		mustConverge(t, ctx, nw)
		authorizeAll(t, ctx, nw) // carrier A to 1678…: local on every network
	}
	for _, n := range purple.Nodes() {
		p, err := n.Store().Peer("hub")
		if err != nil {
			t.Fatalf("%s: peer hub: %v", n.ID(), err)
		}
		if len(p.ServicePoints) != 1 || p.ServicePoints[0].URL != hub.OSPURLs()[0] || p.OurMemberID != "PURPLE" ||
			len(p.TrustedCAs) != 2 || p.TrustedCAs[0] != string(hub.CACertPEM()) || p.TrustedCAs[1] != string(yellow.CACertPEM()) {
			t.Fatalf("%s: peer %+v", n.ID(), p)
		}
		r, err := n.Store().Route("33")
		if err != nil || len(r.Candidates) != 1 || r.Candidates[0].Kind != ledger.CandidatePeer {
			t.Fatalf("%s: route 33 %+v %v", n.ID(), r, err)
		}
	}
	hs := hub.Node(0).Store()
	if m, err := hs.Member("net-purple"); err != nil || !slices.Contains(m.Credentials.CustomerIDs, "PURPLE") {
		t.Fatalf("hub member net-purple: %+v %v", m, err)
	}
	if p, err := hs.Peer("yellow"); err != nil || p.ServicePoints[0].URL != yellow.OSPURLs()[0] {
		t.Fatalf("hub peer yellow: %+v %v", p, err)
	}
	ys := yellow.Node(0).Store()
	if netw, err := ys.Network(); err != nil || netw.Currency != "EUR" {
		t.Fatalf("yellow network %+v %v", netw, err)
	}
	if _, err := ys.Member("net-hub"); err != nil {
		t.Fatalf("yellow member net-hub: %v", err)
	}
	if _, err := ys.Peers(); err != nil {
		t.Fatal(err)
	}
}

func TestTopologySpecValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec TopologySpec
	}{
		{"empty", TopologySpec{}},
		{"dup name", TopologySpec{Networks: []NetworkSpec{{Name: "A"}, {Name: "a"}}}},
		{"bad name", TopologySpec{Networks: []NetworkSpec{{Name: "a b"}}}},
		{"bad currency", TopologySpec{Networks: []NetworkSpec{{Currency: "dollars"}}}},
		{"bad token", TopologySpec{Networks: []NetworkSpec{{TokenKind: "jwt"}}}},
		{"unknown link", TopologySpec{Networks: []NetworkSpec{{Name: "A"}}, Links: []Link{{From: "A", To: "B"}}}},
		{"self link", TopologySpec{Networks: []NetworkSpec{{Name: "A"}}, Links: []Link{{From: "A", To: "a"}}}},
		{"dup link", TopologySpec{Networks: []NetworkSpec{{Name: "A"}, {Name: "B"}}, Links: []Link{{From: "A", To: "B"}, {From: "a", To: "b"}}}},
		{"bad prefix", TopologySpec{Networks: []NetworkSpec{{Name: "A"}, {Name: "B"}}, Links: []Link{{From: "A", To: "B", Prefixes: []string{"+33"}}}}},
		{"too many nodes", TopologySpec{Networks: []NetworkSpec{{Nodes: MaxNodes + 1}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.spec.Normalize(); !errors.Is(err, ErrSpec) {
				t.Fatalf("err = %v, want ErrSpec", err)
			}
		})
	}
	c := ChainTopology(3, 2)
	if got := c.Beyond("net2"); len(got) != 2 || got[0] != "NET2" || got[1] != "NET3" {
		t.Fatalf("beyond NET2: %v", got)
	}
	if err := c.Normalize(); err != nil {
		t.Fatal(err)
	}
	if len(c.Links) != 2 || c.Links[1].From != "NET2" || c.Links[1].Prefixes[0] != "33" || c.Networks[2].Nodes != 2 {
		t.Fatalf("chain %+v", c)
	}
}

func TestTopologyFileExample(t *testing.T) {
	tp, err := LoadTopology("testdata/topology-3tier.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(tp.Networks) != 3 || len(tp.Links) != 2 {
		t.Fatalf("%+v", tp)
	}
	for i := range tp.Networks {
		if len(tp.Networks[i].Commands()) < 5 {
			t.Fatalf("%s: too few commands", tp.Networks[i].Name)
		}
	}
	if _, err := ReadTopology(strings.NewReader(`{"networks":[{"name":"A","colour":"red"}]}`)); !errors.Is(err, ErrSpec) {
		t.Fatalf("unknown field: %v", err)
	}
	if _, err := LoadTopology("testdata/missing.json"); err == nil {
		t.Fatal("missing file")
	}
}
