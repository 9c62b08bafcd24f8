package node

import (
	"crypto/x509"
	"fmt"
	"testing"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

// TestSharedToken: destinations of members with SharedToken get one token
// per call (same bytes, no `d` key) for each token kind and called
// number; every other destination keeps its own token bound to its
// address. Every token verifies as the toolkit would check it.
func TestSharedToken(t *testing.T) {
	n := openDemo(t)
	type term struct {
		shared bool
		kind   string
		add    string // number translation: a different called number
	}
	terms := []term{
		{true, ledger.TokenSigned, ""},
		{true, ledger.TokenSigned, ""},
		{true, ledger.TokenSigned, "1"}, // same call, other called number
		{true, ledger.TokenText, ""},    // other kind
		{false, ledger.TokenSigned, ""},
	}
	var cands []ledger.RouteCandidate
	var cmds []ledger.Command
	for i, tm := range terms {
		id := fmt.Sprintf("term-%d", i)
		cmds = append(cmds,
			ledger.PutMember{Member: ledger.Member{ID: id, Status: ledger.MemberActive, TokenKind: tm.kind, SharedToken: tm.shared,
				BuyDeckID: "buy-carrier-b", Credentials: ledger.Credentials{SourceAddrs: []string{fmt.Sprintf("192.0.2.%d", i+1)}}}},
			ledger.PutTrunk{Trunk: ledger.Trunk{ID: id + "-t", MemberID: id, Address: fmt.Sprintf("[192.0.2.%d]:5060", i+1), Weight: 1}})
		cands = append(cands, ledger.RouteCandidate{Kind: ledger.CandidateTrunk, ID: id + "-t", Weight: 1, AddPrefix: tm.add})
	}
	cmds = append(cmds, ledger.PutRoutes{Routes: []ledger.Route{{Prefix: "1", Candidates: cands}}})
	for _, c := range cmds {
		res, err := n.Propose(t.Context(), c)
		if err != nil || res.Err() != nil {
			t.Fatal(err, res)
		}
	}
	resp := authResponse(t, exchange(t, client("127.0.0.1"), n.OSPURL(), authRequest("1", "shared-1", "14045551234", 5)))
	if !resp.Status.OK() || len(resp.Destinations) != len(terms) {
		t.Fatalf("status %v, %d destinations", resp.Status, len(resp.Destinations))
	}
	byAddr := map[string]osp.Destination{}
	for _, d := range resp.Destinations {
		byAddr[d.SignalAddress] = d
	}
	dest := func(i int) osp.Destination {
		d, ok := byAddr[fmt.Sprintf("[192.0.2.%d]", i+1)] // port 5060 is offered as [ip]
		if !ok {
			t.Fatalf("no destination for term-%d", i)
		}
		return d
	}
	same := func(i, j int) bool { return string(dest(i).Token) == string(dest(j).Token) }
	if !same(0, 1) {
		t.Error("two shared-token destinations with the same kind and number got different tokens")
	}
	for _, p := range [][2]int{{0, 2}, {0, 3}, {0, 4}, {2, 3}} {
		if same(p[0], p[1]) {
			t.Errorf("term-%d and term-%d share a token", p[0], p[1])
		}
	}
	roots := x509.NewCertPool()
	for _, c := range n.CACertificates() {
		roots.AddCert(c)
	}
	for i, tm := range terms {
		d := dest(i)
		c, err := osp.VerifyToken(d.Token, osp.TokenVerifyOptions{Roots: roots, Calling: calling, Called: d.TranslatedCalled,
			CallID: []byte("shared-1"), AcceptUnsigned: tm.kind != ledger.TokenSigned})
		if err != nil {
			t.Fatalf("term-%d token: %v", i, err)
		}
		want := d.SignalAddress
		if tm.shared {
			want = ""
		}
		if c.DestinationAddress != want {
			t.Errorf("term-%d token d=%q, want %q", i, c.DestinationAddress, want)
		}
		if c.TransactionID != resp.TransactionID {
			t.Errorf("term-%d token transaction %d, want %d", i, c.TransactionID, resp.TransactionID)
		}
	}
}
