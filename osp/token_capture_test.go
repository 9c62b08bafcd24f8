package osp

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
)

// Captured tokens (testdata/tokens, see PROVENANCE.md) replayed with a frozen
// clock inside their validity.

func readTokenFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "tokens", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// captureClaims is what the capture's tokens/ files assert.
var captureClaims = TokenClaims{
	Random:            "12345",
	Calling:           "14045551212",
	Called:            "18005551234",
	CallID:            []byte("call-1@10.0.0.1"),
	ValidAfter:        time.Date(2026, 11, 26, 10, 39, 1, 0, time.UTC),
	ValidUntil:        time.Date(2026, 11, 26, 10, 50, 1, 0, time.UTC),
	TransactionID:     987654321,
	AuthorisedSeconds: 3600,
}

var captureNow = time.Date(2026, 11, 26, 10, 45, 0, 0, time.UTC)

func captureOpts() TokenVerifyOptions {
	return TokenVerifyOptions{
		Now: captureNow, Calling: captureClaims.Calling, Called: captureClaims.Called,
		CallID: captureClaims.CallID, AcceptUnsigned: true,
	}
}

func claimsEqual(a, b *TokenClaims) bool {
	return a.Random == b.Random && a.Calling == b.Calling && a.Called == b.Called &&
		bytes.Equal(a.CallID, b.CallID) && a.ValidAfter.Equal(b.ValidAfter) &&
		a.ValidUntil.Equal(b.ValidUntil) && a.TransactionID == b.TransactionID &&
		a.AuthorisedSeconds == b.AuthorisedSeconds && a.DestinationAddress == b.DestinationAddress &&
		a.Protocol == b.Protocol && a.OSPVersion == b.OSPVersion &&
		a.DestinationNetworkID == b.DestinationNetworkID
}

func TestTokenCaptureUnsigned(t *testing.T) {
	for _, tc := range []struct {
		file string
		kind TokenKind
	}{
		{"unsigned-ascii-token.txt", TokenText},
		{"unsigned-xml-token.txt", TokenXML},
	} {
		t.Run(tc.file, func(t *testing.T) {
			tok := readTokenFixture(t, tc.file)
			p, err := ParseToken(tok)
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind != tc.kind || p.ContentKind != tc.kind || !bytes.Equal(p.Content, tok) {
				t.Fatalf("kind %v/%v, content equal %v", p.Kind, p.ContentKind, bytes.Equal(p.Content, tok))
			}
			if !claimsEqual(&p.Claims, &captureClaims) {
				t.Fatalf("claims %+v, want %+v", p.Claims, captureClaims)
			}
			c, err := VerifyToken(tok, captureOpts())
			if err != nil {
				t.Fatal(err)
			}
			if !claimsEqual(c, &captureClaims) {
				t.Fatalf("verified claims %+v", c)
			}
			// Unsigned tokens are refused when only signed ones are accepted.
			opts := captureOpts()
			opts.AcceptUnsigned = false
			_, err = VerifyToken(tok, opts)
			wantCheck(t, err, TokenCheckSignature)
			if !errors.Is(err, ErrTokenUnsigned) {
				t.Fatalf("want ErrTokenUnsigned, got %v", err)
			}
			// Our issuer writes the capture's bytes exactly.
			again, err := (*TokenSigner)(nil).Issue(tc.kind, &captureClaims)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, tok) {
				t.Fatalf("re-issued token differs:\n%q\n%q", again, tok)
			}
		})
	}
}

func TestTokenCaptureSigned(t *testing.T) {
	for _, tc := range []struct {
		file, content string
		kind          TokenKind
		hash          crypto.Hash
	}{
		{"signed-ascii-token.pkcs7.der", "unsigned-ascii-token.txt", TokenText, crypto.SHA256},
		{"signed-xml-token.pkcs7.der", "unsigned-xml-token.txt", TokenXML, crypto.SHA1},
	} {
		t.Run(tc.file, func(t *testing.T) {
			tok := readTokenFixture(t, tc.file)
			p, err := ParseToken(tok)
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind != TokenSigned || p.ContentKind != tc.kind || p.DigestAlgorithm != tc.hash || !p.SignedAttributes {
				t.Fatalf("kind %v content %v digest %v attrs %v", p.Kind, p.ContentKind, p.DigestAlgorithm, p.SignedAttributes)
			}
			if want := readTokenFixture(t, tc.content); !bytes.Equal(p.Content, want) {
				t.Fatalf("signed content differs from %s", tc.content)
			}
			if !claimsEqual(&p.Claims, &captureClaims) {
				t.Fatalf("claims %+v", p.Claims)
			}
			if got := p.Signer.Subject.CommonName; got != "osp-server-token-signer" || p.Signer.Issuer.CommonName != "Test OSP CA" {
				t.Fatalf("signer %q issued by %q", got, p.Signer.Issuer.CommonName)
			}
			if len(p.Certificates) != 1 {
				t.Fatalf("%d embedded certificates, the capture has only the signer's", len(p.Certificates))
			}
			if err := p.VerifySignature(); err != nil {
				t.Fatalf("signature against the embedded certificate: %v", err)
			}
			// The independent implementation agrees.
			p7, err := pkcs7.Parse(tok)
			if err != nil {
				t.Fatal(err)
			}
			if err := p7.Verify(); err != nil {
				t.Fatalf("smallstep/pkcs7: %v", err)
			}
			// The CA is not in the captures: trust fails cleanly, with no
			// roots and with an unrelated CA.
			_, err = VerifyToken(tok, captureOpts())
			wantCheck(t, err, TokenCheckTrust)
			opts := captureOpts()
			opts.Roots = testTokenPKI(t, "ecdsa").roots
			_, err = VerifyToken(tok, opts)
			wantCheck(t, err, TokenCheckTrust)
		})
	}
}

// TestTokenCaptureAllChecks trusts the captured signer certificate
// itself as if it were the root: the rest of the checks then run on the
// captured token.
func TestTokenCaptureAllChecks(t *testing.T) {
	tok := readTokenFixture(t, "signed-ascii-token.pkcs7.der")
	p, err := ParseToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	// A certificate in the root pool is trusted as it is, CA or not.
	opts := captureOpts()
	opts.Roots = certPool(p.Signer)
	c, err := VerifyToken(tok, opts)
	if err != nil {
		t.Fatalf("captured token with its signer trusted: %v", err)
	}
	if !claimsEqual(c, &captureClaims) {
		t.Fatalf("claims %+v", c)
	}
	opts.Revoked = func(c *x509.Certificate) bool { return c.SerialNumber.Cmp(p.Signer.SerialNumber) == 0 }
	_, err = VerifyToken(tok, opts)
	// The leaf is the root of its own chain here: it is not asked about.
	if err != nil {
		t.Fatalf("root certificates are not subject to revocation: %v", err)
	}
}

func TestTokenCaptureOthers(t *testing.T) {
	for _, tc := range []struct {
		file string
		kind TokenKind
		addr string
	}{
		{"capture02-destination1.txt", TokenText, "[127.0.0.2]:5060"},
		{"capture02-destination2.txt", TokenText, "[127.0.0.3]:5060"},
		{"capture14-destination1.pkcs7.der", TokenSigned, "[127.0.0.2]:5060"},
		{"capture14-destination2.pkcs7.der", TokenSigned, "[127.0.0.3]:5060"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			tok := readTokenFixture(t, tc.file)
			p, err := ParseToken(tok)
			if err != nil {
				t.Fatal(err)
			}
			c := p.Claims
			if p.Kind != tc.kind || c.Calling != "14048724799" || c.Called != "1678" || string(c.CallID) != "1" ||
				c.TransactionID != 1234567890123456789 || c.AuthorisedSeconds != 3600 ||
				c.DestinationAddress != tc.addr || c.Protocol != "sip" || c.OSPVersion != "True" {
				t.Fatalf("parsed %v %+v", p.Kind, c)
			}
			if tc.kind == TokenSigned {
				if err := p.VerifySignature(); err != nil {
					t.Fatal(err)
				}
			}
			// Re-encoding the claims gives back the (signed) text exactly.
			again, err := (*TokenSigner)(nil).Issue(TokenText, &c)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, p.Content) {
				t.Fatalf("re-issued %q, captured %q", again, p.Content)
			}
		})
	}
}

func certPool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func wantCheck(t testing.TB, err error, check string) {
	t.Helper()
	var te *TokenError
	if !errors.As(err, &te) {
		t.Fatalf("want a *TokenError with check %q, got %v", check, err)
	}
	if te.Check != check {
		t.Fatalf("want check %q, got %q: %v", check, te.Check, err)
	}
	if !strings.Contains(err.Error(), check) {
		t.Fatalf("error %q does not name the check", err)
	}
}

func TestTokenCaptureTampered(t *testing.T) {
	text := string(readTokenFixture(t, "unsigned-ascii-token.txt"))
	xml := string(readTokenFixture(t, "unsigned-xml-token.txt"))
	signed := readTokenFixture(t, "signed-ascii-token.pkcs7.der")

	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 0x01
		return c
	}
	// Positions in the DER: the last byte is inside the signature; the
	// calling number is inside the attached content.
	contentAt := bytes.Index(signed, []byte("c=14045551212")) + 5
	if contentAt < 5 {
		t.Fatal("calling number not found in the signed capture")
	}

	for _, tc := range []struct {
		name  string
		tok   []byte
		check string
	}{
		{"text calling", []byte(strings.Replace(text, "c=14045551212", "c=14045551213", 1)), TokenCheckCalling},
		{"text called", []byte(strings.Replace(text, "C=18005551234", "C=18005551235", 1)), TokenCheckCalled},
		{"text call-id", []byte(strings.Replace(text, "i=Y2FsbC0xQDEwLjAuMC4x", "i=Y2FsbC0yQDEwLjAuMC4x", 1)), TokenCheckCallID},
		{"text valid-after", []byte(strings.Replace(text, "a=2026-11-26T10:39:01Z", "a=2026-11-26T10:49:01Z", 1)), TokenCheckNotYetValid},
		{"text valid-until", []byte(strings.Replace(text, "u=2026-11-26T10:50:01Z", "u=2026-11-26T10:40:01Z", 1)), TokenCheckExpired},
		{"text unknown key", []byte(text + "x=1\n"), TokenCheckFormat},
		{"text toolkit-tolerated key n", []byte(text + "n=1\n"), TokenCheckFormat},
		{"text CR line ends", []byte(strings.ReplaceAll(text, "\n", "\r\n")), TokenCheckFormat},
		{"text space in value", []byte(strings.Replace(text, "c=14045551212", "c=1404555 1212", 1)), TokenCheckFormat},
		{"text repeated key", []byte(text + "c=14045551212\n"), TokenCheckFormat},
		{"text bad time", []byte(strings.Replace(text, "T10:39:01Z", "T10:39:01", 1)), TokenCheckFormat},
		{"text empty line", []byte(text + "\n"), TokenCheckFormat},
		{"xml calling", []byte(strings.Replace(xml, ">14045551212<", ">14045551213<", 1)), TokenCheckCalling},
		{"xml called", []byte(strings.Replace(xml, ">18005551234<", ">18005551235<", 1)), TokenCheckCalled},
		{"xml call-id", []byte(strings.Replace(xml, ">Y2FsbC0xQDEwLjAuMC4x<", ">Y2FsbC0yQDEwLjAuMC4x<", 1)), TokenCheckCallID},
		{"xml valid-until", []byte(strings.Replace(xml, "<ValidUntil>2026-11-26T10:50:01Z", "<ValidUntil>2026-11-26T10:40:01Z", 1)), TokenCheckExpired},
		{"xml valid-after", []byte(strings.Replace(xml, "<ValidAfter>2026-11-26T10:39:01Z", "<ValidAfter>2026-11-26T10:49:01Z", 1)), TokenCheckNotYetValid},
		{"xml whitespace in value", []byte(strings.Replace(xml, ">14045551212<", ">\n14045551212<", 1)), TokenCheckFormat},
		{"xml unknown element", []byte(strings.Replace(xml, "</TokenInfo>", "<Hop>1</Hop></TokenInfo>", 1)), TokenCheckFormat},
		{"xml wrong root", []byte(strings.ReplaceAll(xml, "TokenInfo", "TokenInfx")), TokenCheckFormat},
		{"signed flipped signature byte", flip(signed, len(signed)-1), TokenCheckSignature},
		{"signed flipped content byte", flip(signed, contentAt), TokenCheckSignature},
		{"signed truncated", signed[:len(signed)-1], TokenCheckFormat},
		{"signed as base64", []byte("MIIGYAYJKoZIhvcNAQcCoIIGUTCCBk0CAQExDzANBglghkgBZQMEAgEFADCBkQYJ"), TokenCheckFormat},
		{"empty", nil, TokenCheckFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyToken(tc.tok, captureOpts())
			wantCheck(t, err, tc.check)
		})
	}

	// An unknown element marked critical="false" is ignored, as the toolkit does.
	ext := strings.Replace(xml, "</TokenInfo>", `<Hop critical="false">1</Hop></TokenInfo>`, 1)
	if _, err := VerifyToken([]byte(ext), captureOpts()); err != nil {
		t.Fatalf("non-critical extension refused: %v", err)
	}
	// The INVITE's values differing is the same failure as the token's.
	opts := captureOpts()
	opts.CallID = []byte("other")
	_, err := VerifyToken([]byte(text), opts)
	wantCheck(t, err, TokenCheckCallID)
	// ValidUntil is inclusive, to the second, as the toolkit's time(NULL).
	opts = captureOpts()
	opts.Now = captureClaims.ValidUntil.Add(999 * time.Millisecond)
	if _, err := VerifyToken([]byte(text), opts); err != nil {
		t.Fatalf("at the last valid second: %v", err)
	}
	opts.Now = captureClaims.ValidUntil.Add(time.Second)
	_, err = VerifyToken([]byte(text), opts)
	wantCheck(t, err, TokenCheckExpired)
}
