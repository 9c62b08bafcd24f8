package cmd

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkApplyRoutes500k is `ospnode apply -f` of a file with 500,000
// route prefixes (two trunk candidates each) against a one-node demo
// network, through the CLI, the admin API and Raft: the first apply (every
// route added, in PutRoutes chunks), a second apply of the same file
// (nothing to do), and `export` of the result. Run with -benchtime=1x:
//
//	go test ./cmd -run '^$' -bench ApplyRoutes500k -benchtime=1x
func BenchmarkApplyRoutes500k(b *testing.B) {
	const routes = 500_000
	file := filepath.Join(b.TempDir(), "routes.yaml")
	fh, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(fh)
	fmt.Fprintln(w, "routes:")
	for i := 0; i < routes; i++ {
		fmt.Fprintf(w, "  - {prefix: \"%d\", candidates: [{kind: trunk, id: a-1}, {kind: trunk, id: b-1, priority: 1}]}\n", 1_200_000+i)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	fh.Close()
	for i := 0; i < b.N; i++ {
		n := openTestNode(&testing.T{})
		b.Cleanup(func() { _ = n.Close() })
		apply := func() (time.Duration, string) {
			start := time.Now()
			code, out, errb := run(&testing.T{}, "apply", "--node", n.AdminURL(), "--token", n.AdminToken(), "-f", file)
			if code != 0 {
				b.Fatalf("apply: exit %d: %s", code, errb)
			}
			return time.Since(start), out
		}
		first, out := apply()
		if !strings.Contains(out, fmt.Sprintf("%d to add", routes)) && !strings.Contains(out, fmt.Sprintf("applied: %d added", routes)) {
			b.Fatalf("first apply: %s", out)
		}
		second, out := apply()
		if !strings.Contains(out, "no changes") {
			b.Fatalf("second apply: %s", out)
		}
		start := time.Now()
		code, exported, errb := run(&testing.T{}, "export", "--node", n.AdminURL(), "--token", n.AdminToken())
		if code != 0 {
			b.Fatalf("export: %s", errb)
		}
		export := time.Since(start)
		b.ReportMetric(first.Seconds(), "s-first-apply")
		b.ReportMetric(second.Seconds(), "s-noop-apply")
		b.ReportMetric(export.Seconds(), "s-export")
		b.ReportMetric(float64(len(exported))/1e6, "MB-exported")
	}
}
