package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ospnode/ospnode/osp"
)

// The captures live in the osp package's testdata (copied byte-exact from
// the project's interop directory; see its PROVENANCE.md).
const captures = "../osp/testdata/osptoolkit-4.33.1/"

func TestOSPDecodeCaptureJSON(t *testing.T) {
	code, out, errOut := run(t, "osp", "decode", captures+"07-UsageIndication.full-999-two-components.http")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var ex struct {
		Framing string       `json:"framing"`
		Method  string       `json:"method"`
		Path    string       `json:"path"`
		Message *osp.Message `json:"message"`
	}
	if err := json.Unmarshal([]byte(out), &ex); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if ex.Framing != "http-request" || ex.Method != "POST" || ex.Path != "/osp" || len(ex.Message.Components) != 2 {
		t.Fatalf("decoded %+v", ex)
	}
	u := ex.Message.Components[1].UsageIndication
	if string(u.CallID) != "1" || u.UsageDetail.Amount != "30.000" || u.Calling() != "14048724799" {
		t.Fatalf("usage %+v", u)
	}
	// Values are trimmed and Call-IDs printed as text.
	if strings.Contains(out, `\n14048724799`) || !strings.Contains(out, `"callId": "1"`) {
		t.Fatalf("untrimmed or undecoded values:\n%.400s", out)
	}
}

func TestOSPDecodeMultipartResponseAndXML(t *testing.T) {
	code, out, errOut := run(t, "osp", "decode", "--output", "json", captures+"11-AuthorizationResponse.multipart-signed.accepted-by-toolkit.http")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, `"framing": "http-response"`) || !strings.Contains(out, `"httpStatus": "200 OK"`) ||
		!strings.Contains(out, `"signalAddress": "[127.0.0.3]:5060"`) {
		t.Fatalf("output:\n%s", out)
	}
	// Bare XML from a file, re-encoded as XML.
	body := `<?xml version="1.0"?><Message messageId="1"><UsageConfirmation componentId="2"><Timestamp>
2026-11-26T10:36:35Z</Timestamp><Status><Code>
200</Code><Description>success</Description></Status></UsageConfirmation></Message>`
	f := filepath.Join(t.TempDir(), "m.xml")
	if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, "osp", "decode", "-o", "xml", f)
	if code != 0 || !strings.Contains(out, "<Code>200</Code>") || osp.CheckToolkitRules([]byte(strings.TrimSpace(out))) != nil {
		t.Fatalf("exit %d %s: %s", code, errOut, out)
	}
}

func TestOSPDecodeErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.xml")
	if err := os.WriteFile(bad, []byte(`<Message><Frobnicate componentId="1"/></Message>`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no file", []string{"osp", "decode"}, "exactly one FILE"},
		{"missing", []string{"osp", "decode", filepath.Join(dir, "nope")}, "no such file"},
		{"bad output", []string{"osp", "decode", "-o", "yaml", bad}, "want json or xml"},
		{"unknown critical", []string{"osp", "decode", bad}, "unsupported critical element"},
		{"enrollment is not OSP", []string{"osp", "decode", captures + "13-enroll-request.request.http"}, "not an OSP body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := run(t, tt.args...)
			if code == 0 || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q, want %q", code, errOut, tt.want)
			}
		})
	}
}

// TestOSPDecodeOmitsEmptyService: the toolkit's empty <Service/> is not
// printed as "service": {} in JSON, a service with a value still is, and
// --output xml keeps the element.
func TestOSPDecodeOmitsEmptyService(t *testing.T) {
	tests := []struct {
		capture, output string
		want, notWant   []string
	}{
		{"02-AuthorizationResponse.accepted-by-toolkit.http", "json", []string{`"usageDetail": {`, `"amount": "3600"`}, []string{`"service"`, `{}`}},
		{"01-AuthorizationRequest.minimal.http", "json", []string{`"callIds"`}, []string{`"service"`, `{}`}},
		{"07-UsageIndication.full-999-two-components.http", "json", []string{`"service": "voice"`}, []string{`{}`}},
		{"02-AuthorizationResponse.accepted-by-toolkit.http", "xml", []string{`<Service/>`}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.capture+"/"+tc.output, func(t *testing.T) {
			code, out, errOut := run(t, "osp", "decode", "--output", tc.output, captures+tc.capture)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %s", w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %s", w)
				}
			}
		})
	}
}
