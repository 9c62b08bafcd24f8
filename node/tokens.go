package node

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ospnode/ospnode/node/pki"
	"github.com/ospnode/ospnode/osp"
)

// tokenSignerPrefix names the token-signing certificate and key that Open
// creates in PKIDir when no TokenCert is configured.
const tokenSignerPrefix = "token-signing"

// tokenIssuer issues the tokens of AuthorizationResponses and knows the
// certificates that validate them. Immutable after newTokenIssuer; safe for
// concurrent use.
type tokenIssuer struct {
	signer *osp.TokenSigner
	anchor []*x509.Certificate
	pool   *x509.CertPool
}

func newTokenIssuer(cfg *Config) (*tokenIssuer, error) {
	var key pki.TokenKey
	var anchors []*x509.Certificate
	if cfg.TokenCert != "" {
		var err error
		key, err = pki.LoadTokenKey(cfg.TokenCert, cfg.TokenKey)
		if err != nil {
			return nil, fmt.Errorf("%w: token key: %w", ErrConfig, err)
		}
		anchors = []*x509.Certificate{key.Cert}
		if cfg.TokenCA != "" {
			b, err := os.ReadFile(cfg.TokenCA)
			if err != nil {
				return nil, fmt.Errorf("%w: token ca: %w", ErrConfig, err)
			}
			if anchors, err = pki.ParseCertPEM(b); err != nil {
				return nil, fmt.Errorf("%w: token ca: %w", ErrConfig, err)
			}
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
		key, err = pki.LoadTokenKey(prefix+".crt", prefix+".key")
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
	pool := x509.NewCertPool()
	for _, c := range anchors {
		pool.AddCert(c)
	}
	return &tokenIssuer{signer: signer, anchor: anchors, pool: pool}, nil
}

func (t *tokenIssuer) roots() []*x509.Certificate {
	return append([]*x509.Certificate(nil), t.anchor...)
}
