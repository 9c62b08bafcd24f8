package pki

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// capture splits a captured HTTP exchange file into head and body.
func capture(t testing.TB, name string) (head, body []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		t.Fatalf("%s: no header end", name)
	}
	return b[:i+4], b[i+4:]
}

// rawExchange sends req (a whole HTTP request, as captured) to addr and
// returns the raw response head and body.
func rawExchange(t *testing.T, addr string, req []byte) (*http.Response, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// assertToolkitFraming checks a reply against the captured accepted one:
// same status, the same header names and values (Content-Length aside),
// nothing else (no Date), a Content-Length equal to the body, a spare '&'.
func assertToolkitFraming(t *testing.T, resp *http.Response, body []byte, captured string) {
	t.Helper()
	head, cbody := capture(t, captured)
	want, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(append(head, cbody...))), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want.StatusCode || resp.Proto != want.Proto {
		t.Fatalf("status %s %d, captured %s %d", resp.Proto, resp.StatusCode, want.Proto, want.StatusCode)
	}
	for k := range want.Header {
		if k == "Content-Length" {
			continue
		}
		if resp.Header.Get(k) != want.Header.Get(k) {
			t.Errorf("header %s: %q, captured %q", k, resp.Header.Get(k), want.Header.Get(k))
		}
	}
	for k := range resp.Header {
		if _, ok := want.Header[k]; !ok {
			t.Errorf("extra header %s: %q", k, resp.Header.Get(k))
		}
	}
	if resp.ContentLength != int64(len(body)) || resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %d for %d body bytes", resp.ContentLength, len(body))
	}
	if !bytes.HasSuffix(body, []byte("&")) || !bytes.HasSuffix(cbody, []byte("&")) {
		t.Errorf("body does not end with the spare '&': %q", body[max(0, len(body)-8):])
	}
}

// enrollServer serves the handler over real HTTP on 127.0.0.1.
func enrollServer(t *testing.T, cfg EnrollConfig) *httptest.Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	mux := http.NewServeMux()
	mux.Handle("/tep", NewEnrollmentHandler(cfg))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestEnrollGetCACertCapture(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(map[bool]string{false: "modern", true: "legacy"}[legacy], func(t *testing.T) {
			ca := testEnrollCA(t, legacy)
			srv := enrollServer(t, EnrollConfig{CA: ca})
			head, body := capture(t, "12-enroll-getcacert.request.http")
			resp, got := rawExchange(t, srv.Listener.Addr().String(), append(head, body...))
			assertToolkitFraming(t, resp, got, "12-enroll-getcacert.response-accepted.http")
			s := strings.TrimSuffix(strings.TrimPrefix(string(got), "certificate="), "&")
			der, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				t.Fatalf("body %q: %v", got, err)
			}
			if !bytes.Equal(der, ca.Certificate().Raw) {
				t.Fatal("getcacert returned another certificate")
			}
		})
	}
}

// testEnrollCA makes a modern (ECDSA) or legacy (MD5) CA.
func testEnrollCA(t *testing.T, legacy bool) *CA {
	t.Helper()
	if !legacy {
		return newTestCA(t, CAOptions{})
	}
	ca, err := InitLegacyEnrollmentCA(filepath.Join(t.TempDir(), "legacy"), CAOptions{CommonName: "Test CA v3", Organization: "OSPTest"})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// verifyIssuedBy checks cert's signature by ca, MD5 included (Go's
// CheckSignatureFrom refuses MD5, so the legacy case is checked by hand).
func verifyIssuedBy(t *testing.T, cert *x509.Certificate, ca *CA) {
	t.Helper()
	if !bytes.Equal(cert.RawIssuer, ca.Certificate().RawSubject) {
		t.Fatal("issuer name is not the CA's subject")
	}
	if cert.SignatureAlgorithm == x509.MD5WithRSA {
		sum := md5.Sum(cert.RawTBSCertificate)
		if err := rsa.VerifyPKCS1v15(ca.Certificate().PublicKey.(*rsa.PublicKey), crypto.MD5, sum[:], cert.Signature); err != nil {
			t.Fatalf("MD5 signature: %v", err)
		}
		return
	}
	if err := cert.CheckSignatureFrom(ca.Certificate()); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("chain: %v", err)
	}
}

// enrollReply parses `status=N[&cert=B64]&`.
func enrollReply(t *testing.T, body []byte) (status int, cert *x509.Certificate) {
	t.Helper()
	s := strings.TrimSuffix(string(body), "&")
	vals, err := url.ParseQuery(s)
	if err != nil {
		t.Fatalf("reply %q: %v", body, err)
	}
	status, err = strconv.Atoi(vals.Get("status"))
	if err != nil {
		t.Fatalf("reply %q: status: %v", body, err)
	}
	if c := vals.Get("cert"); c != "" {
		der, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(c, " ", "+"))
		if err != nil {
			t.Fatalf("reply cert: %v", err)
		}
		if cert, err = x509.ParseCertificate(der); err != nil {
			t.Fatalf("reply cert: %v", err)
		}
	}
	return status, cert
}

func TestEnrollRequestCapture(t *testing.T) {
	_, reqBody := capture(t, "13-enroll-request.request.http")
	form, err := ParseEnrollForm(reqBody)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(form.CSR)
	if err != nil {
		t.Fatal(err)
	}
	_, acceptedBody := capture(t, "13-enroll-request.response-accepted.http")
	_, accepted := enrollReply(t, acceptedBody)

	for _, legacy := range []bool{false, true} {
		t.Run(map[bool]string{false: "modern", true: "legacy"}[legacy], func(t *testing.T) {
			ca := testEnrollCA(t, legacy)
			srv := enrollServer(t, EnrollConfig{CA: ca, Credentials: map[string]string{"trans": "nexus"}})
			head, body := capture(t, "13-enroll-request.request.http")
			resp, got := rawExchange(t, srv.Listener.Addr().String(), append(head, body...))
			assertToolkitFraming(t, resp, got, "13-enroll-request.response-accepted.http")
			status, cert := enrollReply(t, got)
			if status != EnrollStatusIssued || cert == nil {
				t.Fatalf("reply %q", got)
			}
			verifyIssuedBy(t, cert, ca)
			if !bytes.Equal(cert.RawSubjectPublicKeyInfo, csr.RawSubjectPublicKeyInfo) {
				t.Fatal("certificate is not for the CSR's key")
			}
			if cert.Subject.CommonName != "test-proxy" {
				t.Fatalf("subject %s", cert.Subject)
			}
			if legacy {
				// The shape the toolkit accepted: v1, md5WithRSA, the same
				// PrintableString subject bytes.
				if cert.Version != accepted.Version || cert.SignatureAlgorithm != accepted.SignatureAlgorithm ||
					!bytes.Equal(cert.RawSubject, accepted.RawSubject) {
					t.Fatalf("legacy leaf v%d %v, captured v%d %v", cert.Version, cert.SignatureAlgorithm,
						accepted.Version, accepted.SignatureAlgorithm)
				}
			}
			recs, _ := ca.List()
			if len(recs) != 1 || recs[0].Source != "enroll" || recs[0].Serial != cert.SerialNumber.String() {
				t.Fatalf("index %+v", recs)
			}
		})
	}
}

// toolkitForm builds a request body the way the toolkit does.
func toolkitForm(user, pass string, csrDER []byte) []byte {
	return []byte("operation=request&nonce=1%0019870%00&username=" + url.QueryEscape(user) +
		"&password=" + url.QueryEscape(pass) + "&device=1000&customer=1000&request=" +
		url.QueryEscape(base64.StdEncoding.EncodeToString(csrDER)))
}

func newCSR(t *testing.T, cn string) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: cn, Organization: []string{"Carrier"}}}, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func post(t *testing.T, srv *httptest.Server, body []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post(srv.URL+"/tep", "text/html", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func TestEnrollRefusals(t *testing.T) {
	ca := testEnrollCA(t, false)
	srv := enrollServer(t, EnrollConfig{CA: ca, Credentials: map[string]string{"trans": "nexus"}, MaxBody: 4096})
	csr := newCSR(t, "proxy-a")
	for _, tc := range []struct {
		name       string
		body       []byte
		httpStatus int
		status     int // -1: no status reply
	}{
		{"wrong password", toolkitForm("trans", "nexux", csr), 200, EnrollStatusRefused},
		{"empty password", toolkitForm("trans", "", csr), 200, EnrollStatusRefused},
		{"unknown user, approval off", toolkitForm("mallory", "x", csr), 200, EnrollStatusRefused},
		{"bad CSR signature", toolkitForm("trans", "nexus", corruptCSR(csr)), 200, EnrollStatusRefused},
		{"not base64", []byte("operation=request&username=trans&password=nexus&request=%%%"), 400, -1},
		{"no CSR", []byte("operation=request&username=trans&password=nexus"), 400, -1},
		{"unknown operation", []byte("operation=revoke"), 400, -1},
		{"oversized", append([]byte("operation=getcacert&pad="), bytes.Repeat([]byte("a"), 5000)...), 413, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, srv, tc.body)
			if code != tc.httpStatus {
				t.Fatalf("HTTP %d, want %d (%q)", code, tc.httpStatus, body)
			}
			if tc.status >= 0 {
				if st, cert := enrollReply(t, body); st != tc.status || cert != nil {
					t.Fatalf("reply %q", body)
				}
			}
		})
	}
	resp, err := http.Get(srv.URL + "/tep")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
	if recs, _ := ca.List(); len(recs) != 0 {
		t.Fatalf("refused requests issued certificates: %+v", recs)
	}
	if p, _ := ca.Pending(); len(p) != 0 {
		t.Fatalf("refused requests queued: %+v", p)
	}
}

func corruptCSR(der []byte) []byte {
	b := bytes.Clone(der)
	b[len(b)-1] ^= 0xff // flips a signature bit
	return b
}

func TestEnrollOperatorApproval(t *testing.T) {
	ca := testEnrollCA(t, false)
	srv := enrollServer(t, EnrollConfig{CA: ca, Credentials: map[string]string{"trans": "nexus"},
		OperatorApproval: true, Kind: KindPeer, Validity: 30 * 24 * time.Hour})
	csr := newCSR(t, "walk-in")
	body := toolkitForm("walkin", "whatever", csr)

	for i := 0; i < 2; i++ { // a re-request before approval stays pending
		code, reply := post(t, srv, body)
		if st, _ := enrollReply(t, reply); code != 200 || st != EnrollStatusPending {
			t.Fatalf("request %d: %d %q", i, code, reply)
		}
	}
	pend, err := ca.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if len(pend) != 1 || pend[0].Username != "walkin" || pend[0].Kind != KindPeer || !strings.Contains(pend[0].Subject, "walk-in") {
		t.Fatalf("pending %+v", pend)
	}
	if b, _ := os.ReadFile(filepath.Join(ca.Dir(), pendingDir, pend[0].ID+".json")); bytes.Contains(b, []byte("whatever")) {
		t.Fatal("password stored with the pending request")
	}
	if _, err := ca.Approve("0123456789abcdef"); !errors.Is(err, ErrUnknownPending) {
		t.Fatalf("approve unknown: %v", err)
	}
	if _, err := ca.Approve("../../etc"); !errors.Is(err, ErrUnknownPending) {
		t.Fatalf("approve path: %v", err)
	}
	is, err := ca.Approve(pend[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := is.Cert.NotAfter.Sub(is.Cert.NotBefore); d > 31*24*time.Hour {
		t.Fatalf("validity %s ignores the configured 30 days", d)
	}
	if p, _ := ca.Pending(); len(p) != 0 {
		t.Fatalf("still pending after approval: %+v", p)
	}
	code, reply := post(t, srv, body)
	st, cert := enrollReply(t, reply)
	if code != 200 || st != EnrollStatusIssued || cert == nil || cert.SerialNumber.Cmp(is.Serial) != 0 {
		t.Fatalf("after approval: %d %q", code, reply)
	}
	verifyIssuedBy(t, cert, ca)
	if again, err := ca.Approve(pend[0].ID); err != nil || again.Serial.Cmp(is.Serial) != 0 {
		t.Fatalf("re-approve: %v", err)
	}
	if recs, _ := ca.List(); len(recs) != 1 {
		t.Fatalf("issued %d certificates, want 1", len(recs))
	}
}

func TestEnrollPendingCap(t *testing.T) {
	ca := testEnrollCA(t, false)
	srv := enrollServer(t, EnrollConfig{CA: ca, OperatorApproval: true, MaxPending: 2})
	for i, want := range []int{EnrollStatusPending, EnrollStatusPending, EnrollStatusRefused} {
		_, reply := post(t, srv, toolkitForm("", "", newCSR(t, "p"+strconv.Itoa(i))))
		if st, _ := enrollReply(t, reply); st != want {
			t.Fatalf("request %d: %q, want status %d", i, reply, want)
		}
	}
}

func FuzzParseEnrollForm(f *testing.F) {
	_, b12 := capture(f, "12-enroll-getcacert.request.http")
	_, b13 := capture(f, "13-enroll-request.request.http")
	f.Add(b12)
	f.Add(b13)
	f.Add([]byte("operation=request&request=+AA%3D"))
	f.Add([]byte("operation=request&request=a;b"))
	f.Add([]byte("operation=getcacert&operation=request"))
	f.Add([]byte("%zz"))
	f.Fuzz(func(t *testing.T, body []byte) {
		form, err := ParseEnrollForm(body)
		if err != nil {
			if !errors.Is(err, ErrEnrollForm) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		switch form.Operation {
		case "getcacert":
		case "request":
			if len(form.CSR) == 0 {
				t.Fatal("request accepted without a CSR")
			}
		default:
			t.Fatalf("operation %q accepted", form.Operation)
		}
	})
}

// TestEnrollPendingPerSource: one source fills at most its share of the
// approval queue; another source still queues, and a re-request of a
// queued CSR is still answered pending. IPv6 sources are /64s.
func TestEnrollPendingPerSource(t *testing.T) {
	ca := testEnrollCA(t, false)
	srv := enrollServer(t, EnrollConfig{CA: ca, OperatorApproval: true, MaxPending: 100, MaxPendingPerSource: 3})
	from := func(src string, body []byte) int {
		t.Helper()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		cl := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
		resp, err := cl.Post(srv.URL+"/tep", "text/html", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		st, _ := enrollReply(t, b)
		return st
	}
	first := toolkitForm("", "", newCSR(t, "a0"))
	for i, want := range []int{EnrollStatusPending, EnrollStatusPending, EnrollStatusPending, EnrollStatusRefused, EnrollStatusRefused} {
		body := first
		if i > 0 {
			body = toolkitForm("", "", newCSR(t, "a"+strconv.Itoa(i)))
		}
		if st := from("127.0.0.1", body); st != want {
			t.Fatalf("request %d from one source: status %d, want %d", i, st, want)
		}
	}
	if st := from("127.0.0.1", first); st != EnrollStatusPending {
		t.Fatalf("re-request of a queued CSR: status %d, want pending", st)
	}
	if st := from("127.0.0.2", toolkitForm("", "", newCSR(t, "b0"))); st != EnrollStatusPending {
		t.Fatalf("another source: status %d, want pending", st)
	}
	for _, tc := range []struct{ remote, want string }{
		{"192.0.2.1:4000", "192.0.2.1"}, {"[2001:db8::1]:4000", "2001:db8::/64"},
		{"[2001:db8::ffff:1]:1", "2001:db8::/64"}, {"[2001:db8:0:1::1]:1", "2001:db8:0:1::/64"},
	} {
		if got := enrollSource(tc.remote); got != tc.want {
			t.Errorf("enrollSource(%s) = %s, want %s", tc.remote, got, tc.want)
		}
	}
}

// stockToolkitCSR is what the OSP Toolkit's enroll tool makes by default:
// RSA 512, signed with MD5 (made with `openssl req -new -newkey rsa:512
// -md5 -subj /CN=test-proxy/O=OSPTest`).
const stockToolkitCSR = "MIHhMIGMAgEAMCcxEzARBgNVBAMMCnRlc3QtcHJveHkxEDAOBgNVBAoMB09TUFRlc3QwXDANBgkqhkiG9w0BAQEFAANLADBIAkEAq0VmWwybTpUXfGWEBGPN8Om/ye3pLbTSD24JODpmDqjz2onc5bGZ+R3isJz9XQQcB8ZHDJuHtI9YW7zZracy0QIDAQABoAAwDQYJKoZIhvcNAQEEBQADQQB2Zq6+UecXLxAppGqVnaH212NTUrlL41Q0Tk7QpXwukHk10GKBrwaByc/reHWAamDICct9QYx6mPSZ7slyPFCr"

// TestEnrollStockToolkitCSRRefused: the stock enroll tool's request (RSA
// 512, MD5) is refused — with the right password too, and never queued —
// with status 2, the protocol's only refusal, and a log line that says
// what a CSR needs.
func TestEnrollStockToolkitCSRRefused(t *testing.T) {
	csr, err := base64.StdEncoding.DecodeString(stockToolkitCSR)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	ca := testEnrollCA(t, false)
	srv := enrollServer(t, EnrollConfig{CA: ca, Credentials: map[string]string{"trans": "nexus"}, OperatorApproval: true,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for _, user := range []string{"trans", ""} {
		_, reply := post(t, srv, toolkitForm(user, "nexus", csr))
		if st, cert := enrollReply(t, reply); st != EnrollStatusRefused || cert != nil {
			t.Fatalf("user %q: reply %q, want status %d", user, reply, EnrollStatusRefused)
		}
	}
	if p, err := ca.Pending(); err != nil || len(p) != 0 {
		t.Fatalf("queued %d (%v)", len(p), err)
	}
	if !strings.Contains(logs.String(), "RSA key of 512 bits") || !strings.Contains(logs.String(), "at least 2048 bits") {
		t.Fatalf("refusal log does not say what a CSR needs:\n%s", logs.String())
	}
}
