package osp

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseToken feeds the three token parsers (text, XML, DER) from the
// captured and issued tokens. Properties: no panic; a parsed token's kind is
// what its first bytes say; a text or XML token whose claims the issuer
// accepts re-encodes to claims that parse back equal; a signed token's
// signature check returns without panicking.
func FuzzParseToken(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "tokens", "*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		if filepath.Ext(name) == ".md" {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	p := testTokenPKI(f, "ecdsa")
	tok, err := p.signer(f).Issue(TokenSigned, testClaims())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add([]byte("V=1\n"))
	f.Add([]byte("V=1\nc=1\nC=2\ni=MQ==\na=2026-01-01T00:00:00Z\nu=2026-01-01T00:00:01Z\nI=1\nA=1"))
	f.Add([]byte(`<TokenInfo><UsageDetail><Amount>1</Amount><Increment>3</Increment><Unit>s</Unit></UsageDetail></TokenInfo>`))
	f.Add([]byte{0x30, 0x80, 0x00, 0x00})

	f.Fuzz(func(t *testing.T, in []byte) {
		pt, err := ParseToken(in)
		if err != nil {
			if _, ok := err.(*TokenError); !ok {
				t.Fatalf("error is %T, not *TokenError: %v", err, err)
			}
			return
		}
		if want := tokenDetect(in); pt.Kind != want {
			t.Fatalf("kind %v, first bytes say %v", pt.Kind, want)
		}
		if pt.Kind == TokenSigned {
			_ = pt.VerifySignature()
			if pt.Signer == nil || len(pt.Content) == 0 {
				t.Fatal("signed token without signer or content")
			}
			return
		}
		if !bytes.Equal(pt.Content, in) {
			t.Fatal("unsigned content differs from the input")
		}
		if pt.Claims.validate() != nil {
			return
		}
		out, err := (*TokenSigner)(nil).Issue(pt.Kind, &pt.Claims)
		if err != nil {
			t.Fatalf("valid claims not issued: %v", err)
		}
		back, err := ParseToken(out)
		if err != nil {
			t.Fatalf("re-issued token does not parse: %v\n%q", err, out)
		}
		if !claimsEqual(&back.Claims, &pt.Claims) {
			t.Fatalf("claims changed: %+v -> %+v", pt.Claims, back.Claims)
		}
	})
}
