package osp

// Tampered and hostile tokens through VerifyToken: each must fail with a
// *TokenError naming the check the terminating toolkit would fail, and
// none may panic.

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// hostileTamper returns a copy of tok with the first value byte of the
// content line starting with prefix changed, keeping its length and form.
func hostileTamper(t *testing.T, tok []byte, prefix string) []byte {
	t.Helper()
	i := bytes.Index(tok, []byte("\n"+prefix))
	if i < 0 {
		t.Fatalf("no %q line", prefix)
	}
	out := bytes.Clone(tok)
	k := i + 1 + len(prefix)
	switch c := out[k]; {
	case c >= '0' && c < '9', c >= 'A' && c < 'Z', c >= 'a' && c < 'z':
		out[k]++
	default:
		out[k] = '1'
	}
	return out
}

func TestHostileTokenVerify(t *testing.T) {
	pki := testTokenPKI(t, "ecdsa")
	claims := testClaims()
	signed, err := pki.signer(t).Issue(TokenSigned, claims)
	if err != nil {
		t.Fatal(err)
	}
	text, err := pki.signer(t).Issue(TokenText, claims)
	if err != nil {
		t.Fatal(err)
	}
	xmlTok, err := pki.signer(t).Issue(TokenXML, claims)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := testTokenPKI(t, "other-ecdsa").signer(t).Issue(TokenSigned, claims)
	if err != nil {
		t.Fatal(err)
	}
	// The embedded signer certificate with its own signature altered: the
	// token's signature still holds under its key, the chain does not.
	badCert := bytes.Clone(signed)
	raw := pki.cert.Raw
	ci := bytes.Index(badCert, raw)
	if ci < 0 {
		t.Fatal("signer certificate not embedded")
	}
	badCert[ci+len(raw)-1] ^= 0x01
	flipSig := bytes.Clone(signed)
	flipSig[len(flipSig)-1] ^= 0x01

	opts := testVerifyOpts(pki, claims)
	strict := opts
	strict.AcceptUnsigned = false
	revoked := opts
	revoked.Revoked = func(c *x509.Certificate) bool { return c.Equal(pki.cert) }
	late, early := opts, opts
	late.Now = claims.ValidUntil.Add(time.Second)
	early.Now = claims.ValidAfter.Add(-time.Second)

	cases := []struct {
		name string
		tok  []byte
		opts TokenVerifyOptions
		want string // "" = valid
	}{
		{"signed-intact", signed, opts, ""},
		{"text-intact", text, opts, ""},
		{"xml-intact", xmlTok, opts, ""},
		// Signed: any content byte breaks the signature.
		{"signed-calling", hostileTamper(t, signed, "c="), opts, TokenCheckSignature},
		{"signed-called", hostileTamper(t, signed, "C="), opts, TokenCheckSignature},
		{"signed-call-id", hostileTamper(t, signed, "i="), opts, TokenCheckSignature},
		{"signed-valid-after", hostileTamper(t, signed, "a="), opts, TokenCheckSignature},
		{"signed-valid-until", hostileTamper(t, signed, "u="), opts, TokenCheckSignature},
		{"signed-transaction-id", hostileTamper(t, signed, "I="), opts, TokenCheckSignature},
		{"signed-authorised-seconds", hostileTamper(t, signed, "A="), opts, TokenCheckSignature},
		{"signed-random", hostileTamper(t, signed, "r="), opts, TokenCheckSignature},
		{"signed-destination", hostileTamper(t, signed, "d="), opts, TokenCheckSignature},
		{"signed-network", hostileTamper(t, signed, "e="), opts, TokenCheckSignature},
		{"signed-signature-byte", flipSig, opts, TokenCheckSignature},
		{"signed-certificate-byte", badCert, opts, TokenCheckTrust},
		{"signed-foreign-ca", foreign, opts, TokenCheckTrust},
		{"signed-no-roots", signed, TokenVerifyOptions{Now: opts.Now, Calling: opts.Calling, Called: opts.Called, CallID: opts.CallID}, TokenCheckTrust},
		{"signed-revoked", signed, revoked, TokenCheckRevoked},
		{"signed-expired", signed, late, TokenCheckExpired},
		{"signed-not-yet-valid", signed, early, TokenCheckNotYetValid},
		{"signed-truncated", signed[:len(signed)/2], opts, TokenCheckFormat},
		{"signed-base64-inside", []byte(base64.StdEncoding.EncodeToString(signed)), opts, TokenCheckFormat},
		{"signed-trailing-byte", append(bytes.Clone(signed), 0), opts, TokenCheckFormat},
		// Unsigned tokens: refused outright when only signed are accepted;
		// otherwise the claims decide.
		{"text-unsigned-refused", text, strict, TokenCheckSignature},
		{"xml-unsigned-refused", xmlTok, strict, TokenCheckSignature},
		{"text-calling", hostileTamper(t, text, "c="), opts, TokenCheckCalling},
		{"text-called", hostileTamper(t, text, "C="), opts, TokenCheckCalled},
		{"text-call-id", hostileTamper(t, text, "i="), opts, TokenCheckCallID},
		{"text-valid-after-future", bytes.Replace(text, []byte("a=2026"), []byte("a=2027"), 1), opts, TokenCheckNotYetValid},
		{"text-valid-until-past", bytes.Replace(text, []byte("u=2026"), []byte("u=2025"), 1), opts, TokenCheckExpired},
		{"text-unknown-key", append(bytes.Clone(text), "X=1\n"...), opts, TokenCheckFormat},
		{"text-duplicate-key", append(bytes.Clone(text), "c=1\n"...), opts, TokenCheckFormat},
		{"text-cr-line-end", bytes.Replace(text, []byte("\n"), []byte("\r\n"), 1), opts, TokenCheckFormat},
		{"text-space-in-value", bytes.Replace(text, []byte("c=1404"), []byte("c=14 4"), 1), opts, TokenCheckFormat},
		{"text-txid-2-63", bytes.Replace(text, []byte("I=1234567890123456789"), []byte("I=9223372036854775808"), 1), opts, TokenCheckFormat},
		{"text-txid-40-digits", bytes.Replace(text, []byte("I=1234567890123456789"), []byte("I="+strings.Repeat("9", 40)), 1), opts, TokenCheckFormat},
		{"text-negative-seconds", bytes.Replace(text, []byte("A=3600"), []byte("A=-3600"), 1), opts, TokenCheckFormat},
		{"text-long-line", append(bytes.Clone(text), "d="+strings.Repeat("7", 300)+"\n"...), opts, TokenCheckFormat},
		{"text-lowercase-version", append([]byte("v"), text[1:]...), opts, TokenCheckFormat},
		{"text-nul-byte", bytes.Replace(text, []byte("c=1404"), []byte("c=1\x0004"), 1), opts, TokenCheckFormat},
		{"xml-doctype-entities", []byte(`<?xml version="1.0"?><!DOCTYPE TokenInfo [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><TokenInfo random="1"><SourceInfo type="e164">&b;</SourceInfo></TokenInfo>`), opts, TokenCheckFormat},
		{"xml-external-entity", []byte(`<?xml version="1.0"?><!DOCTYPE TokenInfo [<!ENTITY x SYSTEM "file:///etc/passwd">]><TokenInfo random="1"><SourceInfo type="e164">&x;</SourceInfo></TokenInfo>`), opts, TokenCheckFormat},
		{"xml-unknown-critical", bytes.Replace(xmlTok, []byte("</TokenInfo>"), []byte("<Evil>1</Evil></TokenInfo>"), 1), opts, TokenCheckFormat},
		{"xml-second-root", append(bytes.Clone(xmlTok), "<TokenInfo/>"...), opts, TokenCheckFormat},
		{"xml-deep", []byte(`<?xml version="1.0"?><TokenInfo>` + strings.Repeat(`<X critical="false">`, 10000) + strings.Repeat("</X>", 10000) + `</TokenInfo>`), opts, TokenCheckFormat},
		{"empty", nil, opts, TokenCheckFormat},
		{"der-huge-length", []byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x06}, opts, TokenCheckFormat},
		{"der-deep", bytes.Repeat([]byte{0x30, 0x80}, 10000), opts, TokenCheckFormat},
		{"garbage-1mb", bytes.Repeat([]byte{0xA5}, 1<<20), opts, TokenCheckFormat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := VerifyToken(c.tok, c.opts)
			if c.want == "" {
				if err != nil {
					t.Fatalf("valid token refused: %v", err)
				}
				if got.TransactionID != claims.TransactionID || got.Calling != claims.Calling {
					t.Fatalf("claims %+v", got)
				}
				return
			}
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatalf("err %v (%T), want a *TokenError %q", err, err, c.want)
			}
			if te.Check != c.want {
				t.Fatalf("check %q (%v), want %q", te.Check, err, c.want)
			}
			if got != nil {
				t.Fatalf("claims returned with an error: %+v", got)
			}
			if !c.opts.AcceptUnsigned && (bytes.Equal(c.tok, text) || bytes.Equal(c.tok, xmlTok)) && !errors.Is(err, ErrTokenUnsigned) {
				t.Fatalf("unsigned refusal does not wrap ErrTokenUnsigned: %v", err)
			}
		})
	}
}

// TestHostileTokenTamperedClaimsTheToolkitIgnores documents the fields no
// check covers in an unsigned token: the transaction id, the authorised
// seconds and the destination are taken as written (the toolkit does the
// same). Only a signature, or the server comparing them with its ledger,
// protects them.
func TestHostileTokenTamperedClaimsTheToolkitIgnores(t *testing.T) {
	pki := testTokenPKI(t, "ecdsa")
	claims := testClaims()
	text, err := pki.signer(t).Issue(TokenText, claims)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"I=", "A=", "d=", "r="} {
		got, err := VerifyToken(hostileTamper(t, text, prefix), testVerifyOpts(pki, claims))
		if err != nil {
			t.Fatalf("%s: %v", prefix, err)
		}
		if reflect.DeepEqual(got, claims) {
			t.Fatalf("%s: tamper had no effect", prefix)
		}
	}
}
