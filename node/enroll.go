package node

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ospnode/ospnode/internal/linefile"
	"github.com/ospnode/ospnode/node/pki"
)

// enrollPath is where the OSP Toolkit's enroll tool posts (captures 12–13).
const enrollPath = "/tep"

// enrollment is the /tep endpoint mounted on the OSP listeners.
type enrollment struct {
	h      http.Handler
	legacy bool
}

// newEnrollment opens the signing CA (the legacy one when configured, else
// the network CA directory) and reads the credentials file.
func newEnrollment(n *Node, pkiCADir string) (*enrollment, error) {
	cfg := n.cfg.Trust
	dir := pkiCADir
	if cfg.EnrollLegacyCA != "" {
		dir = cfg.EnrollLegacyCA
	}
	if dir == "" {
		return nil, fmt.Errorf("%w: enrollment needs a CA directory (PKIDir holding a CA, or EnrollLegacyCA)", ErrConfig)
	}
	ca, err := pki.OpenCA(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: enrollment CA %s: %w", ErrConfig, dir, err)
	}
	if cfg.EnrollLegacyCA != "" && !ca.Legacy() {
		return nil, fmt.Errorf("%w: %s is not a legacy enrollment CA (make one with `ospnode ca init --legacy-enrollment`)", ErrConfig, dir)
	}
	if cfg.EnrollLegacyCA == "" && ca.Legacy() {
		return nil, fmt.Errorf("%w: %s is a legacy MD5 CA; it may only be named as the legacy enrollment CA", ErrConfig, dir)
	}
	var creds map[string]string
	if cfg.EnrollCredentials != "" {
		if creds, err = readCredentials(cfg.EnrollCredentials); err != nil {
			return nil, fmt.Errorf("%w: enrollment credentials: %w", ErrConfig, err)
		}
	}
	if len(creds) == 0 && !cfg.EnrollApproval {
		return nil, fmt.Errorf("%w: enrollment needs credentials or operator approval (or both)", ErrConfig)
	}
	h := pki.NewEnrollmentHandler(pki.EnrollConfig{
		CA: ca, Credentials: creds, OperatorApproval: cfg.EnrollApproval, Kind: pki.KindMember,
		Logger: n.log.With("component", "enroll"),
	})
	return &enrollment{h: h, legacy: ca.Legacy()}, nil
}

// readCredentials parses `username:password` lines; blank lines and lines
// starting with # are skipped. The password is everything after the first
// colon.
func readCredentials(path string) (map[string]string, error) {
	out := map[string]string{}
	err := linefile.ForEach(path, func(line int, t string) error {
		u, p, ok := strings.Cut(t, ":")
		if !ok || u == "" || p == "" {
			return fmt.Errorf("%s:%d: want username:password", path, line)
		}
		out[u] = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// enrollMount wraps the OSP handler with the trust layer (the name is the
// hook's in node.go): every request on a TLS connection whose client
// certificate has been revoked since the handshake is refused with 403 (a
// keep-alive connection outlives the handshake that checked it), and POST
// /tep goes to the enrollment handler when enrollment is on.
//
// Over plain HTTP only getcacert is answered: a request carries a password
// and gets back a certificate, so it must be encrypted and the device must
// know it talks to us; it is refused with 403 and a text saying to use
// HTTPS.
func (n *Node) enrollMount(next http.Handler) http.Handler {
	var e *enrollment
	if n.trust != nil {
		e = n.trust.enroll
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.trust != nil && r.TLS != nil {
			for _, c := range r.TLS.PeerCertificates {
				if n.trust.rev.revoked(c.SerialNumber) {
					w.Header().Set("Connection", "close")
					plain(w, http.StatusForbidden, "client certificate revoked\n")
					return
				}
			}
		}
		if e == nil || r.URL.Path != enrollPath {
			next.ServeHTTP(w, r)
			return
		}
		if r.TLS == nil && r.Method == http.MethodPost {
			body, err := io.ReadAll(io.LimitReader(r.Body, pki.DefaultEnrollMaxBody+1))
			if err != nil {
				plain(w, http.StatusBadRequest, "reading the enrollment body failed\n")
				return
			}
			if int64(len(body)) > pki.DefaultEnrollMaxBody {
				plain(w, http.StatusRequestEntityTooLarge, "enrollment body too large\n")
				return
			}
			form, err := pki.ParseEnrollForm(body)
			if err == nil && form.Operation != "getcacert" {
				plain(w, http.StatusForbidden, "enrollment requests are accepted over HTTPS only; "+
					"only getcacert is answered over plain HTTP\n")
				return
			}
			// A malformed form goes on to the handler, which answers 400.
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		e.h.ServeHTTP(w, r)
	})
}
