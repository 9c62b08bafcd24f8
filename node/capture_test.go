package node

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ospnode/ospnode/osp"
)

// TestCapturesAnswered sends every request the OSP Toolkit captured to a
// running demo node over real HTTP and checks the answers the way the
// toolkit would read them.
func TestCapturesAnswered(t *testing.T) {
	n := openDemo(t)
	c := client("")
	tests := []struct {
		file string
		kind osp.Kind
		code int // expected status of every component
	}{
		{"01-AuthorizationRequest.minimal.http", osp.KindAuthorizationResponse, osp.StatusOK},
		{"03-UsageIndication.source-role.http", osp.KindUsageConfirmation, osp.StatusOK},
		{"05-UsageIndication.destination-role.http", osp.KindUsageConfirmation, osp.StatusOK},
		{"06-AuthorizationRequest.full-999.http", osp.KindAuthorizationResponse, 0},
		{"07-UsageIndication.full-999-two-components.http", osp.KindUsageConfirmation, osp.StatusOK},
		{"08-CapabilitiesIndication.http", osp.KindCapabilitiesConfirmation, osp.StatusOK},
		{"10-ReauthorizationRequest.http", osp.KindReauthorizationResponse, osp.StatusReauthorizationRefused},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			body := readCapture(t, tc.file)
			req, err := osp.Decode(body, osp.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			code, out, h := post(t, c, n.OSPURL(), body)
			if code != http.StatusOK {
				t.Fatalf("HTTP %d: %s", code, out)
			}
			if h.Get("Content-Length") == "" || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
				t.Fatalf("headers %v", h)
			}
			if err := osp.CheckToolkitRules(out); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			resp, err := osp.Decode(out, osp.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if resp.MessageID != req.MessageID || len(resp.Components) != len(req.Components) {
				t.Fatalf("answer %q with %d components to %q with %d", resp.MessageID, len(resp.Components), req.MessageID, len(req.Components))
			}
			for i, rc := range resp.Components {
				if rc.Kind() != tc.kind || rc.ID != req.Components[i].ID {
					t.Fatalf("component %d: %v %q, want %v %q", i, rc.Kind(), rc.ID, tc.kind, req.Components[i].ID)
				}
				st, _ := rc.Status()
				if tc.code != 0 && st.Code != tc.code {
					t.Fatalf("component %d: status %+v, want %d\n%s", i, st, tc.code, out)
				}
			}
			t.Logf("%s → %s", tc.file, out)
		})
	}
}
