package federation

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

// testCA is a throwaway CA issuing server, client and token-signing
// certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
	n    int64
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), n: 1}
}

// issue returns a leaf certificate and key for cn (an IP SAN for servers).
func (ca *testCA) issue(t *testing.T, cn string, usage x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca.n++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.n), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}
}

func writeKeyPair(t *testing.T, dir string, kp tls.Certificate) (string, string) {
	t.Helper()
	kb, err := x509.MarshalECPrivateKey(kp.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	cp, kpth := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	if err := os.WriteFile(cp, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kpth, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cp, kpth
}

// TestMutualTLSFromLedger: a peer record with the peer's CA (PEM) and our
// client certificate (files) forwards over mutual TLS to a server that
// requires a client certificate from our CA; signed tokens verified
// against the peer's CA pass, tokens of another CA are dropped.
func TestMutualTLSFromLedger(t *testing.T) {
	yellowCA, purpleCA := newTestCA(t, "yellow CA"), newTestCA(t, "purple CA")
	_, _, serverKP := yellowCA.issue(t, "yellow osp", x509.ExtKeyUsageServerAuth)
	_, _, clientKP := purpleCA.issue(t, "purple at yellow", x509.ExtKeyUsageClientAuth)
	tokCert, tokKey, _ := yellowCA.issue(t, "yellow tokens", x509.ExtKeyUsageAny)
	signer, err := osp.NewTokenSigner(tokCert, tokKey)
	if err != nil {
		t.Fatal(err)
	}

	yellow := &network{t: t, id: "yellow", release: make(chan struct{}), tokens: map[string][]byte{}, usage: map[string]int{}}
	yellow.signer.Store(signer)
	clientPool := x509.NewCertPool()
	clientPool.AddCert(purpleCA.cert)
	yellow.srv = httptest.NewUnstartedServer(httpHandler(yellow))
	yellow.srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverKP}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientPool, MinVersion: tls.VersionTLS12}
	// The refused handshake below is expected; keep it out of the log.
	yellow.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	yellow.srv.StartTLS()
	t.Cleanup(func() { yellow.unblock(); yellow.srv.Close() })

	certPath, keyPath := writeKeyPair(t, t.TempDir(), clientKP)
	rec := ledger.Peer{ID: "yellow", Status: ledger.PeerActive, ServicePoints: []ledger.ServicePoint{{URL: yellow.url(), Weight: 1}},
		TrustedCAs: []string{yellowCA.pem}, ClientCertRef: certPath, ClientKeyRef: keyPath, OurMemberID: "purple", ConcurrentLimit: 10}
	reg := NewRegistry(LedgerOptions{NetworkID: "purple"}, PeerOptions{})
	if err := reg.Sync([]ledger.Peer{rec}); err != nil {
		t.Fatal(err)
	}
	p, ok := reg.Peer("yellow")
	if !ok || p.Config().Identity.DeviceID != "purple" || p.Config().Limits.MaxConcurrent != 10 || p.Roots() == nil {
		t.Fatalf("peer from ledger: %+v", p.Config())
	}
	f, err := NewForwarder(ForwarderConfig{NetworkID: "purple", VerifyTokens: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.Forward(context.Background(), p, Request{SourceMember: "a", MessageID: "1", Auth: authReq("tls-call")}, 2*time.Second)
	if err != nil {
		t.Fatalf("mutual TLS forward: %v", err)
	}
	if len(res.Destinations) != 1 || res.Dropped != 0 {
		t.Fatalf("result %+v", res)
	}

	// Without our client certificate the peer refuses the handshake.
	cfg := p.Config()
	cfg.ClientCertificate = nil
	anon := mustPeer(t, cfg, PeerOptions{})
	if _, err := f.Forward(context.Background(), anon, Request{Auth: authReq("c")}, time.Second); !errors.Is(err, ErrPeerUnavailable) {
		t.Fatalf("without client cert: %v", err)
	}

	// Tokens signed under a CA we do not trust for this peer are dropped.
	otherCA := newTestCA(t, "other CA")
	oc, ok2, _ := otherCA.issue(t, "other tokens", x509.ExtKeyUsageAny)
	otherSigner, err := osp.NewTokenSigner(oc, ok2)
	if err != nil {
		t.Fatal(err)
	}
	yellow.signer.Store(otherSigner)
	_, err = f.Forward(context.Background(), p, Request{Auth: authReq("c2")}, 2*time.Second)
	if !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), "1 dropped") {
		t.Fatalf("untrusted token: %v", err)
	}

	// Unchanged records keep their runtime; a changed one is rebuilt.
	h := p.Health().ServicePoints[0].Successes
	if err := reg.Sync([]ledger.Peer{rec}); err != nil {
		t.Fatal(err)
	}
	if p2, _ := reg.Peer("yellow"); p2 != p || p2.Health().ServicePoints[0].Successes != h {
		t.Fatal("unchanged peer rebuilt")
	}
	rec.Name = "Yellow Networks"
	if err := reg.Sync([]ledger.Peer{rec}); err != nil {
		t.Fatal(err)
	}
	if p2, _ := reg.Peer("yellow"); p2 == p || p2.Config().Name != "Yellow Networks" {
		t.Fatal("changed peer not rebuilt")
	}
	if err := reg.Sync(nil); err != nil || len(reg.IDs()) != 0 || len(reg.Health()) != 0 {
		t.Fatal("removed peer kept")
	}
}

func TestConfigFromLedgerErrors(t *testing.T) {
	ca := newTestCA(t, "ca")
	cases := []struct {
		name string
		rec  ledger.Peer
		want string
	}{
		{"not pem", ledger.Peer{ID: "p", TrustedCAs: []string{"hello"}}, "no PEM certificate"},
		{"key instead of cert", ledger.Peer{ID: "p", TrustedCAs: []string{"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"}}, "want CERTIFICATE"},
		{"trailing junk", ledger.Peer{ID: "p", TrustedCAs: []string{ca.pem + "junk"}}, "trailing data"},
		{"missing client cert file", ledger.Peer{ID: "p", ClientCertRef: filepath.Join(t.TempDir(), "nope.pem"), ClientKeyRef: "nope.key"}, "client certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ConfigFromLedger(tc.rec, LedgerOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `peer "p"`) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	// A bad record is reported by Sync; the good ones are still applied.
	reg := NewRegistry(LedgerOptions{}, PeerOptions{})
	err := reg.Sync([]ledger.Peer{
		{ID: "good", ServicePoints: []ledger.ServicePoint{{URL: "http://127.0.0.1:1/osp"}}},
		{ID: "bad-url", ServicePoints: []ledger.ServicePoint{{URL: "ftp://x"}}},
		{ID: "no-points"},
	})
	if err == nil || !strings.Contains(err.Error(), "bad-url") || !strings.Contains(err.Error(), "no-points") {
		t.Fatalf("sync err %v", err)
	}
	if ids := reg.IDs(); len(ids) != 1 || ids[0] != "good" {
		t.Fatalf("ids %v", ids)
	}
}

// TestReloadClientCertificates: renewed client certificate files are
// picked up without a change of the peer record; unchanged files, or files
// that no longer load, leave the peer as it is.
func TestReloadClientCertificates(t *testing.T) {
	ca := newTestCA(t, "purple CA")
	_, _, first := ca.issue(t, "purple at yellow", x509.ExtKeyUsageClientAuth)
	dir := t.TempDir()
	certPath, keyPath := writeKeyPair(t, dir, first)
	rec := ledger.Peer{ID: "yellow", Status: ledger.PeerActive, ServicePoints: []ledger.ServicePoint{{URL: "https://127.0.0.1:1/osp", Weight: 1}},
		ClientCertRef: certPath, ClientKeyRef: keyPath, OurMemberID: "purple"}
	reg := NewRegistry(LedgerOptions{NetworkID: "purple"}, PeerOptions{})
	if err := reg.Sync([]ledger.Peer{rec}); err != nil {
		t.Fatal(err)
	}
	presented := func() []byte {
		p, _ := reg.Peer("yellow")
		return p.TLSConfig().Certificates[0].Certificate[0]
	}
	if ids, err := reg.ReloadClientCertificates(); err != nil || len(ids) != 0 {
		t.Fatalf("unchanged files: rebuilt %v, %v", ids, err)
	}
	_, _, renewed := ca.issue(t, "purple at yellow", x509.ExtKeyUsageClientAuth)
	writeKeyPair(t, dir, renewed)
	ids, err := reg.ReloadClientCertificates()
	if err != nil || len(ids) != 1 || ids[0] != "yellow" {
		t.Fatalf("renewed files: rebuilt %v, %v", ids, err)
	}
	if !bytes.Equal(presented(), renewed.Certificate[0]) {
		t.Fatal("the peer still presents the old certificate")
	}
	if err := os.WriteFile(keyPath, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.ReloadClientCertificates(); err == nil {
		t.Fatal("a broken key file reloaded without an error")
	}
	if !bytes.Equal(presented(), renewed.Certificate[0]) {
		t.Fatal("a failed reload changed the certificate presented")
	}
}
