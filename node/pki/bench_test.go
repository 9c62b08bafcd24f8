package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func BenchmarkIssueMemberECDSA(b *testing.B) {
	ca, err := InitCA(b.TempDir(), CAOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ca.Issue(IssueRequest{Kind: KindMember, CommonName: "m"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRevocationCheck(b *testing.B) {
	rs := NewRevocationSet()
	for i := int64(0); i < 10000; i++ {
		rs.Add(big.NewInt(i * 7))
	}
	check := CheckRevoked(rs.Checker())
	ca, err := InitCA(b.TempDir(), CAOptions{})
	if err != nil {
		b.Fatal(err)
	}
	is, err := ca.Issue(IssueRequest{Kind: KindMember, CommonName: "m"})
	if err != nil {
		b.Fatal(err)
	}
	cs := tls.ConnectionState{PeerCertificates: []*x509Cert{is.Cert}}
	b.ReportAllocs()
	for b.Loop() {
		if err := check(cs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMutualTLSHandshake(b *testing.B) {
	dir := b.TempDir()
	ca, err := InitCA(dir, CAOptions{})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := ca.Issue(IssueRequest{Kind: KindNode, CommonName: "a", DNSNames: []string{"a"}, OutPrefix: dir + "/a"})
	if err != nil {
		b.Fatal(err)
	}
	cli, err := ca.Issue(IssueRequest{Kind: KindNode, CommonName: "b", OutPrefix: dir + "/b"})
	if err != nil {
		b.Fatal(err)
	}
	rs := NewRevocationSet()
	scfg, _, err := MutualTLS(srv.CertFile, srv.KeyFile, ca.Pool(), rs.Checker())
	if err != nil {
		b.Fatal(err)
	}
	_, ccfg, err := MutualTLS(cli.CertFile, cli.KeyFile, ca.Pool(), rs.Checker())
	if err != nil {
		b.Fatal(err)
	}
	ccfg.ServerName = "a"
	ccfg.InsecureSkipVerify = false
	scfg.SessionTicketsDisabled = true // measure full handshakes
	b.ReportAllocs()
	for b.Loop() {
		cConn, sConn := netPipe()
		sc := tls.Server(sConn, scfg)
		done := make(chan error, 1)
		go func() { done <- sc.Handshake() }()
		cc := tls.Client(cConn, ccfg)
		if err := cc.Handshake(); err != nil {
			b.Fatal(err)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		// Close the pipes, not the TLS conns: close_notify on an unread
		// net.Pipe would wait for tls.Conn.Close's 5 s deadline.
		cConn.Close()
		sConn.Close()
	}
}

func BenchmarkEnrollGetCACert(b *testing.B) {
	ca, err := InitCA(b.TempDir(), CAOptions{})
	if err != nil {
		b.Fatal(err)
	}
	h := NewEnrollmentHandler(EnrollConfig{CA: ca, Logger: quietLogger()})
	body := []byte("operation=getcacert")
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/tep", bytes.NewReader(body)))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

type x509Cert = x509.Certificate

func netPipe() (net.Conn, net.Conn) { return net.Pipe() }
