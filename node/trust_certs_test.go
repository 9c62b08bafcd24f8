package node

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node/pki"
)

// replaceFiles writes is's certificate and key over the files at
// certPath and keyPath, as an operator renewing a certificate would.
func replaceFiles(t *testing.T, certPath, keyPath string, is *pki.Issued) {
	t.Helper()
	if err := os.WriteFile(certPath, is.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, is.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestListenerCertReload: a renewed pair is taken; a pair that does not
// load, whose key does not match, that is expired, or (for the cluster)
// that is not a node certificate of the network CA is refused and the
// certificate in force stays.
func TestListenerCertReload(t *testing.T) {
	ca := newTestCA(t)
	other := newTestCA(t)
	store, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	tr := &trust{caPool: ca.pool(), n: &Node{cfg: Config{NodeID: "n1"}}}
	if tr.rev, err = newRevocations(store, "", nil, testLogger(t)); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		cluster bool
		renew   func(t *testing.T, certPath, keyPath string)
		now     time.Time
		changed bool
		err     string
	}{
		{name: "unchanged files", renew: func(*testing.T, string, string) {}, changed: false},
		{name: "renewed", renew: func(t *testing.T, c, k string) { replaceFiles(t, c, k, ca.issue(pki.KindNode, "n1")) }, changed: true},
		{name: "renewed cluster", cluster: true, renew: func(t *testing.T, c, k string) { replaceFiles(t, c, k, ca.issue(pki.KindNode, "n1")) }, changed: true},
		{name: "truncated certificate", renew: func(t *testing.T, c, _ string) {
			if err := os.WriteFile(c, []byte("-----BEGIN CERTIFICATE-----\nMIIB"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, err: "reload osp certificate"},
		{name: "key of another certificate", renew: func(t *testing.T, c, k string) {
			replaceFiles(t, c, k, ca.issue(pki.KindNode, "n1"))
			if err := os.WriteFile(k, ca.issue(pki.KindNode, "n2").KeyPEM, 0o600); err != nil {
				t.Fatal(err)
			}
		}, err: "does not match"},
		{name: "expired", renew: func(t *testing.T, c, k string) { replaceFiles(t, c, k, ca.issue(pki.KindNode, "n1")) },
			now: time.Now().AddDate(50, 0, 0), err: "not now"},
		{name: "cluster: member certificate", cluster: true,
			renew: func(t *testing.T, c, k string) { replaceFiles(t, c, k, ca.issue(pki.KindMember, "m1")) }, err: "not a node certificate"},
		{name: "cluster: peer certificate", cluster: true,
			renew: func(t *testing.T, c, k string) { replaceFiles(t, c, k, ca.issue(pki.KindPeer, "n1")) }, err: "no node identity"},
		{name: "cluster: another node's certificate", cluster: true,
			renew: func(t *testing.T, c, k string) { replaceFiles(t, c, k, ca.issue(pki.KindNode, "n2")) }, err: `node "n2"'s`},
		{name: "cluster: another CA", cluster: true,
			renew: func(t *testing.T, c, k string) { replaceFiles(t, c, k, other.issue(pki.KindNode, "n1")) }, err: "does not chain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first := ca.issue(pki.KindNode, "n1")
			var check func(*tls.Certificate) error
			name := "osp"
			if tc.cluster {
				check, name = tr.checkClusterCert, "cluster"
			}
			lc, err := newListenerCert(name, first.CertFile, first.KeyFile, check)
			if err != nil {
				t.Fatal(err)
			}
			tc.renew(t, first.CertFile, first.KeyFile)
			now := tc.now
			if now.IsZero() {
				now = time.Now()
			}
			changed, err := lc.reload(now)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("reload: %v, want an error with %q", err, tc.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if changed != tc.changed {
				t.Errorf("changed = %v, want %v", changed, tc.changed)
			}
			got, _ := lc.getCertificate(nil)
			if stays := !tc.changed; stays != (got.Leaf.SerialNumber.Cmp(first.Serial) == 0) {
				t.Errorf("certificate in force: serial %s, first %s, changed %v", got.Leaf.SerialNumber, first.Serial, tc.changed)
			}
		})
	}
}

// TestReloadListenerCertificates: Node.Reload (SIGHUP) makes the HTTPS OSP
// and admin listeners present a renewed certificate to new connections,
// and the cluster configuration present it on both sides of a link.
func TestReloadListenerCertificates(t *testing.T) {
	ca := newTestCA(t)
	admin := ca.issue(pki.KindMember, "admin")
	cfg := tlsNodeConfig(t, ca, "n1", hexSerial(admin))
	cfg.Bootstrap = true
	n := openNode(t, cfg)

	served := func(url string) string {
		t.Helper()
		resp, err := tlsClient(ca.pool(), admin).Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].SerialNumber.String()
	}
	ospURL := strings.TrimSuffix(n.OSPTLSURL(), "/osp") + "/healthz"
	adminURL := n.AdminURL() + "/healthz"
	before := served(adminURL)

	renewed := ca.issue(pki.KindNode, "n1")
	replaceFiles(t, cfg.OSPTLSCert, cfg.OSPTLSKey, renewed)
	if err := n.Reload(); err != nil {
		t.Fatal(err)
	}
	want := renewed.Serial.String()
	if got := served(adminURL); got != want || got == before {
		t.Errorf("admin listener presents serial %s after reload, want %s (before: %s)", got, want, before)
	}
	if got := served(ospURL); got != want {
		t.Errorf("OSP listener presents serial %s after reload, want %s", got, want)
	}
	c, _ := n.trust.cluster.GetCertificate(nil)
	cc, _ := n.trust.cluster.Clone().GetClientCertificate(nil)
	if c.Leaf.SerialNumber.String() != want || cc.Leaf.SerialNumber.String() != want {
		t.Errorf("cluster TLS presents %s (server) and %s (client) after reload, want %s", c.Leaf.SerialNumber, cc.Leaf.SerialNumber, want)
	}

	// A broken file on the next reload: an error, and the listeners keep
	// the renewed certificate.
	if err := os.WriteFile(cfg.OSPTLSKey, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := n.Reload(); err == nil {
		t.Fatal("Reload with a broken key file succeeded")
	}
	if got := served(adminURL); got != want {
		t.Errorf("after a failed reload the admin listener presents %s, want %s", got, want)
	}
}

// TestReloadOSPClientCA: Node.Reload rereads the OSP listener's client CA
// file. A member certificate from a CA added to the file is refused in
// the handshake before the reload and accepted after it; a file without a
// certificate leaves the pool in force.
func TestReloadOSPClientCA(t *testing.T) {
	ca := newTestCA(t)
	newCA := newTestCA(t)
	cfg := tlsNodeConfig(t, ca, "n1", hexSerial(ca.issue(pki.KindMember, "admin")))
	cfg.Bootstrap = true
	caFile := filepath.Join(t.TempDir(), "members-ca.pem")
	if err := os.WriteFile(caFile, mustRead(t, cfg.OSPClientCA), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.OSPClientCA = caFile
	n := openNode(t, cfg)
	member := newCA.issue(pki.KindMember, "carrier-new")
	get := func() error {
		resp, err := tlsClient(ca.pool(), member).Get(strings.TrimSuffix(n.OSPTLSURL(), "/osp") + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(); err == nil {
		t.Fatal("a certificate of a CA not in the client CA file was accepted")
	}
	both := append(mustRead(t, cfg.OSPClientCA), newCA.ca.CertPEM()...)
	if err := os.WriteFile(caFile, both, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := n.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := get(); err != nil {
		t.Fatalf("after adding its CA and reloading: %v", err)
	}
	if err := os.WriteFile(caFile, []byte("no certificate here"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := n.Reload(); err == nil {
		t.Fatal("Reload accepted a client CA file without a certificate")
	}
	if err := get(); err != nil {
		t.Fatalf("after a failed reload the pool in force changed: %v", err)
	}
}
