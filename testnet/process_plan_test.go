package testnet

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestChainNames(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []string
	}{
		{0, nil},
		{1, []string{"PURPLE"}},
		{2, []string{"PURPLE", "YELLOW"}},
		{3, []string{"PURPLE", "HUB", "YELLOW"}},
		{4, []string{"PURPLE", "HUB1", "HUB2", "YELLOW"}},
	} {
		if got := ChainNames(tc.n); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ChainNames(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
	spec := NamedChainTopology(ChainNames(3), 2)
	if err := spec.Normalize(); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(spec.Links); got != "[{PURPLE HUB [33]} {HUB YELLOW [33]}]" || spec.Networks[2].Nodes != 2 {
		t.Fatalf("links %s, networks %+v", got, spec.Networks)
	}
}

// freeBase returns a port whose next n ports looked free a moment ago.
// Tests never pin a fixed port: the base comes from the kernel's choice.
func freeBase(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if base+n > 65535 {
			continue
		}
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if ok = err == nil; ok {
				l.Close()
			}
		}
		if ok {
			return base
		}
	}
	t.Skip("no run of free ports found")
	return 0
}

// TestPlanProcessesBasePort: with a base port, node k of the topology gets
// OSP base+3k, admin base+3k+1, cluster base+3k+2, recorded in the state;
// a taken port of the layout and a base out of range are refused by name.
func TestPlanProcessesBasePort(t *testing.T) {
	spec := NamedChainTopology([]string{"PURPLE", "YELLOW"}, 2)
	var st *ProcState
	var base int
	for range 5 { // another process may take a port between the probe and the plan
		base = freeBase(t, 12)
		var err error
		if st, err = PlanProcessesAt(t.TempDir(), spec, base); err == nil {
			break
		}
		if !strings.Contains(err.Error(), "is taken") {
			t.Fatal(err)
		}
	}
	if st == nil {
		t.Skip("ports kept being taken")
	}
	if st.BasePort != base || len(st.Nodes) != 4 {
		t.Fatalf("state base %d, %d nodes", st.BasePort, len(st.Nodes))
	}
	for k, n := range st.Nodes {
		want := []string{"127.0.0.1:" + strconv.Itoa(base+3*k), "127.0.0.1:" + strconv.Itoa(base+3*k+1), "127.0.0.1:" + strconv.Itoa(base+3*k+2)}
		if got := []string{n.OSPAddr, n.AdminAddr, n.ClusterAddr}; !reflect.DeepEqual(got, want) {
			t.Errorf("node %d (%s): %v, want %v", k, n.ID, got, want)
		}
		if n.OSPURL != "http://"+want[0]+"/osp" || n.AdminURL != "http://"+want[1] {
			t.Errorf("node %s: urls %s %s", n.ID, n.OSPURL, n.AdminURL)
		}
	}
	if ids := []string{st.Nodes[0].ID, st.Nodes[3].ID}; ids[0] != "purple-1" || ids[1] != "yellow-2" {
		t.Fatalf("ids %v", ids)
	}

	// A port of the layout held by another listener: the plan names it.
	held, err := net.Listen("tcp", st.Nodes[1].AdminAddr)
	if err != nil {
		t.Skipf("cannot hold %s: %v", st.Nodes[1].AdminAddr, err)
	}
	defer held.Close()
	_, err = PlanProcessesAt(t.TempDir(), spec, base)
	if err == nil || !strings.Contains(err.Error(), "port "+strconv.Itoa(base+4)+" of the --base-port layout is taken") {
		t.Fatalf("held port: %v", err)
	}

	for _, bad := range []int{80, 65535 - 5} {
		if _, err := PlanProcessesAt(t.TempDir(), spec, bad); !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), "base port") {
			t.Errorf("base %d: %v", bad, err)
		}
	}
}
