package cmd

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ospnode/ospnode/node"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeBannerHidesAdminToken: `ospnode serve` prints where the admin
// token is kept, never the token (stdout ends up in logs), and warns about
// members identified by self-declared ids (the demo's); the data directory
// is 0700 even when it existed with a wider mode, the Raft directory 0700
// and the token file 0600.
func TestServeBannerHidesAdminToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := node.Config{NodeID: "n1", DataDir: dir, OSPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		ClusterAddr: "127.0.0.1:0", Bootstrap: true, Demo: true}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, cfg, out) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "curl -s") {
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond) //nolint: polling interval
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	token, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil || len(bytes.TrimSpace(token)) == 0 {
		t.Fatalf("token file: %v", err)
	}
	banner := out.String()
	if strings.Contains(banner, string(bytes.TrimSpace(token))) {
		t.Fatalf("the banner prints the admin token:\n%s", banner)
	}
	for _, want := range []string{"token in " + filepath.Join(dir, "admin.token"), "$(cat " + filepath.Join(dir, "admin.token") + ")",
		"identify_by_ids", "carrier-a"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "raft"): 0o700, filepath.Join(dir, "admin.token"): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", path, fi.Mode().Perm(), err, want)
		}
	}
}

// TestDemoSampleOnDiskBeforeServing: the demo's sample request exists,
// whole, as soon as the admin API answers. The README tour waits for the
// admin API and then posts the file; when it was written after the node
// opened, the post sometimes carried an empty body (OSP 400).
func TestDemoSampleOnDiskBeforeServing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	admin := "127.0.0.1:" + strconv.Itoa(freeBase(t, 1))
	cfg := node.Config{NodeID: "n1", DataDir: dir, OSPAddr: "127.0.0.1:0", AdminAddr: admin,
		ClusterAddr: "127.0.0.1:0", Bootstrap: true, Demo: true}
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, cfg, out) }()
	defer func() {
		// Stop once the demo is seeded: cancelling mid-seed is an error.
		for end := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "curl -s") && time.Now().Before(end); {
			select {
			case err := <-done:
				done <- err
				end = time.Time{}
			case <-time.After(10 * time.Millisecond): // polling interval
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + admin + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("admin API never answered: %v", err)
		}
		<-time.After(5 * time.Millisecond) // polling interval
	}
	b, err := os.ReadFile(filepath.Join(dir, "sample-authorization.xml"))
	if err != nil || !bytes.Contains(b, []byte("</Message>")) {
		t.Fatalf("admin API answers but the sample request is not on disk whole: %v\n%s", err, b)
	}
	if _, err := os.Stat(filepath.Join(dir, "sample-authorization.xml.tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary sample file left behind: %v", err)
	}
}
