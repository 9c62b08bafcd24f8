package docs

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runbookBlock is one ```sh runbook fenced block of a document.
type runbookBlock struct {
	line int // of the opening fence
	body string
}

// runbookBlocks returns the blocks fenced as "```sh runbook" in path, in
// order. Plain ```sh blocks (for real machines only) are not returned.
func runbookBlocks(t testing.TB, path string) []runbookBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []runbookBlock
	var cur *runbookBlock
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(l) == "```sh runbook":
			cur = &runbookBlock{line: n}
		case cur != nil && strings.TrimSpace(l) == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.body += l + "\n"
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s:%d: runbook block not closed", path, cur.line)
	}
	return out
}

// freeAddrs returns n distinct free TCP addresses on ip (listened on at
// once, so they differ, then released for the nodes to bind).
func freeAddrs(t testing.TB, ip string, n int) []string {
	t.Helper()
	var lns []net.Listener
	var out []string
	for range n {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatalf("listen on %s: %v (Linux routes all of 127.0.0.0/8 to loopback)", ip, err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// buildOspnode builds cmd/ospnode into dir and returns dir (for PATH).
func buildOspnode(t testing.TB, dir string) string {
	t.Helper()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "ospnode"), "github.com/ospnode/ospnode/cmd/ospnode")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// TestOperationsRunbook runs docs/operations.md: every ```sh runbook block,
// in order, in one bash session, against the built binary, with three
// nodes on 127.0.0.1, 127.0.0.2 and 127.0.0.3 on free ports. Each block
// announces its line on stderr, so a failure names the block.
func TestOperationsRunbook(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ospnode and runs a three-node TLS cluster through the whole runbook")
	}
	for _, tool := range []string{"bash", "curl", "openssl", "awk"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the runbook needs %s: %v", tool, err)
		}
	}
	blocks := runbookBlocks(t, "operations.md")
	if len(blocks) < 8 {
		t.Fatalf("operations.md has %d runbook blocks", len(blocks))
	}
	tmp := t.TempDir()
	bin := buildOspnode(t, filepath.Join(tmp, "bin"))
	work := filepath.Join(tmp, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Abs("examples")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + tmp, "LC_ALL=C", "EXAMPLES=" + examples}
	for i, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		a := freeAddrs(t, ip, 3)
		n := strconv.Itoa(i + 1)
		env = append(env, "N"+n+"_IP="+ip, "N"+n+"_OSP="+a[0], "N"+n+"_ADMIN="+a[1], "N"+n+"_CLUSTER="+a[2])
	}
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for _, b := range blocks {
		fmt.Fprintf(&script, "echo '>>> operations.md:%d' >&2\n%s", b.line, b.body)
	}
	// Generous: a busy 2-core machine runs it in well under a minute.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir, cmd.Env = work, env
	// The nodes the script starts in the background share its process
	// group: killing the group ends them whatever happens.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
	if err := cmd.Wait(); err != nil {
		logs, _ := filepath.Glob(filepath.Join(work, "*.log"))
		var tails strings.Builder
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			fmt.Fprintf(&tails, "\n--- %s (tail)\n%s", filepath.Base(l), b)
		}
		t.Fatalf("runbook failed: %v\n%s%s", err, out.String(), tails.String())
	}
	t.Logf("runbook output:\n%s", out.String())

	// §10 scraped a node's /metrics: every family it exposes is listed in
	// operations.md (or is a standard go_/process_ metric).
	scraped, err := os.ReadFile(filepath.Join(work, "metrics.txt"))
	if err != nil {
		t.Fatal(err)
	}
	listed := listedMetrics(t)
	for _, name := range exposedFamilies(string(scraped)) {
		if standardMetric(name) {
			continue
		}
		if !listed[name] {
			t.Errorf("a running node exposes %s, which operations.md does not list", name)
		}
	}
}
