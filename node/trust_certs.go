package node

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ospnode/ospnode/node/pki"
)

// listenerCert is a TLS certificate and key read from files that Reload
// may swap while the node runs: the listeners' tls.Configs ask it for the
// certificate on every handshake (GetCertificate, GetClientCertificate
// for the cluster's outgoing links) instead of holding a copy. Connections
// already open keep the certificate they were set up with.
type listenerCert struct {
	name              string // "osp", "admin", "cluster": for messages
	certPath, keyPath string
	// check vets a certificate before it is put in force (nil: none
	// beyond a matching key, and on reload the validity period).
	check func(c *tls.Certificate) error

	mu  sync.Mutex // serialises reload
	cur atomic.Pointer[tls.Certificate]
}

// newListenerCert loads the pair once; an error wraps ErrConfig.
func newListenerCert(name, certPath, keyPath string, check func(*tls.Certificate) error) (*listenerCert, error) {
	lc := &listenerCert{name: name, certPath: certPath, keyPath: keyPath, check: check}
	c, err := lc.load()
	if err != nil {
		return nil, fmt.Errorf("%w: %s tls: %w", ErrConfig, name, err)
	}
	lc.cur.Store(c)
	return lc, nil
}

func (lc *listenerCert) load() (*tls.Certificate, error) {
	c, err := pki.LoadKeyPair(lc.certPath, lc.keyPath)
	if err != nil {
		return nil, err
	}
	if lc.check != nil {
		if err := lc.check(&c); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// reload rereads the files. A pair that fails to load, fails check, or is
// outside its validity period leaves the current certificate in force: a
// half-copied or wrong file must not take a listener down. It reports
// whether the certificate changed.
func (lc *listenerCert) reload(now time.Time) (bool, error) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	c, err := lc.load()
	if err != nil {
		return false, fmt.Errorf("node: reload %s certificate: %w", lc.name, err)
	}
	if now.Before(c.Leaf.NotBefore) || now.After(c.Leaf.NotAfter) {
		return false, fmt.Errorf("node: reload %s certificate: %s is valid %s to %s, not now",
			lc.name, lc.certPath, c.Leaf.NotBefore.UTC().Format(time.RFC3339), c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if bytes.Equal(c.Leaf.Raw, lc.cur.Load().Leaf.Raw) {
		return false, nil
	}
	lc.cur.Store(c)
	return true, nil
}

// leaf is the certificate in force.
func (lc *listenerCert) leaf() *x509.Certificate { return lc.cur.Load().Leaf }

func (lc *listenerCert) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return lc.cur.Load(), nil
}

func (lc *listenerCert) getClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return lc.cur.Load(), nil
}

// serve makes tc present lc: as a server, and as a client when tc is also
// used (cloned) for dialling.
func (lc *listenerCert) serve(tc *tls.Config) *tls.Config {
	tc.Certificates = nil
	tc.GetCertificate = lc.getCertificate
	tc.GetClientCertificate = lc.getClientCertificate
	return tc
}

// clientCAs is the OSP listener's client CA file (members' certificate
// issuers), reread by Reload: the listener's configuration is cloned per
// handshake with the pool in force (GetConfigForClient).
type clientCAs struct {
	path string
	mu   sync.Mutex // serialises reload
	pool atomic.Pointer[x509.CertPool]
	raw  []byte // the file's bytes in force, to report a change
}

func newClientCAs(path string) (*clientCAs, error) {
	c := &clientCAs{path: path}
	if _, err := c.reload(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return c, nil
}

// reload rereads the file; one without a certificate leaves the pool in
// force. It reports whether the file changed.
func (c *clientCAs) reload() (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, err := os.ReadFile(c.path)
	if err != nil {
		return false, fmt.Errorf("node: osp client ca: %w", err)
	}
	if c.raw != nil && bytes.Equal(b, c.raw) {
		return false, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return false, fmt.Errorf("node: osp client ca: %s holds no PEM certificate", c.path)
	}
	c.pool.Store(pool)
	c.raw = b
	return true, nil
}

// serve makes tc verify client certificates against the pool in force.
func (c *clientCAs) serve(tc *tls.Config) {
	tc.ClientCAs = c.pool.Load()
	tc.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cfg := tc.Clone()
		cfg.GetConfigForClient = nil
		cfg.ClientCAs = c.pool.Load()
		return cfg, nil
	}
}

// reloadCerts rereads every listener certificate (see listenerCert.reload)
// and the OSP listener's client CA file.
func (t *trust) reloadCerts(now time.Time) error {
	var errs []error
	if t.clientCAs != nil {
		if changed, err := t.clientCAs.reload(); err != nil {
			errs = append(errs, err)
		} else if changed {
			t.n.log.Info("OSP client CA file reloaded", "path", t.clientCAs.path)
		}
	}
	for _, lc := range t.certs {
		changed, err := lc.reload(now)
		switch {
		case err != nil:
			errs = append(errs, err)
		case changed:
			t.n.log.Info("listener certificate reloaded", "listener", lc.name,
				"serial", lc.leaf().SerialNumber.String(), "not_after", lc.leaf().NotAfter.UTC().Format(time.RFC3339))
		}
	}
	return errors.Join(errs...)
}
