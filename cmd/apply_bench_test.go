package cmd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/node"
)

// BenchmarkApplyRoutes500k is `ospnode apply -f` of 500,000 route
// prefixes (two trunk candidates each) against a one-node demo network,
// through the CLI, the admin API and Raft, with the routes inline in the
// YAML file and in a route CSV named by route_files: the first apply
// (every route added, in PutRoutes chunks), a second apply of the same
// file (nothing to do), and export. Run it once:
//
//	go test ./cmd -run '^$' -bench ApplyRoutes500k -benchtime=1x
func BenchmarkApplyRoutes500k(b *testing.B) {
	const routes = 500_000
	dir := b.TempDir()
	write := func(name string, fill func(w *bufio.Writer)) string {
		path := filepath.Join(dir, name)
		fh, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriter(fh)
		fill(w)
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		fh.Close()
		return path
	}
	inline := write("inline.yaml", func(w *bufio.Writer) {
		fmt.Fprintln(w, "routes:")
		for i := 0; i < routes; i++ {
			fmt.Fprintf(w, "  - {prefix: \"%d\", candidates: [{kind: trunk, id: a-1}, {kind: trunk, id: b-1, priority: 1}]}\n", 1_200_000+i)
		}
	})
	write("routes.csv", func(w *bufio.Writer) {
		fmt.Fprintln(w, "prefix,kind,id,priority,weight,strip,add_prefix,blocked")
		for i := 0; i < routes; i++ {
			fmt.Fprintf(w, "%d,trunk,a-1,0,0,0,,false\n%d,trunk,b-1,1,0,0,,false\n", 1_200_000+i, 1_200_000+i)
		}
	})
	csvFile := write("csv.yaml", func(w *bufio.Writer) { fmt.Fprintln(w, "route_files: [routes.csv]") })
	cli := func(args ...string) (time.Duration, string) {
		var out, errb bytes.Buffer
		start := time.Now()
		if code := Main(append([]string{"ospnode"}, args...), &out, &errb); code != 0 {
			b.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, errb.String())
		}
		return time.Since(start), out.String()
	}
	for i := 0; i < b.N; i++ {
		for _, form := range []struct{ name, file string }{{"yaml", inline}, {"csv", csvFile}} {
			cfg := node.Config{NodeID: "n1", DataDir: filepath.Join(b.TempDir(), "n1"), OSPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
				ClusterAddr: "127.0.0.1:0", Bootstrap: true, Demo: true}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			n, err := node.Open(ctx, cfg)
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			conn := []string{"--node", n.AdminURL(), "--token", n.AdminToken()}
			first, out := cli(append([]string{"apply", "-f", form.file}, conn...)...)
			if !strings.Contains(out, fmt.Sprintf("%d to add", routes)) {
				b.Fatalf("first apply: %s", out)
			}
			second, out := cli(append([]string{"apply", "-f", form.file}, conn...)...)
			if !strings.Contains(out, "no changes") {
				b.Fatalf("second apply: %s", out)
			}
			export, _ := cli(append([]string{"export", "--file", filepath.Join(dir, "exp.yaml"), "--routes-csv", filepath.Join(dir, "exp.csv")}, conn...)...)
			b.ReportMetric(first.Seconds(), "s-"+form.name+"-apply")
			b.ReportMetric(second.Seconds(), "s-"+form.name+"-noop")
			if form.name == "csv" {
				b.ReportMetric(export.Seconds(), "s-export")
			}
			if err := n.Close(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
