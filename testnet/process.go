package testnet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node"
)

// StateFile is the name of the state file of a process testnet, in its
// directory.
const StateFile = "testnet.json"

// ProcNode is one node of a process testnet, as recorded in the state file.
type ProcNode struct {
	Network     string   `json:"network"`
	Index       int      `json:"index"`
	ID          string   `json:"id"`
	DataDir     string   `json:"data_dir"`
	PKIDir      string   `json:"pki_dir"`
	OSPAddr     string   `json:"osp_addr"`
	AdminAddr   string   `json:"admin_addr"`
	ClusterAddr string   `json:"cluster_addr"`
	OSPURL      string   `json:"osp_url"`
	AdminURL    string   `json:"admin_url"`
	AdminToken  string   `json:"admin_token"`
	Bootstrap   bool     `json:"bootstrap,omitempty"`
	Join        []string `json:"join,omitempty"`
	TokenKind   string   `json:"token_kind,omitempty"`
	PID         int      `json:"pid,omitempty"`
	Log         string   `json:"log"`
	// ClusterAdvertise is the faultnet proxy in front of ClusterAddr that
	// the `up` process runs and the node advertises; Links maps each
	// peer's advertised address to the proxy of the directed link from
	// this node to it (see procfault.go). Empty: the node is dialled
	// directly.
	ClusterAdvertise string            `json:"cluster_advertise,omitempty"`
	Links            map[string]string `json:"links,omitempty"`
	// Fault is the node's injected fault, as last set through the
	// control endpoint.
	Fault ProcFault `json:"fault,omitzero"`
}

// ProcState is the state file (dir/testnet.json) of a process testnet:
// the topology, every node's addresses, token and pid, and the pid of the
// `ospnode testnet up` process that supervises them.
type ProcState struct {
	Dir      string       `json:"dir"`
	PID      int          `json:"pid,omitempty"`
	Started  time.Time    `json:"started"`
	Ready    bool         `json:"ready"`
	Topology TopologySpec `json:"topology"`
	Nodes    []ProcNode   `json:"nodes"`
	// Control is the fault control endpoint of the `up` process (nil: none).
	Control *ProcControl `json:"control,omitempty"`
	// BasePort is the first port of the node port layout (0: free ports;
	// see PlanProcessesAt).
	BasePort int `json:"base_port,omitempty"`
}

// ErrRunning: the directory already holds a testnet whose processes run.
var ErrRunning = errors.New("testnet: a testnet is already running in this directory (ospnode testnet down --dir DIR)")

// PlanProcesses prepares dir for a process testnet of spec (normalised
// first): it creates each network's CA, reserves three loopback ports per
// node (OSP, admin, cluster; reserved, then released for the child to
// bind), draws an admin token per node and returns the state (not yet
// written). Node 1 of each network bootstraps; the others join it.
func PlanProcesses(dir string, spec TopologySpec) (*ProcState, error) {
	return PlanProcessesAt(dir, spec, 0)
}

// PlanProcessesAt is PlanProcesses with the nodes' ports laid out from
// basePort (0: free ports): node k of the whole topology (networks in
// order, nodes in order, k from 0) listens for OSP on basePort+3k, for
// the admin API on basePort+3k+1 and for its cluster on basePort+3k+2, so
// that a demo's URLs are the same on every run. Each port is checked free
// now; a taken one is an error naming it. The fault proxies in front of
// the cluster ports stay on free ports (nothing outside the testnet dials
// them).
func PlanProcessesAt(dir string, spec TopologySpec, basePort int) (*ProcState, error) {
	if err := spec.Normalize(); err != nil {
		return nil, err
	}
	total := 0
	for _, ns := range spec.Networks {
		total += ns.Nodes
	}
	if basePort != 0 && (basePort < 1024 || basePort+3*total-1 > 65535) {
		return nil, fmt.Errorf("%w: base port %d: want 1024..%d for %d node(s) (3 ports each)", ErrSpec, basePort, 65535-3*total+1, total)
	}
	nextPort := func(k, slot int) (string, error) {
		if basePort == 0 {
			return freePort()
		}
		return pinnedPort(basePort + 3*k + slot)
	}
	k := 0
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("testnet: dir: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(abs, "run"), 0o700); err != nil {
		return nil, fmt.Errorf("testnet: dir: %w", err)
	}
	st := &ProcState{Dir: abs, Topology: spec, Started: time.Now().UTC(), BasePort: basePort}
	for _, ns := range spec.Networks {
		netDir := filepath.Join(abs, strings.ToLower(ns.Name))
		pkiDir := filepath.Join(netDir, "pki")
		if _, err := ensureCA(pkiDir, ns.Name); err != nil {
			return nil, err
		}
		var first string
		for i := range ns.Nodes {
			pn := ProcNode{Network: ns.Name, Index: i, ID: fmt.Sprintf("%s-%d", strings.ToLower(ns.Name), i+1),
				PKIDir: pkiDir, TokenKind: ns.TokenKind, Bootstrap: i == 0}
			pn.DataDir = filepath.Join(netDir, pn.ID)
			pn.Log = filepath.Join(abs, "run", pn.ID+".log")
			for slot, a := range []*string{&pn.OSPAddr, &pn.AdminAddr, &pn.ClusterAddr} {
				if *a, err = nextPort(k, slot); err != nil {
					return nil, err
				}
			}
			k++
			pn.OSPURL = "http://" + pn.OSPAddr + "/osp"
			pn.AdminURL = "http://" + pn.AdminAddr
			var tok [16]byte
			_, _ = rand.Read(tok[:])
			pn.AdminToken = hex.EncodeToString(tok[:])
			if i == 0 {
				first = pn.ClusterAddr
			} else {
				pn.Join = []string{first}
			}
			st.Nodes = append(st.Nodes, pn)
		}
	}
	return st, nil
}

// ReadState reads dir/testnet.json.
func ReadState(dir string) (*ProcState, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, fmt.Errorf("testnet: state: %w", err)
	}
	var st ProcState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("testnet: state %s: %w", filepath.Join(dir, StateFile), err)
	}
	return &st, nil
}

// Write writes the state file atomically (temporary file + rename).
func (st *ProcState) Write() error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(st.Dir, StateFile)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("testnet: state: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("testnet: state: %w", err)
	}
	return nil
}

// Node returns the node with id, or nil.
func (st *ProcState) Node(id string) *ProcNode {
	for i := range st.Nodes {
		if st.Nodes[i].ID == id {
			return &st.Nodes[i]
		}
	}
	return nil
}

// NetworkNodes returns the nodes of network name in index order.
func (st *ProcState) NetworkNodes(name string) []ProcNode {
	var out []ProcNode
	for _, n := range st.Nodes {
		if strings.EqualFold(n.Network, name) {
			out = append(out, n)
		}
	}
	return out
}

// SeedCommands returns what node 1 of network name proposes: the
// network's own commands and those of every link it takes part in, with
// the upstream's OSP URLs and CA from the plan.
func (st *ProcState) SeedCommands(name string) ([]ledger.Command, error) {
	spec := st.Topology
	ns, _ := spec.network(name)
	if ns == nil {
		return nil, fmt.Errorf("testnet: unknown network %q", name)
	}
	cmds := ns.Commands()
	for _, l := range spec.Links {
		from, _ := spec.network(l.From)
		to, _ := spec.network(l.To)
		if !strings.EqualFold(l.From, name) && !strings.EqualFold(l.To, name) {
			continue
		}
		var urls []string
		for _, n := range st.NetworkNodes(l.To) {
			urls = append(urls, n.OSPURL)
		}
		var cas [][]byte
		for _, b := range spec.Beyond(l.To) {
			nodes := st.NetworkNodes(b)
			if len(nodes) == 0 {
				continue
			}
			ca, err := ensureCA(nodes[0].PKIDir, b)
			if err != nil {
				return nil, err
			}
			cas = append(cas, ca)
		}
		down, up := LinkCommands(l, urls, cas, from.Currency, to.Currency)
		if strings.EqualFold(l.From, name) {
			cmds = append(cmds, down...)
		} else {
			cmds = append(cmds, up...)
		}
	}
	return cmds, nil
}

// readyPath is the marker a node process writes once it serves (and, for
// node 1, once its network is seeded).
func (st *ProcState) readyPath(id string) string { return filepath.Join(st.Dir, "run", id+".ready") }

// RunProcessNode is the body of a testnet node process (`ospnode testnet
// node --dir DIR --id ID`): it opens node id as planned in dir's state
// file, seeds its network when it is node 1 and the ledger is empty,
// writes its ready marker and serves until ctx ends.
func RunProcessNode(ctx context.Context, dir, id string, log *slog.Logger) error {
	st, err := ReadState(dir)
	if err != nil {
		return err
	}
	pn := st.Node(id)
	if pn == nil {
		return fmt.Errorf("testnet: no node %q in %s", id, filepath.Join(dir, StateFile))
	}
	ns, _ := st.Topology.network(pn.Network)
	if ns == nil {
		return fmt.Errorf("testnet: node %s: unknown network %q", id, pn.Network)
	}
	_ = os.Remove(st.readyPath(id))
	cfg := node.Config{
		NodeID: pn.ID, DataDir: pn.DataDir, OSPAddr: pn.OSPAddr, AdminAddr: pn.AdminAddr,
		ClusterAddr: pn.ClusterAddr, ClusterAdvertise: pn.ClusterAdvertise, AdminToken: pn.AdminToken,
		Bootstrap: pn.Bootstrap, Join: pn.Join, PKIDir: pn.PKIDir, TokenKind: ns.tokenKind(), Logger: log,
	}
	if len(pn.Links) > 0 {
		cfg.ClusterDial = linkDialer(pn.Links)
	}
	openCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	n, err := node.Open(openCtx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer n.Close()
	if pn.Index == 0 {
		if err := seedIfEmpty(ctx, n, st, pn.Network); err != nil {
			return fmt.Errorf("testnet: seed %s: %w", pn.Network, err)
		}
	}
	if err := os.WriteFile(st.readyPath(id), []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o600); err != nil {
		return err
	}
	log.Info("testnet node ready", "id", id, "osp", n.OSPURL(), "admin", n.AdminURL(), "cluster", n.ClusterAddr())
	<-ctx.Done()
	return n.Close()
}

// seedIfEmpty proposes the network's seed unless the ledger already has a
// network (a restarted node 1 does not seed twice).
func seedIfEmpty(ctx context.Context, n *node.Node, st *ProcState, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := n.Consensus().WaitForLeader(ctx); err != nil {
		return err
	}
	if err := n.Consensus().Barrier(ctx); err != nil {
		return err
	}
	if _, err := n.Store().Network(); err == nil {
		return nil
	}
	cmds, err := st.SeedCommands(name)
	if err != nil {
		return err
	}
	for _, c := range cmds {
		for {
			res, err := n.Propose(ctx, c)
			if err == nil {
				if err := res.Err(); err != nil {
					return fmt.Errorf("%s: %w", c.Type(), err)
				}
				break
			}
			if !errors.Is(err, node.ErrUnavailable) {
				return err
			}
			if err := pause(ctx, 50*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return nil
}

// UpOptions configures Up.
type UpOptions struct {
	// Dir is the testnet directory (required). It must not hold a running
	// testnet.
	Dir string
	// Spec is the topology.
	Spec TopologySpec
	// Exe is the ospnode binary (default os.Executable()); Args returns
	// its arguments for node id (default: testnet node --dir DIR --id ID).
	Exe  string
	Args func(dir, id string) []string
	// ReadyTimeout bounds the wait for every node to be ready (default 90s).
	ReadyTimeout time.Duration
	// BasePort lays the nodes' ports out from it (0: free ports; see
	// PlanProcessesAt).
	BasePort int
}

// Processes is a running process testnet supervised by this process.
type Processes struct {
	State *ProcState
	exe   string
	args  func(dir, id string) []string
	cmds  map[string]*exec.Cmd
	exits chan string
	// faults runs the cluster proxies and the control endpoint (only in
	// the process that ran Up).
	faults *procFaults
}

// DefaultNodeArgs are the arguments of a node process.
func DefaultNodeArgs(dir, id string) []string {
	return []string{"testnet", "node", "--dir", dir, "--id", id}
}

// Up plans dir, writes the state file, starts every node as a child
// process (node 1 of each network first, then the others once it is
// ready), waits until every node is ready and healthy, and records the
// pids. On error it stops what it started.
func Up(ctx context.Context, o UpOptions) (_ *Processes, err error) {
	if o.Dir == "" {
		return nil, fmt.Errorf("%w: no directory", ErrSpec)
	}
	if old, err := ReadState(o.Dir); err == nil && old.anyAlive() {
		return nil, ErrRunning
	}
	if o.Exe == "" {
		if o.Exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("testnet: %w", err)
		}
	}
	if o.Args == nil {
		o.Args = DefaultNodeArgs
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 90 * time.Second
	}
	st, err := PlanProcessesAt(o.Dir, o.Spec, o.BasePort)
	if err != nil {
		return nil, err
	}
	st.PID = os.Getpid()
	p := &Processes{State: st, exe: o.Exe, args: o.Args, cmds: map[string]*exec.Cmd{}, exits: make(chan string, len(st.Nodes)*4)}
	defer func() {
		if err != nil {
			_ = p.Stop(10 * time.Second)
		}
	}()
	if p.faults, err = startProcFaults(st); err != nil {
		return nil, err
	}
	if err := st.Write(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.ReadyTimeout)
	defer cancel()
	for _, first := range []bool{true, false} {
		var started []string
		for _, n := range st.Nodes {
			if (n.Index == 0) != first {
				continue
			}
			if err := p.start(n.ID); err != nil {
				return nil, err
			}
			started = append(started, n.ID)
		}
		// Record the pids at once, so that Down finds the children even
		// if this process dies before they are ready.
		if err := st.Write(); err != nil {
			return nil, err
		}
		if err := p.waitReady(ctx, started); err != nil {
			return nil, err
		}
	}
	st.Ready = true
	return p, st.Write()
}

// start launches node id's process and records its pid.
func (p *Processes) start(id string) error {
	pn := p.State.Node(id)
	logf, err := os.OpenFile(pn.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("testnet: log of %s: %w", id, err)
	}
	cmd := exec.Command(p.exe, p.args(p.State.Dir, id)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("testnet: start %s: %w", id, err)
	}
	pn.PID = cmd.Process.Pid
	p.cmds[id] = cmd
	go func() {
		_ = cmd.Wait()
		logf.Close()
		p.exits <- id
	}()
	return nil
}

// waitReady polls until every node in ids wrote its ready marker and
// answers /healthz with 200.
func (p *Processes) waitReady(ctx context.Context, ids []string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	for _, id := range ids {
		pn := p.State.Node(id)
		for {
			if _, err := os.Stat(p.State.readyPath(id)); err == nil && healthy(ctx, client, pn.AdminURL) {
				break
			}
			select {
			case gone := <-p.exits:
				return fmt.Errorf("testnet: node %s exited during start (see %s)", gone, p.State.Node(gone).Log)
			default:
			}
			if err := pause(ctx, 50*time.Millisecond); err != nil {
				return fmt.Errorf("testnet: node %s not ready (see %s): %w", id, pn.Log, err)
			}
		}
	}
	return nil
}

func healthy(ctx context.Context, c *http.Client, adminURL string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, adminURL+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Exits receives the id of every node process that ends.
func (p *Processes) Exits() <-chan string { return p.exits }

// Kill sends sig to node id's process (os.Kill for a crash, os.Interrupt
// for a clean stop).
func (p *Processes) Kill(id string, sig os.Signal) error {
	cmd := p.cmds[id]
	if cmd == nil || cmd.Process == nil {
		return fmt.Errorf("%w: %s", ErrNodeDown, id)
	}
	return cmd.Process.Signal(sig)
}

// Restart starts node id's process again (after it exited) from its data
// directory on its planned addresses.
func (p *Processes) Restart(ctx context.Context, id string) error {
	if p.State.Node(id) == nil {
		return fmt.Errorf("testnet: no node %q", id)
	}
	_ = os.Remove(p.State.readyPath(id))
	if err := p.start(id); err != nil {
		return err
	}
	if err := p.waitReady(ctx, []string{id}); err != nil {
		return err
	}
	return p.State.Write()
}

// Stop interrupts every node process, waits up to timeout for them to
// exit and kills those that did not.
// The fault proxies and the control endpoint close after the nodes.
func (p *Processes) Stop(timeout time.Duration) error {
	err := stopPIDs(p.State.pids(), timeout)
	if p.faults != nil {
		p.faults.close()
	}
	return err
}

func (st *ProcState) pids() []int {
	var out []int
	for _, n := range st.Nodes {
		if n.PID > 0 {
			out = append(out, n.PID)
		}
	}
	return out
}

func (st *ProcState) anyAlive() bool {
	for _, pid := range append(st.pids(), st.PID) {
		if pid > 0 && pid != os.Getpid() && alive(pid) {
			return true
		}
	}
	return false
}

// alive reports whether pid runs and looks like an ospnode testnet
// process (on Linux its command line names "testnet"), so that a reused
// pid is never signalled.
func alive(pid int) bool {
	proc, err := os.FindProcess(pid)
	if err != nil || proc.Signal(syscall.Signal(0)) != nil {
		return false
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		return strings.Contains(string(b), "testnet")
	}
	return true
}

// stopPIDs interrupts pids, waits up to timeout, then kills the rest.
func stopPIDs(pids []int, timeout time.Duration) error {
	var live []*os.Process
	for _, pid := range pids {
		if pid == os.Getpid() || !alive(pid) {
			continue
		}
		proc, _ := os.FindProcess(pid)
		if proc.Signal(os.Interrupt) == nil {
			live = append(live, proc)
		}
	}
	deadline := time.Now().Add(timeout)
	for len(live) > 0 && time.Now().Before(deadline) {
		var still []*os.Process
		for _, proc := range live {
			if alive(proc.Pid) {
				still = append(still, proc)
			}
		}
		live = still
		if len(live) > 0 {
			_ = pause(context.Background(), 50*time.Millisecond)
		}
	}
	var errs []error
	for _, proc := range live {
		if err := proc.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			errs = append(errs, fmt.Errorf("testnet: kill %d: %w", proc.Pid, err))
		}
	}
	return errors.Join(errs...)
}

// Down stops the testnet recorded in dir (the supervising `up` process
// and every node process), waits for them (up to timeout, then kills) and
// removes dir. A directory without a state file is an error, so that
// Down never deletes a directory it did not create.
func Down(dir string, timeout time.Duration) error {
	st, err := ReadState(dir)
	if err != nil {
		return err
	}
	pids := append([]int{st.PID}, st.pids()...)
	if err := stopPIDs(pids, timeout); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("testnet: remove %s: %w", dir, err)
	}
	return nil
}

// WriteEndpoints prints every node's endpoints: OSP URL, admin URL,
// cluster address, pid and log, and the state file that holds the admin
// tokens (never the tokens themselves).
func (st *ProcState) WriteEndpoints(w io.Writer) error {
	var b strings.Builder
	for _, ns := range st.Topology.Networks {
		fmt.Fprintf(&b, "network %s (%d node(s), %s)\n", ns.Name, ns.Nodes, ns.Currency)
		for _, n := range st.NetworkNodes(ns.Name) {
			cluster := n.ClusterAddr
			if n.ClusterAdvertise != "" {
				cluster += " (via " + n.ClusterAdvertise + ")"
			}
			// The admin token is never printed (output ends up in logs): it
			// is the node's admin_token in the state file.
			fmt.Fprintf(&b, "  %-10s osp %s  admin %s  cluster %s  pid %d  fault %s\n             log %s\n",
				n.ID, n.OSPURL, n.AdminURL, cluster, n.PID, n.Fault, n.Log)
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

// RestartNode starts node id of the testnet in dir again, as a process of
// its own (not a child of the `up` process, which only supervises what it
// started), from its data directory on its planned addresses. It waits
// until the node is ready, records the new pid in the state file and
// returns it. exe is the ospnode binary ("" = os.Executable()). A node
// that is still running is refused.
func RestartNode(ctx context.Context, dir, id, exe string) (int, error) {
	st, err := ReadState(dir)
	if err != nil {
		return 0, err
	}
	pn := st.Node(id)
	if pn == nil {
		return 0, fmt.Errorf("testnet: no node %q in %s", id, filepath.Join(dir, StateFile))
	}
	if pn.PID > 0 && alive(pn.PID) {
		return 0, fmt.Errorf("testnet: node %s is running (pid %d)", id, pn.PID)
	}
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return 0, fmt.Errorf("testnet: %w", err)
		}
	}
	p := &Processes{State: st, exe: exe, args: DefaultNodeArgs, cmds: map[string]*exec.Cmd{}, exits: make(chan string, 1)}
	_ = os.Remove(st.readyPath(id))
	if err := p.start(id); err != nil {
		return 0, err
	}
	if err := p.waitReady(ctx, []string{id}); err != nil {
		_ = p.Kill(id, os.Kill)
		return 0, err
	}
	// Re-read: another command may have updated other entries meanwhile.
	cur, err := ReadState(dir)
	if err != nil {
		return 0, err
	}
	cur.Node(id).PID = pn.PID
	return pn.PID, cur.Write()
}
