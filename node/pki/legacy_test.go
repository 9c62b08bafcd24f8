package pki

import (
	"bytes"
	"crypto"
	"crypto/md5"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"path/filepath"
	"testing"
)

// nameTags returns the ASN.1 tag of every attribute value in a DER Name.
func nameTags(t *testing.T, raw []byte) []int {
	t.Helper()
	var rdns []legacyRDNSET
	if _, err := asn1.Unmarshal(raw, &rdns); err != nil {
		t.Fatal(err)
	}
	var tags []int
	for _, rdn := range rdns {
		for _, a := range rdn {
			tags = append(tags, a.Value.Tag)
		}
	}
	return tags
}

func TestLegacyEnrollmentCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "legacy")
	ca, err := InitLegacyEnrollmentCA(dir, CAOptions{CommonName: "Test CA v3", Organization: "OSPTest"})
	if err != nil {
		t.Fatal(err)
	}
	// Parse the DER back from disk.
	reopened, err := OpenCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reopened.Legacy() {
		t.Fatal("reopened legacy CA not marked legacy")
	}
	c, err := x509.ParseCertificate(reopened.Certificate().Raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.SignatureAlgorithm != x509.MD5WithRSA {
		t.Fatalf("signature algorithm %v, want MD5WithRSA", c.SignatureAlgorithm)
	}
	for _, raw := range [][]byte{c.RawSubject, c.RawIssuer} {
		tags := nameTags(t, raw)
		if len(tags) != 2 {
			t.Fatalf("name has %d values", len(tags))
		}
		for _, tag := range tags {
			if tag != asn1.TagPrintableString {
				t.Fatalf("name value tag %d, want PrintableString", tag)
			}
		}
	}
	if !c.IsCA || !c.BasicConstraintsValid || c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign || c.Version != 3 {
		t.Fatalf("CA extensions: v%d CA=%v ku=%b", c.Version, c.IsCA, c.KeyUsage)
	}
	if len(c.SubjectKeyId) != 20 {
		t.Fatal("no subject key id")
	}
	sum := md5.Sum(c.RawTBSCertificate)
	if err := rsa.VerifyPKCS1v15(c.PublicKey.(*rsa.PublicKey), crypto.MD5, sum[:], c.Signature); err != nil {
		t.Fatalf("self-signature: %v", err)
	}
	// Go refuses to trust it, which is the point of keeping it apart.
	if err := c.CheckSignatureFrom(c); err == nil {
		t.Fatal("crypto/x509 accepted an MD5 signature")
	}
	// Same shape as the CA certificate the toolkit accepted (capture 12):
	// same extension set and criticality, same name attribute types.
	_, body := capture(t, "12-enroll-getcacert.response-accepted.http")
	capDER, err := decodeB64(bytes.TrimSuffix(bytes.TrimPrefix(body, []byte("certificate=")), []byte("&")))
	if err != nil {
		t.Fatal(err)
	}
	want, err := x509.ParseCertificate(capDER)
	if err != nil {
		t.Fatal(err)
	}
	if want.SignatureAlgorithm != c.SignatureAlgorithm || len(want.Extensions) != len(c.Extensions) ||
		!bytes.Equal(want.RawSubject, c.RawSubject) {
		t.Fatalf("shape differs from capture 12: %v %d vs %v %d", c.SignatureAlgorithm, len(c.Extensions),
			want.SignatureAlgorithm, len(want.Extensions))
	}
	for i := range want.Extensions {
		if !want.Extensions[i].Id.Equal(c.Extensions[i].Id) || want.Extensions[i].Critical != c.Extensions[i].Critical {
			t.Errorf("extension %d: %v/%v, captured %v/%v", i, c.Extensions[i].Id, c.Extensions[i].Critical,
				want.Extensions[i].Id, want.Extensions[i].Critical)
		}
	}
	if _, err := ca.Issue(IssueRequest{Kind: KindMember, CommonName: "x"}); !errors.Is(err, ErrLegacyCA) {
		t.Fatalf("Issue on legacy CA: %v", err)
	}
}

func TestLegacyCABadInput(t *testing.T) {
	if _, err := InitLegacyEnrollmentCA(t.TempDir(), CAOptions{Key: KeyECDSAP256}); !errors.Is(err, ErrKeyType) {
		t.Fatalf("ECDSA legacy CA: %v", err)
	}
	if _, err := InitLegacyEnrollmentCA(t.TempDir(), CAOptions{CommonName: "bad*name@x"}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("non-printable name: %v", err)
	}
	ca := testEnrollCA(t, true)
	csr := newCSRNamed(t, "proxy_with_underscore")
	if _, err := ca.SignCSR(csr, KindMember, 0); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("non-printable CSR subject: %v", err)
	}
}

func decodeB64(b []byte) ([]byte, error) {
	return base64.StdEncoding.DecodeString(string(b))
}

func newCSRNamed(t *testing.T, cn string) []byte { return newCSR(t, cn) }
