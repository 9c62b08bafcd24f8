package pki

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// NodeURIScheme is the scheme of the URI SAN that makes a certificate a
// cluster node's: "ospnode-node:<node id>" (the id path-escaped). The CA
// puts it only in KindNode certificates (CA.Issue), never copies URIs from a
// CSR, and no other kind carries it, so a member, peer, admin or token
// certificate cannot pass NodeIdentity however its subject reads.
const NodeURIScheme = "ospnode-node"

// NodeURI is the URI SAN of the node certificate for id.
func NodeURI(id string) *url.URL {
	return &url.URL{Scheme: NodeURIScheme, Opaque: url.PathEscape(id)}
}

// NodeIdentity returns the cluster node ID a certificate was issued for: a
// certificate with server and client authentication and exactly one
// ospnode-node URI SAN. It does not verify the chain (TLS does). Errors wrap
// ErrNotNodeCert; a node certificate issued before node identities existed
// (server and client auth, no URI) gets a message saying how to reissue it.
func NodeIdentity(c *x509.Certificate) (string, error) {
	if c == nil {
		return "", fmt.Errorf("no certificate: %w", ErrNotNodeCert)
	}
	var ids []string
	for _, u := range c.URIs {
		if u.Scheme != NodeURIScheme {
			continue
		}
		id, err := url.PathUnescape(u.Opaque)
		if err != nil || id == "" || u.Host != "" || u.Path != "" {
			return "", fmt.Errorf("certificate %q (serial %s): malformed node URI %q: %w", c.Subject.CommonName, c.SerialNumber, u, ErrNotNodeCert)
		}
		ids = append(ids, id)
	}
	server := slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	client := slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	switch {
	case len(ids) == 1 && server && client:
		return ids[0], nil
	case len(ids) > 1:
		return "", fmt.Errorf("certificate %q (serial %s): %d node identities (%s): %w", c.Subject.CommonName, c.SerialNumber,
			len(ids), strings.Join(ids, ", "), ErrNotNodeCert)
	case len(ids) == 0 && server && client:
		return "", fmt.Errorf("certificate %q (serial %s) carries no node identity (a peer certificate, or a node certificate issued "+
			"before node identities): reissue it with `ospnode ca issue --kind node --name NODE-ID`: %w",
			c.Subject.CommonName, c.SerialNumber, ErrNotNodeCert)
	}
	return "", fmt.Errorf("certificate %q (serial %s): not a node certificate: %w", c.Subject.CommonName, c.SerialNumber, ErrNotNodeCert)
}
