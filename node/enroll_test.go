package node

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/node/pki"
)

// captureBody returns the body of a captured enrollment request.
func captureBody(t *testing.T, name string) []byte {
	t.Helper()
	raw := mustRead(t, filepath.Join("testdata", "enroll", name))
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(req.Body); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// enrollPost posts body to /tep and returns status code and body.
func enrollPost(t *testing.T, c *http.Client, base string, body []byte) (int, string) {
	t.Helper()
	resp, err := c.Post(base+enrollPath, "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := readAll(resp)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// replyField returns a field of an enrollment reply ("a=1&b=2&"); the
// values are raw (base64 with '+', not form-encoded).
func replyField(t *testing.T, reply, name string) string {
	t.Helper()
	for _, kv := range strings.Split(strings.TrimSuffix(reply, "&"), "&") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	t.Fatalf("reply %q has no %s", reply, name)
	return ""
}

// TestTrustEnrollment: /tep on the OSP listeners with the toolkit's
// captured requests: getcacert over HTTP and HTTPS, request refused over
// HTTP and signed over HTTPS with the right password, refused with a wrong
// one, queued for operator approval without credentials and delivered
// after `ospnode ca approve`.
func TestTrustEnrollment(t *testing.T) {
	c := newTestCA(t)
	srv := c.issue(pki.KindNode, "n1")
	creds := filepath.Join(t.TempDir(), "enroll.creds")
	if err := os.WriteFile(creds, []byte("# toolkit test user\ntrans:nexus\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "n1")
	cfg.Bootstrap, cfg.PKIDir = true, c.dir
	cfg.OSPTLSAddr, cfg.OSPTLSCert, cfg.OSPTLSKey = "127.0.0.1:0", srv.CertFile, srv.KeyFile
	cfg.Trust = TrustConfig{Enroll: true, EnrollCredentials: creds, EnrollApproval: true}
	n := openNode(t, cfg)
	httpBase := strings.TrimSuffix(n.OSPURL(), "/osp")
	httpsBase := strings.TrimSuffix(n.OSPTLSURL(), "/osp")
	plainCl, tlsCl := client(""), tlsClient(c.pool())

	getCA, request := captureBody(t, "12-enroll-getcacert.request.http"), captureBody(t, "13-enroll-request.request.http")
	for name, cl := range map[string]*http.Client{httpBase: plainCl, httpsBase: tlsCl} {
		code, body := enrollPost(t, cl, name, getCA)
		der, err := base64.StdEncoding.DecodeString(replyField(t, body, "certificate"))
		if code != http.StatusOK || err != nil || !bytes.Equal(der, c.ca.Certificate().Raw) || !strings.HasSuffix(body, "&") {
			t.Fatalf("getcacert on %s: %d %q %v", name, code, body, err)
		}
	}
	if code, body := enrollPost(t, plainCl, httpBase, request); code != http.StatusForbidden || !strings.Contains(body, "HTTPS") {
		t.Fatalf("request over plain HTTP: %d %q", code, body)
	}
	code, body := enrollPost(t, tlsCl, httpsBase, request)
	if code != http.StatusOK || replyField(t, body, "status") != "0" {
		t.Fatalf("request over HTTPS: %d %q", code, body)
	}
	der, err := base64.StdEncoding.DecodeString(replyField(t, body, "cert"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: c.pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil ||
		cert.Subject.CommonName != "test-proxy" || hasEKU(cert, x509.ExtKeyUsageServerAuth) {
		t.Fatalf("enrolled certificate %s: %v", cert.Subject, err)
	}

	wrong := bytes.Replace(request, []byte("password=nexus"), []byte("password=guess"), 1)
	if code, body := enrollPost(t, tlsCl, httpsBase, wrong); code != http.StatusOK || replyField(t, body, "status") != "2" {
		t.Fatalf("wrong password: %d %q", code, body)
	}

	// Operator approval: an unlisted device.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "proxy-7"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	form := []byte("operation=request&nonce=1&username=&password=&device=7&customer=7&request=" +
		url.QueryEscape(base64.StdEncoding.EncodeToString(csr)))
	if code, body := enrollPost(t, tlsCl, httpsBase, form); code != http.StatusOK || replyField(t, body, "status") != "1" {
		t.Fatalf("unlisted device: %d %q, want pending", code, body)
	}
	pend, err := c.ca.Pending()
	if err != nil || len(pend) != 1 || pend[0].Subject != "CN=proxy-7" {
		t.Fatalf("pending %+v %v", pend, err)
	}
	if _, err := c.ca.Approve(pend[0].ID); err != nil {
		t.Fatal(err)
	}
	if code, body := enrollPost(t, tlsCl, httpsBase, form); code != http.StatusOK || replyField(t, body, "status") != "0" {
		t.Fatalf("after approval: %d %q", code, body)
	}
	// The OSP endpoint is unaffected.
	if resp, err := plainCl.Get(n.OSPURL()); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /osp beside /tep: %v", err)
	} else {
		resp.Body.Close()
	}
}

// TestTrustEnrollmentConfig: enrollment is refused without a way to
// decide; the legacy MD5 CA only when named explicitly, it is never a trust
// anchor of the node, and a network CA cannot pose as it.
func TestTrustEnrollmentConfig(t *testing.T) {
	c := newTestCA(t)
	legacyDir := filepath.Join(t.TempDir(), "legacy")
	if _, err := pki.InitLegacyEnrollmentCA(legacyDir, pki.CAOptions{CommonName: "enroll CA", Now: time.Now}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		trust TrustConfig
		ok    bool
	}{
		{"no credentials, no approval", TrustConfig{Enroll: true}, false},
		{"settings without enroll", TrustConfig{EnrollApproval: true}, false},
		{"network CA named as legacy", TrustConfig{Enroll: true, EnrollApproval: true, EnrollLegacyCA: c.dir}, false},
		{"legacy CA as the network CA", TrustConfig{CA: filepath.Join(legacyDir, pki.CACertFile)}, false},
		{"legacy CA", TrustConfig{Enroll: true, EnrollApproval: true, EnrollLegacyCA: legacyDir}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "n1")
			cfg.Bootstrap, cfg.PKIDir, cfg.Trust = true, c.dir, tc.trust
			if !tc.ok {
				if _, err := Open(t.Context(), cfg); !errors.Is(err, ErrConfig) {
					t.Fatalf("Open: %v, want ErrConfig", err)
				}
				return
			}
			n := openNode(t, cfg)
			legacy, err := pki.OpenCA(legacyDir)
			if err != nil {
				t.Fatal(err)
			}
			code, body := enrollPost(t, client(""), strings.TrimSuffix(n.OSPURL(), "/osp"), []byte("operation=getcacert"))
			der, _ := base64.StdEncoding.DecodeString(replyField(t, body, "certificate"))
			if code != http.StatusOK || !bytes.Equal(der, legacy.Certificate().Raw) {
				t.Fatalf("getcacert with the legacy CA: %d %q", code, body)
			}
			for _, a := range append(n.trust.caCerts, n.CACertificates()...) {
				if a.Equal(legacy.Certificate()) {
					t.Fatal("the legacy enrollment CA is a trust anchor")
				}
			}
		})
	}
}
