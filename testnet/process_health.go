package testnet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// NodeHealth is what `ospnode testnet status` learns from one node: its
// /healthz answer and, from its admin API's GET /v1/status, its Raft role,
// the leader it follows and its applied index.
type NodeHealth struct {
	ID      string `json:"id"`
	Network string `json:"network"`
	// Healthz is "ok" (200), the status line of another answer, or
	// "down" when the node does not answer.
	Healthz string `json:"healthz"`
	// Role is "leader", "follower", "candidate", "shutdown", or "?" when
	// the admin API did not answer (Err says why).
	Role     string `json:"role"`
	LeaderID string `json:"leader_id,omitempty"`
	Applied  uint64 `json:"applied_index"`
	Halted   string `json:"halted,omitempty"`
	Err      string `json:"error,omitempty"`
}

// NetworkHealth is one network's nodes and the leader they report.
type NetworkHealth struct {
	Name string `json:"name"`
	// Leader is the id of the node that answered as leader ("" : none
	// did, so the network cannot commit).
	Leader string       `json:"leader,omitempty"`
	Nodes  []NodeHealth `json:"nodes"`
}

// Health asks every node of st, in parallel, for /healthz and /v1/status
// (with its admin token), each question bounded by timeout (default 2 s).
// A node that does not answer is reported, never an error.
func (st *ProcState) Health(ctx context.Context, timeout time.Duration) []NetworkHealth {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	client := &http.Client{Timeout: timeout}
	out := make([]NetworkHealth, len(st.Topology.Networks))
	var wg sync.WaitGroup
	for i, ns := range st.Topology.Networks {
		nodes := st.NetworkNodes(ns.Name)
		out[i] = NetworkHealth{Name: ns.Name, Nodes: make([]NodeHealth, len(nodes))}
		for j, pn := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out[i].Nodes[j] = probeNode(ctx, client, pn)
			}()
		}
	}
	wg.Wait()
	for i := range out {
		for _, h := range out[i].Nodes {
			if h.Role == "leader" {
				out[i].Leader = h.ID
			}
		}
	}
	return out
}

func probeNode(ctx context.Context, c *http.Client, pn ProcNode) NodeHealth {
	h := NodeHealth{ID: pn.ID, Network: pn.Network, Healthz: "down", Role: "?"}
	if resp, err := get(ctx, c, pn.AdminURL+"/healthz", ""); err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		h.Healthz = "ok"
		if resp.StatusCode != http.StatusOK {
			h.Healthz = resp.Status
		}
	}
	resp, err := get(ctx, c, pn.AdminURL+"/v1/status", pn.AdminToken)
	if err != nil {
		h.Err = err.Error()
		return h
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.Err = "admin API: " + resp.Status
		return h
	}
	var s struct {
		State        string
		LeaderID     string
		AppliedIndex uint64
		Halted       string
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&s); err != nil {
		h.Err = "admin API: " + err.Error()
		return h
	}
	h.Role, h.LeaderID, h.Applied, h.Halted = strings.ToLower(s.State), s.LeaderID, s.AppliedIndex, s.Halted
	return h
}

func get(ctx context.Context, c *http.Client, url, token string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return c.Do(req)
}

// WriteStatus prints every network with its leader (or "NO LEADER") and,
// for every node, its role, applied index, /healthz answer, OSP and admin
// URLs, then its cluster address, pid, fault and log. Like WriteEndpoints
// it never prints an admin token.
func (st *ProcState) WriteStatus(w io.Writer, health []NetworkHealth) error {
	var b strings.Builder
	for i, ns := range st.Topology.Networks {
		leader := "NO LEADER (cannot commit)"
		var hs []NodeHealth
		if i < len(health) {
			hs = health[i].Nodes
			if health[i].Leader != "" {
				leader = "leader " + health[i].Leader
			}
		}
		fmt.Fprintf(&b, "network %s (%d node(s), %s): %s\n", ns.Name, ns.Nodes, ns.Currency, leader)
		fmt.Fprintf(&b, "  %-12s %-9s %8s  %-8s %-30s %s\n", "NODE", "ROLE", "APPLIED", "HEALTHZ", "OSP", "ADMIN")
		for j, n := range st.NetworkNodes(ns.Name) {
			h := NodeHealth{Role: "?", Healthz: "?"}
			if j < len(hs) {
				h = hs[j]
			}
			applied := "-"
			if h.Role != "?" {
				applied = fmt.Sprint(h.Applied)
			}
			fmt.Fprintf(&b, "  %-12s %-9s %8s  %-8s %-30s %s\n", n.ID, h.Role, applied, h.Healthz, n.OSPURL, n.AdminURL)
			cluster := n.ClusterAddr
			if n.ClusterAdvertise != "" {
				cluster += " (via " + n.ClusterAdvertise + ")"
			}
			fmt.Fprintf(&b, "  %-12s cluster %s  pid %d  fault %s  log %s\n", "", cluster, n.PID, n.Fault, n.Log)
			if h.Halted != "" {
				fmt.Fprintf(&b, "  %-12s HALTED: %s\n", "", h.Halted)
			}
			if h.Err != "" {
				fmt.Fprintf(&b, "  %-12s not answering: %s\n", "", h.Err)
			}
		}
	}
	for _, l := range st.Topology.Links {
		fmt.Fprintf(&b, "link %s → %s for %s\n", l.From, l.To, strings.Join(l.Prefixes, ","))
	}
	if st.Control != nil {
		fmt.Fprintf(&b, "fault control: %s (ospnode testnet partition|heal|slow)\n", st.Control.URL)
	}
	fmt.Fprintf(&b, "state: %s (admin tokens: admin_token per node)\n", filepath.Join(st.Dir, StateFile))
	_, err := io.WriteString(w, b.String())
	return err
}
