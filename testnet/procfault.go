package testnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ospnode/ospnode/internal/faultnet"
)

// Faults on a process testnet. The `up` process (Up) runs, for every node,
// a faultnet proxy in front of its cluster listener (the address the node
// advertises, ProcNode.ClusterAdvertise) and a proxy per directed link
// src→dst inside a network (ProcNode.Links: the node process dials its
// peers through node.Config.ClusterDial = linkDialer). Fault state is per
// node and applied as in the in-process testnet (fault_links.go):
//
//   - partitioned: the node's inbound proxy and every link to and from it
//     are cut (new connections are closed at once);
//   - delay: every chunk forwarded on connections dialled to the node
//     (links *→node and its inbound proxy) waits delay.
//
// `ospnode testnet partition|heal|slow` change it through a small HTTP
// endpoint of the `up` process on loopback (ProcState.Control: URL and a
// random bearer token, in the 0600 state file). The proxies live as long as
// `up`: a node restarted by `ospnode testnet restart` finds them again.

// ProcFault is a node's injected fault on a process testnet.
type ProcFault struct {
	// Partitioned: every cluster link to and from the node is cut.
	Partitioned bool `json:"partitioned,omitempty"`
	// Delay slows every cluster connection dialled to the node.
	Delay time.Duration `json:"delay,omitempty"`
}

// String is "none", "partitioned", "delay 50ms" or both.
func (f ProcFault) String() string {
	var parts []string
	if f.Partitioned {
		parts = append(parts, "partitioned")
	}
	if f.Delay > 0 {
		parts = append(parts, "delay "+f.Delay.String())
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// ProcControl is the fault control endpoint of a process testnet's `up`
// process.
type ProcControl struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}

// Fault actions of the control endpoint (POST /ACTION?node=ID[&delay=D]).
const (
	FaultPartition = "partition"
	FaultHeal      = "heal" // ends the partition and the delay
	FaultSlow      = "slow"
)

// ErrNoControl: the testnet's state file names no fault control endpoint
// (its `up` process predates it, or runs no proxies).
var ErrNoControl = errors.New("testnet: this testnet has no fault control endpoint (start it again with `ospnode testnet up`)")

// maxProcDelay bounds a link delay: beyond it every Raft heartbeat times
// out anyway.
const maxProcDelay = time.Minute

// linkDialer returns a node process's ClusterDial: a peer's advertised
// address is dialled through the proxy of the link to it; any other
// address directly.
func linkDialer(links map[string]string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if via, ok := links[addr]; ok {
			addr = via
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

// procLink is a directed link between two node ids.
type procLink struct{ src, dst string }

// procFaults owns the proxies and the control endpoint of a process
// testnet. Its methods are safe for concurrent use.
type procFaults struct {
	dir     string
	token   string
	srv     *http.Server
	mu      sync.Mutex
	inbound map[string]*faultnet.Proxy
	links   map[procLink]*faultnet.Proxy
	state   map[string]ProcFault
}

// startProcFaults starts the proxies of st's nodes and the control
// endpoint, and records their addresses in st (not yet written): each
// node's ClusterAdvertise and Links, Join through the first node's proxy,
// and st.Control.
func startProcFaults(st *ProcState) (_ *procFaults, err error) {
	f := &procFaults{dir: st.Dir, inbound: map[string]*faultnet.Proxy{},
		links: map[procLink]*faultnet.Proxy{}, state: map[string]ProcFault{}}
	defer func() {
		if err != nil {
			f.close()
		}
	}()
	for i := range st.Nodes {
		n := &st.Nodes[i]
		p, err := faultnet.New(n.ClusterAddr)
		if err != nil {
			return nil, fmt.Errorf("testnet: proxy for %s: %w", n.ID, err)
		}
		f.inbound[n.ID] = p
		n.ClusterAdvertise = p.Addr()
		n.Fault = ProcFault{}
	}
	for _, ns := range st.Topology.Networks {
		nodes := st.NetworkNodes(ns.Name)
		for _, src := range nodes {
			s := st.Node(src.ID)
			s.Links = map[string]string{}
			if s.Index > 0 {
				s.Join = []string{nodes[0].ClusterAdvertise}
			}
			for _, dst := range nodes {
				if dst.ID == src.ID {
					continue
				}
				p, err := faultnet.New(dst.ClusterAddr)
				if err != nil {
					return nil, fmt.Errorf("testnet: proxy %s→%s: %w", src.ID, dst.ID, err)
				}
				f.links[procLink{src.ID, dst.ID}] = p
				s.Links[dst.ClusterAdvertise] = p.Addr()
			}
		}
	}
	var tok [16]byte
	_, _ = rand.Read(tok[:])
	f.token = hex.EncodeToString(tok[:])
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("testnet: fault control: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{action}", f.handle)
	f.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = f.srv.Serve(ln) }()
	st.Control = &ProcControl{URL: "http://" + ln.Addr().String(), Token: f.token}
	return f, nil
}

// handle serves POST /partition|heal|slow?node=ID[&delay=D] and answers
// the node's new fault as JSON.
func (f *procFaults) handle(w http.ResponseWriter, r *http.Request) {
	got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if subtle.ConstantTimeCompare([]byte(got), []byte(f.token)) != 1 {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	id := r.URL.Query().Get("node")
	var delay time.Duration
	action := r.PathValue("action")
	switch action {
	case FaultPartition, FaultHeal:
	case FaultSlow:
		var err error
		if delay, err = time.ParseDuration(r.URL.Query().Get("delay")); err != nil || delay < 0 || delay > maxProcDelay {
			http.Error(w, fmt.Sprintf("delay %q: want a duration in [0, %s]", r.URL.Query().Get("delay"), maxProcDelay), http.StatusBadRequest)
			return
		}
	default:
		http.Error(w, "unknown action "+action, http.StatusNotFound)
		return
	}
	fault, err := f.set(id, func(pf *ProcFault) {
		switch action {
		case FaultPartition:
			pf.Partitioned = true
		case FaultHeal:
			*pf = ProcFault{}
		case FaultSlow:
			pf.Delay = delay
		}
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(fault)
}

// set edits node id's fault, applies it to every proxy the node is an end
// of and records it in the state file (re-read first: `testnet restart`
// may have written a pid meanwhile).
func (f *procFaults) set(id string, edit func(*ProcFault)) (ProcFault, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in := f.inbound[id]
	if in == nil {
		return ProcFault{}, fmt.Errorf("testnet: no node %q", id)
	}
	pf := f.state[id]
	edit(&pf)
	f.state[id] = pf
	applyFault(in, pf.Partitioned, false, pf.Delay)
	for k, p := range f.links {
		if k.src == id || k.dst == id {
			applyFault(p, f.state[k.src].Partitioned || f.state[k.dst].Partitioned, false, f.state[k.dst].Delay)
		}
	}
	st, err := ReadState(f.dir)
	if err != nil {
		return pf, err
	}
	if n := st.Node(id); n != nil {
		n.Fault = pf
	}
	return pf, st.Write()
}

// close stops the control endpoint and every proxy.
func (f *procFaults) close() {
	if f.srv != nil {
		_ = f.srv.Close()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.inbound {
		_ = p.Close()
	}
	for _, p := range f.links {
		_ = p.Close()
	}
}

// FaultProcessNode asks the `up` process of the testnet in dir to apply
// action (FaultPartition, FaultHeal or FaultSlow with delay) to node id,
// and returns the node's resulting fault. Only a loopback control
// endpoint is called. Errors: ErrNoControl, an unknown node or action, an
// `up` process that is gone.
func FaultProcessNode(ctx context.Context, dir, id, action string, delay time.Duration) (ProcFault, error) {
	st, err := ReadState(dir)
	if err != nil {
		return ProcFault{}, err
	}
	if st.Control == nil || st.Control.URL == "" {
		return ProcFault{}, ErrNoControl
	}
	if st.Node(id) == nil {
		return ProcFault{}, fmt.Errorf("testnet: no node %q in the testnet in %s", id, dir)
	}
	u, err := url.Parse(st.Control.URL)
	if err != nil {
		return ProcFault{}, fmt.Errorf("testnet: fault control %q: %w", st.Control.URL, err)
	}
	if ip := net.ParseIP(u.Hostname()); u.Scheme != "http" || ip == nil || !ip.IsLoopback() {
		return ProcFault{}, fmt.Errorf("testnet: fault control %q is not a loopback http address", st.Control.URL)
	}
	q := url.Values{"node": {id}}
	if action == FaultSlow {
		q.Set("delay", delay.String())
	}
	u.Path = "/" + action
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return ProcFault{}, fmt.Errorf("testnet: fault control: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+st.Control.Token)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return ProcFault{}, fmt.Errorf("testnet: fault control (is `ospnode testnet up` still running?): %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return ProcFault{}, fmt.Errorf("testnet: fault control: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return ProcFault{}, fmt.Errorf("testnet: %s %s: %s", action, id, bytes.TrimSpace(body))
	}
	var pf ProcFault
	if err := json.Unmarshal(body, &pf); err != nil {
		return ProcFault{}, fmt.Errorf("testnet: fault control answer: %w", err)
	}
	return pf, nil
}
