package node

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/ospnode/ospnode/node/pki"
	"github.com/ospnode/ospnode/osp"
)

// tokenSignerPrefix names the token-signing certificate and key that Open
// creates in PKIDir when no TokenCert is configured.
const tokenSignerPrefix = "token-signing"

// tokenIssuer issues the tokens of AuthorizationResponses and knows the
// certificates that validate them. It signs with the keyring's current key;
// Reload swaps in a rotated key while the old certificate stays trusted
// for the longest token life (rotation with overlap). Safe for concurrent
// use.
type tokenIssuer struct {
	signer *rotatingSigner
	anchor []*x509.Certificate
	// pool is the trust anchors at start. With a CA (PKIDir, or TokenCA)
	// it never changes: every token key chains to the CA. poolNow adds the
	// keyring's certificates for a self-signed TokenCert.
	pool    *x509.CertPool
	keyring *pki.TokenKeyring
	selfSig bool // TokenCert without TokenCA: the certificate is its own anchor

	certFile, keyFile string
	mu                sync.Mutex // serialises reload
}

// rotatingSigner is an osp.TokenSigner that can be swapped atomically.
type rotatingSigner struct {
	p atomic.Pointer[osp.TokenSigner]
}

// Issue signs with the current signer (see osp.TokenSigner.Issue).
func (r *rotatingSigner) Issue(kind osp.TokenKind, c *osp.TokenClaims) ([]byte, error) {
	return r.p.Load().Issue(kind, c)
}

func newTokenIssuer(cfg *Config) (*tokenIssuer, error) {
	var key pki.TokenKey
	var anchors []*x509.Certificate
	t := &tokenIssuer{signer: &rotatingSigner{}}
	if cfg.TokenCert != "" {
		var err error
		t.certFile, t.keyFile = cfg.TokenCert, cfg.TokenKey
		key, err = pki.LoadTokenKey(cfg.TokenCert, cfg.TokenKey)
		if err != nil {
			return nil, fmt.Errorf("%w: token key: %w", ErrConfig, err)
		}
		anchors = []*x509.Certificate{key.Cert}
		t.selfSig = true
		if cfg.TokenCA != "" {
			b, err := os.ReadFile(cfg.TokenCA)
			if err != nil {
				return nil, fmt.Errorf("%w: token ca: %w", ErrConfig, err)
			}
			if anchors, err = pki.ParseCertPEM(b); err != nil {
				return nil, fmt.Errorf("%w: token ca: %w", ErrConfig, err)
			}
			t.selfSig = false
		}
	} else {
		ca, err := pki.OpenCA(cfg.PKIDir)
		if errors.Is(err, pki.ErrNoCA) {
			ca, err = pki.InitCA(cfg.PKIDir, pki.CAOptions{CommonName: "ospnode network CA"})
		}
		if err != nil {
			return nil, fmt.Errorf("node: token ca in %s: %w", cfg.PKIDir, err)
		}
		prefix := filepath.Join(cfg.PKIDir, tokenSignerPrefix)
		t.certFile, t.keyFile = prefix+".crt", prefix+".key"
		key, err = pki.LoadTokenKey(t.certFile, t.keyFile)
		if errors.Is(err, os.ErrNotExist) {
			var is *pki.Issued
			is, err = ca.Issue(pki.IssueRequest{Kind: pki.KindTokenSigning, CommonName: "ospnode token signer", OutPrefix: prefix})
			if err == nil {
				key = pki.TokenKey{Cert: is.Cert, Key: is.Key}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("node: token key in %s: %w", cfg.PKIDir, err)
		}
		anchors = []*x509.Certificate{ca.Certificate()}
	}
	signer, err := osp.NewTokenSigner(key.Cert, key.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: token signer: %w", ErrConfig, err)
	}
	t.signer.p.Store(signer)
	// A token is valid from issue-skew to issue+validity: the old key must
	// stay trusted that long after a rotation.
	if t.keyring, err = pki.NewTokenKeyring(key, cfg.TokenValidity+cfg.TokenSkew, cfg.Clock); err != nil {
		return nil, fmt.Errorf("%w: token keyring: %w", ErrConfig, err)
	}
	t.anchor = anchors
	t.pool = x509.NewCertPool()
	for _, c := range anchors {
		t.pool.AddCert(c)
	}
	return t, nil
}

// reload rereads the token certificate and key files. A different
// certificate becomes the signing key; the previous one stays in the
// keyring (and the bundle) for the longest token life. It reports whether
// the key changed. A pair that does not load (half-written, mismatched)
// leaves the current key in place and returns the error.
func (t *tokenIssuer) reload() (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key, err := pki.LoadTokenKey(t.certFile, t.keyFile)
	if err != nil {
		return false, fmt.Errorf("node: reload token key: %w", err)
	}
	if key.Cert.Equal(t.keyring.Current().Cert) {
		return false, nil
	}
	signer, err := osp.NewTokenSigner(key.Cert, key.Key)
	if err != nil {
		return false, fmt.Errorf("node: reload token key: %w", err)
	}
	if err := t.keyring.Rotate(key); err != nil {
		return false, fmt.Errorf("node: reload token key: %w", err)
	}
	t.signer.p.Store(signer)
	return true, nil
}

// poolNow returns the roots that validate our tokens now: the start
// anchors, plus the keyring's certificates when the token certificate is
// its own anchor (so tokens of a rotated-out key still validate during the
// overlap).
func (t *tokenIssuer) poolNow() *x509.CertPool {
	if !t.selfSig {
		return t.pool
	}
	p := x509.NewCertPool()
	for _, c := range t.keyring.Certificates() {
		p.AddCert(c)
	}
	return p
}

func (t *tokenIssuer) roots() []*x509.Certificate {
	return append([]*x509.Certificate(nil), t.anchor...)
}

// bundle is the PEM members install: the trust anchors, then the token
// certificates in use (current first, then those still in their overlap).
func (t *tokenIssuer) bundle() []byte {
	var buf bytes.Buffer
	var seen []*x509.Certificate
	add := func(c *x509.Certificate) {
		for _, s := range seen {
			if s.Equal(c) {
				return
			}
		}
		seen = append(seen, c)
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	for _, c := range t.anchor {
		add(c)
	}
	for _, c := range t.keyring.Certificates() {
		add(c)
	}
	return buf.Bytes()
}
