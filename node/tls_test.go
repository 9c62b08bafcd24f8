package node

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node/pki"
	"github.com/ospnode/ospnode/osp"
)

// TestOSPOverTLSWithClientCertificates: the HTTPS listener identifies a
// member by its client certificate; without one, by address as on HTTP.
func TestOSPOverTLSWithClientCertificates(t *testing.T) {
	pkiDir := filepath.Join(t.TempDir(), "pki")
	ca, err := pki.InitCA(pkiDir, pki.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue(pki.IssueRequest{Kind: pki.KindNode, CommonName: "n1", IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		OutPrefix: filepath.Join(t.TempDir(), "n1")})
	if err != nil {
		t.Fatal(err)
	}
	member, err := ca.Issue(pki.IssueRequest{Kind: pki.KindMember, CommonName: "carrier-c"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "n1")
	cfg.Bootstrap, cfg.Demo, cfg.PKIDir = true, true, pkiDir
	cfg.OSPTLSAddr, cfg.OSPTLSCert, cfg.OSPTLSKey = "127.0.0.1:0", srv.CertFile, srv.KeyFile
	cfg.OSPClientCA = filepath.Join(pkiDir, pki.CACertFile)
	n := openNode(t, cfg)
	sum := sha256.Sum256(member.Cert.Raw)
	mustPropose(t, n, ledger.PutMember{Member: ledger.Member{ID: "carrier-c", Status: ledger.MemberActive,
		Credentials: ledger.Credentials{CertFingerprints: []string{hex.EncodeToString(sum[:])}}, SellDeckID: "sell-carrier-a"}})

	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())
	tlsClient := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs, MinVersion: tls.VersionTLS12}}}
	}
	kp := tls.Certificate{Certificate: [][]byte{member.Cert.Raw}, PrivateKey: member.Key, Leaf: member.Cert}

	// carrier-c (by certificate): both demo trunks are other members'.
	ar := authResponse(t, exchange(t, tlsClient(kp), n.OSPTLSURL(), authRequest("1", "tls-1", called, 5)))
	if ar.Status.Code != osp.StatusOK || len(ar.Destinations) != 2 {
		t.Fatalf("by certificate: %+v", ar)
	}
	tx, err := n.Store().Transaction(ar.TransactionID)
	if err != nil || tx.SourceMember != "carrier-c" {
		t.Fatalf("transaction %+v %v", tx, err)
	}
	// No certificate: carrier-a by address, its own trunk excluded.
	ar = authResponse(t, exchange(t, tlsClient(), n.OSPTLSURL(), authRequest("2", "tls-2", called, 5)))
	if ar.Status.Code != osp.StatusOK || len(ar.Destinations) != 1 {
		t.Fatalf("by address: %+v", ar)
	}
	if tx, err := n.Store().Transaction(ar.TransactionID); err != nil || tx.SourceMember != DemoCarrierA {
		t.Fatalf("transaction %+v %v", tx, err)
	}
}
