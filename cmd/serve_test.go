package cmd

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ospnode/ospnode/node"
	"github.com/ospnode/ospnode/osp"
	"github.com/urfave/cli/v2"
)

// resolve runs a stand-in serve command with serve's flags and returns the
// Config it would start with.
func resolve(t *testing.T, args ...string) (node.Config, error) {
	t.Helper()
	var cfg node.Config
	var rerr error
	app := &cli.App{Writer: &bytes.Buffer{}, ErrWriter: &bytes.Buffer{}, ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{{Name: "serve", Flags: serveFlags(), Action: func(c *cli.Context) error {
			cfg, rerr = serveConfig(c)
			return nil
		}}}}
	if err := app.Run(append([]string{"ospnode", "serve"}, args...)); err != nil {
		return cfg, err
	}
	return cfg, rerr
}

func TestServePrecedence(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "ospnode.conf")
	if err := os.WriteFile(conf, []byte(`# test configuration
osp-addr = 127.0.0.1:7001
admin-addr = 127.0.0.1:7002
cluster-addr = "127.0.0.1:7003"
node-id = from-file
token-validity = 3m
max-time-limit = 100
demo = true
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OSPNODE_ADMIN_ADDR", "127.0.0.1:8002")
	t.Setenv("OSPNODE_CLUSTER_ADDR", "127.0.0.1:8003")
	t.Setenv("OSPNODE_MAX_TIME_LIMIT", "200")
	cfg, err := resolve(t, "--config", conf, "--cluster-addr", "127.0.0.1:9003", "--join", "10.0.0.1:5047, 10.0.0.2:5047")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"file only", cfg.OSPAddr, "127.0.0.1:7001"},
		{"env over file", cfg.AdminAddr, "127.0.0.1:8002"},
		{"flag over env and file", cfg.ClusterAddr, "127.0.0.1:9003"},
		{"file over default", cfg.NodeID, "from-file"},
		{"default", cfg.DataDir, "./data"},
		{"duration from file", cfg.TokenValidity.String(), "3m0s"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if cfg.MaxTimeLimit != 200 {
		t.Errorf("int env over file: %d", cfg.MaxTimeLimit)
	}
	if !cfg.Demo || cfg.Bootstrap || len(cfg.Join) != 2 || cfg.Join[1] != "10.0.0.2:5047" {
		t.Errorf("demo %v bootstrap %v join %q", cfg.Demo, cfg.Bootstrap, cfg.Join)
	}

	// Defaults alone: bootstrap a one-node cluster on the documented ports.
	def, err := resolve(t)
	if err != nil {
		t.Fatal(err)
	}
	if !def.Bootstrap || def.OSPAddr != node.DefaultOSPAddr || def.AdminAddr != "127.0.0.1:8002" {
		t.Errorf("defaults: %+v", def)
	}

	// Bad settings are errors naming the setting.
	bad := filepath.Join(dir, "bad.conf")
	for _, body := range []string{"no-such-setting = 1\n", "max-time-limit = lots\n", "just a line\n"} {
		if err := os.WriteFile(bad, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("OSPNODE_MAX_TIME_LIMIT", "")
		os.Unsetenv("OSPNODE_MAX_TIME_LIMIT")
		if _, err := resolve(t, "--config", bad); err == nil {
			t.Errorf("config %q accepted", body)
		}
	}
	if _, err := resolve(t, "--token-kind", "bogus"); err == nil {
		t.Error("bad token kind accepted")
	}
}

// TestServeLedgerFsync: ledger fsync is on unless turned off by flag,
// environment or file.
func TestServeLedgerFsync(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "ospnode.conf")
	if err := os.WriteFile(conf, []byte("ledger-fsync = false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		env  string
		args []string
		want node.LedgerSync
	}{
		{"default", "", nil, node.LedgerFsync},
		{"flag", "", []string{"--ledger-fsync=false"}, node.LedgerNoFsync},
		{"flag true", "", []string{"--ledger-fsync=true"}, node.LedgerFsync},
		{"environment", "false", nil, node.LedgerNoFsync},
		{"file", "", []string{"--config", conf}, node.LedgerNoFsync},
		{"flag over file", "", []string{"--config", conf, "--ledger-fsync=true"}, node.LedgerFsync},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.env != "" {
				t.Setenv("OSPNODE_LEDGER_FSYNC", c.env)
			}
			cfg, err := resolve(t, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.LedgerSync != c.want {
				t.Fatalf("LedgerSync %d, want %d", cfg.LedgerSync, c.want)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the serve goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeDemo runs `ospnode serve --demo` in-process, follows the
// printed instructions (post the sample request) and stops it by
// cancelling its context, as SIGINT does.
func TestServeDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	var out, errOut syncBuffer
	app := NewApp(&out, &errOut)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.RunContext(ctx, []string{"ospnode", "serve", "--demo", "--data-dir", dir,
			"--osp-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--cluster-addr", "127.0.0.1:0", "--log-level", "warn"})
	}()
	urlRE := regexp.MustCompile(`OSP:\s+(http://\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	var url string
	for url == "" {
		if m := urlRE.FindStringSubmatch(out.String()); m != nil && strings.Contains(out.String(), "Try a first") {
			url = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s\n%s", err, out.String(), errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no OSP URL printed:\n%s\n%s", out.String(), errOut.String())
		}
		time.Sleep(10 * time.Millisecond) // polling the output
	}
	body, err := os.ReadFile(filepath.Join(dir, "sample-authorization.xml"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url, "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var rb bytes.Buffer
	_, _ = rb.ReadFrom(resp.Body)
	resp.Body.Close()
	m, err := osp.Decode(rb.Bytes(), osp.Limits{})
	if err != nil {
		t.Fatalf("%v\n%s", err, rb.String())
	}
	if ar := m.Components[0].AuthorizationResponse; ar == nil || ar.Status.Code != osp.StatusOK || len(ar.Destinations) == 0 {
		t.Fatalf("sample request answered %s", rb.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(out.String(), "shutting down") || !strings.Contains(out.String(), `Demo network "DEMO" ready (seeded now).`) {
		t.Errorf("output:\n%s", out.String())
	}

	// A restart on the same data directory leaves the demo as it is and
	// says so.
	var out2 syncBuffer
	app = NewApp(&out2, &errOut)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go func() {
		done <- app.RunContext(ctx, []string{"ospnode", "serve", "--demo", "--data-dir", dir,
			"--osp-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--cluster-addr", "127.0.0.1:0", "--log-level", "warn"})
	}()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out2.String(), "Try a first"); {
		select {
		case err := <-done:
			t.Fatalf("restart ended: %v\n%s\n%s", err, out2.String(), errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("restart printed no banner:\n%s\n%s", out2.String(), errOut.String())
		}
		time.Sleep(10 * time.Millisecond) // polling the output
	}
	if !strings.Contains(out2.String(), `Demo network "DEMO" ready (already in the ledger, left as it is).`) {
		t.Errorf("restart banner:\n%s", out2.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("restart: %v", err)
	}
}
