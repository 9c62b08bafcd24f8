package pki

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"
)

// issueFiles issues a certificate of kind and returns its file prefix.
func issueFiles(t *testing.T, ca *CA, kind Kind, name string) *Issued {
	t.Helper()
	is, err := ca.Issue(IssueRequest{Kind: kind, CommonName: name, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		OutPrefix: filepath.Join(t.TempDir(), name)})
	if err != nil {
		t.Fatal(err)
	}
	return is
}

// echoServer accepts TLS connections on 127.0.0.1:0, echoes one line, and
// returns the listener address. Handshake errors are sent on errs.
func echoServer(t *testing.T, cfg *tls.Config) (addr string, errs chan error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	errs = make(chan error, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				if err := tc.Handshake(); err != nil {
					errs <- err
					return
				}
				errs <- nil
				buf := make([]byte, 5)
				if _, err := io.ReadFull(tc, buf); err == nil {
					tc.Write(buf)
				}
			}()
		}
	}()
	return ln.Addr().String(), errs
}

// roundTrip dials addr with cfg and exchanges "hello"; it returns the first
// error seen on the client side.
func roundTrip(addr string, cfg *tls.Config) error {
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello")); err != nil {
		return err
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "hello" {
		return errors.New("echo mismatch")
	}
	return nil
}

func TestRevokedClientRefused(t *testing.T) {
	ca := newTestCA(t, CAOptions{})
	server := issueFiles(t, ca, KindNode, "server")
	good := issueFiles(t, ca, KindMember, "good")
	bad := issueFiles(t, ca, KindMember, "bad")
	if err := ca.Revoke(bad.Serial, "keyCompromise"); err != nil {
		t.Fatal(err)
	}
	rs, err := ca.Revoked()
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(ca.Dir(), CACertFile)
	pool, err := LoadCertPool(caFile)
	if err != nil {
		t.Fatal(err)
	}
	scfg, err := ServerTLSConfig(server.CertFile, server.KeyFile, pool, tls.RequireAndVerifyClientCert, rs.Checker())
	if err != nil {
		t.Fatal(err)
	}
	addr, errs := echoServer(t, scfg)

	for _, tc := range []struct {
		name    string
		client  *Issued
		version uint16
		ok      bool
	}{
		{"good tls13", good, tls.VersionTLS13, true},
		{"good tls12", good, tls.VersionTLS12, true},
		{"revoked tls13", bad, tls.VersionTLS13, false},
		{"revoked tls12", bad, tls.VersionTLS12, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ccfg, err := ClientTLSConfig(tc.client.CertFile, tc.client.KeyFile, pool, "127.0.0.1", nil)
			if err != nil {
				t.Fatal(err)
			}
			ccfg.MaxVersion = tc.version
			cerr := roundTrip(addr, ccfg)
			serr := <-errs
			if tc.ok && (cerr != nil || serr != nil) {
				t.Fatalf("good client: client %v, server %v", cerr, serr)
			}
			if !tc.ok {
				if cerr == nil {
					t.Fatal("revoked client completed a round trip")
				}
				if !errors.Is(serr, ErrRevoked) {
					t.Fatalf("server error %v, want ErrRevoked", serr)
				}
			}
		})
	}

	// A revocation learned later (e.g. through the ledger) applies at the
	// next handshake without rebuilding the config.
	rs.Add(good.Serial)
	ccfg, _ := ClientTLSConfig(good.CertFile, good.KeyFile, pool, "127.0.0.1", nil)
	if err := roundTrip(addr, ccfg); err == nil {
		t.Fatal("client revoked at run time still got through")
	}
	if serr := <-errs; !errors.Is(serr, ErrRevoked) {
		t.Fatalf("server error %v, want ErrRevoked", serr)
	}
}

func TestClientRefusesRevokedServer(t *testing.T) {
	ca := newTestCA(t, CAOptions{})
	server := issueFiles(t, ca, KindPeer, "server")
	scfg, err := ServerTLSConfig(server.CertFile, server.KeyFile, nil, tls.NoClientCert, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr, errs := echoServer(t, scfg)
	rs := NewRevocationSet()
	ccfg, err := ClientTLSConfig("", "", ca.Pool(), "127.0.0.1", rs.Checker())
	if err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(addr, ccfg); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	<-errs
	rs.Add(server.Serial)
	if err := roundTrip(addr, ccfg); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after revocation: %v, want ErrRevoked", err)
	}
}

func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t, CAOptions{})
	a := issueFiles(t, ca, KindNode, "node-a")
	b := issueFiles(t, ca, KindNode, "node-b")
	aSrv, _, err := MutualTLS(a.CertFile, a.KeyFile, ca.Pool(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, bCli, err := MutualTLS(b.CertFile, b.KeyFile, ca.Pool(), nil)
	if err != nil {
		t.Fatal(err)
	}
	addr, errs := echoServer(t, aSrv)
	bCli = bCli.Clone()
	bCli.ServerName = "127.0.0.1"
	bCli.VerifyConnection = func(cs tls.ConnectionState) error {
		if cs.PeerCertificates[0].Subject.CommonName != "node-a" {
			return errors.New("wrong server")
		}
		return nil
	}
	if err := roundTrip(addr, bCli); err != nil {
		t.Fatalf("mutual TLS: %v", err)
	}
	if err := <-errs; err != nil {
		t.Fatalf("server: %v", err)
	}

	// A client without a certificate is refused by a mutual-TLS server.
	anon, _ := ClientTLSConfig("", "", ca.Pool(), "127.0.0.1", nil)
	if err := roundTrip(addr, anon); err == nil {
		t.Fatal("anonymous client accepted by mutual TLS server")
	}
	<-errs

	// A node from another network's CA is refused.
	other := newTestCA(t, CAOptions{})
	c := issueFiles(t, other, KindNode, "node-c")
	_, cCli, _ := MutualTLS(c.CertFile, c.KeyFile, ca.Pool(), nil)
	cCli.ServerName = "127.0.0.1"
	if err := roundTrip(addr, cCli); err == nil {
		t.Fatal("foreign node accepted")
	}
	<-errs
}

func TestTLSConfigBadInput(t *testing.T) {
	ca := newTestCA(t, CAOptions{})
	a := issueFiles(t, ca, KindNode, "a")
	b := issueFiles(t, ca, KindNode, "b")
	if _, err := ServerTLSConfig(a.CertFile, b.KeyFile, nil, tls.NoClientCert, nil); !errors.Is(err, ErrKeyType) {
		t.Errorf("mismatched key: %v", err)
	}
	if _, err := ServerTLSConfig(a.CertFile, a.CertFile, nil, tls.NoClientCert, nil); !errors.Is(err, ErrCorruptPEM) {
		t.Errorf("cert as key: %v", err)
	}
	if _, err := ServerTLSConfig(a.CertFile, a.KeyFile, nil, tls.RequireAndVerifyClientCert, nil); err == nil {
		t.Error("client verification without CAs accepted")
	}
	if _, err := LoadCertPool(a.KeyFile); !errors.Is(err, ErrCorruptPEM) {
		t.Errorf("pool from key: %v", err)
	}
	cfg, _ := ServerTLSConfig(a.CertFile, a.KeyFile, nil, tls.NoClientCert, nil)
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("min version %x", cfg.MinVersion)
	}
}
