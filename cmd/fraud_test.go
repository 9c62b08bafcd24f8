package cmd

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node"
	"github.com/ospnode/ospnode/osp"
)

// TestFraudCLI: an operator blocks carrier-a's calls to a prefix, the
// block refuses its authorisations (403), shows in `fraud list`, and
// `fraud release` restores service; the record keeps both decisions.
func TestFraudCLI(t *testing.T) {
	n := openTestNode(t)
	out := mustCLI(t, n, []string{"fraud", "block"}, "--member", node.DemoCarrierA, "--prefix", "1678", "--reason", "test campaign",
		"--by", "ops", "--output", "json")
	var rec ledger.FraudBlockRecord
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rec.ID == "" || rec.Prefix != "1678" || rec.Rule != "operator" || rec.By != "admin-token (ops)" {
		t.Fatalf("block %+v", rec)
	}
	if ar := authorise(t, n, "m1", "c1"); ar.Status.Code != osp.StatusRouteBlocked || !strings.Contains(ar.Status.Description, rec.ID) {
		t.Fatalf("blocked call: %+v", ar.Status)
	}
	if out := mustCLI(t, n, []string{"fraud", "list"}); !strings.Contains(out, rec.ID) || !strings.Contains(out, "test campaign") {
		t.Fatalf("list:\n%s", out)
	}
	if out := mustCLI(t, n, []string{"fraud", "release"}, "--reason", "done", "--by", "ops", rec.ID); !strings.Contains(out, "by admin-token (ops)") {
		t.Fatalf("release:\n%s", out)
	}
	if ar := authorise(t, n, "m2", "c2"); ar.Status.Code != osp.StatusOK {
		t.Fatalf("after release: %+v", ar.Status)
	}
	if out := mustCLI(t, n, []string{"fraud", "list"}); strings.Contains(out, rec.ID) {
		t.Fatalf("a released block is listed as active:\n%s", out)
	}
	if out := mustCLI(t, n, []string{"fraud", "list"}, "--all"); !strings.Contains(out, rec.ID) {
		t.Fatalf("list --all:\n%s", out)
	}
	if out := mustCLI(t, n, []string{"fraud", "config"}); !strings.Contains(out, "high_risk") || !strings.Contains(out, "block") {
		t.Fatalf("config:\n%s", out)
	}
	mustCLI(t, n, []string{"fraud", "events"})

	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"block", "--reason", "x"}, 2, "--prefix"},
		{[]string{"block", "--prefix", "44", "--reason", "x"}, 2, "--member"},
		{[]string{"block", "--member", node.DemoCarrierA, "--prefix", "44"}, 2, "reason"},
		{[]string{"release", "--reason", "x", "nope"}, 1, "404"},
		{[]string{"release", "--reason", "x", rec.ID}, 1, "409"},
	} {
		code, _, errb := adminCLI(t, n, []string{"fraud", c.args[0]}, c.args[1:]...)
		if code != c.code || !strings.Contains(errb, c.msg) {
			t.Errorf("fraud %v: exit %d, stderr %q; want %d with %q", c.args, code, errb, c.code, c.msg)
		}
	}
}
