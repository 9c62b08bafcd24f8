package node

import (
	"crypto/x509"
	"testing"

	"github.com/ospnode/ospnode/osp"
)

// TestRestart: a node closed and reopened on its data directory keeps its
// ledger, CA, token key and admin token, and answers a retried request
// with the transaction it issued before the restart.
func TestRestart(t *testing.T) {
	cfg := testConfig(t, "n1")
	cfg.Bootstrap, cfg.Demo = true, true
	n := openNode(t, cfg)
	a := client("127.0.0.1")
	first := authResponse(t, exchange(t, a, n.OSPURL(), authRequest("1", "restart-1", called, 5)))
	token, ca := n.AdminToken(), n.CACertificates()[0]
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n2 := openNode(t, cfg)
	if n2.AdminToken() != token || !n2.CACertificates()[0].Equal(ca) {
		t.Fatal("admin token or CA changed across the restart")
	}
	again := authResponse(t, exchange(t, a, n2.OSPURL(), authRequest("1", "restart-1", called, 5)))
	if again.TransactionID != first.TransactionID {
		t.Fatalf("tx %d after restart, want %d", again.TransactionID, first.TransactionID)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := osp.VerifyToken(again.Destinations[0].Token, osp.TokenVerifyOptions{Roots: roots, Calling: calling,
		Called: called, CallID: []byte("restart-1")}); err != nil {
		t.Fatalf("token after restart: %v", err)
	}
	if c := usageStatus(t, exchange(t, a, n2.OSPURL(), usageIndication("2", "1", osp.RoleSource, first.TransactionID, "restart-1", called, "5"))); c != osp.StatusOK {
		t.Fatalf("usage after restart: %d", c)
	}
}
