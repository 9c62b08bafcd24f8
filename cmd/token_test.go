package cmd

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/osp"
)

// tokenFixture is a P-256 CA (as a PEM file) and a signed, a text and a
// base64 copy of the signed token, all under dir.
type tokenFixture struct {
	caPEM, otherCAPEM         string
	signed, text, b64, broken string
	claims                    osp.TokenClaims
}

func newTokenCA(t *testing.T, dir, name string) (*x509.Certificate, *ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key, path
}

func newTokenFixture(t *testing.T) *tokenFixture {
	t.Helper()
	dir := t.TempDir()
	ca, caKey, caPEM := newTokenCA(t, dir, "ca")
	_, _, otherPEM := newTokenCA(t, dir, "other")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x1234), Subject: pkix.Name{CommonName: "token signer"},
		NotBefore: ca.NotBefore, NotAfter: ca.NotAfter, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	s, err := osp.NewTokenSigner(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	f := &tokenFixture{caPEM: caPEM, otherCAPEM: otherPEM, claims: osp.TokenClaims{
		Random: "42", Calling: "14045551212", Called: "18005551234", CallID: []byte("call-1@10.0.0.1"),
		ValidAfter:    time.Date(2026, 11, 26, 10, 39, 1, 0, time.UTC),
		ValidUntil:    time.Date(2026, 11, 26, 10, 50, 1, 0, time.UTC),
		TransactionID: 987654321, AuthorisedSeconds: 3600, DestinationAddress: "[192.0.2.7]:5060",
	}}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	signed, err := s.Issue(osp.TokenSigned, &f.claims)
	if err != nil {
		t.Fatal(err)
	}
	text, err := s.Issue(osp.TokenText, &f.claims)
	if err != nil {
		t.Fatal(err)
	}
	f.signed = write("signed.der", signed)
	f.text = write("text.txt", text)
	f.b64 = write("signed.b64", []byte(base64.StdEncoding.EncodeToString(signed)+"\n"))
	f.broken = write("broken.txt", []byte("V=1\r\nc=1\r\n"))
	return f
}

func TestTokenInspect(t *testing.T) {
	f := newTokenFixture(t)
	for _, tc := range []struct {
		name, file, kind string
	}{
		{"signed DER", f.signed, "signed"},
		{"signed base64", f.b64, "signed"},
		{"text", f.text, "text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, "token", "inspect", tc.file)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var got tokenInspectJSON
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if got.Kind != tc.kind || got.ContentKind != "text" || got.Claims.Calling != "14045551212" ||
				got.Claims.CallID != "call-1@10.0.0.1" || got.Claims.TransactionID != 987654321 ||
				got.Claims.ValidUntil != "2026-11-26T10:50:01Z" || got.Claims.DestinationAddress != "[192.0.2.7]:5060" {
				t.Fatalf("inspect: %s", out)
			}
			if tc.kind == "signed" {
				s := got.Signature
				if s == nil || !s.Valid || s.Digest != "SHA-256" || s.Signer.Subject != "CN=token signer" ||
					s.Signer.Issuer != "CN=ca" || s.Signer.Serial != "0x1234" || s.Signer.NotAfter != "2036-01-01T00:00:00Z" {
					t.Fatalf("signature: %s", out)
				}
			} else if got.Signature != nil {
				t.Fatalf("unsigned token with a signature: %s", out)
			}
		})
	}
	code, _, errs := run(t, "token", "inspect", f.broken)
	if code != 1 || !strings.Contains(errs, "format") {
		t.Fatalf("broken token: exit %d, %q", code, errs)
	}
	if code, _, _ := run(t, "token", "inspect"); code == 0 {
		t.Fatal("inspect without a file exited 0")
	}
	if code, _, _ := run(t, "token", "inspect", filepath.Join(t.TempDir(), "missing")); code == 0 {
		t.Fatal("inspect of a missing file exited 0")
	}
}

func TestTokenVerifyCommand(t *testing.T) {
	f := newTokenFixture(t)
	// base builds the command line; urfave/cli parses flags before the
	// FILE argument only, so later flags override these defaults.
	base := func(file string, extra ...string) []string {
		a := []string{"token", "verify", "--calling", "14045551212", "--called", "18005551234",
			"--call-id", "call-1@10.0.0.1", "--now", "2026-11-26T10:45:00Z"}
		return append(append(a, extra...), file)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		code  int
		check string
	}{
		{"signed ok", base(f.signed, "--ca", f.caPEM), 0, ""},
		{"base64 ok", base(f.b64, "--ca", f.caPEM), 0, ""},
		{"text accepted", base(f.text, "--accept-unsigned"), 0, ""},
		{"text refused", base(f.text, "--ca", f.caPEM), 1, "signature"},
		{"no CA", base(f.signed), 1, "trust"},
		{"other CA", base(f.signed, "--ca", f.otherCAPEM), 1, "trust"},
		{"expired", base(f.signed, "--ca", f.caPEM, "--now", "2026-11-26T10:50:02Z"), 1, "expired"},
		{"not yet valid", base(f.signed, "--ca", f.caPEM, "--now", "2026-11-26T10:39:00Z"), 1, "not-yet-valid"},
		{"calling", base(f.signed, "--ca", f.caPEM, "--calling", "1"), 1, "calling"},
		{"called", base(f.signed, "--ca", f.caPEM, "--called", "1"), 1, "called"},
		{"call-id", base(f.signed, "--ca", f.caPEM, "--call-id", "x"), 1, "call-id"},
		{"broken", base(f.broken, "--accept-unsigned"), 1, "format"},
		{"bad now", base(f.signed, "--ca", f.caPEM, "--now", "yesterday"), 2, ""},
		{"CA not PEM", base(f.signed, "--ca", f.signed), 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tc.code, out, errs)
			}
			if tc.code == 0 {
				var got struct {
					Valid  bool            `json:"valid"`
					Claims tokenClaimsJSON `json:"claims"`
				}
				if err := json.Unmarshal([]byte(out), &got); err != nil || !got.Valid || got.Claims.Called != "18005551234" {
					t.Fatalf("output %q (%v)", out, err)
				}
			}
			if tc.check != "" && !strings.Contains(errs, tc.check+" check failed") {
				t.Fatalf("stderr %q does not name the %s check", errs, tc.check)
			}
		})
	}
}
