package pki

import (
	"errors"
	"testing"
	"time"
)

func TestTokenKeyringOverlap(t *testing.T) {
	clk := &fixedClock{time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	ca := newTestCA(t, CAOptions{Now: clk.now})
	k1, err := ca.Issue(IssueRequest{Kind: KindTokenSigning, CommonName: "tokens-1"})
	if err != nil {
		t.Fatal(err)
	}
	ring, err := NewTokenKeyring(TokenKey{Cert: k1.Cert, Key: k1.Key}, 10*time.Minute, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := ca.Issue(IssueRequest{Kind: KindTokenSigning, CommonName: "tokens-2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.Rotate(TokenKey{Cert: k2.Cert, Key: k1.Key}); !errors.Is(err, ErrKeyType) {
		t.Fatalf("rotate to mismatched key: %v", err)
	}
	if err := ring.Rotate(TokenKey{Cert: k2.Cert, Key: k2.Key}); err != nil {
		t.Fatal(err)
	}
	if !ring.Current().Cert.Equal(k2.Cert) {
		t.Fatal("current is not the new key")
	}
	names := func() []string {
		var out []string
		for _, c := range ring.Certificates() {
			out = append(out, c.Subject.CommonName)
		}
		return out
	}
	if got := names(); len(got) != 2 || got[0] != "tokens-2" || got[1] != "tokens-1" {
		t.Fatalf("during overlap: %v", got)
	}
	clk.t = clk.t.Add(10*time.Minute - time.Second)
	if got := names(); len(got) != 2 {
		t.Fatalf("just before the old key's last token expires: %v", got)
	}
	clk.t = clk.t.Add(time.Second)
	if got := names(); len(got) != 1 || got[0] != "tokens-2" {
		t.Fatalf("after overlap: %v", got)
	}
}

func TestBundleRotation(t *testing.T) {
	clk := &fixedClock{time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	ca := newTestCA(t, CAOptions{Now: clk.now})
	bundleNames := func() []string {
		t.Helper()
		b, err := ca.Bundle()
		if err != nil {
			t.Fatal(err)
		}
		certs, err := ParseCertPEM(b)
		if err != nil {
			t.Fatal(err)
		}
		if !certs[0].Equal(ca.Certificate()) {
			t.Fatal("bundle does not start with the CA")
		}
		var out []string
		for _, c := range certs[1:] {
			out = append(out, c.Subject.CommonName)
		}
		return out
	}
	if got := bundleNames(); len(got) != 0 {
		t.Fatalf("fresh CA bundle: %v", got)
	}
	if _, err := ca.Issue(IssueRequest{Kind: KindMember, CommonName: "member"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.RotateTokenSigning(IssueRequest{CommonName: "t1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := bundleNames(); len(got) != 1 || got[0] != "t1" {
		t.Fatalf("after first token key: %v", got)
	}
	clk.t = clk.t.Add(time.Minute)
	t2, err := ca.RotateTokenSigning(IssueRequest{CommonName: "t2", Kind: KindMember /* forced to token */}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if t2.Cert.ExtKeyUsage != nil {
		t.Fatal("rotation issued a non-token certificate")
	}
	if got := bundleNames(); len(got) != 2 {
		t.Fatalf("during overlap: %v", got)
	}
	clk.t = clk.t.Add(time.Hour)
	if got := bundleNames(); len(got) != 1 || got[0] != "t2" {
		t.Fatalf("after overlap: %v", got)
	}
	if err := ca.Revoke(t2.Serial, "keyCompromise"); err != nil {
		t.Fatal(err)
	}
	if got := bundleNames(); len(got) != 0 {
		t.Fatalf("after revocation: %v", got)
	}
}
