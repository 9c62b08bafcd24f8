package node

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ospnode/ospnode/node/pki"
)

// TrustConfig is the node's TLS and certificate configuration beyond the
// OSP listener's own certificate (Config.OSPTLS*) and the token key
// (Config.Token*). Every field is optional; the zero value runs the node
// without cluster TLS, without admin client certificates and without
// enrollment. See DESIGN.md, "Trust".
type TrustConfig struct {
	// CA is the PEM file of the network CA: the trust anchor of cluster
	// mutual TLS and of admin client certificates. Empty: PKIDir/ca.crt
	// when that exists.
	CA string

	// ClusterCert and ClusterKey are this node's certificate (kind node,
	// issued for this NodeID, with an IP or DNS SAN matching the address
	// other nodes dial). Set, Raft and the cluster's internal channel run
	// over mutual TLS: every connection, both ways, must present a
	// certificate that chains to CA, carries a node identity
	// (pki.NodeIdentity: only node certificates do; member, peer, admin
	// and token certificates never) and is not revoked; on the internal
	// channel the identity must also be a server of the Raft configuration
	// (or the node joining as itself). Unset, the cluster runs plain TCP,
	// which Open allows only on a loopback ClusterAddr unless
	// ClusterInsecure is set.
	ClusterCert string
	ClusterKey  string
	// ClusterNames further restricts cluster connections to these node IDs
	// (certificate common names). Optional.
	ClusterNames []string
	// ClusterInsecure allows a plain-TCP cluster listener on a
	// non-loopback address: anyone who can reach it can then rewrite the
	// ledger. For a private network the operator vouches for only.
	ClusterInsecure bool

	// AdminClientSerials lists the serials (decimal, or hex with 0x, as
	// `ospnode ca issue` prints them) of client certificates that may use
	// the admin API instead of the bearer token. Serials, not names: the CA
	// assigns serials, while a subject is whatever an enrollment CSR says.
	// Needs the admin listener on HTTPS (Config.AdminTLSCert) and CA.
	AdminClientSerials []string

	// Enroll mounts the OSP Toolkit's enrollment endpoint, POST /tep, on
	// the OSP listeners: getcacert over HTTP and HTTPS, request over HTTPS
	// only. The signing CA is the CA directory PKIDir, or EnrollLegacyCA.
	Enroll bool
	// EnrollCredentials is a file of `username:password` lines (# starts a
	// comment): a request with a listed username and the right password is
	// signed at once.
	EnrollCredentials string
	// EnrollApproval queues other requests for `ospnode ca approve`
	// (otherwise they are refused).
	EnrollApproval bool
	// EnrollLegacyCA is the directory of an MD5 legacy enrollment CA
	// (`ospnode ca init --legacy-enrollment`), for the stock toolkit's
	// enroll tool only. It is never a trust anchor of any listener.
	EnrollLegacyCA string
}

// trust is the node's assembled trust state: the network CA pool, the
// revocation checker fed by the ledger, and the TLS configurations built on
// them. Immutable after newTrust except through the revocations and the
// token issuer, which are safe for concurrent use.
type trust struct {
	n        *Node
	caCerts  []*x509.Certificate
	caPool   *x509.CertPool // nil without a network CA
	rev      *revocations
	cluster  *tls.Config // nil: plain TCP between nodes
	admins   map[string]bool
	enroll   *enrollment // nil: /tep not mounted
	pkiCADir string      // PKIDir when it holds a CA, else ""
	// certs are the listeners' certificates that Reload rereads, and
	// clientCAs the OSP listener's client CA file (nil: none).
	certs     []*listenerCert
	clientCAs *clientCAs
}

// newTrust loads the network CA, the cluster certificate and the
// enrollment CA. Errors wrap ErrConfig for a bad configuration.
func newTrust(n *Node) (*trust, error) {
	cfg := n.cfg.Trust
	t := &trust{n: n, admins: map[string]bool{}}
	if _, err := os.Stat(filepath.Join(n.cfg.PKIDir, pki.CACertFile)); err == nil {
		t.pkiCADir = n.cfg.PKIDir
	}
	caFile := cfg.CA
	if caFile == "" && t.pkiCADir != "" {
		caFile = filepath.Join(t.pkiCADir, pki.CACertFile)
	}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%w: network CA: %w", ErrConfig, err)
		}
		if t.caCerts, err = pki.ParseCertPEM(b); err != nil {
			return nil, fmt.Errorf("%w: network CA %s: %w", ErrConfig, caFile, err)
		}
		t.caPool = x509.NewCertPool()
		for _, c := range t.caCerts {
			if c.SignatureAlgorithm == x509.MD5WithRSA {
				// The legacy enrollment CA is never a trust anchor (DESIGN.md, Trust).
				return nil, fmt.Errorf("%w: %s is an MD5 (legacy enrollment) CA, not a trust anchor", ErrConfig, caFile)
			}
			t.caPool.AddCert(c)
		}
	}
	var err error
	if t.rev, err = newRevocations(n.store, t.pkiCADir, t.caCerts, n.log); err != nil {
		return nil, err
	}
	if (cfg.ClusterCert == "") != (cfg.ClusterKey == "") {
		return nil, fmt.Errorf("%w: ClusterCert and ClusterKey go together", ErrConfig)
	}
	if cfg.ClusterCert == "" && !cfg.ClusterInsecure && !loopbackAddr(n.cfg.ClusterAddr) {
		return nil, fmt.Errorf("%w: cluster address %s is not loopback and the cluster has no TLS: anyone reaching it could "+
			"speak Raft and rewrite the ledger; set --cluster-cert/--cluster-key (`ospnode ca issue --kind node --name %s --ip …`), "+
			"or --cluster-insecure on a network you vouch for", ErrConfig, n.cfg.ClusterAddr, n.cfg.NodeID)
	}
	if cfg.ClusterCert != "" {
		if t.caPool == nil {
			return nil, fmt.Errorf("%w: cluster TLS needs the network CA (Trust.CA)", ErrConfig)
		}
		if t.cluster, err = t.clusterTLS(); err != nil {
			return nil, err
		}
	}
	for _, s := range cfg.AdminClientSerials {
		serial, err := pki.ParseSerial(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%w: admin client serial %q: %w", ErrConfig, s, err)
		}
		t.admins[serial.String()] = true
	}
	if len(t.admins) > 0 && (t.caPool == nil || n.cfg.AdminTLSCert == "") {
		return nil, fmt.Errorf("%w: admin client certificates need the admin listener on HTTPS and the network CA", ErrConfig)
	}
	if cfg.Enroll {
		if t.enroll, err = newEnrollment(n, t.pkiCADir); err != nil {
			return nil, err
		}
	} else if cfg.EnrollLegacyCA != "" || cfg.EnrollCredentials != "" || cfg.EnrollApproval {
		return nil, fmt.Errorf("%w: enrollment settings without Enroll", ErrConfig)
	}
	return t, nil
}

// clusterTLS is the one configuration consensus uses both ways (it clones
// it for dialling and sets ServerName to the dialled host): our node
// certificate, the network CA as client and server roots, a client
// certificate required, and the node checks of verifyClusterPeer.
func (t *trust) clusterTLS() (*tls.Config, error) {
	cfg := t.n.cfg.Trust
	srv, cli, err := pki.MutualTLS(cfg.ClusterCert, cfg.ClusterKey, t.caPool, t.rev.checker())
	if err != nil {
		return nil, fmt.Errorf("%w: cluster TLS: %w", ErrConfig, err)
	}
	lc, err := newListenerCert("cluster", cfg.ClusterCert, cfg.ClusterKey, t.checkClusterCert)
	if err != nil {
		return nil, err
	}
	t.certs = append(t.certs, lc)
	lc.serve(srv)
	srv.RootCAs = cli.RootCAs
	revoked := srv.VerifyConnection
	names := slices.Clone(cfg.ClusterNames)
	srv.VerifyConnection = func(cs tls.ConnectionState) error {
		if err := revoked(cs); err != nil {
			return err
		}
		return verifyClusterPeer(cs, names)
	}
	return srv, nil
}

// checkClusterCert vets this node's cluster certificate, at start and on
// every reload: a node certificate issued for this node ID that chains to
// the network CA. A reloaded certificate the other nodes would refuse must
// not replace one they accept.
func (t *trust) checkClusterCert(c *tls.Certificate) error {
	leaf := c.Leaf
	id, err := pki.NodeIdentity(leaf)
	if err != nil {
		return fmt.Errorf("cluster certificate %s: %w", t.n.cfg.Trust.ClusterCert, err)
	}
	if id != t.n.cfg.NodeID {
		return fmt.Errorf("cluster certificate %s is node %q's, not this node's (%q): issue one with `ospnode ca issue --kind node --name %s`",
			t.n.cfg.Trust.ClusterCert, id, t.n.cfg.NodeID, t.n.cfg.NodeID)
	}
	inter := x509.NewCertPool()
	for _, raw := range c.Certificate[1:] {
		if ic, err := x509.ParseCertificate(raw); err == nil {
			inter.AddCert(ic)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: t.caPool, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("cluster certificate %s does not chain to the network CA: %w", t.n.cfg.Trust.ClusterCert, err)
	}
	if t.rev.revoked(leaf.SerialNumber) {
		return fmt.Errorf("cluster certificate %s (serial %s) is revoked", t.n.cfg.Trust.ClusterCert, leaf.SerialNumber)
	}
	return nil
}

// verifyClusterPeer admits node certificates only: a verified chain (to the
// network CA, within its validity: TLS checked it) whose leaf carries a node
// identity, listed in names when names is set. Member, peer, admin and
// token certificates carry none. It runs in VerifyConnection, on every
// handshake both ways, resumed ones included.
func verifyClusterPeer(cs tls.ConnectionState, names []string) error {
	if len(cs.VerifiedChains) == 0 || len(cs.PeerCertificates) == 0 {
		return errors.New("cluster peer presented no verified certificate")
	}
	id, err := pki.NodeIdentity(cs.PeerCertificates[0])
	if err != nil {
		return fmt.Errorf("cluster peer refused: %w", err)
	}
	if len(names) > 0 && !slices.Contains(names, id) {
		return fmt.Errorf("cluster peer %q: not a listed cluster node", id)
	}
	return nil
}

// clusterPeerID is consensus.Config.PeerID: the node identity of a verified
// cluster connection.
func clusterPeerID(cs tls.ConnectionState) (string, error) {
	if len(cs.VerifiedChains) == 0 || len(cs.PeerCertificates) == 0 {
		return "", errors.New("no verified certificate")
	}
	return pki.NodeIdentity(cs.PeerCertificates[0])
}

// loopbackAddr reports whether a listen address binds loopback only
// ("localhost" or a loopback IP; an empty host binds every interface).
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func hasEKU(c *x509.Certificate, u x509.ExtKeyUsage) bool {
	return c != nil && slices.Contains(c.ExtKeyUsage, u)
}

// ospTLS completes the OSP HTTPS listener's configuration: revoked client
// certificates (checked on every handshake, resumed ones included) are
// refused.
func (t *trust) ospTLS(tc *tls.Config, cert *listenerCert) *tls.Config {
	t.certs = append(t.certs, cert)
	cert.serve(tc)
	tc.VerifyConnection = pki.CheckRevoked(t.rev.checker())
	return tc
}

// adminTLS is the admin listener's configuration: cert, and, when admin
// client certificates are configured, client certificates verified
// against the network CA (optional: the bearer token still works) and
// checked for revocation.
func (t *trust) adminTLS(cert *listenerCert) *tls.Config {
	t.certs = append(t.certs, cert)
	tc := cert.serve(pki.Harden(&tls.Config{VerifyConnection: pki.CheckRevoked(t.rev.checker())}))
	if len(t.admins) > 0 {
		tc.ClientCAs = t.caPool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return tc
}

// adminCert reports whether the request comes with a verified, unrevoked
// client certificate whose serial is listed in AdminClientSerials. Only a
// certificate issued by the network CA can pass: the chain was verified
// in the handshake against that CA alone.
func (t *trust) adminCert(tlsState *tls.ConnectionState) bool {
	if t == nil || len(t.admins) == 0 || tlsState == nil || len(tlsState.VerifiedChains) == 0 {
		return false
	}
	leaf := tlsState.VerifiedChains[0][0]
	if !hasEKU(leaf, x509.ExtKeyUsageClientAuth) || t.rev.revoked(leaf.SerialNumber) {
		return false
	}
	return t.admins[leaf.SerialNumber.String()]
}

// tokenRevoked is osp.TokenVerifyOptions.Revoked: a token signed by a
// revoked token-signing certificate is refused.
func (t *trust) tokenRevoked(c *x509.Certificate) bool {
	return c != nil && t.rev.revoked(c.SerialNumber)
}

// serialOf parses a ledger serial (hex, normalised) as a number.
func serialOf(hex string) (*big.Int, bool) {
	return new(big.Int).SetString(hex, 16)
}

// clusterPeerID returns consensus.Config.PeerID: nil on a plain-TCP cluster.
func (t *trust) clusterPeerID() func(tls.ConnectionState) (string, error) {
	if t.cluster == nil {
		return nil
	}
	return clusterPeerID
}

// clusterJoinAddr returns consensus.Config.JoinAddr: a node joins only at a
// host its certificate names (an IP or DNS SAN), so a node certificate
// cannot point the cluster's Raft traffic at someone else's address.
func (t *trust) clusterJoinAddr() func(tls.ConnectionState, string) error {
	if t.cluster == nil {
		return nil
	}
	return func(cs tls.ConnectionState, addr string) error {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return err
		}
		if len(cs.PeerCertificates) == 0 {
			return errors.New("no certificate")
		}
		return cs.PeerCertificates[0].VerifyHostname(host)
	}
}
