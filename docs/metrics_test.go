package docs

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ospnode/ospnode/node"
)

// metricRow matches a row of operations.md's metric table: | `name{labels}` | type | … |
var metricRow = regexp.MustCompile("^\\| `(ospnode_[a-z_]+)(?:\\{[a-z_,]*\\})?` \\| (counter|gauge|histogram) \\|")

// listedMetrics returns the metric names of operations.md's table.
func listedMetrics(t testing.TB) map[string]bool {
	t.Helper()
	f, err := os.Open("operations.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := metricRow.FindStringSubmatch(sc.Text()); m != nil {
			if out[m[1]] {
				t.Errorf("operations.md lists %s twice", m[1])
			}
			out[m[1]] = true
		}
	}
	return out
}

// exposedFamilies returns the families of a /metrics text exposition
// (from its # TYPE lines).
func exposedFamilies(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if f := strings.Fields(l); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			out = append(out, f[2])
		}
	}
	return out
}

// standardMetric reports whether name comes from the standard Go, process
// or promhttp collectors, which operations.md describes as a whole.
func standardMetric(name string) bool {
	return strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "promhttp_")
}

// TestOperationsListsEveryMetric: the table in operations.md "What to
// monitor" lists exactly the ospnode_ metrics a node can expose.
func TestOperationsListsEveryMetric(t *testing.T) {
	listed := listedMetrics(t)
	names := node.MetricNames()
	if len(names) < 30 {
		t.Fatalf("node.MetricNames: %d names", len(names))
	}
	for _, n := range names {
		if !listed[n] {
			t.Errorf("operations.md does not list %s", n)
		}
		delete(listed, n)
	}
	for n := range listed {
		t.Errorf("operations.md lists %s, which no node exposes", n)
	}
}

// metricRef finds metric names in alert expressions and dashboard queries.
var metricRef = regexp.MustCompile(`\b(?:ospnode|go|process)_[a-z_]+\b`)

// referencedMetrics returns the metric families named in text: the
// _bucket, _sum and _count series of a histogram name its family.
func referencedMetrics(text string) []string {
	seen := map[string]bool{}
	for _, m := range metricRef.FindAllString(text, -1) {
		seen[m] = true
	}
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

func familyOf(series string, known map[string]bool) string {
	if known[series] {
		return series
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if f, ok := strings.CutSuffix(series, suf); ok && known[f] {
			return f
		}
	}
	return ""
}
