package cmd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/node"
)

// TestSnapshotSaveAndRestore: `cluster snapshot save` writes a checked
// ledger image; `restore` seeds a new data directory from it; the node
// started there leads a new cluster with the same ledger (equal digests)
// and writes after it. Restoring again into the same directory, a file
// that is not a ledger, or without an address, is refused.
func TestSnapshotSaveAndRestore(t *testing.T) {
	n := openTestNode(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.db")
	out := mustCLI(t, n, []string{"cluster", "snapshot", "save"}, file)
	if !strings.HasPrefix(out, "saved "+file+": ledger at log index ") {
		t.Fatalf("save: %q", out)
	}
	if _, err := os.Stat(file + ".partial"); !os.IsNotExist(err) {
		t.Fatalf("partial file left: %v", err)
	}
	want, err := n.Store().Digest()
	if err != nil {
		t.Fatal(err)
	}
	wantIdx := n.Store().AppliedIndex()
	n.Close()

	// The file is a ledger.db image: the offline audit reads it as one.
	auditDir := filepath.Join(dir, "audit")
	if err := os.MkdirAll(auditDir, 0o700); err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(auditDir, "ledger.db"), img, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errb := run(t, "ledger", "audit", "--data-dir", auditDir); code != 0 || !strings.Contains(out, "audit OK") {
		t.Fatalf("offline audit of the snapshot: %d %s %s", code, out, errb)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the seeded configuration names it; the node binds it again
	data := filepath.Join(dir, "restored")
	args := []string{"restore", file, "--data-dir", data, "--node-id", "r1", "--cluster-addr", addr}
	if code, out, errb := run(t, args...); code != 0 || !strings.Contains(out, "ledger at log index "+strconv.FormatUint(wantIdx, 10)) {
		t.Fatalf("restore: %d %s %s", code, out, errb)
	}
	if code, _, errb := run(t, args...); code != 1 || !strings.Contains(errb, "already holds Raft state") {
		t.Fatalf("restore twice: %d %s", code, errb)
	}
	cfg := testNodeConfig(t)
	cfg.NodeID, cfg.DataDir, cfg.ClusterAddr, cfg.Bootstrap, cfg.Demo = "r1", data, addr, false, false
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := node.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := r.Store().Digest()
	if err != nil || got != want {
		t.Fatalf("restored ledger digest %x, want %x (%v)", got, want, err)
	}
	if code, out, errb := adminCLI(t, r, []string{"ledger", "audit"}); code != 0 {
		t.Fatalf("audit after restore: %d %s %s", code, out, errb)
	}
	// The new cluster writes: its log continues after the snapshot, so the
	// ledger applies new entries instead of skipping them as old.
	mustCLI(t, r, []string{"member", "add", "newcomer"}, "--source-addr", "192.0.2.99")
	if r.Store().AppliedIndex() <= wantIdx {
		t.Fatalf("applied %d after a write, snapshot at %d", r.Store().AppliedIndex(), wantIdx)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"not a ledger", []string{"restore", filepath.Join(dir, "junk"), "--data-dir", filepath.Join(dir, "x"), "--node-id", "x", "--cluster-addr", addr}, 1, "not a ledger snapshot"},
		{"no address", []string{"restore", file, "--data-dir", filepath.Join(dir, "y"), "--node-id", "y"}, 2, "--cluster-addr"},
		{"no node id", []string{"restore", file, "--data-dir", filepath.Join(dir, "z"), "--cluster-addr", addr}, 2, "--node-id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "junk"), []byte("not a bbolt file"), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, errb := run(t, tc.args...)
			if code != tc.code || !strings.Contains(errb, tc.want) {
				t.Fatalf("exit %d, stderr %q (want %d mentioning %q)", code, errb, tc.code, tc.want)
			}
		})
	}
}

// TestSnapshotSaveRefusesBadDownloads: a node (or whatever answers at
// --node) that sends a cut body, a body whose SHA-256 differs from its
// header, something that is not a ledger, or a ledger newer than it
// claims, leaves no FILE behind.
func TestSnapshotSaveRefusesBadDownloads(t *testing.T) {
	n := openTestNode(t)
	good := filepath.Join(t.TempDir(), "good.db")
	mustCLI(t, n, []string{"cluster", "snapshot", "save"}, good)
	img, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	idx := strconv.FormatUint(n.Store().AppliedIndex(), 10)
	// The ledger is the network's money: no snapshot without the admin token.
	if code, _, errb := run(t, "cluster", "snapshot", "save", filepath.Join(t.TempDir(), "x.db"), "--node", n.AdminURL(), "--token", "wrong"); code != 1 || !strings.Contains(errb, "401") {
		t.Fatalf("snapshot with a wrong token: exit %d, %s", code, errb)
	}
	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	for _, tc := range []struct {
		name      string
		body      []byte
		sha, idx  string
		cutLength bool
		want      string
	}{
		{"wrong sha", img, sum([]byte("other")), idx, false, "SHA-256"},
		{"cut body", img[:len(img)/2], sum(img), idx, true, "download"},
		{"not a ledger", []byte("hello"), sum([]byte("hello")), idx, false, "not a ledger snapshot"},
		{"older than its ledger", img, sum(img), "1", false, "node's snapshot at 1"},
		{"no index", img, sum(img), "", false, "no snapshot index"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set(node.HeaderSnapshotIndex, tc.idx)
				w.Header().Set(node.HeaderSnapshotSHA256, tc.sha)
				if tc.cutLength {
					w.Header().Set("Content-Length", strconv.Itoa(len(img)))
				}
				_, _ = w.Write(tc.body)
			}))
			defer srv.Close()
			file := filepath.Join(t.TempDir(), "b.db")
			code, _, errb := run(t, "cluster", "snapshot", "save", file, "--node", srv.URL, "--token", "x")
			if code != 1 || !strings.Contains(errb, tc.want) {
				t.Fatalf("exit %d, stderr %q, want 1 mentioning %q", code, errb, tc.want)
			}
			if _, err := os.Stat(file); !os.IsNotExist(err) {
				t.Fatalf("FILE exists after a refused download: %v", err)
			}
			if ents, _ := os.ReadDir(filepath.Dir(file)); len(ents) != 0 {
				t.Fatalf("left behind: %v", ents)
			}
		})
	}
}

// TestDeployConfigExample: deploy/ospnode.conf is a valid serve --config
// file (every key a serve flag, every value of its type) describing a TLS
// node.
func TestDeployConfigExample(t *testing.T) {
	cfg, err := resolve(t, "--config", "../deploy/ospnode.conf")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeID != "n1" || cfg.OSPAddr != "-" || cfg.OSPTLSAddr == "" || cfg.AdminTLSCert == "" ||
		cfg.Trust.ClusterCert == "" || cfg.Trust.CA == "" || cfg.TokenCert == "" {
		t.Fatalf("deploy/ospnode.conf: %+v", cfg)
	}
}
