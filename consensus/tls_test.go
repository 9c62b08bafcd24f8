package consensus

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
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
	ctx := ctxT(t, 60*time.Second)
	// Forwarded over TLS: proposed on whichever node follows, again after a
	// leader change on a busy machine (see proposeAcked).
	var l *testNode
	c.eventually(30*time.Second, "a write forwarded over TLS", func() error {
		var f *testNode
		var err error
		if l, f, err = c.leaderAndFollower(); err != nil {
			return err
		}
		before := f.n.Stats().ForwardedOut
		if res := c.proposeAcked(ctx, f, []byte("over-tls")); res != nil && !strings.HasPrefix(string(res), "ok:") {
			t.Fatalf("forwarded over TLS: %q", res)
		}
		if f.n.Stats().ForwardedOut == before {
			return fmt.Errorf("%s did not forward (leader was %s)", f.id, l.id)
		}
		return nil
	})
	if v := c.converged(20 * time.Second); v.keys != 1 || v.dups != 0 {
		t.Fatalf("after the forwarded write: %+v", v)
	}

	// A plain-TCP peer cannot talk to a TLS node.
	plain := &mux{log: l.n.log}
	if conn, err := plain.dial(l.addr, connInternal, time.Second); err == nil {
		defer conn.Close()
		if err := readHello(conn, 5*time.Second); err == nil {
			t.Fatal("plain TCP client got a hello from a TLS node")
		}
	}
}
