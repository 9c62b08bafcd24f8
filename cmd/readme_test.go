package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/internal/doctest"
	"github.com/ospnode/ospnode/testnet"
)

// TestReadmeTour runs README.md as a reader would, against the built
// binary in a fresh directory: `make run`'s recipe from the Makefile (the
// demo node, in the background), the first query of "Two commands", then
// every shell block of "A short tour" (the demo tour, the three-network
// cascade with bench across it, and "A network of your own"), command by
// command. Fixed ports are swapped for free ones; by default the sizes
// are cut (bench calls, one node per cascade network) so that `make test`
// stays short; OSPNODE_README_FULL=1 runs the sizes the README gives.
// A command that fails fails the test with its README line and output; a
// README edit that removes what the test substitutes fails it too.
func TestReadmeTour(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs the README's processes")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	full := os.Getenv("OSPNODE_README_FULL") != ""
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile(filepath.Join("..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	work := filepath.Join(tmp, "work")
	bin := filepath.Join(work, "bin", "ospnode")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/ospnode/ospnode/cmd/ospnode").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.CopyFS(filepath.Join(work, "docs", "examples"), os.DirFS(filepath.Join("..", "docs", "examples"))); err != nil {
		t.Fatal(err)
	}

	// Ports: the demo's through the environment (make run gives no
	// flags), the others by substitution, each drawn just before the
	// phase that binds them (other processes on the machine take ports
	// too: the window stays short).
	nodes := 3
	if !full {
		nodes = 1
	}
	ports := func(n int) func(i int) string {
		first := freeBase(t, n)
		return func(i int) string { return "127.0.0.1:" + strconv.Itoa(first+i) }
	}
	demo := ports(3)
	demoOSP, demoAdmin, demoCluster := demo(0), demo(1), demo(2)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OSPNODE_") { // the reader's own settings stay out
			env = append(env, kv)
		}
	}
	env = append(env, "OSPNODE_OSP_ADDR="+demoOSP, "OSPNODE_ADMIN_ADDR="+demoAdmin, "OSPNODE_CLUSTER_ADDR="+demoCluster)
	// The phases of the tour and their substitutions.
	demoSubs := []doctest.Sub{{Old: "127.0.0.1:5045", New: demoOSP}, {Old: "127.0.0.1:5046", New: demoAdmin}}
	cascadeSubs := func() []doctest.Sub {
		at := ports(9 * nodes) // the --base-port layout
		yellow := 2 * nodes    // YELLOW's first node in it
		subs := []doctest.Sub{
			{Old: "--base-port 7000", New: "--base-port " + strings.TrimPrefix(at(0), "127.0.0.1:")},
			{Old: "127.0.0.1:7000", New: at(0)}, {Old: "127.0.0.1:7001", New: at(1)},
			{Old: "127.0.0.1:7018", New: at(3 * yellow)}, {Old: "127.0.0.1:7019", New: at(3*yellow + 1)},
		}
		if !full {
			subs = append(subs, doctest.Sub{Old: "--calls 200 ", New: "--calls 30 "},
				doctest.Sub{Old: "--nodes-per-network 3", New: "--nodes-per-network 1"})
		}
		return subs
	}
	var ownAdmin string
	ownSubs := func() []doctest.Sub {
		own := ports(3)
		ownAdmin = own(1)
		return []doctest.Sub{{Old: "127.0.0.1:5055", New: own(0)}, {Old: "127.0.0.1:5056", New: own(1)}, {Old: "127.0.0.1:5057", New: own(2)}}
	}
	if !full {
		demoSubs = append(demoSubs, doctest.Sub{Old: "--calls 2000", New: "--calls 60"})
	}

	makeRun, err := makeRecipe(makefile, "run")
	if err != nil {
		t.Fatal(err)
	}
	twoCommands, err := doctest.Blocks(readme, "Two commands")
	if err != nil {
		t.Fatal(err)
	}
	var query []doctest.Command
	for _, c := range twoCommands {
		if !strings.HasPrefix(c.Text, "make ") {
			query = append(query, c)
		}
	}
	tour, err := doctest.Blocks(readme, "A short tour")
	if err != nil {
		t.Fatal(err)
	}
	// Split the tour: the demo part, the cascade (testnet up … down), the
	// own network (from its serve on).
	var phases [3][]doctest.Command
	phase := 0
	for _, c := range tour {
		switch {
		case strings.Contains(c.Text, "testnet up"):
			phase = 1
		case phase == 1 && strings.Contains(c.Text, " serve "):
			phase = 2
		case phase == 1 && strings.HasPrefix(c.Text, "unset "):
			phase = 2
		}
		phases[phase] = append(phases[phase], c)
	}
	for i, p := range phases {
		if len(p) == 0 {
			t.Fatalf("README's tour has no phase %d (demo, cascade, own network): the test must follow it", i)
		}
	}
	demoCmds, err := doctest.Apply(append(query, phases[0]...), demoSubs)
	if err != nil {
		t.Fatal(err)
	}
	var cmds []doctest.Command // every command as run, for the checks below

	r, err := doctest.NewRunner(work, filepath.Join(tmp, "runner"), "README.md")
	if err != nil {
		t.Fatal(err)
	}
	r.Env = env
	r.Timeout = 5 * time.Minute
	t.Cleanup(func() {
		_ = testnet.Down(filepath.Join(work, "data", "testnet"), 10*time.Second) // if the tour stopped before its `testnet down`
		if err := r.Close(20 * time.Second); err != nil {
			t.Error(err)
		}
	})
	r.Wait = func(ctx context.Context, c doctest.Command) error {
		switch {
		case strings.Contains(c.Text, " serve ") && ownAdmin != "" && strings.Contains(c.Text, "--admin-addr "+ownAdmin):
			return waitServing(ctx, ownAdmin, filepath.Join(work, "data", "purple", "admin.token"), false)
		case strings.Contains(c.Text, " serve "):
			// The demo seeds its network after it starts serving:
			// `make run` prints its banner once that is done.
			return waitServing(ctx, demoAdmin, filepath.Join(work, "data", "demo", "admin.token"), true)
		}
		return nil // testnet up: the README's next command waits (testnet status --wait)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	r.Source = "Makefile"
	if err := r.Run(ctx, []doctest.Command{makeRun}); err != nil {
		t.Fatal(err)
	}
	r.Source = "README.md"
	run := func(phase []doctest.Command) {
		t.Helper()
		cmds = append(cmds, phase...)
		if err := r.Run(ctx, phase); err != nil {
			// What the background processes said may explain it.
			for _, c := range append([]doctest.Command{makeRun}, cmds...) {
				if c.Background() {
					t.Logf("background command %q printed:\n%s", c.Text, r.OutputAt(c.Line))
				}
			}
			t.Fatal(err)
		}
	}
	run(demoCmds)
	for i, subs := range []func() []doctest.Sub{cascadeSubs, ownSubs} {
		p, err := doctest.Apply(phases[i+1], subs())
		if err != nil {
			t.Fatal(err)
		}
		run(p)
	}

	// What the README says each step shows.
	for _, check := range []struct{ part, want string }{
		{"osp decode -", `"authorizationResponse"`},
		{"osp decode -", `"signalAddress": "[127.0.0.3]"`}, // carrier-b
		{"--verify-admin $OSPNODE_NODE", "verified in the ledger"},
		{"--dest-verify-admin", "verified in the ledger"},
		{"testnet status --wait", "): leader purple-"},
		{"tx show --call-id demo-call-1", "demo-call-1"},
		{"network init", "PURPLE"},
	} {
		var out string
		for _, c := range cmds {
			if strings.Contains(c.Text, check.part) {
				out = r.OutputAt(c.Line)
			}
		}
		if !strings.Contains(out, check.want) {
			t.Errorf("the command with %q printed no %q:\n%s", check.part, check.want, out)
		}
	}
	for _, f := range []string{"cdrs.csv", "st.html", "running.yaml"} {
		if fi, err := os.Stat(filepath.Join(work, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v (empty or missing)", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(work, "data", "testnet")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("testnet down left data/testnet: %v", err)
	}
}

// makeRecipe returns the Makefile's recipe of target as a background
// command (BIN and DATA as the Makefile sets them, relative to the
// working directory).
func makeRecipe(makefile []byte, target string) (doctest.Command, error) {
	lines := strings.Split(string(makefile), "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, target+":") || i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "\t") {
			continue
		}
		text := strings.TrimSpace(lines[i+1])
		text = strings.NewReplacer("$(BIN)", "bin/ospnode", "$(DATA)", "data/demo").Replace(text)
		if strings.Contains(text, "$(") {
			return doctest.Command{}, fmt.Errorf("Makefile target %s: %q has a variable the test does not know", target, text)
		}
		return doctest.Command{Line: i + 2, Text: text + " &"}, nil
	}
	return doctest.Command{}, fmt.Errorf("Makefile: no target %q with a recipe", target)
}

// waitServing polls until the node's admin /healthz answers 200 and its
// admin token file exists and, with network, until GET /v1/network
// answers 200 with that token (the demo has seeded its network).
func waitServing(ctx context.Context, adminAddr, tokenFile string, network bool) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	get := func(path, token string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+adminAddr+path, nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", path, resp.Status)
		}
		return nil
	}
	var last error
	for {
		tok, err := os.ReadFile(tokenFile)
		switch {
		case err != nil:
			last = err
		default:
			if last = get("/healthz", ""); last == nil && network {
				last = get("/v1/network", strings.TrimSpace(string(tok)))
			}
			if last == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node at %s not serving: %w", adminAddr, last)
		case <-time.After(50 * time.Millisecond): // polling interval
		}
	}
}

// freeBase returns a port whose next n ports looked free a moment ago
// (no fixed port). It draws from below the kernel's ephemeral range when
// there is room: the tour opens thousands of outgoing connections before
// the testnet binds these ports, and any of them could be given an
// ephemeral port of the layout as its local port.
func freeBase(t *testing.T, n int) int {
	t.Helper()
	lo, hi := 10000, 0
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			hi, _ = strconv.Atoi(f[0])
		}
	}
	free := func(b int) bool {
		for p := b; p < b+n; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				return false
			}
			l.Close()
		}
		return true
	}
	for range 50 {
		var b int
		if hi-n > lo {
			b = lo + rand.IntN(hi-n-lo)
		} else {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			b = ln.Addr().(*net.TCPAddr).Port
			ln.Close()
		}
		if b+n <= 65535 && free(b) {
			return b
		}
	}
	t.Fatal("no run of free ports")
	return 0
}
