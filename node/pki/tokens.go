package pki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// TokenKey is one token-signing certificate and its key.
type TokenKey struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// LoadTokenKey reads a token-signing certificate and key from PEM files.
// Errors: ErrCorruptPEM, ErrKeyType (mismatch or unsupported key), and
// ErrBadKind when the certificate lacks the digital-signature usage.
func LoadTokenKey(certFile, keyFile string) (TokenKey, error) {
	tc, err := LoadKeyPair(certFile, keyFile)
	if err != nil {
		return TokenKey{}, err
	}
	if tc.Leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return TokenKey{}, fmt.Errorf("token key %s: certificate cannot sign: %w", certFile, ErrBadKind)
	}
	return TokenKey{Cert: tc.Leaf, Key: tc.PrivateKey.(crypto.Signer)}, nil
}

// TokenKeyring holds the current token-signing key and the keys it replaced
// whose tokens may still be in flight. Rotation with overlap: after Rotate,
// the old certificate stays in Certificates for maxTokenLife (the longest
// validity of a token the old key signed), so a terminating proxy that
// learns the new bundle late, or gets a token signed just before the
// rotation, still validates. Safe for concurrent use.
type TokenKeyring struct {
	mu           sync.RWMutex
	current      TokenKey
	previous     []retired
	maxTokenLife time.Duration
	now          func() time.Time
}

type retired struct {
	key   TokenKey
	until time.Time
}

// NewTokenKeyring starts a keyring with current. maxTokenLife is the longest
// validity of a token (ValidUntil - issue time); now is the clock (nil:
// time.Now).
func NewTokenKeyring(current TokenKey, maxTokenLife time.Duration, now func() time.Time) (*TokenKeyring, error) {
	if current.Cert == nil || current.Key == nil {
		return nil, errors.New("token keyring: missing certificate or key")
	}
	if !keyMatches(current.Key, current.Cert.PublicKey) {
		return nil, fmt.Errorf("token keyring: key does not match certificate: %w", ErrKeyType)
	}
	if now == nil {
		now = time.Now
	}
	return &TokenKeyring{current: current, maxTokenLife: maxTokenLife, now: now}, nil
}

// Current returns the key to sign new tokens with.
func (k *TokenKeyring) Current() TokenKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current
}

// Rotate makes next the signing key and keeps the old one for maxTokenLife.
// It returns ErrKeyType if next's key does not match its certificate.
func (k *TokenKeyring) Rotate(next TokenKey) error {
	if next.Cert == nil || next.Key == nil || !keyMatches(next.Key, next.Cert.PublicKey) {
		return fmt.Errorf("token keyring rotate: key does not match certificate: %w", ErrKeyType)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.previous = append(k.previous, retired{key: k.current, until: k.now().Add(k.maxTokenLife)})
	k.current = next
	return nil
}

// Certificates returns the certificates whose tokens must still validate:
// the current one first, then retired ones whose overlap has not passed.
// Retired keys past their overlap are dropped.
func (k *TokenKeyring) Certificates() []*x509.Certificate {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	k.previous = slices.DeleteFunc(k.previous, func(r retired) bool { return !now.Before(r.until) })
	out := []*x509.Certificate{k.current.Cert}
	for i := len(k.previous) - 1; i >= 0; i-- {
		out = append(out, k.previous[i].key.Cert)
	}
	return out
}

// RotateTokenSigning issues a new token-signing certificate (req.Kind is
// forced to KindTokenSigning) and marks every earlier, unretired
// token-signing certificate to retire maxTokenLife from now, the moment the
// last token it may have signed expires. Bundle lists them until then.
func (ca *CA) RotateTokenSigning(req IssueRequest, maxTokenLife time.Duration) (*Issued, error) {
	req.Kind = KindTokenSigning
	is, err := ca.Issue(req)
	if err != nil {
		return nil, err
	}
	unlock, err := ca.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	idx, err := ca.loadIndex()
	if err != nil {
		return nil, err
	}
	retire := ca.now().Add(maxTokenLife).UTC()
	var evs []indexEvent
	for _, r := range idx {
		if r.Kind == KindTokenSigning && r.Serial != is.Serial.String() && r.RetireAt.IsZero() {
			evs = append(evs, indexEvent{Op: "retire", Serial: r.Serial, RetireAt: retire})
		}
	}
	if len(evs) > 0 {
		if err := ca.appendIndex(evs...); err != nil {
			return nil, err
		}
	}
	return is, nil
}

// Bundle returns the PEM that members install to validate tokens: the CA
// certificate, then every token-signing certificate that is unexpired,
// unrevoked and not past its RetireAt. (The toolkit needs only the CA, which
// every token's embedded signer certificate chains to; the leaf certificates
// let other verifiers pin the current keys.)
func (ca *CA) Bundle() ([]byte, error) {
	idx, err := ca.List()
	if err != nil {
		return nil, err
	}
	now := ca.now()
	var buf bytes.Buffer
	buf.Write(ca.certPM)
	for _, r := range idx {
		if r.Kind != KindTokenSigning || r.Revoked || now.After(r.NotAfter) ||
			(!r.RetireAt.IsZero() && !now.Before(r.RetireAt)) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(ca.dir, issuedDir, r.Serial+".crt"))
		if err != nil {
			return nil, fmt.Errorf("bundle: %w", err)
		}
		if _, err := ParseCertPEM(b); err != nil {
			return nil, fmt.Errorf("bundle: issued/%s.crt: %w", r.Serial, err)
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}
