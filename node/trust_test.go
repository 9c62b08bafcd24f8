package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node/pki"
	"github.com/ospnode/ospnode/osp"
)

// testCA is a network CA in a temporary directory.
type testCA struct {
	t   *testing.T
	ca  *pki.CA
	dir string
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	ca, err := pki.InitCA(dir, pki.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{t: t, ca: ca, dir: dir}
}

// issue issues a certificate of kind for cn, written under a temporary
// directory (node and peer kinds get the 127.0.0.1 SAN).
func (c *testCA) issue(kind pki.Kind, cn string) *pki.Issued {
	c.t.Helper()
	req := pki.IssueRequest{Kind: kind, CommonName: cn, OutPrefix: filepath.Join(c.t.TempDir(), cn)}
	if kind == pki.KindNode || kind == pki.KindPeer {
		req.IPs = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	is, err := c.ca.Issue(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return is
}

func (c *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.ca.Certificate())
	return p
}

// tlsNodeConfig is a node whose every listener runs TLS with its node
// certificate: cluster mutual TLS, OSP over HTTPS with member client
// certificates, the admin API over HTTPS accepting adminSerial's
// certificate.
func tlsNodeConfig(t *testing.T, c *testCA, id string, adminSerial string) Config {
	t.Helper()
	is := c.issue(pki.KindNode, id)
	cfg := testConfig(t, id)
	cfg.PKIDir = c.dir
	cfg.OSPAddr = "-"
	cfg.OSPTLSAddr, cfg.OSPTLSCert, cfg.OSPTLSKey = "127.0.0.1:0", is.CertFile, is.KeyFile
	cfg.OSPClientCA = filepath.Join(c.dir, pki.CACertFile)
	cfg.AdminTLSCert, cfg.AdminTLSKey = is.CertFile, is.KeyFile
	cfg.Trust = TrustConfig{ClusterCert: is.CertFile, ClusterKey: is.KeyFile, AdminClientSerials: []string{adminSerial}}
	return cfg
}

// tlsClient is an HTTPS client trusting roots, presenting certs, opening a
// new connection (a new handshake) for every request.
func tlsClient(roots *x509.CertPool, certs ...*pki.Issued) *http.Client {
	var kps []tls.Certificate
	for _, is := range certs {
		kps = append(kps, tls.Certificate{Certificate: [][]byte{is.Cert.Raw}, PrivateKey: is.Key, Leaf: is.Cert})
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: kps, MinVersion: tls.VersionTLS12}}}
}

// adminDo sends an admin request and returns the status and body.
func adminDo(t *testing.T, c *http.Client, method, url, token string, body any) (int, []byte, error) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := readAll(resp)
	return resp.StatusCode, b, err
}

func hexSerial(is *pki.Issued) string { return is.Serial.Text(16) }

// TestTrustClusterMutualTLS: two nodes form a cluster over mutual TLS and
// replicate; a member identified by its client certificate authorises on
// the follower's HTTPS listener; the admin API takes a listed client
// certificate instead of the token and refuses writes without either; a
// revocation committed through the admin API on one node is refused on
// the other node's OSP listener; a node with a certificate from another CA,
// with a revoked certificate, or with a member certificate cannot join.
func TestTrustClusterMutualTLS(t *testing.T) {
	c := newTestCA(t)
	admin := c.issue(pki.KindMember, "ops-admin")
	member := c.issue(pki.KindMember, "carrier-c")
	adminSerial := admin.Serial.String()

	c1 := tlsNodeConfig(t, c, "n1", adminSerial)
	c1.Bootstrap, c1.Demo = true, true
	n1 := openNode(t, c1)
	c2 := tlsNodeConfig(t, c, "n2", adminSerial)
	c2.Join = []string{n1.ClusterAddr()}
	n2 := openNode(t, c2)
	waitFor(t, "n2 to replicate the demo network", 20*time.Second, func() bool {
		_, err := n2.Store().Network()
		return err == nil && len(n2.Consensus().Status().Members) == 2
	})
	if !strings.HasPrefix(n1.AdminURL(), "https://") || !strings.HasPrefix(n2.OSPURL(), "https://") {
		t.Fatalf("listeners not on HTTPS: %s %s", n1.AdminURL(), n2.OSPURL())
	}

	// The admin API: no credentials, or a member's certificate, cannot
	// write; the listed certificate can, without a token.
	roots := c.pool()
	sum := sha256.Sum256(member.Cert.Raw)
	put := ledger.Member{ID: "carrier-c", Status: ledger.MemberActive,
		Credentials: ledger.Credentials{CertFingerprints: []string{hex.EncodeToString(sum[:])}}, SellDeckID: "sell-carrier-a"}
	for name, cl := range map[string]*http.Client{"no credentials": tlsClient(roots), "member certificate": tlsClient(roots, member)} {
		code, body, err := adminDo(t, cl, http.MethodPut, n1.AdminURL()+"/v1/members/carrier-c", "", put)
		if err != nil || code != http.StatusUnauthorized {
			t.Fatalf("%s: PUT member = %d %s %v, want 401", name, code, body, err)
		}
	}
	adminCl := tlsClient(roots, admin)
	if code, body, err := adminDo(t, adminCl, http.MethodPut, n1.AdminURL()+"/v1/members/carrier-c", "", put); err != nil || code != http.StatusOK {
		t.Fatalf("admin certificate: PUT member = %d %s %v", code, body, err)
	}
	if code, _, err := adminDo(t, tlsClient(roots), http.MethodGet, n2.AdminURL()+"/v1/status", n2.AdminToken(), nil); err != nil || code != http.StatusOK {
		t.Fatalf("bearer token over HTTPS: %d %v", code, err)
	}
	waitFor(t, "n2 to see carrier-c", 10*time.Second, func() bool {
		_, err := n2.Store().Member("carrier-c")
		return err == nil
	})

	// carrier-c authorises on the follower, identified by its certificate.
	ar := authResponse(t, exchange(t, tlsClient(roots, member), n2.OSPURL(), authRequest("1", "trust-1", called, 5)))
	if ar.Status.Code != osp.StatusOK {
		t.Fatalf("member by certificate on n2: %+v", ar.Status)
	}
	if tx, err := n1.Store().Transaction(ar.TransactionID); err != nil || tx.SourceMember != "carrier-c" {
		t.Fatalf("transaction %+v %v", tx, err)
	}

	// A keep-alive connection opened before the revocation.
	keep := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: tlsClient(roots, member).Transport.(*http.Transport).TLSClientConfig}}
	if code, _, _ := post(t, keep, n2.OSPURL(), mustEncode(t, authRequest("2", "trust-2", called, 5))); code != http.StatusOK {
		t.Fatalf("keep-alive before revocation: %d", code)
	}

	// Revoke carrier-c through n1's admin API (client certificate).
	// 503 is the documented "may still commit" answer when the leadership
	// moves during the commit (a busy machine's 100 ms test lease); the
	// revocation is idempotent, so an operator simply asks again.
	waitFor(t, "the revocation to be confirmed", 20*time.Second, func() bool {
		code, body, err := adminDo(t, adminCl, http.MethodPost, n1.AdminURL()+"/v1/certs/revoke", "",
			map[string]string{"serial": hexSerial(member), "reason": "keyCompromise"})
		if err == nil && code == http.StatusOK {
			return true
		}
		if err != nil || code != http.StatusServiceUnavailable {
			t.Fatalf("revoke: %d %s %v", code, body, err)
		}
		return false
	})
	waitFor(t, "n2 to apply the revocation", 10*time.Second, func() bool {
		ok, err := n2.Store().IsRevoked(hexSerial(member))
		return err == nil && ok
	})
	for _, n := range []*Node{n1, n2} {
		if _, err := tlsClient(roots, member).Post(n.OSPURL(), "text/plain", bytes.NewReader(mustEncode(t, authRequest("3", "trust-3", called, 5)))); err == nil {
			t.Fatalf("%s: revoked member certificate accepted by the handshake", n.ID())
		}
	}
	if code, _, _ := post(t, keep, n2.OSPURL(), mustEncode(t, authRequest("4", "trust-4", called, 5))); code != http.StatusForbidden {
		t.Fatalf("keep-alive after revocation: %d, want 403", code)
	}

	// Nodes that must not join: another CA's certificate, a revoked node
	// certificate, a member certificate.
	other := newTestCA(t)
	stranger := tlsNodeConfig(t, other, "n3", "2")
	stranger.Join = []string{n1.ClusterAddr()}
	revokedCfg := tlsNodeConfig(t, c, "n4", adminSerial)
	revokedCfg.Join = []string{n1.ClusterAddr()}
	certs, err := pki.ParseCertPEM(mustRead(t, revokedCfg.Trust.ClusterCert))
	if err != nil {
		t.Fatal(err)
	}
	mustPropose(t, n1, ledger.RevokeCert{Serial: certs[0].SerialNumber.Text(16), At: time.Now().UTC(), Reason: "keyCompromise"})
	for name, cfg := range map[string]Config{"foreign CA": stranger, "revoked": revokedCfg} {
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		n, err := Open(ctx, cfg)
		cancel()
		if err == nil {
			n.Close()
			t.Fatalf("%s: node joined", name)
		}
	}
	if got := len(n1.Consensus().Status().Members); got != 2 {
		t.Fatalf("cluster has %d members after refused joins, want 2", got)
	}
	memberCluster := testConfig(t, "n5")
	memberCluster.PKIDir = c.dir
	memberCluster.Trust = TrustConfig{ClusterCert: member.CertFile, ClusterKey: member.KeyFile}
	if _, err := Open(context.Background(), memberCluster); !errors.Is(err, ErrConfig) {
		t.Fatalf("member certificate as cluster certificate: %v, want ErrConfig", err)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustEncode(t testing.TB, m *osp.Message) []byte {
	t.Helper()
	b, err := osp.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
