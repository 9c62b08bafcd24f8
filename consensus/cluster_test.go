package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ospnode/ospnode/internal/faultnet"
)

// Test timing: short enough for quick elections, long enough not to flap on
// two shared cores under -race.
const (
	tHeartbeat = 150 * time.Millisecond
	tElection  = 150 * time.Millisecond
	tLease     = 100 * time.Millisecond
	tCommit    = 5 * time.Millisecond
)

// testCluster runs nodes in-process. It is consensus's own minimal harness,
// kept on purpose: the module's one cluster harness is testnet's, but testnet
// imports node, which imports consensus, so this package's internal tests
// cannot import it (a cycle), and these tests need the internals (the mux,
// raft's log store, unexported counters). testnet also boots whole ledger
// nodes, while these run bare consensus nodes over a test state machine
// (kvSM). Anything with a ledger, OSP or several networks belongs on testnet.
//
// testCluster runs nodes in-process. Every node dials its peers through a
// faultnet proxy per directed link (src→dst), so a node can be cut off in
// both directions while the others keep talking.
type testCluster struct {
	t      testing.TB
	direct bool // dial peers directly, without faultnet (benchmarks)
	mem    bool // use memSM instead of the bbolt kvSM (benchmarks)
	noSync bool // kvSM commits without fsync (benchmarks)
	// everyEntry makes the kvSM commit every entry instead of deferring
	// commits by kvCommitInterval as ledger does (benchmarks compare both).
	everyEntry bool
	base       string
	opts       func(*Config)

	mu       sync.Mutex
	nodes    map[string]*testNode
	addrs    map[string]string // real listen address → node id
	links    map[[2]string]*faultnet.Proxy
	isolated map[string]bool
}

type testNode struct {
	id   string
	dir  string
	addr string
	sm   *kvSM
	n    *Node
}

func newTestCluster(t testing.TB, opts func(*Config)) *testCluster {
	c := &testCluster{t: t, base: t.TempDir(), opts: opts,
		nodes: map[string]*testNode{}, addrs: map[string]string{},
		links: map[[2]string]*faultnet.Proxy{}, isolated: map[string]bool{}}
	t.Cleanup(c.closeAll)
	return c
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("CONSENSUS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// start opens (or reopens, from its directory and on its old address) node id.
func (c *testCluster) start(id string, bootstrap bool) *testNode {
	c.t.Helper()
	c.mu.Lock()
	tn := c.nodes[id]
	if tn == nil {
		tn = &testNode{id: id, dir: filepath.Join(c.base, id)}
		c.nodes[id] = tn
	}
	c.mu.Unlock()
	if err := os.MkdirAll(tn.dir, 0o750); err != nil {
		c.t.Fatal(err)
	}
	bind := "127.0.0.1:0"
	if tn.addr != "" {
		bind = tn.addr // raft's configuration holds the old address
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		c.t.Fatalf("listen %s: %v", bind, err)
	}
	tn.addr = ln.Addr().String()
	c.mu.Lock()
	c.addrs[tn.addr] = id
	c.mu.Unlock()
	var sm *kvSM
	var machine StateMachine
	if c.mem {
		machine = newMemSM()
	} else {
		var err error
		if sm, err = openKVSync(filepath.Join(tn.dir, "state.db"), c.noSync); err != nil {
			c.t.Fatal(err)
		}
		if !c.everyEntry {
			sm.interval = kvCommitInterval
		}
		machine = sm
	}
	cfg := Config{
		NodeID: id, Dir: filepath.Join(tn.dir, "raft"), Listener: ln, Bootstrap: bootstrap,
		Logger:           testLogger(c.t).With("test_node", id),
		HeartbeatTimeout: tHeartbeat, ElectionTimeout: tElection,
		LeaderLeaseTimeout: tLease, CommitTimeout: tCommit,
		ApplyTimeout: 10 * time.Second,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			p, err := c.link(id, addr)
			if err != nil {
				return nil, err
			}
			var d net.Dialer
			return d.DialContext(ctx, network, p)
		},
	}
	if c.opts != nil {
		c.opts(&cfg)
	}
	n, err := Open(cfg, machine)
	if err != nil {
		if sm != nil {
			sm.Close()
		}
		c.t.Fatalf("open %s: %v", id, err)
	}
	c.mu.Lock()
	tn.sm, tn.n = sm, n
	cp := *tn
	c.mu.Unlock()
	return &cp
}

// link returns the proxy address for src dialling addr (lazily created).
func (c *testCluster) link(src, addr string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	dst, ok := c.addrs[addr]
	if !ok || c.direct {
		return addr, nil
	}
	k := [2]string{src, dst}
	if p := c.links[k]; p != nil {
		return p.Addr(), nil
	}
	p, err := faultnet.New(addr)
	if err != nil {
		return "", err
	}
	if c.isolated[src] || c.isolated[dst] {
		p.Partition()
	}
	c.links[k] = p
	return p.Addr(), nil
}

// isolate cuts every link to and from id (true) or heals them (false).
func (c *testCluster) isolate(id string, on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.isolated[id] = on
	for k, p := range c.links {
		if k[0] == id || k[1] == id {
			if on {
				p.Partition()
			} else if !c.isolated[k[0]] && !c.isolated[k[1]] {
				p.Heal()
			}
		}
	}
}

// stop closes node id (its directory stays for a restart).
func (c *testCluster) stop(id string) {
	c.t.Helper()
	c.mu.Lock()
	tn := c.nodes[id]
	n, sm := tn.n, tn.sm
	tn.n = nil
	c.mu.Unlock()
	if err := n.Close(); err != nil {
		c.t.Errorf("close %s: %v", id, err)
	}
	if sm == nil {
		return
	}
	if err := sm.Close(); err != nil {
		c.t.Errorf("close state %s: %v", id, err)
	}
}

// node returns a copy of node id's current state (n is nil when stopped).
func (c *testCluster) node(id string) *testNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := *c.nodes[id]
	return &cp
}

func (c *testCluster) running() []*testNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*testNode
	for _, tn := range c.nodes {
		if tn.n != nil {
			cp := *tn
			out = append(out, &cp)
		}
	}
	return out
}

func (c *testCluster) closeAll() {
	for _, tn := range c.running() {
		c.stop(tn.id)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.links {
		p.Close()
	}
}

// boot starts ids[0] as a bootstrapped single node and joins the others.
func (c *testCluster) boot(ids ...string) {
	c.t.Helper()
	first := c.start(ids[0], true)
	c.waitLeader(first.id)
	for _, id := range ids[1:] {
		tn := c.start(id, false)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := tn.n.JoinCluster(ctx, first.addr)
		cancel()
		if err != nil {
			c.t.Fatalf("join %s: %v", id, err)
		}
	}
	c.eventually(20*time.Second, "all members see one leader", func() error {
		l := c.leader()
		if l == nil {
			return fmt.Errorf("no leader")
		}
		for _, tn := range c.running() {
			if st := tn.n.Status(); st.LeaderID != l.id || len(st.Members) != len(ids) {
				return fmt.Errorf("%s: leader %q, %d members", tn.id, st.LeaderID, len(st.Members))
			}
		}
		return nil
	})
}

// leader returns the running node that is leader, or nil.
func (c *testCluster) leader() *testNode {
	for _, tn := range c.running() {
		if tn.n.IsLeader() {
			return tn
		}
	}
	return nil
}

func (c *testCluster) waitLeader(among ...string) *testNode {
	c.t.Helper()
	var l *testNode
	c.eventually(20*time.Second, "a leader", func() error {
		l = c.leader()
		if l == nil {
			return fmt.Errorf("no leader")
		}
		if len(among) > 0 {
			for _, id := range among {
				if id == l.id {
					return nil
				}
			}
			return fmt.Errorf("leader %s not among %v", l.id, among)
		}
		return nil
	})
	return l
}

// converged waits until every running node has applied the same state.
func (c *testCluster) converged(timeout time.Duration) kvView {
	c.t.Helper()
	var v kvView
	c.eventually(timeout, "digests converge", func() error {
		nodes := c.running()
		v = nodes[0].sm.view()
		for _, tn := range nodes[1:] {
			if w := tn.sm.view(); w != v {
				return fmt.Errorf("%s %+v != %s %+v (%s vs %s: %s)", tn.id, w, nodes[0].id, v,
					nodes[0].id, tn.id, nodes[0].sm.firstDifference(tn.sm))
			}
		}
		return nil
	})
	return v
}

// eventually polls cond until it returns nil or timeout passes.
func (c *testCluster) eventually(timeout time.Duration, what string, cond func() error) {
	c.t.Helper()
	eventually(c.t, timeout, what, cond)
}

func eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
		}
		<-tick.C
	}
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// mayHaveCommitted reports whether err is one of Propose's "the command may
// still commit" answers (see DESIGN.md, "What an error means for the caller").
func mayHaveCommitted(err error) bool {
	return errors.Is(err, ErrNoQuorum) || errors.Is(err, ErrTimeout)
}

// proposeAcked proposes cmd through tn until it is known to be committed and
// returns the state machine's result, or nil when the commit was learned by
// reading rather than from an answer. It answers the "may still commit"
// errors as ledger's callers do with their idempotency keys: a read barrier
// on tn, then a look for the key (kvSM's commands are their own keys), and
// only if it is not there a new proposal. After a successful barrier the look
// is final: an entry a lost leader left behind is either before the new
// leader's barrier entry (applied) or never commits. So a leadership change
// under load (a 100 ms lease on two busy cores) costs the test a retry, never
// a failure and never a command applied twice.
func (c *testCluster) proposeAcked(ctx context.Context, tn *testNode, cmd []byte) []byte {
	c.t.Helper()
	for {
		res, err := tn.n.Propose(ctx, cmd)
		if err == nil {
			return res
		}
		if !mayHaveCommitted(err) || ctx.Err() != nil {
			c.t.Fatalf("propose %q on %s: %v", cmd, tn.id, err)
		}
		c.t.Logf("propose %q on %s: %v; reading whether it committed", cmd, tn.id, err)
		c.barrier(ctx, tn)
		if tn.sm.has(string(cmd)) {
			return nil
		}
	}
}

// barrier runs a read barrier on tn, retrying ErrNoQuorum (no leader within
// LeaderWait: an election on a busy machine can take longer) until ctx ends.
func (c *testCluster) barrier(ctx context.Context, tn *testNode) {
	c.t.Helper()
	for {
		err := tn.n.Barrier(ctx)
		if err == nil {
			return
		}
		if !mayHaveCommitted(err) || ctx.Err() != nil {
			c.t.Fatalf("barrier on %s: %v", tn.id, err)
		}
	}
}

// leaderAndFollower returns the current leader and one of its followers,
// both running and agreeing on who leads, or an error while there is none.
func (c *testCluster) leaderAndFollower() (l, f *testNode, err error) {
	l = c.leader()
	if l == nil {
		return nil, nil, errors.New("no leader")
	}
	for _, tn := range c.running() {
		if tn.id != l.id && tn.n.Status().LeaderID == l.id {
			return l, tn, nil
		}
	}
	return nil, nil, fmt.Errorf("no follower of %s", l.id)
}
