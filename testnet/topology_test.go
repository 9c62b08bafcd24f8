package testnet

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

// TestThreeTierCallCrossesTheChain: PURPLE (3 nodes) → HUB → YELLOW. A
// call from PURPLE's carrier A to 33… (routed to the peer on PURPLE and on
// HUB) is answered with YELLOW's trunks and tokens that validate with
// YELLOW's CA only; every hop records its side of the transaction chain;
// the source usage reported at PURPLE cascades hop by hop to YELLOW, and
// the terminating carrier's usage at YELLOW is recorded there.
func TestThreeTierCallCrossesTheChain(t *testing.T) {
	ctx := ctxFor(t, 120*time.Second)
	spec := TopologySpec{
		Networks: []NetworkSpec{{Name: "PURPLE", Nodes: 3}, {Name: "HUB"}, {Name: "YELLOW"}},
		Links:    []Link{{From: "PURPLE", To: "HUB"}, {From: "HUB", To: "YELLOW"}},
	}
	tp := NewTestTopology(t, spec, testOpts())
	purple, hub, yellow := tp.Network("PURPLE"), tp.Network("HUB"), tp.Network("YELLOW")

	const calling, called = "14048724799", "33145551234"
	// Ask a PURPLE follower: it routes from its replica and forwards.
	url := purple.Followers()[0].OSPURL()
	ar, err := Authorize(ctx, url, CarrierAParty(), calling, called)
	if err != nil {
		t.Fatal(err)
	}
	roots := func(nw *Network) *x509.CertPool {
		p := x509.NewCertPool()
		p.AppendCertsFromPEM(nw.CACertPEM())
		return p
	}
	d := ar.Destinations[0]
	if d.SignalAddress != "["+CarrierASource+"]" && d.SignalAddress != "["+CarrierBSource+"]" {
		t.Fatalf("destination %s is not a YELLOW trunk", d.SignalAddress)
	}
	opts := osp.TokenVerifyOptions{Roots: roots(yellow), Calling: calling, Called: called, CallID: d.CallID}
	claims, err := osp.VerifyToken(d.Token, opts)
	if err != nil {
		t.Fatalf("token does not validate with YELLOW's CA: %v", err)
	}
	opts.Roots = roots(purple)
	if _, err := osp.VerifyToken(d.Token, opts); err == nil {
		t.Fatal("YELLOW's token validates with PURPLE's CA")
	}

	// The chain of transactions, one per hop.
	ptx, err := purple.Leader().Store().Transaction(ar.TransactionID)
	if err != nil {
		t.Fatal(err)
	}
	if ptx.SourceMember != CarrierA || ptx.UpstreamPeer != "hub" || ptx.UpstreamTransactionID == 0 {
		t.Fatalf("PURPLE transaction %+v", ptx)
	}
	htx, err := hub.Node(0).Store().Transaction(ptx.UpstreamTransactionID)
	if err != nil {
		t.Fatal(err)
	}
	if htx.SourceMember != NetworkMemberID("PURPLE") || htx.UpstreamPeer != "yellow" {
		t.Fatalf("HUB transaction %+v", htx)
	}
	ytx, err := yellow.Node(0).Store().Transaction(htx.UpstreamTransactionID)
	if err != nil {
		t.Fatal(err)
	}
	if ytx.SourceMember != NetworkMemberID("HUB") || ytx.UpstreamPeer != "" || ytx.ID != claims.TransactionID {
		t.Fatalf("YELLOW transaction %+v (token txid %d)", ytx, claims.TransactionID)
	}

	// Usage: the source reports at PURPLE; the terminating carrier at YELLOW.
	callID := string(d.CallID)
	if err := ReportUsage(ctx, url, CarrierAParty(), osp.RoleSource, ar.TransactionID, callID, calling, called, 60); err != nil {
		t.Fatal(err)
	}
	dst := Party{Bind: CarrierBSource}
	if d.SignalAddress == "["+CarrierASource+"]" {
		dst = CarrierAParty()
	}
	if err := ReportUsage(ctx, yellow.OSPURLs()[0], dst, osp.RoleDestination, claims.TransactionID, callID, calling, called, 60); err != nil {
		t.Fatal(err)
	}
	hasUsage := func(nw *Network, txid uint64, role ledger.Role) bool {
		us, err := nw.Node(0).Store().ListUsage(ledger.UsageFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range us {
			if u.TransactionID == txid && u.Role == role {
				return true
			}
		}
		return false
	}
	for {
		if hasUsage(hub, htx.ID, ledger.RoleSource) && hasUsage(yellow, ytx.ID, ledger.RoleSource) {
			break
		}
		if err := pause(ctx, 20*time.Millisecond); err != nil {
			t.Fatalf("source usage did not cascade to HUB and YELLOW: %v", err)
		}
	}
	if !hasUsage(yellow, ytx.ID, ledger.RoleDestination) {
		t.Fatal("YELLOW lacks the destination usage")
	}
	for _, nw := range tp.Networks() {
		mustConverge(t, ctx, nw)
	}
}
