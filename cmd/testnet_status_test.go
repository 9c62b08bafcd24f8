package cmd

import (
	"encoding/json"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/ospnode/ospnode/testnet"
)

// TestTestnetStatusHealth runs `testnet status` against a state file that
// describes a real in-process 3-node network (PURPLE) and a network
// (YELLOW) whose only node does not answer: PURPLE shows its leader and
// every node's role, applied index and healthz; after a follower is
// closed it shows that node down and still a leader; YELLOW shows NO
// LEADER. The admin tokens are never printed.
func TestTestnetStatusHealth(t *testing.T) {
	nw := testnet.NewTestNetwork(t, testnet.NetworkSpec{Name: "PURPLE", Nodes: 3}, testnet.Options{})
	li, err := nw.WaitForLeader(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nw.WaitConverged(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A port nobody listens on: YELLOW's node is down.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()

	dir := t.TempDir()
	st := &testnet.ProcState{Dir: dir, Topology: testnet.TopologySpec{Networks: []testnet.NetworkSpec{{Name: "PURPLE", Nodes: 3}, {Name: "YELLOW", Nodes: 1}}}}
	if err := st.Topology.Normalize(); err != nil {
		t.Fatal(err)
	}
	urls := nw.AllOSPURLs()
	for i := range 3 {
		st.Nodes = append(st.Nodes, testnet.ProcNode{Network: "PURPLE", Index: i, ID: nw.NodeID(i), OSPURL: urls[i],
			AdminURL: nw.AdminURL(i), AdminToken: nw.AdminToken(i), ClusterAddr: nw.ClusterAddr(i)})
	}
	st.Nodes = append(st.Nodes, testnet.ProcNode{Network: "YELLOW", ID: "yellow-1", OSPURL: "http://" + dead + "/osp",
		AdminURL: "http://" + dead, AdminToken: "yellow-secret"})
	if err := st.Write(); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := run(t, "testnet", "status", "--dir", dir)
	if code != 0 {
		t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("status:\n%s", out)
	leader := nw.NodeID(li)
	for _, want := range []string{
		`(?m)^network PURPLE \(3 node\(s\), USD\): leader ` + regexp.QuoteMeta(leader) + `$`,
		`(?m)^network YELLOW \(1 node\(s\), USD\): NO LEADER \(cannot commit\)$`,
		`(?m)^  ` + regexp.QuoteMeta(leader) + ` +leader +[1-9][0-9]*  ok +` + regexp.QuoteMeta(urls[li]) + ` +` + regexp.QuoteMeta(nw.AdminURL(li)) + `$`,
		`(?m)^  yellow-1 +\? +-  down +http://` + regexp.QuoteMeta(dead) + `/osp`,
		`(?m)^ +not answering: .*connection refused`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("status output does not match %s", want)
		}
	}
	if n := strings.Count(out, " follower "); n != 2 {
		t.Errorf("%d followers listed, want 2", n)
	}
	for _, n := range st.Nodes {
		if strings.Contains(out, n.AdminToken) {
			t.Fatalf("status printed %s's admin token", n.ID)
		}
	}

	// Close a follower: it is down, PURPLE keeps its leader.
	fi := (li + 1) % 3
	if err := nw.Kill(fi); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, "testnet", "status", "--dir", dir, "--output", "json", "--timeout", "5s")
	if code != 0 {
		t.Fatalf("status json: exit %d\n%s%s", code, out, errOut)
	}
	var health []testnet.NetworkHealth
	if err := json.Unmarshal([]byte(out), &health); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if len(health) != 2 || health[0].Leader == "" || health[1].Leader != "" {
		t.Fatalf("health %+v", health)
	}
	for _, h := range health[0].Nodes {
		switch {
		case h.ID == nw.NodeID(fi):
			if h.Healthz != "down" || h.Role != "?" {
				t.Errorf("closed node %+v", h)
			}
		case h.Healthz != "ok" || (h.Role != "leader" && h.Role != "follower") || h.Applied == 0:
			t.Errorf("running node %+v", h)
		}
	}
	if code, _, errOut := run(t, "testnet", "status", "--dir", dir, "--output", "yaml"); code != 2 || !strings.Contains(errOut, "table, json or state") {
		t.Fatalf("bad --output: exit %d %s", code, errOut)
	}

	// testnet token prints a node's token from the state file.
	if code, out, _ := run(t, "testnet", "token", "--dir", dir, "yellow-1"); code != 0 || out != "yellow-secret\n" {
		t.Fatalf("token: exit %d %q", code, out)
	}
	if code, _, errOut := run(t, "testnet", "token", "--dir", dir, "green-1"); code != 1 || !strings.Contains(errOut, `no node "green-1"`) {
		t.Fatalf("token of an unknown node: exit %d %s", code, errOut)
	}

	// --wait: a testnet with a leaderless network is not ready (exit 1,
	// naming it); PURPLE alone, once its state says ready, is.
	if code, _, errOut := run(t, "testnet", "status", "--dir", dir, "--wait", "300ms"); code != 1 || !strings.Contains(errOut, "not ready after 300ms (starting)") {
		t.Fatalf("wait on a state not ready: exit %d %s", code, errOut)
	}
	st.Ready = true
	if err := st.Write(); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "testnet", "status", "--dir", dir, "--wait", "300ms"); code != 1 || !strings.Contains(errOut, "no leader in YELLOW") {
		t.Fatalf("wait with a leaderless network: exit %d %s", code, errOut)
	}
	st.Topology.Networks, st.Nodes = st.Topology.Networks[:1], st.Nodes[:3]
	if err := st.Write(); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run(t, "testnet", "status", "--dir", dir, "--wait", "60s"); code != 0 || !strings.Contains(out, "): leader ") {
		t.Fatalf("wait on a ready testnet: exit %d\n%s%s", code, out, errOut)
	}
}
