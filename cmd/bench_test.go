package cmd

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ospnode/ospnode/osp"
	"github.com/ospnode/ospnode/testnet"
)

// benchResponder is a minimal OSP server on package osp's codec: one
// destination with a signed token per authorisation, a confirmation per
// usage, and a record of the usages it confirmed.
type benchResponder struct {
	signer *osp.TokenSigner
	txid   atomic.Uint64
	mu     sync.Mutex
	usages map[string]bool // "txid/role/component"
}

// newBenchResponder starts the responder and returns its OSP URL and the
// path of its token CA in PEM.
func newBenchResponder(t *testing.T) (*benchResponder, string, string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2),
		Subject: pkix.Name{CommonName: "bench tokens"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	signer, err := osp.NewTokenSigner(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &benchResponder{signer: signer, usages: map[string]bool{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL + "/osp", caFile
}

func TestBenchHTTPS(t *testing.T) {
	s, _, ca := newBenchResponder(t)
	srv := httptest.NewTLSServer(s)
	t.Cleanup(srv.Close)
	serverCA := filepath.Join(t.TempDir(), "server-ca.pem")
	if err := os.WriteFile(serverCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"trusted server CA", []string{"--ca", serverCA}, "calls: 6 started, 6 completed"},
		{"insecure, new connections, bound", []string{"--insecure", "--new-connections", "--source-bind", "127.0.0.1", "--dest-bind", "127.0.0.3"},
			"calls: 6 started, 6 completed"},
		{"unverified server", nil, "AuthorizationRequest: tls certificate: 6"}, // every handshake fails
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"bench", "--url", srv.URL + "/osp", "--calls", "6", "--token-ca", ca, "--quiet"}, tc.args...)
			code, out, errOut := run(t, args...)
			if code != 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
		})
	}
}

func (s *benchResponder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, err := osp.ReadRequest(r, osp.Limits{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now().UTC()
	resp := &osp.Message{MessageID: req.MessageID, Random: req.Random}
	for _, c := range req.Components {
		switch {
		case c.AuthorizationRequest != nil:
			ar := c.AuthorizationRequest
			tx := s.txid.Add(1)
			tok, err := s.signer.Issue(osp.TokenSigned, &osp.TokenClaims{Random: "1", Calling: ar.Calling(), Called: ar.Called(),
				CallID: ar.CallIDs[0], ValidAfter: now.Add(-time.Minute), ValidUntil: now.Add(time.Minute), TransactionID: tx, AuthorisedSeconds: 600})
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			resp.Components = append(resp.Components, osp.Component{ID: c.ID, AuthorizationResponse: &osp.AuthorizationResponse{
				Timestamp: now, Status: osp.NewStatus(osp.StatusOK), TransactionID: tx,
				Destinations: []osp.Destination{{SignalAddress: "[127.0.0.2]:5060", Token: tok, CallID: ar.CallIDs[0]}}}})
		case c.UsageIndication != nil:
			u := c.UsageIndication
			s.mu.Lock()
			s.usages[u.Role+"/"+c.ID] = true
			s.mu.Unlock()
			resp.Components = append(resp.Components, osp.Component{ID: c.ID, UsageConfirmation: &osp.UsageConfirmation{
				Timestamp: now, Status: osp.NewStatus(osp.StatusOK)}})
		}
	}
	_ = osp.WriteMessage(w, resp)
}

func TestBenchClosedLoopText(t *testing.T) {
	s, url, ca := newBenchResponder(t)
	code, out, errOut := run(t, "bench", "--url", url, "--calls", "24", "--concurrency", "4",
		"--token-ca", ca, "--fail-ratio", "0.25", "--seed", "3", "--quiet")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("summary:\n%s", out)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if !regexp.MustCompile(`^completed calls/s: [0-9]+\.[0-9]$`).MatchString(lines[len(lines)-1]) {
		t.Fatalf("last line %q", lines[len(lines)-1])
	}
	m := regexp.MustCompile(`calls: 24 started, (\d+) completed, (\d+) failed attempts, 0 errors`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "tokens: 24 checked, 0 failed validation") || errOut != "" {
		t.Fatalf("summary:\n%s\nstderr: %s", out, errOut)
	}
	s.mu.Lock()
	n := len(s.usages)
	s.mu.Unlock()
	if !strings.Contains(out, "confirmed usages: "+strconv.Itoa(n)) {
		t.Fatalf("responder confirmed %d usages; summary:\n%s", n, out)
	}
}

func TestBenchOpenLoopJSONAndProgress(t *testing.T) {
	_, url, ca := newBenchResponder(t)
	t.Setenv("OSPNODE_BENCH_TOKEN_CA", ca) // env works as the flag does
	code, out, errOut := run(t, "bench", "--url", url, "--rate", "80", "--duration", "1100ms", "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	var res struct {
		Mode        string                  `json:"mode"`
		Calls       int                     `json:"calls"`
		Completed   int                     `json:"completed"`
		TokenChecks int                     `json:"tokenChecks"`
		CallsPerSec float64                 `json:"completedCallsPerSecond"`
		Types       []struct{ Type string } `json:"types"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	// 80/s for 1.1 s: calls at 0, 12.5 ms, … below 1.1 s: 88.
	if res.Mode != "open" || res.Calls != 88 || res.Completed != 88 || res.TokenChecks != 88 || len(res.Types) != 3 {
		t.Fatalf("result %+v", res)
	}
	if !regexp.MustCompile(`(?m)^elapsed +1\.0s  calls/s`).MatchString(errOut) {
		t.Fatalf("no progress line on stderr:\n%s", errOut)
	}
}

func TestBenchVerifyFailureExitsNonZero(t *testing.T) {
	_, url, ca := newBenchResponder(t)
	var asked atomic.Int64
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		if r.Header.Get("Authorization") != "Bearer tok" || !strings.HasPrefix(r.URL.Path, "/v1/usage/") {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		if r.URL.Query().Get("role") == osp.RoleDestination {
			http.NotFound(w, r) // the ledger lost every destination usage
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(admin.Close)
	code, out, errOut := run(t, "bench", "--url", url, "--calls", "10", "--token-ca", ca, "--quiet",
		"--verify-admin", admin.URL, "--admin-token", "tok")
	if code != 1 || !strings.Contains(errOut, "10 confirmed usage(s) missing from the ledger") ||
		!strings.Contains(out, "VERIFICATION FAILED") || asked.Load() != 20 {
		t.Fatalf("exit %d asked %d\n%s\n%s", code, asked.Load(), out, errOut)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	_, url, _ := newBenchResponder(t)
	for _, args := range [][]string{
		{"bench", "--url", url}, // unbounded
		{"bench", "--url", url, "--calls", "1", "--output", "yaml"}, // bad output
		{"bench", "--url", url, "--calls", "1", "--fail-ratio", "2"},
		{"bench", "--url", url, "--calls", "1", "--cert", "x.pem"},
		{"bench", "--url", "ftp://127.0.0.1/osp", "--calls", "1"},
	} {
		if code, _, errOut := run(t, args...); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args[1:], code, errOut)
		}
	}
}

// TestBenchCarriers: --carrier gives the responder's destination an
// outcome profile: its calls are answered at the drawn ratio and reported
// as Kamailio does (two source records per answered call), and the
// summary counts the calls by first destination.
func TestBenchCarriers(t *testing.T) {
	s, url, ca := newBenchResponder(t)
	code, out, errOut := run(t, "bench", "--url", url, "--calls", "40", "--concurrency", "4", "--token-ca", ca, "--seed", "5", "--quiet",
		"--carrier", "[127.0.0.2]:5060=0.5:3s:486/1+503/1")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	m := regexp.MustCompile(`first destination 127\.0\.0\.2: 40 calls, (\d+) answered, (\d+) failed attempts`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("summary:\n%s", out)
	}
	answered, _ := strconv.Atoi(m[1])
	failed, _ := strconv.Atoi(m[2])
	if answered+failed != 40 || answered < 10 || answered > 30 {
		t.Fatalf("answered %d failed %d of 40 at 50%%", answered, failed)
	}
	s.mu.Lock()
	n := len(s.usages)
	s.mu.Unlock()
	// The responder keys usages by (transaction, role, component): the
	// setup and final records of a call share them (as Kamailio's do), so
	// an answered call leaves 2 keys, a failed attempt 1.
	if want := 2*answered + failed; n != want {
		t.Fatalf("responder holds %d usage keys, want %d", n, want)
	}
	if !regexp.MustCompile(`UsageIndication-source\s+` + strconv.Itoa(2*answered+failed) + `\s`).MatchString(out) {
		t.Fatalf("the source sent not 2 records per answered call and 1 per failure:\n%s", out)
	}
}

func TestParseCarriers(t *testing.T) {
	got, err := parseCarriers([]string{"127.0.0.3=0.1:4s:503/3+486", "[127.0.0.4]=0.9"})
	if err != nil {
		t.Fatal(err)
	}
	if p := got["127.0.0.3"]; p.AnswerRatio != 0.1 || p.PDD != 4*time.Second || p.PDDSpread != time.Second ||
		len(p.Failures) != 2 || p.Failures[0] != (testnet.FailureCause{SIP: 503, Weight: 3}) || p.Failures[1] != (testnet.FailureCause{SIP: 486, Weight: 1}) {
		t.Fatalf("127.0.0.3: %+v", p)
	}
	if p := got["[127.0.0.4]"]; p.AnswerRatio != 0.9 || p.PDD != 0 {
		t.Fatalf("[127.0.0.4]: %+v", p)
	}
	for _, bad := range []string{"127.0.0.3", "=0.5", "127.0.0.3=1.5", "127.0.0.3=0.5:soon", "127.0.0.3=0.5:1s:busy"} {
		if _, err := parseCarriers([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if code, _, _ := run(t, "bench", "--url", "http://127.0.0.1:1/osp", "--calls", "1", "--carrier", "x=2"); code != 2 {
		t.Errorf("a bad --carrier: exit %d, want 2", code)
	}
}
