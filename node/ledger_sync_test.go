package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
)

// usageCmd is unmatched source usage number i, keyed by reporter: present
// once per key whatever the retries.
func usageCmd(i int) ledger.RecordUsage {
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	return ledger.RecordUsage{At: at, Role: ledger.RoleSource, Reporter: ledger.MemberAccount(DemoCarrierA),
		ReporterKey: fmt.Sprintf("sync-%d", i), Calling: calling, Called: called,
		CallID: fmt.Sprintf("sync-call-%d", i), DurationMillis: 30000, End: at}
}

// proposeUsages proposes usage [from, to) from 8 goroutines (so entries
// carry several commands) and fails t on any error.
func proposeUsages(t testing.TB, n *Node, from, to int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := from + w; i < to; i += 8 {
				res, err := n.Propose(ctx, usageCmd(i))
				if err == nil {
					err = res.Err()
				}
				if err != nil {
					errs <- fmt.Errorf("usage %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// checkUsages fails t unless usage [0, n) is each present exactly once.
func checkUsages(t testing.TB, s *ledger.Store, n int) {
	t.Helper()
	seen := map[string]int{}
	var after uint64
	for {
		page, err := s.ListUsage(ledger.UsageFilter{After: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range page {
			seen[u.ReporterKey]++
			after = u.ID
		}
		if len(page) < 1000 {
			break
		}
	}
	for i := range n {
		if c := seen[fmt.Sprintf("sync-%d", i)]; c != 1 {
			t.Fatalf("confirmed usage %d present %d times", i, c)
		}
	}
	if r, err := s.Audit(); err != nil {
		t.Fatalf("audit: %v (%+v)", err, r)
	}
}

func digestOf(t testing.TB, s *ledger.Store) [32]byte {
	t.Helper()
	d, err := s.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestLedgerNoFsyncCleanRestart: with LedgerNoFsync a cleanly closed node
// reopens on its ledger.db as it was (no rebuild, same digest).
func TestLedgerNoFsyncCleanRestart(t *testing.T) {
	cfg := testConfig(t, "n1")
	cfg.Bootstrap, cfg.Demo, cfg.LedgerSync = true, true, LedgerNoFsync
	n := openNode(t, cfg)
	proposeUsages(t, n, 0, 200)
	want, idx := digestOf(t, n.Store()), n.Store().AppliedIndex()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = openNode(t, cfg)
	if d := n.Store().Discarded(); d != "" {
		t.Fatalf("clean restart discarded the ledger (moved to %s)", d)
	}
	if got := n.Store().AppliedIndex(); got != idx {
		t.Fatalf("applied index %d after a clean restart, want %d", got, idx)
	}
	if digestOf(t, n.Store()) != want {
		t.Fatal("digest changed across a clean restart")
	}
	checkUsages(t, n.Store(), 200)
}

// TestLedgerNoFsyncTornFileRebuilt: a node stopped without its ledger's
// clean close (the marker is left) and whose ledger.db is then torn, as
// after a power loss, rebuilds it from its Raft snapshot and the log after
// it: same digest at the same index, every confirmed usage once.
func TestLedgerNoFsyncTornFileRebuilt(t *testing.T) {
	for _, tear := range []string{"truncated", "zeroed", "intact"} {
		t.Run(tear, func(t *testing.T) {
			cfg := testConfig(t, "n1")
			cfg.Bootstrap, cfg.Demo, cfg.LedgerSync = true, true, LedgerNoFsync
			n := openNode(t, cfg)
			proposeUsages(t, n, 0, 150)
			if err := n.Snapshot(); err != nil {
				t.Fatal(err)
			}
			proposeUsages(t, n, 150, 300) // after the snapshot: only in the log
			want, idx := digestOf(t, n.Store()), n.Store().AppliedIndex()
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(cfg.DataDir, "ledger.db")
			// Put back what a crash leaves: the marker, and a file that may
			// be torn.
			if err := os.WriteFile(path+ledger.UnsyncedMarkerSuffix, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			switch tear {
			case "truncated":
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(path, fi.Size()/2); err != nil {
					t.Fatal(err)
				}
			case "zeroed":
				f, err := os.OpenFile(path, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				_, err = f.WriteAt(make([]byte, 64<<10), 0)
				f.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			n = openNode(t, cfg)
			if n.Store().Discarded() == "" {
				t.Fatal("an unclean ledger.db was trusted")
			}
			waitFor(t, "rebuild to the applied index", 30*time.Second, func() bool { return n.Store().AppliedIndex() >= idx })
			if got := n.Store().AppliedIndex(); got != idx {
				t.Fatalf("applied index %d after rebuild, want %d", got, idx)
			}
			if digestOf(t, n.Store()) != want {
				t.Fatal("rebuilt ledger differs from the one before the crash")
			}
			checkUsages(t, n.Store(), 300)
		})
	}
}

const (
	crashChildEnv     = "OSPNODE_NODE_CRASH_CHILD"
	crashChildSyncEnv = "OSPNODE_NODE_CRASH_CHILD_FSYNC" // "1": the default, fsynced ledger
)

// crashMode is the ledger mode of a SIGKILL test's child.
func crashMode(fsync bool) LedgerSync {
	if fsync {
		return LedgerFsync
	}
	return LedgerNoFsync
}

// TestLedgerCrashChild is the child process of
// TestLedgerSIGKILL; it does nothing in a normal run.
func TestLedgerCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("child process of TestLedgerSIGKILL")
	}
	cfg := testConfig(t, "n1")
	cfg.DataDir = dir
	cfg.Bootstrap, cfg.Demo, cfg.LedgerSync = true, true, crashMode(os.Getenv(crashChildSyncEnv) == "1")
	n, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	proposeUsages(t, n, 0, 200)
	if err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	proposeUsages(t, n, 200, 400)
	// Every usage below 400 is confirmed. Say so, then keep writing until
	// the parent kills this process mid-write.
	if err := os.WriteFile(filepath.Join(dir, "confirmed"), []byte("400"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 400; ; i += 50 {
		proposeUsages(t, n, i, i+50)
		if err := os.WriteFile(filepath.Join(dir, "confirmed.tmp"), []byte(strconv.Itoa(i+50)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "confirmed.tmp"), filepath.Join(dir, "confirmed")); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLedgerSIGKILL: a node process killed with SIGKILL while it
// writes restarts with every usage it confirmed before the kill there once
// and the books audit clean. With the default fsynced ledger the file is
// trusted and the Raft log entries after its last (deferred) commit are
// replayed; with LedgerNoFsync the file is rebuilt from the Raft snapshot
// and log.
func TestLedgerSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	for _, fsync := range []bool{true, false} {
		t.Run(map[bool]string{true: "fsync", false: "nofsync"}[fsync], func(t *testing.T) { testLedgerSIGKILL(t, fsync) })
	}
}

func testLedgerSIGKILL(t *testing.T, fsync bool) {
	dir := filepath.Join(t.TempDir(), "n1")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLedgerCrashChild$", "-test.count=1")
	// The killed child cannot remove its own temporary directories: make
	// them inside ours.
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, "TMPDIR="+t.TempDir())
	if fsync {
		cmd.Env = append(cmd.Env, crashChildSyncEnv+"=1")
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "confirmed")); err == nil {
			if c, _ := strconv.Atoi(string(b)); c >= 450 { // killed while writing after the first rounds
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("child exited before confirming: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("child did not confirm in time\n%s", out.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	b, err := os.ReadFile(filepath.Join(dir, "confirmed"))
	if err != nil {
		t.Fatal(err)
	}
	confirmed, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = os.Stat(filepath.Join(dir, "ledger.db"+ledger.UnsyncedMarkerSuffix))
	if !fsync && err != nil {
		t.Fatalf("no marker after SIGKILL: %v", err)
	}
	if fsync && err == nil {
		t.Fatal("an fsynced ledger left the unsynced marker")
	}

	cfg := testConfig(t, "n1")
	cfg.DataDir = dir
	cfg.Bootstrap, cfg.LedgerSync = true, crashMode(fsync)
	n := openNode(t, cfg)
	if discarded := n.Store().Discarded() != ""; discarded == fsync {
		t.Fatalf("fsync=%v: ledger.db discarded=%v after SIGKILL", fsync, discarded)
	}
	t.Logf("ledger.db opened at applied index %d", n.Store().AppliedIndex())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.cons.Barrier(ctx); err != nil { // everything committed is applied
		t.Fatal(err)
	}
	t.Logf("rebuilt to index %d; %d usages confirmed before the kill", n.Store().AppliedIndex(), confirmed)
	checkUsages(t, n.Store(), confirmed)
	// A second, clean restart keeps the rebuilt file.
	want := hex.EncodeToString(func() []byte { d := digestOf(t, n.Store()); return d[:] }())
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = openNode(t, cfg)
	if n.Store().Discarded() != "" {
		t.Fatal("rebuilt ledger discarded after a clean close")
	}
	if got := hex.EncodeToString(func() []byte { d := digestOf(t, n.Store()); return d[:] }()); got != want {
		t.Fatal("digest changed across the clean restart after rebuild")
	}
}
