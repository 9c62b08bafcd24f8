package node_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node"
)

// logSink is a log destination tests read back.
type logSink struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFederationTxIDNetworks: two peering networks number their
// transactions apart (each id carries its network's number), and when a
// peer's ids carry our number (two derived numbers collided) the
// forwarding network says so in its log, naming the fix.
func TestFederationTxIDNetworks(t *testing.T) {
	var logs logSink
	purple, yellow := onehop(t, 1, func(c *node.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	p, y := purple.node(t, 0), yellow.node(t, 0)
	pn, err := p.Store().Network()
	if err != nil {
		t.Fatal(err)
	}
	yn, err := y.Store().Network()
	if err != nil {
		t.Fatal(err)
	}
	if pn.TxIDNetwork == 0 || pn.TxIDNetwork == yn.TxIDNetwork {
		t.Fatalf("network numbers %d and %d", pn.TxIDNetwork, yn.TxIDNetwork)
	}
	a := client(addrSource)
	first := authResponse(t, exchange(t, a, p.OSPURL(), fedAuth("701", "call-701@a", fedCalled)))
	tx, err := p.Store().Transaction(first.TransactionID)
	if err != nil {
		t.Fatal(err)
	}
	if ledger.TransactionNetwork(tx.ID) != pn.TxIDNetwork || ledger.TransactionNetwork(tx.UpstreamTransactionID) != yn.TxIDNetwork {
		t.Fatalf("ids %d (ours) and %d (YELLOW's) do not carry their networks' numbers %d and %d", tx.ID, tx.UpstreamTransactionID, pn.TxIDNetwork, yn.TxIDNetwork)
	}
	if strings.Contains(logs.String(), "carries our network number") {
		t.Fatalf("warned with distinct numbers:\n%s", logs.String())
	}

	// A third network that took PURPLE's number (before its first call).
	green := startNet(t, "green", 1, func(c *node.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	gn := ledger.Network{ID: "green", Currency: "USD", TxIDNetwork: pn.TxIDNetwork}
	green.propose(t,
		ledger.SetNetwork{Network: gn},
		deck("g-sell-purple", ledger.MemberAccount("purple"), ledger.DirectionSell, "44", "0.07"),
		deck("g-buy-b", ledger.MemberAccount("b"), ledger.DirectionBuy, "44", "0.05"),
		peerMember("purple", "g-sell-purple"),
		carrier("b", addrDest, "", "g-buy-b"),
		ledger.PutTrunk{Trunk: ledger.Trunk{ID: "b1", MemberID: "b", Address: "[" + addrDest + "]:5060"}},
		route("44", ledger.RouteCandidate{Kind: ledger.CandidateTrunk, ID: "b1"}),
	)
	purple.propose(t,
		deck("p-buy-green", ledger.PeerAccount("green"), ledger.DirectionBuy, "44", "0.07"),
		peerTo(green, "purple", "p-buy-green"),
		route("44", ledger.RouteCandidate{Kind: ledger.CandidatePeer, ID: "green"}),
	)
	green.sync(t)
	purple.sync(t)
	second := authResponse(t, exchange(t, a, p.OSPURL(), fedAuth("702", "call-702@a", fedCalled)))
	if !second.Status.OK() {
		t.Fatalf("authorisation through GREEN: %+v", second)
	}
	if out := logs.String(); !strings.Contains(out, "carries our network number") || !strings.Contains(out, "peer=green") {
		t.Fatalf("no warning for GREEN's ids with PURPLE's number:\n%s", out)
	}
}
