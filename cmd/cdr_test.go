package cmd

import (
	"encoding/csv"
	"strings"
	"testing"

	"github.com/ospnode/ospnode/settlement"
)

// TestCDRExportCLI exports the CDRs of a real call flow (authorise and
// usage through the OSP endpoint) as CSV that settlement reads back.
func TestCDRExportCLI(t *testing.T) {
	n := openTestNode(t)
	callFlow(t, n, "10", "cdr-1", "30.000")
	callFlow(t, n, "20", "cdr-2", "75.250")

	out := mustCLI(t, n, []string{"cdr", "export"}, "--member", "carrier-a")
	cdrs, err := settlement.ReadCDRs(strings.NewReader(out), settlement.CDRFormat{})
	if err != nil {
		t.Fatalf("export does not read back: %v\n%s", err, out)
	}
	if len(cdrs) != 4 {
		t.Fatalf("%d CDRs, want 4 (two calls, two sides):\n%s", len(cdrs), out)
	}
	var src int
	for _, c := range cdrs {
		if c.Role == settlement.RoleSource {
			src++
			if c.Counterparty != "member:carrier-a" || c.Prefix != "1678" || c.Description != "US test range" || !c.Rated() {
				t.Fatalf("source CDR %+v", c)
			}
		}
	}
	if src != 2 {
		t.Fatalf("%d source CDRs", src)
	}
	// One counterparty's lines only: carrier A's side of its two calls.
	mine, err := settlement.ReadCDRs(strings.NewReader(mustCLI(t, n, []string{"cdr", "export"}, "--counterparty", "carrier-a")), settlement.CDRFormat{})
	if err != nil || len(mine) != 2 || mine[0].Counterparty != "member:carrier-a" || mine[0].Network == "" {
		t.Fatalf("counterparty export %v: %+v", err, mine)
	}
	if code, _, errb := adminCLI(t, n, []string{"cdr", "export"}, "--counterparty", "carrier-a", "--format", "json"); code != 2 || !strings.Contains(errb, "--counterparty") {
		t.Fatalf("--counterparty with json: %d %s", code, errb)
	}
	if out := mustCLI(t, n, []string{"cdr", "export"}, "--number", "44"); strings.Count(out, "\n") != 1 {
		t.Fatalf("filtered export should hold only the header: %s", out)
	}
	if out := mustCLI(t, n, []string{"cdr", "export"}, "--format", "json"); !strings.Contains(out, `"count":4`) {
		t.Fatalf("json export: %s", out)
	}
	code, out, errb := adminCLI(t, n, []string{"cdr", "list"}, "--limit", "3", "--output", "csv")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(recs) != 4 || !strings.Contains(errb, "") {
		t.Fatalf("list: %d %v %q", code, err, out)
	}
	if code, _, errb := adminCLI(t, n, []string{"cdr", "list"}, "--from", "last week"); code != 2 || !strings.Contains(errb, "--from") {
		t.Fatalf("bad --from: %d %s", code, errb)
	}
	if code, _, errb := adminCLI(t, n, []string{"cdr", "export"}, "--format", "xml"); code != 2 || !strings.Contains(errb, "--format") {
		t.Fatalf("bad --format: %d %s", code, errb)
	}
}
