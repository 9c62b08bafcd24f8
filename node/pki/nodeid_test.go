package pki

import (
	"crypto/x509"
	"errors"
	"net/url"
	"strings"
	"testing"
)

// TestNodeIdentityOnlyInNodeCertificates: of every kind the CA issues, only
// a node certificate carries a node identity (its common name); a node
// certificate issued before identities existed, and hand-made certificates
// with a forged or doubled URI, are refused with ErrNotNodeCert; a CSR is
// never signed as a node certificate.
func TestNodeIdentityOnlyInNodeCertificates(t *testing.T) {
	ca := newTestCA(t, CAOptions{})
	for _, tc := range []struct {
		kind Kind
		name string
		want string // "" = refused
	}{
		{KindNode, "n1", "n1"},
		{KindNode, "node 7/é", "node 7/é"},
		{KindPeer, "n1", ""},
		{KindMember, "n1", ""},
		{KindTokenSigning, "n1", ""},
	} {
		is := issueFiles(t, ca, tc.kind, tc.name)
		id, err := NodeIdentity(is.Cert)
		if tc.want == "" {
			if !errors.Is(err, ErrNotNodeCert) {
				t.Errorf("%s %q: identity %q, %v; want ErrNotNodeCert", tc.kind, tc.name, id, err)
			}
			continue
		}
		if err != nil || id != tc.want {
			t.Errorf("%s %q: identity %q, %v; want %q", tc.kind, tc.name, id, err, tc.want)
		}
	}

	node := issueFiles(t, ca, KindNode, "n2").Cert
	withURIs := func(us ...string) *x509.Certificate {
		c := *node
		c.URIs = nil
		for _, s := range us {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			c.URIs = append(c.URIs, u)
		}
		return &c
	}
	memberEKU := *node
	memberEKU.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	for name, c := range map[string]*x509.Certificate{
		"pre-identity node certificate": withURIs(),
		"two identities":                withURIs("ospnode-node:n1", "ospnode-node:n2"),
		"hierarchical URI":              withURIs("ospnode-node://n1/x"),
		"empty id":                      withURIs("ospnode-node:"),
		"client auth only":              &memberEKU,
		"nil":                           nil,
	} {
		if id, err := NodeIdentity(c); !errors.Is(err, ErrNotNodeCert) {
			t.Errorf("%s: identity %q, %v; want ErrNotNodeCert", name, id, err)
		}
	}
	if _, err := NodeIdentity(withURIs()); err == nil || !strings.Contains(err.Error(), "ospnode ca issue --kind node") {
		t.Errorf("pre-identity node certificate: %v; want the reissue hint", err)
	}
	csr := newCSR(t, "n1")
	if _, err := ca.SignCSR(csr, KindNode, 0); !errors.Is(err, ErrBadKind) {
		t.Errorf("SignCSR as node: %v, want ErrBadKind", err)
	}
}
