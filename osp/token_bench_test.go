package osp

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"strconv"
	"testing"

	"github.com/smallstep/pkcs7"
)

// benchClaims returns 5 claims, one per destination, as an AuthorizationResponse
// with max_destinations 5 carries.
func benchClaims() []*TokenClaims {
	cs := make([]*TokenClaims, 5)
	for i := range cs {
		c := testClaims()
		c.DestinationAddress = "[192.0.2." + strconv.Itoa(i+1) + "]:5060"
		c.Random = strconv.Itoa(1000000 + i)
		cs[i] = c
	}
	return cs
}

// BenchmarkTokenIssue5 issues the 5 tokens of one authorisation response.
func BenchmarkTokenIssue5(b *testing.B) {
	cases := []struct {
		name string
		pki  string
		kind TokenKind
	}{
		{"signed-ecdsa-p256", "ecdsa", TokenSigned},
		{"signed-rsa2048", "rsa", TokenSigned},
		{"text", "ecdsa", TokenText},
		{"xml", "ecdsa", TokenXML},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			s := testTokenPKI(b, tc.pki).signer(b)
			cs := benchClaims()
			b.ReportAllocs()
			for b.Loop() {
				for _, c := range cs {
					if _, err := s.Issue(tc.kind, c); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkTokenIssueSmallstep is the reference: the same 5 ECDSA tokens
// through smallstep/pkcs7 (signed attributes, reflection ASN.1).
func BenchmarkTokenIssueSmallstep5(b *testing.B) {
	p := testTokenPKI(b, "ecdsa")
	var texts [][]byte
	for _, c := range benchClaims() {
		t, err := (*TokenSigner)(nil).Issue(TokenText, c)
		if err != nil {
			b.Fatal(err)
		}
		texts = append(texts, t)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, t := range texts {
			sd, err := pkcs7.NewSignedData(t)
			if err != nil {
				b.Fatal(err)
			}
			sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
			if err := sd.AddSigner(p.cert, p.key, pkcs7.SignerInfoConfig{}); err != nil {
				b.Fatal(err)
			}
			if _, err := sd.Finish(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkTokenVerifySigned verifies one signed token as a terminating
// proxy would (parse, signature, chain to the CA, claims).
func BenchmarkTokenVerifySigned(b *testing.B) {
	for _, pki := range []string{"ecdsa", "rsa"} {
		b.Run(pki, func(b *testing.B) {
			p := testTokenPKI(b, pki)
			c := testClaims()
			tok, err := p.signer(b).Issue(TokenSigned, c)
			if err != nil {
				b.Fatal(err)
			}
			opts := testVerifyOpts(p, c)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := VerifyToken(tok, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTokenBareECDSA5 is the floor: 5 bare P-256 signatures over a
// SHA-256 digest, what BenchmarkTokenIssue5/signed-ecdsa-p256 adds to.
func BenchmarkTokenBareECDSA5(b *testing.B) {
	p := testTokenPKI(b, "ecdsa")
	digest := sha256.Sum256([]byte("V=1\n"))
	b.ReportAllocs()
	for b.Loop() {
		for range 5 {
			if _, err := p.key.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
				b.Fatal(err)
			}
		}
	}
}
