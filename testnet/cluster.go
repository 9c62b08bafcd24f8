package testnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ospnode/ospnode/consensus"
	"github.com/ospnode/ospnode/internal/faultnet"
	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node"
	"github.com/ospnode/ospnode/node/pki"
)

// TestRaft are the Raft timeouts of in-process networks: short enough for
// quick elections, long enough not to flap on two shared cores under -race.
var TestRaft = node.RaftTimeouts{
	HeartbeatTimeout:   200 * time.Millisecond,
	ElectionTimeout:    200 * time.Millisecond,
	LeaderLeaseTimeout: 150 * time.Millisecond,
	CommitTimeout:      5 * time.Millisecond,
	ApplyTimeout:       5 * time.Second,
	LeaderWait:         2 * time.Second,
}

// Options tunes how StartNetwork and StartTopology run nodes in-process.
// The zero value is usable except for Dir.
type Options struct {
	// Dir holds every node's data directory (<dir>/<network>/<node-id>)
	// and each network's shared CA (<dir>/<network>/pki). Required.
	Dir string
	// Raft overrides TestRaft when any field is set.
	Raft node.RaftTimeouts
	// Batch tunes group commit (zero: consensus defaults).
	Batch consensus.BatchConfig
	// Direct makes nodes advertise their own cluster address instead of a
	// faultnet proxy: Partition, Pause and SetDelay then fail with
	// ErrNoProxy. Benchmarks use it.
	Direct bool
	// Configure, if set, edits every node's Config before each Open
	// (after the testnet filled it in).
	Configure func(*node.Config)
	// Logger receives the nodes' logs (default: discard).
	Logger *slog.Logger
	// SeedTimeout bounds booting and seeding one network (default 60s).
	SeedTimeout time.Duration
}

// Sentinel errors of Network methods.
var (
	// ErrNodeDown: the node at that index is not running.
	ErrNodeDown = errors.New("testnet: node is down")
	// ErrNoProxy: the network runs with Options.Direct.
	ErrNoProxy = errors.New("testnet: network runs without fault proxies")
	// ErrNotConverged: the live nodes' digests differ at the deadline.
	ErrNotConverged = errors.New("testnet: replicas did not converge")
	// ErrUnbalanced: a node's ledger Audit reported problems.
	ErrUnbalanced = errors.New("testnet: books do not balance")
)

// server is one node slot of a Network: its identity, directories, fixed
// addresses and, while running, the node.
type server struct {
	index   int
	id      string
	dataDir string
	// Real bind addresses, kept so that a restart comes back on the same
	// ports (the advertised cluster address is the proxy's in any case).
	clusterBind, ospBind, adminBind string
	proxy                           *faultnet.Proxy
	n                               *node.Node
	// Fault state of the node (under Network.mu), applied to its inbound
	// proxy and to every link proxy it is an end of (see fault_links.go).
	cut    bool          // Partition: every link to and from the node is cut
	paused bool          // Pause: connections to the node are black-holed
	delay  time.Duration // SetDelay: connections to the node are slowed
}

// Network is one running in-process peering network: Nodes ospnode nodes
// replicating one ledger, each reachable by its peers through a faultnet
// proxy that the testnet owns (the node's advertised cluster address).
// Create it with StartNetwork; Close it. All methods are safe for
// concurrent use.
type Network struct {
	spec   NetworkSpec
	opts   Options
	dir    string
	pkiDir string
	caPEM  []byte
	log    *slog.Logger

	mu      sync.Mutex
	servers []*server
	links   map[linkKey]*faultnet.Proxy // per directed link src→dst, created on first dial
	closed  bool
}

// StartNetwork boots the network of spec in-process: it creates the
// network's CA, opens node 1 (bootstrapping) and then the others (joining
// through node 1), waits for a leader and proposes spec.Commands(). Nodes
// listen on 127.0.0.1 ephemeral ports. ctx bounds booting. On error every
// node started is closed.
func StartNetwork(ctx context.Context, spec NetworkSpec, opts Options) (*Network, error) {
	if err := spec.normalize(0); err != nil {
		return nil, err
	}
	nw, err := bootNetwork(ctx, spec, opts)
	if err != nil {
		return nil, err
	}
	if err := nw.seedAndSettle(ctx, spec.Commands()); err != nil {
		nw.Close()
		return nil, err
	}
	return nw, nil
}

// bootNetwork starts the nodes of a normalised spec without seeding.
func bootNetwork(ctx context.Context, spec NetworkSpec, opts Options) (_ *Network, err error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("%w: Options.Dir is required", ErrSpec)
	}
	if opts.Raft == (node.RaftTimeouts{}) {
		opts.Raft = TestRaft
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SeedTimeout <= 0 {
		opts.SeedTimeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, opts.SeedTimeout)
	defer cancel()
	dir := filepath.Join(opts.Dir, strings.ToLower(spec.Name))
	nw := &Network{spec: spec, opts: opts, dir: dir, pkiDir: filepath.Join(dir, "pki"),
		log: opts.Logger.With("network", spec.Name)}
	defer func() {
		if err != nil {
			nw.Close()
		}
	}()
	if nw.caPEM, err = ensureCA(nw.pkiDir, spec.Name); err != nil {
		return nil, err
	}
	for i := range spec.Nodes {
		s := &server{index: i, id: fmt.Sprintf("%s-%d", strings.ToLower(spec.Name), i+1)}
		s.dataDir = filepath.Join(dir, s.id)
		nw.mu.Lock() // running nodes' dialers read servers (fault_links.go)
		nw.servers = append(nw.servers, s)
		nw.mu.Unlock()
		if err := nw.startFresh(ctx, s, i == 0); err != nil {
			return nil, err
		}
	}
	if _, err := nw.WaitForLeader(ctx); err != nil {
		return nil, err
	}
	return nw, nil
}

// ensureCA creates the network's CA in dir unless one is there, and returns
// its certificate (PEM). Every node of the network uses dir as its PKIDir,
// so all sign tokens that validate with one CA certificate.
func ensureCA(dir, name string) ([]byte, error) {
	ca, err := pki.OpenCA(dir)
	if errors.Is(err, pki.ErrNoCA) {
		ca, err = pki.InitCA(dir, pki.CAOptions{CommonName: name + " testnet CA"})
	}
	if err != nil {
		return nil, fmt.Errorf("testnet: %s CA: %w", name, err)
	}
	return ca.CertPEM(), nil
}

// freePort reserves a port on 127.0.0.1 and releases it for the node to
// bind. The proxy in front of a node must know the node's address before
// the node advertises the proxy, hence the reservation; the window in which
// another process could take the port is a few microseconds.
//
// The port comes from below the kernel's ephemeral range when there is room
// (stablePorts): a node restarted on its old ports must find them free, and
// while it was down any outgoing connection (the other nodes' Raft links,
// the load generator) could have been given a freed ephemeral port as its
// local port for as long as it lives.
func freePort() (string, error) {
	lo, hi := stablePorts()
	for range 64 {
		if hi <= lo {
			break
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(lo+rand.IntN(hi-lo)))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken: try another
		}
		return addr, ln.Close()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("testnet: reserve port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// pinnedPort checks that port on 127.0.0.1 is free (listens, then
// releases it for the node) and returns its address.
func pinnedPort(port int) (string, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("testnet: port %d of the --base-port layout is taken: %w", port, err)
	}
	return addr, ln.Close()
}

// stablePorts returns [lo, hi): ports below the ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range) and above 10000, or an empty
// range where that cannot be read or leaves no room.
var stablePorts = sync.OnceValues(func() (int, int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0
	}
	low, err := strconv.Atoi(f[0])
	if err != nil || low <= 11000 {
		return 0, 0
	}
	return 10000, low
})

// startFresh opens a node with an empty data directory: bootstrapping, or
// joining the running members.
func (nw *Network) startFresh(ctx context.Context, s *server, bootstrap bool) error {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if err := nw.readdress(s, attempt); err != nil {
			return err
		}
		var join []string
		if !bootstrap {
			join = nw.liveClusterAddrs(s.index)
			if len(join) == 0 {
				return fmt.Errorf("testnet: %s: no running member to join", s.id)
			}
		}
		lastErr = nw.open(ctx, s, bootstrap, join)
		if lastErr == nil {
			return nil
		}
		if !strings.Contains(lastErr.Error(), "cluster listener") {
			return lastErr
		}
	}
	return lastErr
}

// readdress gives s its cluster address and inbound proxy (new ones on a
// retry), under nw.mu since running nodes' dialers read them.
func (nw *Network) readdress(s *server, attempt int) error {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if s.proxy != nil && s.n == nil && attempt > 0 {
		_ = s.proxy.Close()
		s.proxy = nil
	}
	if s.clusterBind == "" || attempt > 0 {
		addr, err := freePort()
		if err != nil {
			return err
		}
		s.clusterBind = addr
	}
	if !nw.opts.Direct && s.proxy == nil {
		p, err := faultnet.New(s.clusterBind)
		if err != nil {
			return err
		}
		s.proxy = p
	}
	return nil
}

// advertise is the cluster address peers use for s.
func (s *server) advertise() string {
	if s.proxy != nil {
		return s.proxy.Addr()
	}
	return s.clusterBind
}

// liveClusterAddrs returns the advertised cluster addresses of the running
// nodes other than skip.
func (nw *Network) liveClusterAddrs(skip int) []string {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	var out []string
	for _, s := range nw.servers {
		if s.index != skip && s.n != nil {
			out = append(out, s.advertise())
		}
	}
	return out
}

// open opens s's node on its fixed addresses.
func (nw *Network) open(ctx context.Context, s *server, bootstrap bool, join []string) error {
	// OSP and admin ports too must survive a Restart (see freePort).
	bind := func(a string) string {
		if a == "" {
			if p, err := freePort(); err == nil {
				return p
			}
			return "127.0.0.1:0"
		}
		return a
	}
	cfg := node.Config{
		NodeID:           s.id,
		DataDir:          s.dataDir,
		OSPAddr:          bind(s.ospBind),
		AdminAddr:        bind(s.adminBind),
		ClusterAddr:      s.clusterBind,
		ClusterAdvertise: s.advertise(),
		Bootstrap:        bootstrap,
		Join:             join,
		Batch:            nw.opts.Batch,
		Raft:             nw.opts.Raft,
		TokenKind:        nw.spec.tokenKind(),
		PKIDir:           nw.pkiDir,
		Logger:           nw.log.With("node", s.id),
	}
	if !nw.opts.Direct {
		cfg.ClusterDial = nw.dialer(s.index)
	}
	if nw.opts.Configure != nil {
		nw.opts.Configure(&cfg)
	}
	n, err := node.Open(ctx, cfg)
	for attempt := 0; err != nil && attempt < 3 && strings.Contains(err.Error(), "address already in use"); attempt++ {
		// Another process (a second test run on the machine) took the
		// OSP or admin port while the node was down. Only the cluster
		// address must stay (the Raft configuration names it): give the
		// others new ports; clients fail over as a toolkit does.
		switch {
		case strings.Contains(err.Error(), "admin listener"):
			cfg.AdminAddr = bind("")
		case strings.Contains(err.Error(), "osp listener"):
			cfg.OSPAddr = bind("")
		default:
			attempt = 3
			continue
		}
		n, err = node.Open(ctx, cfg)
	}
	if err != nil {
		return fmt.Errorf("testnet: open %s: %w", s.id, err)
	}
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if nw.closed {
		_ = n.Close()
		return fmt.Errorf("testnet: %s: network closed", s.id)
	}
	s.n = n
	s.ospBind = hostPort(n.OSPURL())
	s.adminBind = hostPort(n.AdminURL())
	return nil
}

// hostPort extracts host:port from "http://host:port/path".
func hostPort(u string) string {
	_, rest, ok := strings.Cut(u, "://")
	if !ok {
		return ""
	}
	hp, _, _ := strings.Cut(rest, "/")
	return hp
}

// seedAndSettle seeds cmds and waits (bounded by Options.SeedTimeout)
// until every node has applied them, so that each one routes from the
// seeded state as soon as the network is returned.
func (nw *Network) seedAndSettle(ctx context.Context, cmds []ledger.Command) error {
	ctx, cancel := context.WithTimeout(ctx, nw.opts.SeedTimeout)
	defer cancel()
	if err := nw.Seed(ctx, cmds); err != nil {
		return err
	}
	_, err := nw.WaitConverged(ctx)
	return err
}

// Seed proposes cmds in order through any running node, retrying a
// command while the cluster is unavailable (leader change) until ctx ends.
// A business rejection (Result.Err) fails the seed.
func (nw *Network) Seed(ctx context.Context, cmds []ledger.Command) error {
	for _, c := range cmds {
		res, err := nw.Propose(ctx, c)
		if err != nil {
			return fmt.Errorf("testnet: %s: seed %s: %w", nw.spec.Name, c.Type(), err)
		}
		if err := res.Err(); err != nil {
			return fmt.Errorf("testnet: %s: seed %s: %w", nw.spec.Name, c.Type(), err)
		}
	}
	return nil
}

// Propose proposes cmd through the leader (or any running node),
// retrying on node.ErrUnavailable until ctx ends. Seed-style commands are
// idempotent (they put records), so a retry after an unknown outcome is
// harmless; callers proposing non-idempotent commands should use a node's
// Propose directly.
func (nw *Network) Propose(ctx context.Context, cmd ledger.Command) (*ledger.Result, error) {
	var lastErr error = ErrNodeDown
	for {
		n := nw.Leader()
		if n == nil {
			if live := nw.Nodes(); len(live) > 0 {
				n = live[0]
			}
		}
		if n != nil {
			res, err := n.Propose(ctx, cmd)
			if err == nil || !errors.Is(err, node.ErrUnavailable) {
				return res, err
			}
			lastErr = err
		}
		if err := pause(ctx, 20*time.Millisecond); err != nil {
			return nil, fmt.Errorf("%w (last error: %w)", err, lastErr)
		}
	}
}

// pause waits d or until ctx ends (polling interval of the wait helpers).
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Name is the network id.
func (nw *Network) Name() string { return nw.spec.Name }

// Spec returns the normalised spec the network was started with.
func (nw *Network) Spec() NetworkSpec { return nw.spec }

// Size is the number of node slots (running or not).
func (nw *Network) Size() int { return len(nw.servers) }

// CACertPEM is the network's CA certificate (PEM): the trust anchor of
// every token its nodes sign.
func (nw *Network) CACertPEM() []byte { return append([]byte(nil), nw.caPEM...) }

// Node returns node i (0-based), or nil while it is down.
func (nw *Network) Node(i int) *node.Node {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if i < 0 || i >= len(nw.servers) {
		return nil
	}
	return nw.servers[i].n
}

// NodeID returns the Raft id of node slot i ("<network>-<i+1>").
func (nw *Network) NodeID(i int) string { return nw.servers[i].id }

// Nodes returns the running nodes in slot order.
func (nw *Network) Nodes() []*node.Node {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	var out []*node.Node
	for _, s := range nw.servers {
		if s.n != nil {
			out = append(out, s.n)
		}
	}
	return out
}

// Running returns the slot indexes of the running nodes.
func (nw *Network) Running() []int {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	var out []int
	for _, s := range nw.servers {
		if s.n != nil {
			out = append(out, s.index)
		}
	}
	return out
}

// LeaderIndex returns the slot of a running node that is the Raft leader,
// or -1.
func (nw *Network) LeaderIndex() int {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for _, s := range nw.servers {
		if s.n != nil && s.n.Consensus().IsLeader() {
			return s.index
		}
	}
	return -1
}

// Leader returns the running node that is the leader, or nil.
func (nw *Network) Leader() *node.Node {
	if i := nw.LeaderIndex(); i >= 0 {
		return nw.Node(i)
	}
	return nil
}

// Followers returns the running nodes that are not the leader.
func (nw *Network) Followers() []*node.Node {
	l := nw.Leader()
	var out []*node.Node
	for _, n := range nw.Nodes() {
		if n != l {
			out = append(out, n)
		}
	}
	return out
}

// WaitForLeader polls until a running node is the leader and every
// running node knows it, and returns its slot. It fails when ctx ends.
func (nw *Network) WaitForLeader(ctx context.Context) (int, error) {
	for {
		if i := nw.LeaderIndex(); i >= 0 {
			want := nw.servers[i].id
			agreed := true
			for _, n := range nw.Nodes() {
				if n.Consensus().Status().LeaderID != want {
					agreed = false
				}
			}
			if agreed {
				return i, nil
			}
		}
		if err := pause(ctx, 10*time.Millisecond); err != nil {
			return -1, fmt.Errorf("testnet: %s: wait for leader: %w", nw.spec.Name, err)
		}
	}
}

// WaitApplied polls until every running node's ledger has applied index
// (ledger.Store.AppliedIndex >= index) or ctx ends.
func (nw *Network) WaitApplied(ctx context.Context, index uint64) error {
	for {
		done := true
		for _, n := range nw.Nodes() {
			if n.Store().AppliedIndex() < index {
				done = false
			}
		}
		if done {
			return nil
		}
		if err := pause(ctx, 10*time.Millisecond); err != nil {
			return fmt.Errorf("testnet: %s: wait applied %d: %w", nw.spec.Name, index, err)
		}
	}
}

// WaitConverged waits until every running node holds the same ledger state:
// it passes a read barrier on each (so each has applied everything
// committed before the call), then polls until all ledger Digests are
// equal. It returns the common digest, or an error wrapping
// ErrNotConverged (with the differing digests) when ctx ends first.
func (nw *Network) WaitConverged(ctx context.Context) ([32]byte, error) {
	var last string
	for {
		for _, n := range nw.Nodes() {
			bctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_ = n.Consensus().Barrier(bctx) // best effort: a lagging node fails it and is polled below
			cancel()
		}
		var (
			first [32]byte
			same  = true
			desc  []string
		)
		nodes := nw.Nodes()
		for i, n := range nodes {
			d, err := n.Store().Digest()
			if err != nil {
				return first, fmt.Errorf("testnet: %s: digest of %s: %w", nw.spec.Name, n.ID(), err)
			}
			if i == 0 {
				first = d
			} else if d != first {
				same = false
			}
			desc = append(desc, fmt.Sprintf("%s=%x@%d", n.ID(), d[:6], n.Store().AppliedIndex()))
		}
		if same && len(nodes) > 0 {
			return first, nil
		}
		last = strings.Join(desc, " ")
		if err := pause(ctx, 20*time.Millisecond); err != nil {
			return first, fmt.Errorf("%w: %s: %s (%w)", ErrNotConverged, nw.spec.Name, last, err)
		}
	}
}

// AssertBooksBalance runs ledger.Store.Audit on every running node; it
// returns an error wrapping ErrUnbalanced listing the problems, or nil.
func (nw *Network) AssertBooksBalance() error {
	var errs []error
	for _, n := range nw.Nodes() {
		rep, err := n.Store().Audit()
		if err != nil {
			errs = append(errs, fmt.Errorf("testnet: audit %s: %w", n.ID(), err))
			continue
		}
		if !rep.OK {
			errs = append(errs, fmt.Errorf("%w: %s: %v", ErrUnbalanced, n.ID(), rep.Problems))
		}
	}
	return errors.Join(errs...)
}

// OSPURLs returns the OSP service-point URLs of the running nodes.
func (nw *Network) OSPURLs() []string {
	var out []string
	for _, n := range nw.Nodes() {
		out = append(out, n.OSPURL())
	}
	return out
}

// AllOSPURLs returns the OSP URLs of every slot, running or not (a
// restarted node comes back on the same port): what a peer network lists
// as service points.
func (nw *Network) AllOSPURLs() []string {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	var out []string
	for _, s := range nw.servers {
		out = append(out, "http://"+s.ospBind+"/osp")
	}
	return out
}

// AdminURL returns node i's admin API base URL ("" while it is down).
func (nw *Network) AdminURL(i int) string {
	if n := nw.Node(i); n != nil {
		return n.AdminURL()
	}
	return ""
}

// AdminToken returns node i's admin bearer token ("" while it is down).
func (nw *Network) AdminToken(i int) string {
	if n := nw.Node(i); n != nil {
		return n.AdminToken()
	}
	return ""
}

// ClusterAddr returns node i's advertised cluster address (its proxy's).
func (nw *Network) ClusterAddr(i int) string {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.servers[i].advertise()
}

// DataDir returns node i's data directory.
func (nw *Network) DataDir(i int) string { return nw.servers[i].dataDir }

// Close closes every node and proxy. It is idempotent.
func (nw *Network) Close() error {
	nw.mu.Lock()
	if nw.closed {
		nw.mu.Unlock()
		return nil
	}
	nw.closed = true
	servers := append([]*server(nil), nw.servers...)
	links := nw.links
	nw.links = nil
	nw.mu.Unlock()
	defer func() {
		for _, p := range links {
			_ = p.Close()
		}
	}()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nw.mu.Lock()
			n := s.n
			s.n = nil
			nw.mu.Unlock()
			if n != nil {
				if err := n.Close(); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("testnet: close %s: %w", s.id, err))
					mu.Unlock()
				}
			}
			if s.proxy != nil {
				_ = s.proxy.Close()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
