package consensus

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// testTLS returns a mutual-TLS config (server and client in one) whose
// certificate, signed by a fresh CA, is valid for 127.0.0.1.
func testTLS(t *testing.T) *tls.Config {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test cluster CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
}

func TestMutualTLSCluster(t *testing.T) {
	cfg := testTLS(t)
	c := newTestCluster(t, func(c *Config) { c.TLS = cfg })
	c.boot("a", "b")
	l := c.waitLeader()
	var f *testNode
	for _, tn := range c.running() {
		if tn.id != l.id {
			f = tn
		}
	}
	ctx := ctxT(t, 30*time.Second)
	if res, err := f.n.Propose(ctx, []byte("over-tls")); err != nil || !strings.HasPrefix(string(res), "ok:") {
		t.Fatalf("forwarded over TLS: %q, %v", res, err)
	}
	c.converged(20 * time.Second)

	// A plain-TCP peer cannot talk to a TLS node.
	plain := &mux{log: l.n.log}
	if conn, err := plain.dial(l.addr, connInternal, time.Second); err == nil {
		defer conn.Close()
		if err := readHello(conn, 5*time.Second); err == nil {
			t.Fatal("plain TCP client got a hello from a TLS node")
		}
	}
}
