package osp

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
)

func testClaims() *TokenClaims {
	return &TokenClaims{
		Random:               "1967956666",
		Calling:              "14048724799",
		Called:               "1678",
		CallID:               []byte("a84b4c76e66710@pc33.atlanta.example.com"),
		ValidAfter:           tokenPKINow.Add(-time.Minute),
		ValidUntil:           tokenPKINow.Add(10 * time.Minute),
		TransactionID:        1234567890123456789,
		AuthorisedSeconds:    3600,
		DestinationAddress:   "[192.0.2.7]:5060",
		Protocol:             "sip",
		OSPVersion:           "True",
		DestinationNetworkID: "net-42",
	}
}

func testVerifyOpts(p *tokenTestPKI, c *TokenClaims) TokenVerifyOptions {
	return TokenVerifyOptions{
		Roots: p.roots, Now: tokenPKINow, Calling: c.Calling, Called: c.Called,
		CallID: c.CallID, AcceptUnsigned: true,
	}
}

func TestTokenKindText(t *testing.T) {
	for _, k := range []TokenKind{TokenSigned, TokenText, TokenXML} {
		b, err := k.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back TokenKind
		if err := back.UnmarshalText(b); err != nil || back != k {
			t.Fatalf("%v: round trip gave %v, %v", k, back, err)
		}
	}
	if _, err := ParseTokenKind("pkcs7"); err == nil {
		t.Fatal("unknown kind accepted")
	}
	if _, err := TokenKind(9).MarshalText(); err == nil {
		t.Fatal("invalid kind marshalled")
	}
	var zero TokenKind
	if zero != TokenSigned {
		t.Fatal("the zero TokenKind must be TokenSigned")
	}
}

func TestTokenRoundTrip(t *testing.T) {
	for _, pki := range []string{"ecdsa", "rsa"} {
		for _, kind := range []TokenKind{TokenSigned, TokenText, TokenXML} {
			t.Run(pki+"/"+kind.String(), func(t *testing.T) {
				p := testTokenPKI(t, pki)
				s := p.signer(t)
				c := testClaims()
				tok, err := s.Issue(kind, c)
				if err != nil {
					t.Fatal(err)
				}
				got, err := VerifyToken(tok, testVerifyOpts(p, c))
				if err != nil {
					t.Fatal(err)
				}
				if !claimsEqual(got, c) {
					t.Fatalf("claims %+v, want %+v", got, c)
				}
				pt, err := ParseToken(tok)
				if err != nil {
					t.Fatal(err)
				}
				if pt.Kind != kind {
					t.Fatalf("parsed kind %v, issued %v", pt.Kind, kind)
				}

				cases := []struct {
					name  string
					mod   func(*TokenVerifyOptions)
					check string
				}{
					{"expired", func(o *TokenVerifyOptions) { o.Now = c.ValidUntil.Add(time.Second) }, TokenCheckExpired},
					{"not yet valid", func(o *TokenVerifyOptions) { o.Now = c.ValidAfter.Add(-time.Second) }, TokenCheckNotYetValid},
					{"calling", func(o *TokenVerifyOptions) { o.Calling = "14048724798" }, TokenCheckCalling},
					{"called", func(o *TokenVerifyOptions) { o.Called = "16780" }, TokenCheckCalled},
					{"call-id", func(o *TokenVerifyOptions) { o.CallID = append(o.CallID, ' ') }, TokenCheckCallID},
				}
				if kind == TokenSigned {
					cases = append(cases,
						struct {
							name  string
							mod   func(*TokenVerifyOptions)
							check string
						}{"untrusted CA", func(o *TokenVerifyOptions) { o.Roots = testTokenPKI(t, "other-ecdsa").roots }, TokenCheckTrust},
						struct {
							name  string
							mod   func(*TokenVerifyOptions)
							check string
						}{"no roots", func(o *TokenVerifyOptions) { o.Roots = nil }, TokenCheckTrust},
						struct {
							name  string
							mod   func(*TokenVerifyOptions)
							check string
						}{"revoked", func(o *TokenVerifyOptions) {
							o.Revoked = func(rc *x509.Certificate) bool { return rc.SerialNumber.Cmp(p.cert.SerialNumber) == 0 }
						}, TokenCheckRevoked},
						struct {
							name  string
							mod   func(*TokenVerifyOptions)
							check string
						}{"signer cert not yet valid", func(o *TokenVerifyOptions) { o.Now = p.cert.NotBefore.Add(-time.Hour) }, TokenCheckTrust},
					)
				} else {
					cases = append(cases, struct {
						name  string
						mod   func(*TokenVerifyOptions)
						check string
					}{"unsigned refused", func(o *TokenVerifyOptions) { o.AcceptUnsigned = false }, TokenCheckSignature})
				}
				for _, tc := range cases {
					opts := testVerifyOpts(p, c)
					tc.mod(&opts)
					_, err := VerifyToken(tok, opts)
					if err == nil {
						t.Fatalf("%s: verified", tc.name)
					}
					wantCheck(t, err, tc.check)
				}
				opts := testVerifyOpts(p, c)
				opts.Revoked = func(*x509.Certificate) bool { return false }
				if _, err := VerifyToken(tok, opts); err != nil {
					t.Fatalf("not revoked: %v", err)
				}
			})
		}
	}
}

// TestTokenSignedBySmallstep proves the hand-built DER with an independent
// PKCS#7 implementation, for both key types and every digest.
func TestTokenSignedBySmallstep(t *testing.T) {
	for _, pki := range []string{"ecdsa", "rsa"} {
		for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA1, crypto.SHA512} {
			t.Run(pki+"/"+h.String(), func(t *testing.T) {
				p := testTokenPKI(t, pki)
				s := p.signer(t, WithTokenDigest(h))
				c := testClaims()
				tok, err := s.Issue(TokenSigned, c)
				if err != nil {
					t.Fatal(err)
				}
				p7, err := pkcs7.Parse(tok)
				if err != nil {
					t.Fatalf("smallstep parse: %v", err)
				}
				text, _ := (*TokenSigner)(nil).Issue(TokenText, c)
				if !bytes.Equal(p7.Content, text) {
					t.Fatalf("content %q, want %q", p7.Content, text)
				}
				if len(p7.Certificates) != 1 || !p7.Certificates[0].Equal(p.cert) {
					t.Fatal("signer certificate not embedded")
				}
				if got := p7.GetOnlySigner(); got == nil || !got.Equal(p.cert) {
					t.Fatal("signer not found by issuer+serial")
				}
				if err := p7.VerifyWithChainAtTime(p.roots, tokenPKINow); err != nil {
					t.Fatalf("smallstep verify: %v", err)
				}
				if err := p7.VerifyWithChainAtTime(testTokenPKI(t, "other-ecdsa").roots, tokenPKINow); err == nil {
					t.Fatal("smallstep trusted an unrelated CA")
				}
				pt, err := ParseToken(tok)
				if err != nil {
					t.Fatal(err)
				}
				if pt.DigestAlgorithm != h || pt.SignedAttributes {
					t.Fatalf("digest %v signed attrs %v", pt.DigestAlgorithm, pt.SignedAttributes)
				}
				if _, err := VerifyToken(tok, testVerifyOpts(p, c)); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestTokenSignedXMLContent(t *testing.T) {
	p := testTokenPKI(t, "ecdsa")
	s := p.signer(t, WithTokenSignedContent(TokenXML))
	c := testClaims()
	tok, err := s.Issue(TokenSigned, c)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := ParseToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	xml, _ := (*TokenSigner)(nil).Issue(TokenXML, c)
	if pt.Kind != TokenSigned || pt.ContentKind != TokenXML || !bytes.Equal(pt.Content, xml) {
		t.Fatalf("kind %v content kind %v", pt.Kind, pt.ContentKind)
	}
	p7, err := pkcs7.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := p7.VerifyWithChainAtTime(p.roots, tokenPKINow); err != nil {
		t.Fatal(err)
	}
	got, err := VerifyToken(tok, testVerifyOpts(p, c))
	if err != nil || !claimsEqual(got, c) {
		t.Fatalf("verify: %v %+v", err, got)
	}
	if _, err := NewTokenSigner(p.cert, p.key, WithTokenSignedContent(TokenSigned)); err == nil {
		t.Fatal("a signed token wrapping a signed token was configured")
	}
}

// TestTokenVerifiesSmallstepOutput reads what smallstep/pkcs7 writes (signed
// attributes, SHA-256), the form the design notes checked against the toolkit.
func TestTokenVerifiesSmallstepOutput(t *testing.T) {
	for _, pki := range []string{"ecdsa", "rsa"} {
		p := testTokenPKI(t, pki)
		c := testClaims()
		text, _ := (*TokenSigner)(nil).Issue(TokenText, c)
		sd, err := pkcs7.NewSignedData(text)
		if err != nil {
			t.Fatal(err)
		}
		sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
		if err := sd.AddSigner(p.cert, p.key, pkcs7.SignerInfoConfig{}); err != nil {
			t.Fatal(err)
		}
		tok, err := sd.Finish()
		if err != nil {
			t.Fatal(err)
		}
		pt, err := ParseToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		if !pt.SignedAttributes {
			t.Fatal("smallstep output without signed attributes")
		}
		if _, err := VerifyToken(tok, testVerifyOpts(p, c)); err != nil {
			t.Fatalf("%s: %v", pki, err)
		}
		// Tamper with the content: the message digest attribute catches it.
		bad := bytes.Replace(tok, []byte("c=14048724799"), []byte("c=14048724798"), 1)
		_, err = VerifyToken(bad, testVerifyOpts(p, c))
		wantCheck(t, err, TokenCheckSignature)
	}
}

func TestTokenChainWithIntermediate(t *testing.T) {
	// A signer issued by an intermediate embedded in the token is trusted
	// through it. Built with smallstep's AddSignerChain.
	root := testTokenPKI(t, "ecdsa")
	inter := testTokenPKI(t, "other-ecdsa")
	interCert := reissueAsIntermediate(t, inter.caCert, inter.caKey, root)
	c := testClaims()
	text, _ := (*TokenSigner)(nil).Issue(TokenText, c)
	sd, err := pkcs7.NewSignedData(text)
	if err != nil {
		t.Fatal(err)
	}
	if err := sd.AddSignerChain(inter.cert, inter.key, []*x509.Certificate{interCert}, pkcs7.SignerInfoConfig{}); err != nil {
		t.Fatal(err)
	}
	tok, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyToken(tok, testVerifyOpts(root, c)); err != nil {
		t.Fatalf("through the embedded intermediate: %v", err)
	}
	opts := testVerifyOpts(root, c)
	opts.Revoked = func(rc *x509.Certificate) bool { return rc.Equal(interCert) }
	_, err = VerifyToken(tok, opts)
	wantCheck(t, err, TokenCheckRevoked)
}

func TestTokenUndefinedCallID(t *testing.T) {
	c := testClaims()
	c.CallID = []byte(TokenCallIDUndefined)
	for _, kind := range []TokenKind{TokenText, TokenXML} {
		tok, err := (*TokenSigner)(nil).Issue(kind, c)
		if err != nil {
			t.Fatal(err)
		}
		opts := testVerifyOpts(testTokenPKI(t, "ecdsa"), c)
		opts.CallID = []byte("anything@else")
		if _, err := VerifyToken(tok, opts); err != nil {
			t.Fatalf("%v: UNDEFINED call-id did not match any: %v", kind, err)
		}
	}
}

func TestTokenIssueRefusesUnreadableClaims(t *testing.T) {
	s := testTokenPKI(t, "ecdsa").signer(t)
	for _, tc := range []struct {
		name string
		mod  func(*TokenClaims)
	}{
		{"no calling", func(c *TokenClaims) { c.Calling = "" }},
		{"no called", func(c *TokenClaims) { c.Called = "" }},
		{"space in calling", func(c *TokenClaims) { c.Calling = "1404 555" }},
		{"newline in random", func(c *TokenClaims) { c.Random = "1\nx=2" }},
		{"no call-id", func(c *TokenClaims) { c.CallID = nil }},
		{"until before after", func(c *TokenClaims) { c.ValidUntil = c.ValidAfter.Add(-time.Second) }},
		{"no validity", func(c *TokenClaims) { c.ValidAfter = time.Time{} }},
		{"transaction id 2^63", func(c *TokenClaims) { c.TransactionID = 1 << 63 }},
		{"negative seconds", func(c *TokenClaims) { c.AuthorisedSeconds = -1 }},
		{"long address", func(c *TokenClaims) { c.DestinationAddress = strings.Repeat("a", 198) }},
		{"long call-id", func(c *TokenClaims) { c.CallID = bytes.Repeat([]byte("x"), 150) }},
	} {
		for _, kind := range []TokenKind{TokenSigned, TokenText, TokenXML} {
			c := testClaims()
			tc.mod(c)
			if tok, err := s.Issue(kind, c); err == nil {
				t.Errorf("%s/%v: issued %q", tc.name, kind, tok)
			}
		}
	}
	if _, err := (*TokenSigner)(nil).Issue(TokenSigned, testClaims()); err == nil {
		t.Error("a nil signer issued a signed token")
	}
	if _, err := s.Issue(TokenKind(7), testClaims()); err == nil {
		t.Error("unknown kind issued")
	}
	if _, err := s.Issue(TokenText, nil); err == nil {
		t.Error("nil claims issued")
	}
	// XML special characters are escaped and come back.
	c := testClaims()
	c.DestinationNetworkID = `a<b&"c'>`
	tok, err := s.Issue(TokenXML, c)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseToken(tok)
	if err != nil || p.Claims.DestinationNetworkID != c.DestinationNetworkID {
		t.Fatalf("escaped value came back as %q, %v", p.Claims.DestinationNetworkID, err)
	}
}

func TestNewTokenSignerRefusesMismatch(t *testing.T) {
	e, r := testTokenPKI(t, "ecdsa"), testTokenPKI(t, "rsa")
	o := testTokenPKI(t, "other-ecdsa")
	if _, err := NewTokenSigner(e.cert, r.key); err == nil {
		t.Error("ECDSA certificate with an RSA key accepted")
	}
	if _, err := NewTokenSigner(e.cert, o.key); err == nil {
		t.Error("certificate with another ECDSA key accepted")
	}
	if _, err := NewTokenSigner(r.cert, e.key); err == nil {
		t.Error("RSA certificate with an ECDSA key accepted")
	}
	if _, err := NewTokenSigner(nil, e.key); err == nil {
		t.Error("nil certificate accepted")
	}
	if _, err := NewTokenSigner(e.cert, e.key, WithTokenDigest(crypto.MD5)); err == nil {
		t.Error("MD5 accepted")
	}
	if s, err := NewTokenSigner(e.cert, e.key); err != nil || !s.Certificate().Equal(e.cert) {
		t.Errorf("Certificate(): %v", err)
	}
}

// The golden issued text/XML tokens (deterministic: no signature) guard the
// byte layout the toolkit reads. Refresh with -update.
func TestTokenGolden(t *testing.T) {
	c := testClaims()
	for _, kind := range []TokenKind{TokenText, TokenXML} {
		tok, err := (*TokenSigner)(nil).Issue(kind, c)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "tokens", "issued-"+kind.String()+".golden")
		if *tokenUpdate {
			if err := os.WriteFile(path, tok, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create)", err)
		}
		if !bytes.Equal(tok, want) {
			t.Fatalf("%v token:\n%s\nwant:\n%s", kind, tok, want)
		}
	}
}

func TestParseTokenBase64IsNotAToken(t *testing.T) {
	// PEM or base64 inside the token is rejected, as by the toolkit.
	der := readTokenFixture(t, "signed-ascii-token.pkcs7.der")
	b64 := []byte(base64.StdEncoding.EncodeToString(der))
	if _, err := ParseToken(b64); err == nil {
		t.Fatal("base64 token accepted")
	}
	pem := []byte("-----BEGIN PKCS7-----\n" + string(b64) + "\n-----END PKCS7-----\n")
	if _, err := ParseToken(pem); err == nil {
		t.Fatal("PEM token accepted")
	}
}
