package osp

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// TokenKind is the format of an OSP token. The zero value is TokenSigned, the
// default: the terminating proxy (Kamailio token_format 0) accepts only signed
// tokens.
type TokenKind uint8

const (
	// TokenSigned is a DER PKCS#7 SignedData with the content attached (a
	// "V=1" text token), the signer certificate embedded and the signer
	// identified by issuer and serial number.
	TokenSigned TokenKind = iota
	// TokenText is the unsigned "V=1" text token: one "k=value" per line,
	// LF line ends.
	TokenText
	// TokenXML is the unsigned XML token rooted at <TokenInfo>.
	TokenXML
)

// String returns the configuration spelling of k: "signed", "text" or "xml".
func (k TokenKind) String() string {
	switch k {
	case TokenSigned:
		return "signed"
	case TokenText:
		return "text"
	case TokenXML:
		return "xml"
	}
	return fmt.Sprintf("TokenKind(%d)", uint8(k))
}

// ParseTokenKind parses the configuration spelling of a token kind ("signed",
// "text", "xml"). Any other string is an error.
func ParseTokenKind(s string) (TokenKind, error) {
	switch s {
	case "signed":
		return TokenSigned, nil
	case "text":
		return TokenText, nil
	case "xml":
		return TokenXML, nil
	}
	return 0, fmt.Errorf("osp: unknown token kind %q (want signed, text or xml)", s)
}

// MarshalText implements encoding.TextMarshaler for configuration files.
func (k TokenKind) MarshalText() ([]byte, error) {
	if k > TokenXML {
		return nil, fmt.Errorf("osp: invalid token kind %d", uint8(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseTokenKind.
func (k *TokenKind) UnmarshalText(b []byte) error {
	v, err := ParseTokenKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// TokenCallIDUndefined is the Call-ID value that tells the validating toolkit
// not to compare Call-IDs.
const TokenCallIDUndefined = "UNDEFINED"

// TokenClaims is what a token asserts. The text-token key of each field is
// given in brackets. Calling, Called and CallID must be exactly what the
// source proxy will put in the SIP INVITE: the terminating toolkit compares
// them byte for byte.
type TokenClaims struct {
	Random            string    // [r] opaque random string, no whitespace
	Calling           string    // [c] calling number (SourceInfo)
	Called            string    // [C] called number (DestinationInfo)
	CallID            []byte    // [i] SIP Call-ID (base64 on the wire); "UNDEFINED" matches any
	ValidAfter        time.Time // [a] start of validity, whole seconds UTC
	ValidUntil        time.Time // [u] end of validity, whole seconds UTC
	TransactionID     uint64    // [I] transaction id, below 2^63
	AuthorisedSeconds int       // [A] authorised duration in seconds

	// Optional look-ahead information; empty means absent.
	DestinationAddress   string // [d] e.g. "[192.0.2.7]:5060"; the toolkit does not check it
	Protocol             string // [D] signalling protocol, e.g. "sip"
	OSPVersion           string // [o] destination OSP version
	DestinationNetworkID string // [e] destination network id
}

// Checks named by TokenError.Check, in the order VerifyToken makes them.
const (
	TokenCheckFormat      = "format"        // not a well-formed token of a known kind
	TokenCheckSignature   = "signature"     // bad or missing signature (or unsigned when signed is required)
	TokenCheckTrust       = "trust"         // signer does not chain to a trusted CA
	TokenCheckRevoked     = "revoked"       // a certificate of the chain is revoked
	TokenCheckCalling     = "calling"       // calling number differs
	TokenCheckCalled      = "called"        // called number differs
	TokenCheckCallID      = "call-id"       // Call-ID differs
	TokenCheckNotYetValid = "not-yet-valid" // now is before ValidAfter
	TokenCheckExpired     = "expired"       // now is after ValidUntil
)

// TokenError reports which check a token failed. Check is one of the
// TokenCheck constants; Err carries the detail.
type TokenError struct {
	Check string
	Err   error
}

func (e *TokenError) Error() string {
	return "osp: token " + e.Check + " check failed: " + e.Err.Error()
}

func (e *TokenError) Unwrap() error { return e.Err }

// ErrTokenUnsigned is the Err of the "signature" TokenError returned when an
// unsigned token is offered and TokenVerifyOptions.AcceptUnsigned is false.
var ErrTokenUnsigned = errors.New("token is unsigned and unsigned tokens are not accepted")

func tokenErr(check string, err error) *TokenError { return &TokenError{Check: check, Err: err} }

func tokenErrf(check, format string, args ...any) *TokenError {
	return &TokenError{Check: check, Err: fmt.Errorf(format, args...)}
}

// ParsedToken is a token taken apart without any trust or claims check, as
// ParseToken returns it (for `ospnode token inspect` and for VerifyToken).
type ParsedToken struct {
	Kind        TokenKind // TokenSigned, TokenText or TokenXML
	ContentKind TokenKind // TokenText or TokenXML: the kind of the (signed) content
	Content     []byte    // the unsigned token bytes (for a signed token, the attached content)
	Claims      TokenClaims

	// Signed tokens only.
	Signer           *x509.Certificate   // the certificate matching the signer's issuer+serial
	Certificates     []*x509.Certificate // every embedded certificate, signer included
	DigestAlgorithm  crypto.Hash         // SHA-1, SHA-256, SHA-384 or SHA-512
	SignedAttributes bool                // the signer info carries signed attributes

	sig *tokenSignerInfo // what VerifySignature needs
}

// TokenVerifyOptions says how VerifyToken checks a token, as the terminating
// proxy's toolkit would.
type TokenVerifyOptions struct {
	// Roots are the trusted CA certificates. A signed token whose signer does
	// not chain to one of them fails the "trust" check; nil trusts nothing.
	Roots *x509.CertPool
	// Now is the time to check validity against; zero means time.Now().
	Now time.Time
	// Calling, Called and CallID are the values of the SIP INVITE; they must
	// equal the token's exactly (CallID unless the token's is "UNDEFINED").
	Calling, Called string
	CallID          []byte
	// AcceptUnsigned accepts text and XML tokens (Kamailio token_format 2);
	// false rejects them with a "signature" TokenError wrapping
	// ErrTokenUnsigned (token_format 0).
	AcceptUnsigned bool
	// Revoked, if not nil, is asked about the signer certificate and every
	// intermediate of the verified chain; true fails the "revoked" check.
	Revoked func(*x509.Certificate) bool
}

// ParseToken detects the kind of tok by its first bytes ("V=1\n" text,
// "<?xml"/"<TokenInfo" XML, anything else DER PKCS#7) and takes it apart. It
// checks the format only: not the signature (see ParsedToken.VerifySignature),
// trust, validity or numbers. Errors are *TokenError with Check "format".
// Safe for concurrent use; the result does not alias tok.
func ParseToken(tok []byte) (*ParsedToken, error) {
	switch tokenDetect(tok) {
	case TokenText:
		c, err := parseTokenText(tok)
		if err != nil {
			return nil, err
		}
		return &ParsedToken{Kind: TokenText, ContentKind: TokenText, Content: append([]byte(nil), tok...), Claims: *c}, nil
	case TokenXML:
		c, err := parseTokenXML(tok)
		if err != nil {
			return nil, err
		}
		return &ParsedToken{Kind: TokenXML, ContentKind: TokenXML, Content: append([]byte(nil), tok...), Claims: *c}, nil
	}
	return parseTokenSigned(tok)
}

// VerifySignature checks the signature of a signed token against its embedded
// signer certificate (no trust check). It returns nil for a signed token whose
// signature holds, a "signature" *TokenError otherwise (including for an
// unsigned token, wrapping ErrTokenUnsigned).
func (p *ParsedToken) VerifySignature() error {
	if p.Kind != TokenSigned || p.sig == nil {
		return tokenErr(TokenCheckSignature, ErrTokenUnsigned)
	}
	return p.sig.verify(p.Signer, p.Content)
}

// VerifyToken checks tok as the terminating proxy's toolkit does and returns
// its claims. The checks, in order: format, signature, trust, revoked,
// calling, called, call-id, not-yet-valid, expired; the first that fails is
// returned as a *TokenError naming it. ValidAfter and ValidUntil are
// inclusive. The "d" destination is not checked (the toolkit does not).
// Safe for concurrent use.
func VerifyToken(tok []byte, opts TokenVerifyOptions) (*TokenClaims, error) {
	p, err := ParseToken(tok)
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	if p.Kind == TokenSigned {
		if err := p.VerifySignature(); err != nil {
			return nil, err
		}
		if err := p.verifyTrust(opts.Roots, now, opts.Revoked); err != nil {
			return nil, err
		}
	} else if !opts.AcceptUnsigned {
		return nil, tokenErr(TokenCheckSignature, ErrTokenUnsigned)
	}
	if err := p.Claims.check(opts.Calling, opts.Called, opts.CallID, now); err != nil {
		return nil, err
	}
	c := p.Claims
	return &c, nil
}
