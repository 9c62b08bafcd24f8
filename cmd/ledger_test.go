package cmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ospnode/ospnode/node"
)

// TestLedgerAuditCLI audits online, then offline on the stopped node's
// data directory, then after tampering with a stored balance (exit 3).
func TestLedgerAuditCLI(t *testing.T) {
	cfg := testNodeConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := node.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	callFlow(t, n, "10", "audit-1", "30.000")

	out := mustCLI(t, n, []string{"ledger", "audit"})
	if !strings.Contains(out, "audit OK") || !strings.Contains(out, "postings 2") {
		t.Fatalf("online audit: %s", out)
	}
	if out := mustCLI(t, n, []string{"ledger", "balances"}, "--account", "carrier-a", "--output", "csv"); !strings.Contains(out, "member:carrier-a,USD,0.0300") {
		t.Fatalf("balances: %s", out)
	}
	// Offline while the node runs: the file is locked.
	if code, _, errb := run(t, "ledger", "audit", "--data-dir", cfg.DataDir); code != 1 || !strings.Contains(errb, "still running") {
		t.Fatalf("offline audit of a running node: %d %s", code, errb)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(cfg.DataDir, "ledger.db")
	before, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errb := run(t, "ledger", "audit", "--data-dir", cfg.DataDir, "--output", "json")
	if code != 0 || !strings.Contains(out, `"ok": true`) || !strings.Contains(out, `"postings": 2`) {
		t.Fatalf("offline audit: %d %s %s", code, out, errb)
	}
	// Offline audit opens the ledger read-only: not a byte changes.
	if after, err := os.ReadFile(dbPath); err != nil || !bytes.Equal(before, after) {
		t.Fatalf("offline audit changed %s (err %v)", dbPath, err)
	}

	// Tamper: carrier-a's stored balance no longer equals its postings.
	db, err := bolt.Open(filepath.Join(cfg.DataDir, "ledger.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("balances")).Put([]byte("member:carrier-a\x00USD"), []byte("0.0001"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errb = run(t, "ledger", "audit", "--data-dir", cfg.DataDir)
	if code != exitAuditDiff || !strings.Contains(out, "DIFFERENCE: balance member:carrier-a USD") || !strings.Contains(errb, "1 difference") {
		t.Fatalf("tampered audit: exit %d\n%s\n%s", code, out, errb)
	}
}
