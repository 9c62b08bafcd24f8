package cmd

import (
	"strings"
	"testing"
)

func TestPeriodCLI(t *testing.T) {
	n := openTestNode(t)
	if code, _, errb := adminCLI(t, n, []string{"period", "close"}, "--end", "tomorrow", "2020-01"); code != 2 || !strings.Contains(errb, "--end") {
		t.Fatalf("bad end: %d %s", code, errb)
	}
	out := mustCLI(t, n, []string{"period", "close"}, "--end", "2020-02-01", "--output", "csv", "2020-01")
	if !strings.Contains(out, "2020-01,-,2020-02-01T00:00:00Z,closed") || !strings.Contains(out, "-,2020-02-01T00:00:00Z,-,open") {
		t.Fatalf("close: %s", out)
	}
	if code, _, errb := adminCLI(t, n, []string{"period", "close"}, "--end", "2020-01-15", "2020-01b"); code != 1 || !strings.Contains(errb, "409") {
		t.Fatalf("closing backwards: %d %s", code, errb)
	}
	if out := mustCLI(t, n, []string{"period", "list"}); strings.Count(out, "\n") != 3 {
		t.Fatalf("list: %s", out)
	}
}
