package node

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/consensus"
	"github.com/ospnode/ospnode/osp"
)

// testConfig is a node on loopback ephemeral ports with short Raft
// timeouts, its data under a fresh temporary directory.
func testConfig(t testing.TB, id string) Config {
	t.Helper()
	return Config{
		NodeID:      id,
		DataDir:     filepath.Join(t.TempDir(), id),
		OSPAddr:     "127.0.0.1:0",
		AdminAddr:   "127.0.0.1:0",
		ClusterAddr: "127.0.0.1:0",
		Raft: RaftTimeouts{
			HeartbeatTimeout:   100 * time.Millisecond,
			ElectionTimeout:    100 * time.Millisecond,
			LeaderLeaseTimeout: 100 * time.Millisecond,
			CommitTimeout:      5 * time.Millisecond,
			ApplyTimeout:       3 * time.Second,
			LeaderWait:         2 * time.Second,
		},
		Batch:  consensus.BatchConfig{MaxWait: 200 * time.Microsecond},
		Logger: testLogger(t),
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("NODE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// openDemo opens a bootstrapped demo node and closes it at the end of t.
func openDemo(t testing.TB) *Node {
	t.Helper()
	cfg := testConfig(t, "n1")
	cfg.Bootstrap = true
	cfg.Demo = true
	return openNode(t, cfg)
}

func openNode(t testing.TB, cfg Config) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open %s: %v", cfg.NodeID, err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// readCapture returns the body of a captured toolkit request.
func readCapture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// client returns an HTTP client whose connections come from the loopback
// address src (e.g. "127.0.0.3", to be recognised as that member).
func client(src string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// post sends body as the toolkit does and returns the raw response body
// and HTTP status.
func post(t testing.TB, c *http.Client, url string, body []byte) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("post %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

// exchange posts m and decodes the answer, checking it against the
// toolkit's rules.
func exchange(t testing.TB, c *http.Client, url string, m *osp.Message) *osp.Message {
	t.Helper()
	body, err := osp.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	code, out, h := post(t, c, url, body)
	if code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", code, out)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("content type %q", ct)
	}
	if err := osp.CheckToolkitRules(out); err != nil {
		t.Fatalf("response breaks toolkit rules: %v\n%s", err, out)
	}
	resp, err := osp.Decode(out, osp.Limits{})
	if err != nil {
		t.Fatalf("decode response: %v\n%s", err, out)
	}
	return resp
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) //nolint: polling interval, not a synchronisation sleep
	}
}

func readAll(r *http.Response) ([]byte, error) { return io.ReadAll(r.Body) }
