package osp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"math/big"
	"sync"
	"testing"
	"time"
)

// tokenTestPKI is a CA and a token-signing certificate issued by it.
type tokenTestPKI struct {
	caCert *x509.Certificate
	caKey  crypto.Signer
	cert   *x509.Certificate
	key    crypto.Signer
	roots  *x509.CertPool
}

// tokenPKINow is inside every test certificate's validity.
var tokenPKINow = time.Date(2026, 11, 26, 10, 45, 0, 0, time.UTC)

var (
	tokenPKIOnce  sync.Once
	tokenPKICache map[string]*tokenTestPKI
)

// testTokenPKI returns a cached PKI: "ecdsa" (P-256 CA and signer), "rsa"
// (RSA-2048 CA and signer) or "other-ecdsa" (an unrelated P-256 CA).
func testTokenPKI(t testing.TB, name string) *tokenTestPKI {
	t.Helper()
	tokenPKIOnce.Do(func() {
		tokenPKICache = map[string]*tokenTestPKI{}
		for i, n := range []string{"ecdsa", "rsa", "other-ecdsa"} {
			p, err := newTokenTestPKI(n, int64(i+1))
			if err != nil {
				panic(err)
			}
			tokenPKICache[n] = p
		}
	})
	p, ok := tokenPKICache[name]
	if !ok {
		t.Fatalf("no test PKI %q", name)
	}
	return p
}

func newTokenTestKey(kind string) (crypto.Signer, error) {
	if kind == "rsa" {
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func newTokenTestPKI(name string, serial int64) (*tokenTestPKI, error) {
	kind := "ecdsa"
	if name == "rsa" {
		kind = "rsa"
	}
	caKey, err := newTokenTestKey(kind)
	if err != nil {
		return nil, err
	}
	notBefore := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial * 1000),
		Subject:               pkix.Name{CommonName: "Test " + name + " CA", Organization: []string{"ospnode test"}},
		NotBefore:             notBefore,
		NotAfter:              notBefore.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := newTokenTestKey(kind)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		// A serial with the high bit set exercises the DER INTEGER padding.
		SerialNumber: new(big.Int).SetBytes([]byte{0x80 | byte(serial), 2, 3, 4, 5, 6, 7, 8}),
		Subject:      pkix.Name{CommonName: "token signer " + name, Organization: []string{"ospnode test"}},
		NotBefore:    notBefore,
		NotAfter:     notBefore.AddDate(3, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	return &tokenTestPKI{caCert: caCert, caKey: caKey, cert: cert, key: key, roots: roots}, nil
}

func (p *tokenTestPKI) signer(t testing.TB, opts ...TokenSignerOption) *TokenSigner {
	t.Helper()
	s, err := NewTokenSigner(p.cert, p.key, opts...)
	if err != nil {
		t.Fatalf("NewTokenSigner: %v", err)
	}
	return s
}

var tokenUpdate = flag.Bool("update-tokens", false, "rewrite testdata/tokens/issued-*.golden")

// reissueAsIntermediate certifies ca's subject and key under root, making ca
// an intermediate: certificates ca issued then chain to root through it.
func reissueAsIntermediate(t testing.TB, ca *x509.Certificate, caKey crypto.Signer, root *tokenTestPKI) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(77),
		Subject:               ca.Subject,
		SubjectKeyId:          ca.SubjectKeyId,
		NotBefore:             ca.NotBefore,
		NotAfter:              ca.NotAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.caCert, caKey.Public(), root.caKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
