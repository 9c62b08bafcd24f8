package cmd

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ospnode/ospnode/testnet"
)

func TestTestnetUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"networks":[{"name":"A","nodes":9}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no networks", []string{"testnet", "up", "--dir", dir, "--networks", "0"}, "--networks 0"},
		{"too many nodes", []string{"testnet", "up", "--dir", dir, "--nodes-per-network", "9"}, "9 nodes"},
		{"bad topology", []string{"testnet", "up", "--dir", dir, "--topology", bad}, "9 nodes"},
		{"missing topology", []string{"testnet", "up", "--dir", dir, "--topology", filepath.Join(dir, "none.json")}, "none.json"},
		{"down without state", []string{"testnet", "down", "--dir", filepath.Join(dir, "empty")}, "testnet.json"},
		{"status without state", []string{"testnet", "status", "--dir", filepath.Join(dir, "empty")}, "testnet.json"},
		{"kill without id", []string{"testnet", "kill", "--dir", dir}, "node id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, tc.args...)
			if code == 0 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("code %d, stderr %q, want it to mention %q", code, stderr, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "empty")); !os.IsNotExist(err) {
		t.Fatal("down created or kept a directory without a state file")
	}
}

// TestTestnetUpQueryDown builds ospnode, runs `ospnode testnet up
// --nodes-per-network 3` as a real process (its nodes are child processes),
// waits for the state file to say ready, authorises a call at every node,
// then runs `testnet status` and `testnet down` in-process.
func TestTestnetUpQueryDown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts four processes")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "ospnode")
	build := exec.Command("go", "build", "-o", bin, "github.com/ospnode/ospnode/cmd/ospnode")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := filepath.Join(tmp, "tn")
	var stdout, stderr bytes.Buffer
	up := exec.Command(bin, "testnet", "up", "--dir", dir, "--nodes-per-network", "3")
	up.Stdout, up.Stderr = &stdout, &stderr
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed when up has exited; waitErr is then set
	var waitErr error
	go func() { waitErr = up.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = testnet.Down(dir, 5*time.Second) // no-op once down removed the directory
		select {
		case <-exited:
		default:
			_ = up.Process.Kill()
			<-exited
		}
	})

	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	var st *testnet.ProcState
	for {
		var err error
		if st, err = testnet.ReadState(dir); err == nil && st.Ready {
			break
		}
		select {
		case <-exited:
			t.Fatalf("testnet up exited: %v\nstdout:\n%s\nstderr:\n%s", waitErr, stdout.String(), stderr.String())
		case <-ctx.Done():
			_ = up.Process.Kill()
			<-exited
			t.Fatalf("testnet not ready\nstderr:\n%s", stderr.String())
		case <-time.After(50 * time.Millisecond): // polling interval
		}
	}
	if len(st.Nodes) != 3 || st.PID != up.Process.Pid {
		t.Fatalf("state: %d nodes, pid %d (up is %d)", len(st.Nodes), st.PID, up.Process.Pid)
	}
	for _, n := range st.Nodes {
		if n.PID <= 0 || n.AdminToken == "" || n.ClusterAddr == "" {
			t.Fatalf("node %+v", n)
		}
		ar, err := testnet.Authorize(ctx, n.OSPURL, testnet.CarrierAParty(), "14048724799", "16785551234")
		if err != nil {
			t.Fatalf("%s: %v", n.ID, err)
		}
		if ar.TransactionID == 0 {
			t.Fatalf("%s: no transaction id", n.ID)
		}
	}

	// Kill node 1 (SIGKILL), see the others still serve, restart it.
	victim := st.Nodes[0]
	if code, out, errOut := run(t, "testnet", "kill", "--dir", dir, victim.ID); code != 0 {
		t.Fatalf("kill: code %d\n%s%s", code, out, errOut)
	}
	for !deadPID(victim.PID) {
		select {
		case <-ctx.Done():
			t.Fatalf("node %s survived SIGKILL", victim.ID)
		case <-time.After(20 * time.Millisecond): // polling interval
		}
	}
	if code, _, _ := run(t, "testnet", "restart", "--dir", dir, "--exe", bin, st.Nodes[1].ID); code == 0 {
		t.Fatal("restart of a running node succeeded")
	}
	for _, n := range st.Nodes[1:] {
		// The survivors elect a leader and serve (the toolkit retries on 503).
		for {
			_, err := testnet.Authorize(ctx, n.OSPURL, testnet.CarrierAParty(), "14048724799", "4420794601234")
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s after kill: %v", n.ID, err)
			case <-time.After(50 * time.Millisecond): // polling interval
			}
		}
	}
	if code, out, errOut := run(t, "testnet", "restart", "--dir", dir, "--exe", bin, victim.ID); code != 0 {
		t.Fatalf("restart: code %d\n%s%s", code, out, errOut)
	}
	st2, err := testnet.ReadState(dir)
	if err != nil || st2.Nodes[0].PID == victim.PID {
		t.Fatalf("state after restart: %v, pid %d", err, st2.Nodes[0].PID)
	}
	if _, err := testnet.Authorize(ctx, victim.OSPURL, testnet.CarrierAParty(), "14048724799", "16785551234"); err != nil {
		t.Fatalf("restarted %s: %v", victim.ID, err)
	}

	code, out, errOut := run(t, "testnet", "status", "--dir", dir)
	if code != 0 || !strings.Contains(out, st.Nodes[0].OSPURL) || !strings.Contains(out, st.Nodes[2].AdminToken) {
		t.Fatalf("status: code %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, "testnet", "down", "--dir", dir)
	if code != 0 {
		t.Fatalf("down: code %d\n%s%s", code, out, errOut)
	}
	select {
	case <-exited: // up stops once interrupted
	case <-ctx.Done():
		t.Fatal("testnet up still running after down")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("directory left: %v", err)
	}
	for _, n := range st2.Nodes {
		if !deadPID(n.PID) {
			t.Fatalf("node %s (pid %d) still running", n.ID, n.PID)
		}
	}
	if !strings.Contains(stdout.String(), "testnet ready") {
		t.Fatalf("up output:\n%s", stdout.String())
	}
}

// deadPID reports whether pid is gone (or a zombie: /proc shows no
// command line).
func deadPID(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil || p.Signal(syscall.Signal(0)) != nil {
		return true
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	return err != nil || !strings.Contains(string(b), "testnet")
}
