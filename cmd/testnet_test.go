package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
		{"names and networks disagree", []string{"testnet", "up", "--dir", dir, "--networks", "3", "--names", "A,B"}, "--names gives 2 name(s) for --networks 3"},
		{"privileged base port", []string{"testnet", "up", "--dir", filepath.Join(dir, "bp"), "--base-port", "80"}, "base port 80"},
		{"base port too high", []string{"testnet", "up", "--dir", filepath.Join(dir, "bp"), "--networks", "2", "--base-port", "65530"}, "want 1024..65518"},
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

	testnetPartitionHealSlow(t, ctx, dir, st2)

	code, out, errOut := run(t, "testnet", "status", "--dir", dir)
	// The admin tokens stay in the state file: never printed.
	if code != 0 || !strings.Contains(out, st.Nodes[0].OSPURL) || strings.Contains(out, st.Nodes[2].AdminToken) ||
		!strings.Contains(out, testnet.StateFile) {
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

// testnetPartitionHealSlow partitions a follower of the running process
// testnet in dir through the CLI: it answers writes with 503 while the
// others keep committing; after heal it catches up with the leader; a slow
// link to it still commits. Every wait polls with ctx's deadline.
func testnetPartitionHealSlow(t *testing.T, ctx context.Context, dir string, st *testnet.ProcState) {
	t.Helper()
	poll := func(what string, ok func() (bool, error)) {
		t.Helper()
		var last error
		for {
			done, err := ok()
			if done {
				return
			}
			last = err
			select {
			case <-ctx.Done():
				t.Fatalf("%s: %v (last error: %v)", what, ctx.Err(), last)
			case <-time.After(50 * time.Millisecond): // polling interval
			}
		}
	}
	status := func(n testnet.ProcNode) (nodeStatus, error) {
		var s nodeStatus
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.AdminURL+"/v1/status", nil)
		if err != nil {
			return s, err
		}
		req.Header.Set("Authorization", "Bearer "+n.AdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return s, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return s, fmt.Errorf("status %s", resp.Status)
		}
		return s, json.NewDecoder(resp.Body).Decode(&s)
	}
	authorize := func(n testnet.ProcNode) error {
		_, err := testnet.Authorize(ctx, n.OSPURL, testnet.CarrierAParty(), "14048724799", "16785551234")
		return err
	}
	var leader string
	poll("a leader", func() (bool, error) {
		s, err := status(st.Nodes[0])
		leader = s.LeaderID
		return err == nil && leader != "", err
	})
	var fol testnet.ProcNode
	var others []testnet.ProcNode
	for _, n := range st.Nodes {
		if n.ID != leader && fol.ID == "" {
			fol = n
		} else {
			others = append(others, n)
		}
	}

	if code, out, errOut := run(t, "testnet", "partition", "--dir", dir, fol.ID); code != 0 || !strings.Contains(out, "partitioned") {
		t.Fatalf("partition: code %d\n%s%s", code, out, errOut)
	}
	poll(fol.ID+" refuses writes while partitioned", func() (bool, error) {
		err := authorize(fol)
		return err != nil && strings.Contains(err.Error(), "503"), err
	})
	for _, n := range others {
		poll(n.ID+" commits while "+fol.ID+" is partitioned", func() (bool, error) {
			err := authorize(n)
			return err == nil, err
		})
	}
	if code, out, _ := run(t, "testnet", "status", "--dir", dir); code != 0 || !strings.Contains(out, "fault partitioned") {
		t.Fatalf("status does not show the partition:\n%s", out)
	}

	if code, out, errOut := run(t, "testnet", "heal", "--dir", dir, fol.ID); code != 0 || !strings.Contains(out, "fault none") {
		t.Fatalf("heal: code %d\n%s%s", code, out, errOut)
	}
	var target uint64
	poll("the leader's commit index", func() (bool, error) {
		s, err := status(others[0])
		target = s.CommitIndex
		return err == nil && target > 0, err
	})
	poll(fol.ID+" catches up after heal", func() (bool, error) {
		s, err := status(fol)
		return err == nil && s.AppliedIndex >= target, fmt.Errorf("applied %d < %d (%v)", s.AppliedIndex, target, err)
	})

	if code, out, errOut := run(t, "testnet", "slow", "--dir", dir, fol.ID, "50ms"); code != 0 || !strings.Contains(out, "delay 50ms") {
		t.Fatalf("slow: code %d\n%s%s", code, out, errOut)
	}
	poll(fol.ID+" commits over a slow link", func() (bool, error) {
		err := authorize(fol)
		return err == nil, err
	})
	if code, out, _ := run(t, "testnet", "status", "--dir", dir); code != 0 || !strings.Contains(out, "fault delay 50ms") {
		t.Fatalf("status does not show the delay:\n%s", out)
	}
	for _, bad := range [][]string{{"slow", fol.ID, "soon"}, {"partition", "nosuch-9"}, {"heal"}} {
		if code, _, _ := run(t, append([]string{"testnet", bad[0], "--dir", dir}, bad[1:]...)...); code == 0 {
			t.Fatalf("testnet %v succeeded", bad)
		}
	}
	if code, out, errOut := run(t, "testnet", "heal", "--dir", dir, fol.ID); code != 0 {
		t.Fatalf("heal: code %d\n%s%s", code, out, errOut)
	}
}

// nodeStatus is the part of GET /v1/status the fault test reads.
type nodeStatus struct {
	LeaderID     string
	CommitIndex  uint64
	AppliedIndex uint64
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
