package consensus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Node is one member of a Raft cluster replicating a StateMachine. All methods
// are safe for concurrent use. A Node is created by Open and ends with Close;
// the zero value is not usable.
type Node struct {
	cfg    Config
	id     string
	advert string
	log    *slog.Logger

	raft *raft.Raft
	sm   StateMachine
	fsm  *fsm
	// raftSet is closed once Open has stored raft (the FSM may run before).
	raftSet   chan struct{}
	transport *commitClampTransport
	store     *raftboltdb.BoltStore
	snaps     raft.SnapshotStore
	mux       *mux
	rpcc      *rpcClient
	rpcs      *rpcServer

	leaderB  *batcher // group commit into raft log entries (used while leader)
	forwardB *batcher // group forwarding to the leader (used while follower)
	entryWG  sync.WaitGroup

	barrierMu      sync.Mutex
	barrierNext    *barrierRound
	barrierRunning bool

	hist          histogram
	entries       atomic.Uint64
	commands      atomic.Uint64
	forwardedOut  atomic.Uint64
	forwardedIn   atomic.Uint64
	proposeErrors atomic.Uint64

	closing chan struct{}
	// raftDown is closed once raft.Shutdown has returned (see waitEntry).
	raftDown  chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// fill applies defaults to cfg.
func (cfg *Config) fill() {
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = time.Second
	}
	if cfg.ElectionTimeout <= 0 {
		cfg.ElectionTimeout = max(time.Second, cfg.HeartbeatTimeout)
	}
	if cfg.LeaderLeaseTimeout <= 0 {
		cfg.LeaderLeaseTimeout = min(500*time.Millisecond, cfg.HeartbeatTimeout)
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = min(50*time.Millisecond, cfg.HeartbeatTimeout)
	}
	if cfg.SnapshotThreshold == 0 {
		cfg.SnapshotThreshold = 8192
	}
	if cfg.SnapshotInterval <= 0 {
		cfg.SnapshotInterval = 2 * time.Minute
	}
	if cfg.TrailingLogs == 0 {
		cfg.TrailingLogs = 10240
	}
	if cfg.ApplyTimeout <= 0 {
		cfg.ApplyTimeout = 10 * time.Second
	}
	if cfg.LeaderWait <= 0 {
		cfg.LeaderWait = 3 * cfg.ElectionTimeout
	}
	if cfg.Batch.MaxCommands <= 0 {
		cfg.Batch.MaxCommands = 512
	}
	if cfg.Batch.MaxBytes <= 0 {
		cfg.Batch.MaxBytes = 1 << 20
	}
	if cfg.Batch.MaxWait <= 0 {
		cfg.Batch.MaxWait = 500 * time.Microsecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
}

// Open starts a node: it opens (or creates) the Raft state in cfg.Dir, starts
// listening, bootstraps a single-node cluster if cfg.Bootstrap and the
// directory is fresh, and serves Raft and the internal channel on one
// listener.
//
// Restart semantics: raft runs with NoSnapshotRestoreOnStart, so the on-disk
// StateMachine is kept and raft replays only the log after the last snapshot,
// which the FSM adapter skips up to sm.AppliedIndex(). If sm is behind the
// latest local snapshot (its data was lost), that snapshot is restored into
// sm first. Errors: invalid config, unusable Dir, listen failures; on any
// error cfg.Listener (if given) is closed.
func Open(cfg Config, sm StateMachine) (*Node, error) {
	if cfg.NodeID == "" {
		return nil, errors.New("consensus: config: NodeID is required")
	}
	if cfg.Dir == "" {
		return nil, errors.New("consensus: config: Dir is required")
	}
	if sm == nil {
		return nil, errors.New("consensus: state machine is nil")
	}
	cfg.fill()
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("consensus: create dir: %w", err)
	}
	n := &Node{cfg: cfg, id: cfg.NodeID, log: cfg.Logger.With("node", cfg.NodeID), closing: make(chan struct{}), raftDown: make(chan struct{}), raftSet: make(chan struct{})}
	hl := newHclog(cfg.Logger.With("node", cfg.NodeID), "raft")

	var cleanup []func()
	fail := func(err error) (*Node, error) {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
		if cfg.Listener != nil {
			cfg.Listener.Close() // owned by the node from the call on
		}
		return nil, err
	}

	store, err := raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(cfg.Dir, "raft.db"),
		// The log store deletes old entries after every snapshot, so its
		// freelist is large; by default bbolt rewrites the whole freelist on
		// every commit (every StoreLogs). Not persisting it (rebuilt by a
		// scan at open) and keeping it in a hashmap is what etcd does and
		// what Consul offers as raft_boltdb.NoFreelistSync.
		//
		// InitialMmapSize: bbolt remaps the file each time it outgrows the
		// mapping (doubling from 32 KiB), and a remap waits for every read
		// transaction and blocks every write, here StoreLogs on the commit
		// path. Reserving the address space up front (etcd reserves 10 GiB)
		// removes a dozen such stalls from a new node's first minutes.
		BoltOptions: &bbolt.Options{NoFreelistSync: true, FreelistType: bbolt.FreelistMapType,
			InitialMmapSize: raftLogMmapSize},
	})
	if err != nil {
		return fail(fmt.Errorf("consensus: open raft log: %w", err))
	}
	cleanup = append(cleanup, func() { store.Close() })
	n.store = store
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hl.Named("snapshots"))
	if err != nil {
		return fail(fmt.Errorf("consensus: open snapshot store: %w", err))
	}
	n.snaps = snaps
	if err := catchUpFromSnapshot(snaps, sm, n.log); err != nil {
		return fail(err)
	}

	ln := cfg.Listener
	if ln == nil {
		addr := cfg.BindAddr
		if addr == "" {
			return fail(errors.New("consensus: config: Listener or BindAddr is required"))
		}
		if ln, err = net.Listen("tcp", addr); err != nil {
			return fail(fmt.Errorf("consensus: listen: %w", err))
		}
	}
	n.advert = cfg.Advertise
	if n.advert == "" {
		n.advert = ln.Addr().String()
	}
	n.mux = newMux(ln, cfg.TLS, tcpAddr(n.advert), n.log)
	n.mux.dialFn = cfg.Dial
	n.mux.serve()
	cleanup = append(cleanup, func() { n.mux.close() })

	n.transport = newCommitClampTransport(raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  raftStream{n.mux.subs[connRaft]},
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  hl.Named("transport"),
	}))
	cleanup = append(cleanup, func() { n.transport.Close() })

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.Logger = hl
	// Our on-disk StateMachine survives restarts; reloading a snapshot over it
	// would only waste time (and regress it to the snapshot's index).
	rc.NoSnapshotRestoreOnStart = true
	// BatchApplyCh stays off: with a buffered applyCh, an entry still queued
	// when raft shuts down is never answered and its proposer would hang.
	// Unbuffered, raft's leader loop still gathers concurrent Apply calls
	// into one log-store write, and group commit happens before raft anyway.
	rc.BatchApplyCh = false
	rc.MaxAppendEntries = 128
	rc.NoLegacyTelemetry = true
	if err := raft.ValidateConfig(rc); err != nil {
		return fail(fmt.Errorf("consensus: raft config: %w", err))
	}

	if cfg.Bootstrap {
		has, err := raft.HasExistingState(store, store, snaps)
		if err != nil {
			return fail(fmt.Errorf("consensus: inspect raft state: %w", err))
		}
		if !has {
			conf := raft.Configuration{Servers: []raft.Server{{
				Suffrage: raft.Voter, ID: raft.ServerID(cfg.NodeID), Address: raft.ServerAddress(n.advert),
			}}}
			if err := raft.BootstrapCluster(rc, store, store, snaps, n.transport, conf); err != nil {
				return fail(fmt.Errorf("consensus: bootstrap: %w", err))
			}
		}
	}

	n.sm = sm
	n.fsm = &fsm{sm: sm, log: n.log, onHalt: n.handOff}
	r, err := raft.NewRaft(rc, n.fsm, store, store, snaps, n.transport)
	if err != nil {
		return fail(fmt.Errorf("consensus: start raft: %w", err))
	}
	n.raft = r
	close(n.raftSet)

	n.rpcc = &rpcClient{m: n.mux, dialTimeout: max(cfg.HeartbeatTimeout, time.Second), conns: map[string]*clientConn{}}
	ctx, cancel := context.WithCancel(context.Background())
	n.rpcs = &rpcServer{ln: n.mux.subs[connInternal], handle: n.handleRPC, peerID: cfg.PeerID, log: n.log, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
	n.rpcs.serve()

	n.leaderB = newBatcher(cfg.Batch, n.submitEntry)
	fwd := cfg.Batch
	fwd.MaxInFlight = cfg.Batch.ForwardMaxInFlight
	if fwd.MaxInFlight <= 0 {
		fwd.MaxInFlight = defaultForwardInFlight
	}
	n.forwardB = newBatcher(fwd, n.submitForward)
	n.log.Info("consensus: node started", "addr", n.advert, "dir", cfg.Dir, "applied", sm.AppliedIndex())
	return n, nil
}

// raftLogMmapSize is the address space reserved for raft.db; it grows by
// remapping past it.
const raftLogMmapSize = 256 << 20

// defaultForwardInFlight is BatchConfig.ForwardMaxInFlight's default.
const defaultForwardInFlight = 8

// catchUpFromSnapshot restores the latest local snapshot into sm when sm is
// behind it (for example its files were lost): with NoSnapshotRestoreOnStart
// raft would otherwise start applying after the snapshot's index.
func catchUpFromSnapshot(snaps raft.SnapshotStore, sm StateMachine, log *slog.Logger) error {
	list, err := snaps.List()
	if err != nil {
		return fmt.Errorf("consensus: list snapshots: %w", err)
	}
	if len(list) == 0 || list[0].Index <= sm.AppliedIndex() {
		return nil
	}
	meta, rc, err := snaps.Open(list[0].ID)
	if err != nil {
		return fmt.Errorf("consensus: open snapshot %s: %w", list[0].ID, err)
	}
	defer rc.Close()
	log.Warn("consensus: state machine is behind the latest snapshot; restoring it",
		"applied", sm.AppliedIndex(), "snapshot_index", meta.Index)
	if err := sm.Restore(rc); err != nil {
		return fmt.Errorf("consensus: restore snapshot %s: %w", meta.ID, err)
	}
	return nil
}

func (n *Node) isClosing() bool {
	select {
	case <-n.closing:
		return true
	default:
		return false
	}
}

// Status reports this node's view of the cluster.
func (n *Node) Status() Status {
	addr, id := n.raft.LeaderWithID()
	st := Status{
		ID:           n.id,
		Addr:         n.advert,
		State:        n.raft.State().String(),
		LeaderID:     string(id),
		LeaderAddr:   string(addr),
		Term:         n.raft.CurrentTerm(),
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.raft.AppliedIndex(),
	}
	if st.State != raft.Leader.String() {
		st.LastContact = n.raft.LastContact()
	}
	if h := n.Halted(); h != nil {
		st.Halted = h.Error()
	}
	if cf := n.raft.GetConfiguration(); cf.Error() == nil {
		for _, s := range cf.Configuration().Servers {
			st.Members = append(st.Members, Member{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter})
		}
	}
	return st
}

// Halted returns why this node stopped applying its log (a *HaltError), or
// nil. A halted node keeps its Raft log and its vote but applies nothing;
// see fsm.Apply.
func (n *Node) Halted() *HaltError {
	if n.fsm == nil {
		return nil
	}
	return n.fsm.halt.Load()
}

// handOff is the fsm's onHalt: a halted leader hands leadership to a
// follower that can still apply (raft picks the most up-to-date one), so
// the cluster keeps serving. Best effort: a single node has no one to
// hand it to.
func (n *Node) handOff(h *HaltError) {
	// The FSM can halt while raft replays the log inside raft.NewRaft,
	// before Open has stored n.raft.
	select {
	case <-n.raftSet:
	case <-n.closing:
		return
	}
	if n.isClosing() || !n.IsLeader() {
		return
	}
	if err := n.raft.LeadershipTransfer().Error(); err != nil {
		n.log.Warn("consensus: halted leader could not hand leadership over", "err", err, "halted_at", h.Index)
	}
}

// IsLeader reports whether this node is currently the leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// WaitForLeader blocks until some leader is known or ctx ends (ErrNoQuorum
// wrapping ctx's error) or the node closes (ErrClosed).
func (n *Node) WaitForLeader(ctx context.Context) error {
	backoff := time.Millisecond
	for {
		if a, _ := n.raft.LeaderWithID(); a != "" {
			return nil
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: no leader: %w", ErrNoQuorum, ctx.Err())
		case <-n.closing:
			t.Stop()
			return ErrClosed
		}
		backoff = min(2*backoff, 20*time.Millisecond)
	}
}

// Stats returns group-commit and forwarding counters.
func (n *Node) Stats() Stats {
	return Stats{
		Entries:       n.entries.Load(),
		Commands:      n.commands.Load(),
		BatchSizes:    n.hist.buckets(),
		BatchSizeSum:  n.hist.sum.Load(),
		ForwardedOut:  n.forwardedOut.Load(),
		ForwardedIn:   n.forwardedIn.Load(),
		ProposeErrors: n.proposeErrors.Load(),
	}
}

// Close shuts the node down: queued proposals fail with ErrClosed, submitted
// ones with raft's shutdown (ErrClosed; they may have committed), raft stops,
// and the listener and stores are closed. It is idempotent and returns the
// first error of the first call.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		close(n.closing)
		n.leaderB.stop(ErrClosed)
		n.forwardB.stop(ErrClosed)
		var errs []error
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
		}
		close(n.raftDown)
		n.rpcc.close()
		n.rpcs.close()
		n.entryWG.Wait()
		if err := n.transport.Close(); err != nil {
			errs = append(errs, fmt.Errorf("transport: %w", err))
		}
		if err := n.mux.close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("listener: %w", err))
		}
		if err := n.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("raft log: %w", err))
		}
		if len(errs) > 0 {
			n.closeErr = fmt.Errorf("consensus: close: %w", errors.Join(errs...))
		}
		n.log.Info("consensus: node closed")
	})
	return n.closeErr
}

var _ io.Closer = (*Node)(nil)
