package pki

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fixedClock returns a settable clock for tests.
type fixedClock struct{ t time.Time }

func (c *fixedClock) now() time.Time { return c.t }

func newTestCA(t *testing.T, opts CAOptions) *CA {
	t.Helper()
	ca, err := InitCA(filepath.Join(t.TempDir(), "ca"), opts)
	if err != nil {
		t.Fatalf("InitCA: %v", err)
	}
	return ca
}

func TestInitOpenRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		key  KeyAlgorithm
		want func(any) bool
	}{
		{"", func(k any) bool { _, ok := k.(*ecdsa.PublicKey); return ok }},
		{KeyRSA2048, func(k any) bool { p, ok := k.(*rsa.PublicKey); return ok && p.N.BitLen() == 2048 }},
		{KeyRSA3072, func(k any) bool { p, ok := k.(*rsa.PublicKey); return ok && p.N.BitLen() == 3072 }},
	} {
		t.Run(string(tc.key), func(t *testing.T) {
			if tc.key == KeyRSA3072 && testing.Short() {
				t.Skip("RSA 3072 keygen is slow")
			}
			dir := filepath.Join(t.TempDir(), "ca")
			ca, err := InitCA(dir, CAOptions{Key: tc.key, CommonName: "PURPLE CA", Organization: "Purple", Country: "NL"})
			if err != nil {
				t.Fatal(err)
			}
			c := ca.Certificate()
			if !c.IsCA || c.Subject.CommonName != "PURPLE CA" || c.Subject.Organization[0] != "Purple" || !tc.want(c.PublicKey) {
				t.Fatalf("CA certificate: %+v", c.Subject)
			}
			if c.KeyUsage&x509.KeyUsageCertSign == 0 {
				t.Fatal("CA cannot sign certificates")
			}
			if err := c.CheckSignatureFrom(c); err != nil {
				t.Fatalf("self-signature: %v", err)
			}
			assertMode(t, filepath.Join(dir, CAKeyFile), 0o600)
			ca2, err := OpenCA(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !ca2.Certificate().Equal(c) || ca2.Legacy() {
				t.Fatal("reopened CA differs")
			}
			if _, err := InitCA(dir, CAOptions{}); !errors.Is(err, ErrCAExists) {
				t.Fatalf("second init: %v, want ErrCAExists", err)
			}
		})
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Fatalf("%s mode %o, want %o", filepath.Base(path), got, want)
	}
}

func TestOpenCABadInput(t *testing.T) {
	good := newTestCA(t, CAOptions{})
	other := newTestCA(t, CAOptions{})
	otherKey, _ := os.ReadFile(filepath.Join(other.Dir(), CAKeyFile))
	cases := []struct {
		name   string
		mutate func(dir string)
		want   error
	}{
		{"no CA", func(dir string) { os.Remove(filepath.Join(dir, CACertFile)) }, ErrNoCA},
		{"corrupt cert PEM", func(dir string) { os.WriteFile(filepath.Join(dir, CACertFile), []byte("not pem"), 0o644) }, ErrCorruptPEM},
		{"corrupt cert DER", func(dir string) {
			os.WriteFile(filepath.Join(dir, CACertFile), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644)
		}, ErrCorruptPEM},
		{"corrupt key", func(dir string) { os.WriteFile(filepath.Join(dir, CAKeyFile), []byte("garbage"), 0o600) }, ErrCorruptPEM},
		{"mismatched key", func(dir string) { os.WriteFile(filepath.Join(dir, CAKeyFile), otherKey, 0o600) }, ErrKeyType},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, good.Dir(), dir)
			tc.mutate(dir)
			if _, err := OpenCA(dir); !errors.Is(err, tc.want) {
				t.Fatalf("OpenCA: %v, want %v", err, tc.want)
			}
		})
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBadKeyAlgorithm(t *testing.T) {
	if _, err := InitCA(t.TempDir(), CAOptions{Key: "dsa"}); !errors.Is(err, ErrKeyType) {
		t.Fatalf("InitCA dsa: %v", err)
	}
	if _, err := ParseKeyAlgorithm("ed25519"); !errors.Is(err, ErrKeyType) {
		t.Fatalf("ParseKeyAlgorithm: %v", err)
	}
}

func TestExpiredCARefusesToSign(t *testing.T) {
	clk := &fixedClock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	ca := newTestCA(t, CAOptions{Validity: 24 * time.Hour, Now: clk.now})
	if _, err := ca.Issue(IssueRequest{Kind: KindMember, CommonName: "a"}); err != nil {
		t.Fatalf("issue while valid: %v", err)
	}
	clk.t = clk.t.Add(48 * time.Hour)
	if _, err := ca.Issue(IssueRequest{Kind: KindMember, CommonName: "a"}); !errors.Is(err, ErrCAExpired) {
		t.Fatalf("issue after expiry: %v, want ErrCAExpired", err)
	}
}

func TestIssueKinds(t *testing.T) {
	clk := &fixedClock{time.Now()}
	ca := newTestCA(t, CAOptions{Now: clk.now})
	out := t.TempDir()
	cases := []struct {
		kind    Kind
		key     KeyAlgorithm
		eku     []x509.ExtKeyUsage // usages that must verify
		badEKU  []x509.ExtKeyUsage // usages that must not
		ku      x509.KeyUsage
		withSAN bool
	}{
		{KindMember, "", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			x509.KeyUsageDigitalSignature, false},
		{KindPeer, "", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}, nil,
			x509.KeyUsageDigitalSignature, true},
		{KindNode, KeyRSA2048, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}, nil,
			x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, true},
		// No EKU at all, like the certificate checked against the toolkit
		// (OSP-WIRE.md): PKCS#7 verifiers that honour EKU would refuse one
		// that names only TLS usages.
		{KindTokenSigning, "", nil, nil, x509.KeyUsageDigitalSignature, false},
	}
	var serials []string
	for _, tc := range cases {
		t.Run(string(tc.kind), func(t *testing.T) {
			prefix := filepath.Join(out, string(tc.kind), "leaf")
			is, err := ca.Issue(IssueRequest{Kind: tc.kind, CommonName: string(tc.kind) + "-1", Key: tc.key,
				IPs: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"node1.example"}, OutPrefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			serials = append(serials, is.Serial.String())
			c := is.Cert
			if c.KeyUsage != tc.ku {
				t.Errorf("key usage %b, want %b", c.KeyUsage, tc.ku)
			}
			if c.IsCA {
				t.Error("leaf is a CA")
			}
			for _, u := range tc.eku {
				if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{u},
					CurrentTime: clk.t}); err != nil {
					t.Errorf("verify for %v: %v", u, err)
				}
			}
			for _, u := range tc.badEKU {
				if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{u},
					CurrentTime: clk.t}); err == nil {
					t.Errorf("verify for %v succeeded", u)
				}
			}
			if tc.kind == KindTokenSigning {
				if err := c.CheckSignatureFrom(ca.Certificate()); err != nil {
					t.Errorf("token cert signature: %v", err)
				}
				if len(c.ExtKeyUsage) != 0 {
					t.Errorf("token cert has EKU %v", c.ExtKeyUsage)
				}
			}
			if got := len(c.IPAddresses) + len(c.DNSNames); tc.withSAN != (got == 2) {
				t.Errorf("SANs %v %v", c.IPAddresses, c.DNSNames)
			}
			if tc.withSAN {
				if err := c.VerifyHostname("127.0.0.1"); err != nil {
					t.Error(err)
				}
			}
			assertMode(t, prefix+".key", 0o600)
			assertMode(t, prefix+".crt", 0o644)
			// The files round-trip.
			k, err := LoadTokenKey(prefix+".crt", prefix+".key")
			if err != nil || !k.Cert.Equal(c) {
				t.Fatalf("reload: %v", err)
			}
		})
	}
	recs, err := ca.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(cases) {
		t.Fatalf("index has %d records, want %d", len(recs), len(cases))
	}
	for i, r := range recs {
		if r.Serial != serials[i] || r.Kind != cases[i].kind || r.Source != "issue" {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	if serials[0] != "2" || serials[3] != "5" {
		t.Errorf("serials %v, want a counter from 2", serials)
	}
}

func TestIssueBadRequests(t *testing.T) {
	ca := newTestCA(t, CAOptions{})
	for _, tc := range []struct {
		req  IssueRequest
		want error
	}{
		{IssueRequest{Kind: "admin", CommonName: "x"}, ErrBadKind},
		{IssueRequest{Kind: KindMember}, ErrBadRequest},
		{IssueRequest{Kind: KindMember, CommonName: "x", Key: "dsa"}, ErrKeyType},
		{IssueRequest{Kind: KindMember, CommonName: "x", Validity: -time.Hour}, ErrBadRequest},
	} {
		if _, err := ca.Issue(tc.req); !errors.Is(err, tc.want) {
			t.Errorf("Issue(%+v): %v, want %v", tc.req, err, tc.want)
		}
	}
	if _, err := ca.SignCSR([]byte("junk"), KindMember, 0); !errors.Is(err, ErrBadRequest) {
		t.Errorf("SignCSR junk: %v", err)
	}
}

func TestRevoke(t *testing.T) {
	ca := newTestCA(t, CAOptions{})
	is, err := ca.Issue(IssueRequest{Kind: KindMember, CommonName: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Revoke(is.Serial, "keyCompromise"); err != nil {
		t.Fatal(err)
	}
	if err := ca.Revoke(is.Serial, ""); !errors.Is(err, ErrAlreadyRevoked) {
		t.Fatalf("second revoke: %v", err)
	}
	s, _ := ParseSerial("999")
	if err := ca.Revoke(s, ""); !errors.Is(err, ErrUnknownSerial) {
		t.Fatalf("unknown serial: %v", err)
	}
	if err := ca.Revoke(is.Serial, "because"); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("bad reason: %v", err)
	}
	// Survives a reopen.
	ca2, err := OpenCA(ca.Dir())
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ca2.Revoked()
	if err != nil {
		t.Fatal(err)
	}
	if !rs.Contains(is.Serial) || rs.Len() != 1 || rs.Contains(s) {
		t.Fatalf("revoked set wrong: %d", rs.Len())
	}
	recs, _ := ca2.List()
	if !recs[0].Revoked || recs[0].Reason != "keyCompromise" || recs[0].RevokedAt.IsZero() {
		t.Fatalf("record %+v", recs[0])
	}
}

// TestConcurrentWritersShareOneDirectory: two CA handles on one directory
// (as the CLI and a node are) issue and revoke at the same time; the file
// lock keeps serials unique and the index complete.
func TestConcurrentWritersShareOneDirectory(t *testing.T) {
	a := newTestCA(t, CAOptions{})
	b, err := OpenCA(a.Dir())
	if err != nil {
		t.Fatal(err)
	}
	const per = 10
	errs := make(chan error, 2*per)
	for _, ca := range []*CA{a, b} {
		go func() {
			for i := 0; i < per; i++ {
				is, err := ca.Issue(IssueRequest{Kind: KindMember, CommonName: "m"})
				if err == nil && i%3 == 0 {
					err = ca.Revoke(is.Serial, "superseded")
				}
				errs <- err
			}
		}()
	}
	for i := 0; i < 2*per; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	recs, err := a.List()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	revoked := 0
	for _, r := range recs {
		if seen[r.Serial] {
			t.Fatalf("serial %s issued twice", r.Serial)
		}
		seen[r.Serial] = true
		if r.Revoked {
			revoked++
		}
	}
	if len(recs) != 2*per || revoked != 2*4 {
		t.Fatalf("index has %d records (%d revoked), want %d (%d)", len(recs), revoked, 2*per, 8)
	}
}

// TestIndexTornTail: a crash mid-append leaves half a line; List ignores
// it and the next append cuts it off.
func TestIndexTornTail(t *testing.T) {
	ca := newTestCA(t, CAOptions{})
	first, err := ca.Issue(IssueRequest{Kind: KindMember, CommonName: "a"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(ca.Dir(), indexFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"op":"issue","record":{"serial":"99`)
	f.Close()
	if recs, err := ca.List(); err != nil || len(recs) != 1 {
		t.Fatalf("list with torn tail: %v %d", err, len(recs))
	}
	if err := ca.Revoke(first.Serial, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Issue(IssueRequest{Kind: KindMember, CommonName: "b"}); err != nil {
		t.Fatal(err)
	}
	recs, err := ca.List()
	if err != nil || len(recs) != 2 || !recs[0].Revoked || recs[1].Subject != "CN=b" {
		t.Fatalf("after append: %v %+v", err, recs)
	}
	// A corrupt line in the middle is an error, not silently skipped.
	os.WriteFile(filepath.Join(ca.Dir(), indexFile), []byte("{oops}\n"), 0o644)
	if _, err := ca.List(); err == nil {
		t.Fatal("corrupt index read without error")
	}
}
