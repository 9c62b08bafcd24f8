package node

import (
	"errors"
	"net/http"
	"time"
)

// Reload rereads what an operator may change on disk while the node runs
// (`ospnode serve` calls it on SIGHUP): the token-signing certificate and
// key (a rotated key becomes the signing key; the old one stays trusted
// for the longest token life), the CA directory's revocations, and the
// certificates and keys of the HTTPS OSP listener, the HTTPS admin listener
// and the cluster's mutual TLS (new handshakes present the new one; open
// connections keep theirs), and the client certificates presented to
// federation peers. Safe for concurrent use; on error the previous
// state of what failed stays in force: a certificate that does not load,
// does not match its key, is outside its validity period or, for the
// cluster, is not a node certificate of the network CA is not taken.
func (n *Node) Reload() error {
	var errs []error
	rotated, err := n.tokens.reload()
	if err != nil {
		errs = append(errs, err)
	} else if rotated {
		n.log.Info("token signing key rotated", "serial", n.tokens.keyring.Current().Cert.SerialNumber.String())
	}
	if err := n.trust.rev.reloadLocal(); err != nil {
		errs = append(errs, err)
	}
	if err := n.trust.reloadCerts(time.Now()); err != nil {
		errs = append(errs, err)
	}
	if rt := n.fed.runtime(); rt != nil && rt.reg != nil {
		ids, err := rt.reg.ReloadClientCertificates()
		if err != nil {
			errs = append(errs, err)
		}
		if len(ids) > 0 {
			n.log.Info("peer client certificates reloaded", "peers", ids)
		}
	}
	return errors.Join(errs...)
}

// TokenBundle returns the PEM a member installs to validate our tokens:
// the CA (or self-signed token certificate), then the token-signing
// certificates in use, the current one first, then any rotated-out one
// still within its overlap. Served at GET /v1/ca/bundle.
func (n *Node) TokenBundle() []byte { return n.tokens.bundle() }

// trustRoutes mounts the trust endpoints of the admin listener (behind the
// same authentication as the admin API).
func (n *Node) trustRoutes(mux *http.ServeMux) {
	mux.Handle("GET /v1/ca/bundle", n.requireToken(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := n.TokenBundle()
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(b)
	})))
}
