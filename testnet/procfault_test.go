package testnet

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestProcessFaultControl drives the control endpoint of a planned (not
// started) 2-node process testnet: faults reach the right proxies and the
// state file, and bad requests are refused.
func TestProcessFaultControl(t *testing.T) {
	dir := t.TempDir()
	st, err := PlanProcesses(dir, TopologySpec{Networks: []NetworkSpec{{Name: "A", Nodes: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := startProcFaults(st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.close)
	if err := st.Write(); err != nil {
		t.Fatal(err)
	}
	a, b := st.Nodes[0], st.Nodes[1]
	if b.Join[0] != a.ClusterAdvertise || a.Links[b.ClusterAdvertise] == "" || b.Links[a.ClusterAdvertise] == "" {
		t.Fatalf("plan: join %v, links %v / %v", b.Join, a.Links, b.Links)
	}
	ab, ba := f.links[procLink{a.ID, b.ID}], f.links[procLink{b.ID, a.ID}]
	ctx := t.Context()

	for _, tc := range []struct {
		name, id, action string
		delay            time.Duration
		want             ProcFault
		cut              bool // every proxy of a and b
	}{
		{"partition a", a.ID, FaultPartition, 0, ProcFault{Partitioned: true}, true},
		{"slow a", a.ID, FaultSlow, 50 * time.Millisecond, ProcFault{Partitioned: true, Delay: 50 * time.Millisecond}, true},
		{"heal a", a.ID, FaultHeal, 0, ProcFault{}, false},
		{"slow b", b.ID, FaultSlow, time.Second, ProcFault{Delay: time.Second}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FaultProcessNode(ctx, dir, tc.id, tc.action, tc.delay)
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
			for _, p := range []interface{ Partitioned() bool }{ab, ba, f.inbound[a.ID]} {
				if p.Partitioned() != tc.cut {
					t.Fatalf("a proxy of %s: partitioned %v, want %v", a.ID, p.Partitioned(), tc.cut)
				}
			}
			cur, err := ReadState(dir)
			if err != nil || cur.Node(tc.id).Fault != tc.want {
				t.Fatalf("state file: %+v, %v", cur.Node(tc.id).Fault, err)
			}
		})
	}

	for _, tc := range []struct{ name, id, action, want string }{
		{"unknown node", "a-9", FaultPartition, "no node"},
		{"unknown action", a.ID, "explode", "unknown action"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := FaultProcessNode(ctx, dir, tc.id, tc.action, 0); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("bad delay", func(t *testing.T) {
		if _, err := FaultProcessNode(ctx, dir, a.ID, FaultSlow, 2*maxProcDelay); err == nil || !strings.Contains(err.Error(), "delay") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, st.Control.URL+"/partition?node="+a.ID, nil)
		req.Header.Set("Authorization", "Bearer nope")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || f.inbound[a.ID].Partitioned() {
			t.Fatalf("status %d, partitioned %v", resp.StatusCode, f.inbound[a.ID].Partitioned())
		}
	})
	for _, tc := range []struct {
		name string
		ctl  *ProcControl
		want error
		msg  string
	}{
		{"not loopback", &ProcControl{URL: "http://192.0.2.1:80", Token: "x"}, nil, "not a loopback"},
		{"no control", nil, ErrNoControl, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur, err := ReadState(dir)
			if err != nil {
				t.Fatal(err)
			}
			cur.Control = tc.ctl
			if err := cur.Write(); err != nil {
				t.Fatal(err)
			}
			_, err = FaultProcessNode(ctx, dir, a.ID, FaultPartition, 0)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err %v", err)
			}
		})
	}
}
