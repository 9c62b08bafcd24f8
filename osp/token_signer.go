package osp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// TokenSigner issues tokens. For TokenSigned it builds the PKCS#7 SignedData
// itself (no signed attributes: the toolkit does not require them, so the
// signature is over the content digest); the constant parts (certificate,
// issuer+serial, algorithm identifiers) are encoded once in NewTokenSigner.
//
// A TokenSigner is immutable and safe for concurrent use. A nil *TokenSigner
// issues TokenText and TokenXML tokens, which need no key.
type TokenSigner struct {
	cert  *x509.Certificate
	key   crypto.Signer
	hash  crypto.Hash
	inner TokenKind // content of a signed token: TokenText or TokenXML
	rand  io.Reader

	digestAlgID []byte // AlgorithmIdentifier of hash
	digestAlgs  []byte // SET OF AlgorithmIdentifier
	certsField  []byte // [0] IMPLICIT certificates
	siPrefix    []byte // SignerInfo up to (excluding) encryptedDigest
}

// TokenSignerOption adjusts NewTokenSigner.
type TokenSignerOption func(*TokenSigner) error

// WithTokenDigest selects the digest: crypto.SHA256 (the default), SHA1 or
// SHA512. SHA-1 exists for interop tests only.
func WithTokenDigest(h crypto.Hash) TokenSignerOption {
	return func(s *TokenSigner) error {
		if _, ok := tokenDigestOIDs[h]; !ok {
			return fmt.Errorf("osp: unsupported token digest %v", h)
		}
		s.hash = h
		return nil
	}
}

// WithTokenSignedContent selects what a TokenSigned token wraps: TokenText
// (the default, as in the toolkit captures) or TokenXML.
func WithTokenSignedContent(k TokenKind) TokenSignerOption {
	return func(s *TokenSigner) error {
		if k != TokenText && k != TokenXML {
			return fmt.Errorf("osp: a signed token wraps a text or XML token, not %v", k)
		}
		s.inner = k
		return nil
	}
}

// WithTokenRand sets the randomness for ECDSA signatures (default
// crypto/rand.Reader).
func WithTokenRand(r io.Reader) TokenSignerOption {
	return func(s *TokenSigner) error { s.rand = r; return nil }
}

// NewTokenSigner returns a signer for cert, whose private key is key (ECDSA
// P-256 or RSA). It fails if the key does not match the certificate or is of
// another type.
func NewTokenSigner(cert *x509.Certificate, key crypto.Signer, opts ...TokenSignerOption) (*TokenSigner, error) {
	if cert == nil || key == nil {
		return nil, errors.New("osp: token signer needs a certificate and a key")
	}
	s := &TokenSigner{cert: cert, key: key, hash: crypto.SHA256, inner: TokenText, rand: rand.Reader}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	var sigAlg []byte
	switch pub := key.Public().(type) {
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return nil, errors.New("osp: token signer: ECDSA key must be on P-256")
		}
		cp, ok := cert.PublicKey.(*ecdsa.PublicKey)
		if !ok || !cp.Equal(pub) {
			return nil, errors.New("osp: token signer: key does not match certificate")
		}
		sigAlg = tokenDERSeq(tokenDEROID(tokenECDSASigOIDs[s.hash]))
	case *rsa.PublicKey:
		cp, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok || !cp.Equal(pub) {
			return nil, errors.New("osp: token signer: key does not match certificate")
		}
		sigAlg = tokenDERSeq(tokenDEROID(tokenOIDRSAEncryption), tokenDERNull)
	default:
		return nil, fmt.Errorf("osp: token signer: unsupported key type %T", pub)
	}
	s.digestAlgID = tokenDERSeq(tokenDEROID(tokenDigestOIDs[s.hash]), tokenDERNull)
	s.digestAlgs = tokenDERTLV(0x31, s.digestAlgID)
	s.certsField = tokenDERTLV(0xA0, cert.Raw)
	serial := tokenDERInteger(cert.SerialNumber)
	issuerSerial := tokenDERSeq(cert.RawIssuer, serial)
	s.siPrefix = tokenDERCat([]byte{0x02, 0x01, 0x01}, issuerSerial, s.digestAlgID, sigAlg)
	return s, nil
}

// Certificate returns the signer certificate.
func (s *TokenSigner) Certificate() *x509.Certificate { return s.cert }

// Issue encodes c as a token of the given kind. TokenSigned signs the text
// form (or the XML form, see WithTokenSignedContent). It fails, without panicking, on claims the toolkit could not read
// (empty or whitespace-bearing numbers, over-long fields, ValidUntil before
// ValidAfter, TransactionID ≥ 2^63, negative seconds) and when a signed token
// is asked of a nil signer. Safe for concurrent use.
func (s *TokenSigner) Issue(kind TokenKind, c *TokenClaims) ([]byte, error) {
	if c == nil {
		return nil, errors.New("osp: issue token: nil claims")
	}
	switch kind {
	case TokenText:
		return appendTokenText(make([]byte, 0, tokenTextSizeHint(c)), c)
	case TokenXML:
		return appendTokenXML(make([]byte, 0, 512), c)
	case TokenSigned:
		if s == nil {
			return nil, errors.New("osp: issue signed token: no signer configured")
		}
		var buf [512]byte
		var content []byte
		var err error
		if s.inner == TokenXML {
			content, err = appendTokenXML(buf[:0], c)
		} else {
			content, err = appendTokenText(buf[:0], c)
		}
		if err != nil {
			return nil, err
		}
		return s.sign(content)
	}
	return nil, fmt.Errorf("osp: issue token: unknown kind %v", kind)
}

// sign wraps content in a SignedData: ContentInfo{signedData, [0]
// SignedData{1, digestAlgs, {data, [0] OCTET STRING content}, [0] cert,
// {SignerInfo}}}. Lengths are computed first so the result is one allocation.
func (s *TokenSigner) sign(content []byte) ([]byte, error) {
	h := s.hash.New()
	h.Write(content)
	var sum [64]byte
	digest := h.Sum(sum[:0])
	sig, err := s.key.Sign(s.rand, digest, s.hash)
	if err != nil {
		return nil, fmt.Errorf("osp: sign token: %w", err)
	}

	octet := tokenDERLen(len(content))
	eContent := tokenDERLen(octet)                      // [0] EXPLICIT
	eci := tokenDERLen(len(tokenDEROIDData) + eContent) // SEQUENCE
	sigOctet := tokenDERLen(len(sig))                   // OCTET STRING
	si := tokenDERLen(len(s.siPrefix) + sigOctet)       // SignerInfo
	sis := tokenDERLen(si)                              // SET
	sdBody := 3 + len(s.digestAlgs) + eci + len(s.certsField) + sis
	sd := tokenDERLen(sdBody)
	explicit := tokenDERLen(sd)
	outer := tokenDERLen(len(tokenDEROIDSignedData) + explicit)

	b := make([]byte, 0, outer)
	b = tokenAppendHeader(b, 0x30, len(tokenDEROIDSignedData)+explicit)
	b = append(b, tokenDEROIDSignedData...)
	b = tokenAppendHeader(b, 0xA0, sd)
	b = tokenAppendHeader(b, 0x30, sdBody)
	b = append(b, 0x02, 0x01, 0x01)
	b = append(b, s.digestAlgs...)
	b = tokenAppendHeader(b, 0x30, len(tokenDEROIDData)+eContent)
	b = append(b, tokenDEROIDData...)
	b = tokenAppendHeader(b, 0xA0, octet)
	b = tokenAppendHeader(b, 0x04, len(content))
	b = append(b, content...)
	b = append(b, s.certsField...)
	b = tokenAppendHeader(b, 0x31, si)
	b = tokenAppendHeader(b, 0x30, len(s.siPrefix)+sigOctet)
	b = append(b, s.siPrefix...)
	b = tokenAppendHeader(b, 0x04, len(sig))
	b = append(b, sig...)
	return b, nil
}

// tokenDERInteger encodes a non-negative big integer as DER INTEGER.
func tokenDERInteger(n *big.Int) []byte {
	v := n.Bytes()
	if len(v) == 0 {
		v = []byte{0}
	} else if v[0]&0x80 != 0 {
		v = append([]byte{0}, v...)
	}
	return tokenDERTLV(0x02, v)
}
