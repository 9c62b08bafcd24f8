package cmd

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ospnode/ospnode/node/pki"
)

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := run(t, args...)
	if code != 0 {
		t.Fatalf("ospnode %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func TestCAInitIssueListRevoke(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	out := mustRun(t, "ca", "init", "--dir", dir, "--cn", "PURPLE CA")
	if !strings.Contains(out, "PURPLE CA") || !strings.Contains(out, "ECDSA-SHA256") {
		t.Fatalf("init output %q", out)
	}
	if code, _, errOut := run(t, "ca", "init", "--dir", dir); code == 0 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("second init: exit %d %q", code, errOut)
	}
	certs := t.TempDir()
	for _, k := range []struct{ kind, extra string }{{"member", ""}, {"peer", "--dns=peer.example"}, {"node", "--ip=127.0.0.1"}, {"token", ""}} {
		args := []string{"ca", "issue", "--dir", dir, "--kind", k.kind, "--name", k.kind + "-1", "--out", filepath.Join(certs, k.kind)}
		if k.extra != "" {
			args = append(args, k.extra)
		}
		mustRun(t, args...)
		st, err := os.Stat(filepath.Join(certs, k.kind+".key"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s key: %v %v", k.kind, err, st)
		}
	}
	node, err := pki.LoadTokenKey(filepath.Join(certs, "node.crt"), filepath.Join(certs, "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Fatal(err)
	}

	var recs []pki.Record
	if err := json.Unmarshal([]byte(mustRun(t, "ca", "list", "--dir", dir, "--output", "json")), &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 || recs[0].Kind != pki.KindMember || recs[3].Kind != pki.KindTokenSigning {
		t.Fatalf("list json: %+v", recs)
	}
	mustRun(t, "ca", "revoke", "--dir", dir, "--serial", recs[0].Serial, "--reason", "keyCompromise")
	table := mustRun(t, "ca", "list", "--dir", dir)
	if !strings.Contains(table, "SERIAL") || !strings.Contains(table, "revoked (keyCompromise)") {
		t.Fatalf("list table:\n%s", table)
	}
	bundle := mustRun(t, "ca", "bundle", "--dir", dir)
	if n := strings.Count(bundle, "BEGIN CERTIFICATE"); n != 2 {
		t.Fatalf("bundle has %d certificates, want CA + token", n)
	}
}

func TestCAErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	mustRun(t, "ca", "init", "--dir", dir)
	out := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no dir", []string{"ca", "list"}, 2, "dir"},
		{"no CA", []string{"ca", "list", "--dir", t.TempDir()}, 1, "ospnode ca init"},
		{"bad kind", []string{"ca", "issue", "--dir", dir, "--kind", "admin", "--name", "x", "--out", out + "/x"}, 2, "unknown certificate kind"},
		{"bad key", []string{"ca", "init", "--dir", t.TempDir(), "--key", "dsa"}, 2, "key algorithm"},
		{"bad ip", []string{"ca", "issue", "--dir", dir, "--kind", "node", "--name", "x", "--ip", "nope", "--out", out + "/x"}, 2, "not an IP"},
		{"san on member", []string{"ca", "issue", "--dir", dir, "--kind", "member", "--name", "x", "--dns", "a", "--out", out + "/x"}, 2, "node and peer"},
		{"unknown serial", []string{"ca", "revoke", "--dir", dir, "--serial", "77"}, 1, "unknown certificate serial"},
		{"bad serial", []string{"ca", "revoke", "--dir", dir, "--serial", "x"}, 2, "serial"},
		{"bad reason", []string{"ca", "revoke", "--dir", dir, "--serial", "1", "--reason", "bored"}, 1, "reason"},
		{"bad output", []string{"ca", "list", "--dir", dir, "--output", "xml"}, 2, "table or json"},
		{"approve no id", []string{"ca", "approve", "--dir", dir}, 2, "ID"},
		{"approve unknown", []string{"ca", "approve", "--dir", dir, "0123456789abcdef"}, 1, "unknown pending"},
		{"corrupt CA", nil, 1, "corrupt PEM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if args == nil {
				bad := t.TempDir()
				os.WriteFile(filepath.Join(bad, pki.CACertFile), []byte("garbage"), 0o644)
				args = []string{"ca", "list", "--dir", bad}
			}
			code, _, errOut := run(t, args...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", code, tc.code, errOut, tc.msg)
			}
		})
	}
}

func TestCAEnvVars(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	t.Setenv("OSPNODE_CA_DIR", dir)
	t.Setenv("OSPNODE_CA_KEY", "rsa")
	t.Setenv("OSPNODE_CA_CN", "From Env")
	out := mustRun(t, "ca", "init")
	if !strings.Contains(out, "From Env") || !strings.Contains(out, "SHA256-RSA") {
		t.Fatalf("init from env: %q", out)
	}
	t.Setenv("OSPNODE_CA_KIND", "member")
	t.Setenv("OSPNODE_CA_NAME", "env-member")
	t.Setenv("OSPNODE_CA_OUT", filepath.Join(t.TempDir(), "m"))
	mustRun(t, "ca", "issue")
	// A flag beats its env var.
	mustRun(t, "ca", "issue", "--name", "flag-member")
	t.Setenv("OSPNODE_OUTPUT", "json")
	var recs []pki.Record
	if err := json.Unmarshal([]byte(mustRun(t, "ca", "list")), &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || !strings.Contains(recs[0].Subject, "env-member") || !strings.Contains(recs[1].Subject, "flag-member") {
		t.Fatalf("records %+v", recs)
	}
}

func TestCAPendingApprove(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	mustRun(t, "ca", "init", "--dir", dir)
	ca, err := pki.OpenCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A device enrolls through the real handler and is queued.
	h := pki.NewEnrollmentHandler(pki.EnrollConfig{CA: ca, OperatorApproval: true})
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "proxy-7"}}, k)
	body := "operation=request&username=dev7&password=x&device=7&customer=9&request=" +
		url.QueryEscape(base64.StdEncoding.EncodeToString(csr))
	enroll := func() string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/tep", strings.NewReader(body)))
		return rec.Body.String()
	}
	if got := enroll(); got != "status=1&" {
		t.Fatalf("enroll: %q", got)
	}
	table := mustRun(t, "ca", "pending", "--dir", dir)
	if !strings.Contains(table, "proxy-7") || !strings.Contains(table, `"dev7"`) {
		t.Fatalf("pending table:\n%s", table)
	}
	var rows []struct{ ID string }
	if err := json.Unmarshal([]byte(mustRun(t, "ca", "pending", "--dir", dir, "--output", "json")), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("pending json: %v %+v", err, rows)
	}
	prefix := filepath.Join(t.TempDir(), "proxy-7")
	out := mustRun(t, "ca", "approve", "--dir", dir, "--out", prefix, rows[0].ID)
	if !strings.Contains(out, "approved") {
		t.Fatalf("approve: %q", out)
	}
	pemBytes, err := os.ReadFile(prefix + ".crt")
	if err != nil {
		t.Fatal(err)
	}
	if got := enroll(); !strings.HasPrefix(got, "status=0&cert=") {
		t.Fatalf("after approval: %q", got)
	}
	certs, err := pki.ParseCertPEM(pemBytes)
	if err != nil || !bytes.Equal(certs[0].RawSubjectPublicKeyInfo, mustSPKI(t, csr)) {
		t.Fatalf("approved certificate: %v", err)
	}
	if table := mustRun(t, "ca", "pending", "--dir", dir); strings.Contains(table, "proxy-7") {
		t.Fatalf("still pending:\n%s", table)
	}
}

func mustSPKI(t *testing.T, csrDER []byte) []byte {
	t.Helper()
	r, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		t.Fatal(err)
	}
	return r.RawSubjectPublicKeyInfo
}

func TestCALegacyInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "legacy")
	out := mustRun(t, "ca", "init", "--dir", dir, "--legacy-enrollment")
	if !strings.Contains(out, "MD5-RSA") {
		t.Fatalf("legacy init: %q", out)
	}
	code, _, errOut := run(t, "ca", "issue", "--dir", dir, "--kind", "member", "--name", "x", "--out", filepath.Join(t.TempDir(), "x"))
	if code == 0 || !strings.Contains(errOut, "only signs enrollment") {
		t.Fatalf("issue from legacy CA: exit %d %q", code, errOut)
	}
}

// TestCASerialForms: ca revoke accepts a serial in every form (decimal,
// 0x hex, colon-separated hex) and every ca command prints 0x hex with
// the decimal beside it.
func TestCASerialForms(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	mustRun(t, "ca", "init", "--dir", dir)
	certs := t.TempDir()
	for i := 0; i < 4; i++ { // serials 2..5 (1 is the CA)
		name := "m" + string(rune('a'+i))
		out := mustRun(t, "ca", "issue", "--dir", dir, "--kind", "member", "--name", name, "--out", filepath.Join(certs, name))
		want := "serial 0x" + string(rune('2'+i)) + " (decimal " + string(rune('2'+i)) + ")"
		if !strings.Contains(out, want) {
			t.Fatalf("issue output %q, want %q", out, want)
		}
	}
	for _, tc := range []struct{ serial, want string }{
		{"2", "revoked serial 0x2 (decimal 2)"},
		{"0x3", "revoked serial 0x3 (decimal 3)"},
		{"00:04", "revoked serial 0x4 (decimal 4)"},
	} {
		if out := mustRun(t, "ca", "revoke", "--dir", dir, "--serial", tc.serial); !strings.Contains(out, tc.want) {
			t.Fatalf("revoke %s: %q, want %q", tc.serial, out, tc.want)
		}
	}
	if code, _, errOut := run(t, "ca", "revoke", "--dir", dir, "--serial", "0X04"); code != 1 || !strings.Contains(errOut, "already revoked") {
		t.Fatalf("revoke 0X04 again: exit %d %q", code, errOut)
	}
	var recs []struct {
		Serial    string `json:"serial"`
		SerialHex string `json:"serial_hex"`
		Revoked   bool   `json:"revoked"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "ca", "list", "--dir", dir, "--output", "json")), &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("list json: %+v", recs)
	}
	for i, r := range recs {
		d := string(rune('2' + i))
		if r.Serial != d || r.SerialHex != "0x"+d || r.Revoked != (i < 3) {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	table := mustRun(t, "ca", "list", "--dir", dir)
	if !strings.Contains(table, "SERIAL  DECIMAL") || !strings.Contains(table, "0x5     5") {
		t.Fatalf("list table:\n%s", table)
	}
}
