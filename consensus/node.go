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

	raft      *raft.Raft
	sm        StateMachine
	fsm       *fsm
	transport *raft.NetworkTransport
	store     *raftboltdb.BoltStore
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
	n := &Node{cfg: cfg, id: cfg.NodeID, log: cfg.Logger.With("node", cfg.NodeID), closing: make(chan struct{}), raftDown: make(chan struct{})}
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

	n.transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  raftStream{n.mux.subs[connRaft]},
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  hl.Named("transport"),
	})
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

// submitEntry is the leader batcher's submit: one raft log entry per batch.
func (n *Node) submitEntry(batch []*proposal, count int) {
	var cmds [][]byte
	if len(batch) == 1 {
		cmds = batch[0].cmds
	} else {
		cmds = make([][]byte, 0, count)
		for _, p := range batch {
			cmds = append(cmds, p.cmds...)
		}
	}
	n.entries.Add(1)
	n.commands.Add(uint64(count))
	n.hist.observe(count)
	n.entryWG.Add(1)
	// raft.Apply blocks until raft's main loop takes the entry (applyCh is
	// unbuffered, see Open), so it runs here rather than in the batcher loop;
	// entries from concurrent proposers have no order to keep.
	go func() {
		defer n.entryWG.Done()
		f := n.raft.Apply(encodeBatch(cmds), n.cfg.ApplyTimeout)
		err := n.waitEntry(f)
		var res applyResult
		if err == nil {
			res, _ = f.Response().(applyResult)
			switch {
			case res.err != nil:
				err = res.err
			case res.skipped || len(res.results) != count:
				err = fmt.Errorf("consensus: entry %d produced no results for its proposers", f.Index())
			}
		} else {
			err = mapRaftErr(err)
		}
		n.leaderB.complete()
		off := 0
		for _, p := range batch {
			if err != nil {
				p.finish(proposalResult{err: err})
				continue
			}
			p.finish(proposalResult{results: res.results[off : off+len(p.cmds)]})
			off += len(p.cmds)
		}
	}()
}

// waitEntry waits for an applied entry's future, or for raft to have shut
// down. raft v1.7.3 can strand a future: an entry handed to its FSM
// goroutine's queue is never answered when that goroutine exits on
// shutdown, and a log future, unlike raft's other futures, does not watch
// the shutdown channel. Close waits for every entry goroutine, so without
// this a leader closed while entries were being applied hung for ever. A
// stranded entry may have committed: ErrRaftShutdown maps to ErrClosed,
// whose contract says so. The helper goroutine of a stranded future stays
// parked (at most MaxInFlight per closed node).
func (n *Node) waitEntry(f raft.ApplyFuture) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-n.raftDown:
		select {
		case err := <-done:
			return err
		default:
			return raft.ErrRaftShutdown
		}
	}
}

// mapRaftErr translates raft's errors into this package's. Errors that
// guarantee nothing was appended wrap errNotAppended so Propose may retry.
func mapRaftErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress),
		errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %w: %w", ErrNotLeader, errNotAppended, err)
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%w: %w", ErrNoQuorum, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	default:
		return fmt.Errorf("consensus: %w", err)
	}
}

// submitForward is the follower batcher's submit: one RPC to the leader.
func (n *Node) submitForward(batch []*proposal, count int) {
	cmds := make([][]byte, 0, count)
	for _, p := range batch {
		cmds = append(cmds, p.cmds...)
	}
	n.forwardedOut.Add(uint64(count))
	n.entryWG.Add(1)
	go func() {
		defer n.entryWG.Done()
		results, err := n.forward(cmds)
		n.forwardB.complete()
		off := 0
		for _, p := range batch {
			if err != nil {
				p.finish(proposalResult{err: err})
				continue
			}
			p.finish(proposalResult{results: results[off : off+len(p.cmds)]})
			off += len(p.cmds)
		}
	}()
}

func (n *Node) forward(cmds [][]byte) ([][]byte, error) {
	addr, id := n.raft.LeaderWithID()
	if addr == "" || string(id) == n.id {
		// Leadership moved since the proposer looked: let it retry.
		return nil, fmt.Errorf("%w: leader changed", errNotAppended)
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
	defer cancel()
	var body wbuf
	body.uvarint(uint64(n.cfg.ApplyTimeout))
	body = appendCmds(body, cmds)
	out, err := n.rpcc.call(ctx, string(addr), rpcPropose, body)
	if err != nil {
		return nil, err
	}
	r := rbuf{b: out}
	res := r.cmds()
	if r.err != nil || len(res) != len(cmds) {
		return nil, fmt.Errorf("%w: bad forward response from %s", ErrNoQuorum, addr)
	}
	return res, nil
}

// opContext bounds ctx by ApplyTimeout.
func (n *Node) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, n.cfg.ApplyTimeout)
}

// Propose replicates cmd and returns the StateMachine's result for it. On the
// leader it goes through group commit; on a follower it is forwarded (and
// batched) to the leader. Success means the command committed and was applied
// on the leader. Failures that guarantee nothing was appended (no leader yet,
// leader moved) are retried until Config.LeaderWait; after that, ErrNoQuorum.
// After ErrTimeout, ErrNoQuorum or ErrClosed the command may still commit:
// callers make retries harmless with idempotency keys inside the command.
// Propose retains cmd (it may still be encoded or sent after an error
// return): the caller must not modify it afterwards.
func (n *Node) Propose(ctx context.Context, cmd []byte) ([]byte, error) {
	res, err := n.propose(ctx, [][]byte{cmd}, false)
	if err != nil {
		n.proposeErrors.Add(1)
		return nil, err
	}
	return res[0], nil
}

// propose submits cmds as one unit. leaderOnly is set for requests forwarded
// by a follower: this node must not forward them again.
func (n *Node) propose(ctx context.Context, cmds [][]byte, leaderOnly bool) ([][]byte, error) {
	if h := n.Halted(); h != nil {
		// A halted node's state is stale: it proposes nothing, and a
		// follower forwarding to it retries once leadership has moved.
		if leaderOnly {
			return nil, fmt.Errorf("%w: %w", errNotAppended, h)
		}
		return nil, h
	}
	ctx, cancel := n.opContext(ctx)
	defer cancel()
	retryUntil := time.Now().Add(n.cfg.LeaderWait)
	backoff := time.Millisecond
	for {
		if n.isClosing() {
			return nil, ErrClosed
		}
		addr, id := n.raft.LeaderWithID()
		var b *batcher
		switch {
		case string(id) == n.id && n.raft.State() == raft.Leader:
			b = n.leaderB
		case leaderOnly:
			return nil, fmt.Errorf("%w: %w", ErrNotLeader, errNotAppended)
		case addr != "":
			b = n.forwardB
		}
		var err error
		if b != nil {
			var res [][]byte
			res, err = n.await(ctx, b, newProposal(cmds))
			if err == nil {
				return res, nil
			}
			if !errors.Is(err, errNotAppended) || leaderOnly {
				return nil, err
			}
		} else {
			err = fmt.Errorf("%w: no leader known", ErrNoQuorum)
		}
		// Nothing was appended: wait a moment for a (new) leader and retry.
		if time.Now().After(retryUntil) {
			if errors.Is(err, ErrNoQuorum) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %w", ErrNoQuorum, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: %w", ErrNoQuorum, ctxErr(ctx))
		case <-n.closing:
			t.Stop()
			return nil, ErrClosed
		}
		backoff = min(2*backoff, 20*time.Millisecond)
	}
}

// await queues p on b and waits for its outcome.
func (n *Node) await(ctx context.Context, b *batcher, p *proposal) ([][]byte, error) {
	if !b.enqueue(p) {
		return nil, ErrClosed
	}
	select {
	case r := <-p.done:
		return r.results, r.err
	case <-ctx.Done():
		if p.cancel() {
			return nil, fmt.Errorf("%w: never submitted", ctxErr(ctx))
		}
		return nil, fmt.Errorf("%w: outcome unknown, the command may still commit", ctxErr(ctx))
	case <-n.closing:
		if p.cancel() {
			return nil, ErrClosed
		}
		// Submitted: wait for raft's shutdown to fail (or commit) it.
		select {
		case r := <-p.done:
			return r.results, r.err
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: outcome unknown, the command may still commit", ctxErr(ctx))
		}
	}
}

func (n *Node) isClosing() bool {
	select {
	case <-n.closing:
		return true
	default:
		return false
	}
}

// handleRPC serves the internal channel.
func (n *Node) handleRPC(ctx context.Context, from caller, typ byte, body []byte) ([]byte, error) {
	r := rbuf{b: body}
	if err := n.admitCaller(from, typ, body); err != nil {
		n.log.Warn("consensus: internal request refused", "type", typ, "err", err)
		return nil, err
	}
	timeout := time.Duration(r.uvarint())
	if timeout <= 0 || timeout > n.cfg.ApplyTimeout {
		timeout = n.cfg.ApplyTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch typ {
	case rpcPropose:
		cmds := r.cmds()
		if r.err != nil {
			return nil, r.err
		}
		if !n.IsLeader() {
			return nil, fmt.Errorf("%w: %s is not the leader", errNotAppended, n.id)
		}
		n.forwardedIn.Add(uint64(len(cmds)))
		res, err := n.propose(ctx, cmds, true)
		if err != nil {
			return nil, err
		}
		return appendCmds(nil, res), nil
	case rpcReadIndex:
		if !n.IsLeader() {
			return nil, fmt.Errorf("%w: %s is not the leader", errNotAppended, n.id)
		}
		idx, err := n.leaderBarrier(ctx)
		if err != nil {
			return nil, err
		}
		var out wbuf
		out.uvarint(idx)
		return out, nil
	case rpcJoin:
		id, addr := r.str(), r.str()
		if r.err != nil {
			return nil, r.err
		}
		return nil, n.Join(ctx, id, addr)
	case rpcRemove:
		id := r.str()
		if r.err != nil {
			return nil, r.err
		}
		return nil, n.Remove(ctx, id)
	case rpcTransfer:
		id := r.str()
		if r.err != nil {
			return nil, r.err
		}
		return nil, n.TransferLeadership(ctx, id)
	default:
		return nil, fmt.Errorf("consensus: unknown internal request type %d", typ)
	}
}

// admitCaller applies Config.PeerID's rule: with identities checked, only a
// server of the Raft configuration may use the internal channel, except that
// a node may ask to join as itself.
func (n *Node) admitCaller(from caller, typ byte, body []byte) error {
	if !from.checked {
		return nil
	}
	if from.err != nil {
		return fmt.Errorf("%w: internal request from an unidentified node: %v", ErrRefused, from.err)
	}
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return mapRaftErr(err)
	}
	if typ == rpcJoin {
		r := rbuf{b: body}
		r.uvarint()
		if id, addr := r.str(), r.str(); r.err == nil && id == from.id {
			if n.cfg.JoinAddr != nil {
				if err := n.cfg.JoinAddr(from.state, addr); err != nil {
					return fmt.Errorf("%w: node %q may not join at %s: %v", ErrRefused, id, addr, err)
				}
			}
			for _, s := range cf.Configuration().Servers {
				if string(s.Address) == addr && string(s.ID) != id {
					return fmt.Errorf("%w: node %q may not join at %s, the address of %q (remove %q first)", ErrRefused, id, addr, s.ID, s.ID)
				}
			}
			return nil
		}
	}
	for _, s := range cf.Configuration().Servers {
		if string(s.ID) == from.id {
			return nil
		}
	}
	return fmt.Errorf("%w: internal request from node %q, which is not in the Raft configuration", ErrRefused, from.id)
}

// leaderAddr waits (up to LeaderWait and ctx) for a known leader.
func (n *Node) leaderAddr(ctx context.Context) (addr, id string, err error) {
	deadline := time.Now().Add(n.cfg.LeaderWait)
	backoff := time.Millisecond
	for {
		a, i := n.raft.LeaderWithID()
		if a != "" {
			return string(a), string(i), nil
		}
		if n.isClosing() {
			return "", "", ErrClosed
		}
		if time.Now().After(deadline) {
			return "", "", fmt.Errorf("%w: no leader known", ErrNoQuorum)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return "", "", fmt.Errorf("%w: no leader known: %w", ErrNoQuorum, ctx.Err())
		case <-n.closing:
			t.Stop()
			return "", "", ErrClosed
		}
		backoff = min(2*backoff, 20*time.Millisecond)
	}
}

// leaderOp runs local on the leader, or sends the request to the leader.
// Not-appended answers (leadership moved) are retried until LeaderWait.
func (n *Node) leaderOp(ctx context.Context, typ byte, args []string, local func(time.Duration) error) error {
	ctx, cancel := n.opContext(ctx)
	defer cancel()
	retryUntil := time.Now().Add(n.cfg.LeaderWait)
	for {
		addr, id, err := n.leaderAddr(ctx)
		if err != nil {
			return err
		}
		if id == n.id {
			err = local(remaining(ctx, n.cfg.ApplyTimeout))
		} else {
			var body wbuf
			body.uvarint(uint64(remaining(ctx, n.cfg.ApplyTimeout)))
			for _, a := range args {
				body.str(a)
			}
			_, err = n.rpcc.call(ctx, addr, typ, body)
		}
		if err == nil || !errors.Is(err, errNotAppended) {
			return err
		}
		if time.Now().After(retryUntil) {
			return noQuorum(err)
		}
		t := time.NewTimer(5 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %w", ErrNoQuorum, ctxErr(ctx))
		}
	}
}

func remaining(ctx context.Context, def time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return max(time.Until(dl), time.Millisecond)
	}
	return def
}

// Barrier is a read barrier for linearizable reads: when it returns nil, the
// local StateMachine reflects every write committed before the call. The
// leader commits a no-op entry (shared by concurrent callers) to prove it
// still leads and to apply everything before it; a follower asks the leader
// for the resulting index and waits until it has applied that far.
// Errors: ErrNoQuorum, ErrTimeout, ErrClosed.
func (n *Node) Barrier(ctx context.Context) error {
	ctx, cancel := n.opContext(ctx)
	defer cancel()
	retryUntil := time.Now().Add(n.cfg.LeaderWait)
	for {
		addr, id, err := n.leaderAddr(ctx)
		if err != nil {
			return err
		}
		if id == n.id {
			_, err = n.leaderBarrier(ctx)
			if err == nil {
				return nil
			}
		} else {
			var body wbuf
			body.uvarint(uint64(remaining(ctx, n.cfg.ApplyTimeout)))
			var out []byte
			out, err = n.rpcc.call(ctx, addr, rpcReadIndex, body)
			if err == nil {
				r := rbuf{b: out}
				idx := r.uvarint()
				if r.err != nil {
					return fmt.Errorf("%w: bad read-index response from %s", ErrNoQuorum, addr)
				}
				return n.waitApplied(ctx, idx)
			}
		}
		if !errors.Is(err, errNotAppended) {
			return err
		}
		if time.Now().After(retryUntil) {
			return noQuorum(err)
		}
		t := time.NewTimer(5 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %w", ErrNoQuorum, ctxErr(ctx))
		}
	}
}

// barrierRound is one raft.Barrier shared by every caller that arrived
// before it started.
type barrierRound struct {
	done  chan struct{}
	index uint64
	err   error
}

// leaderBarrier runs (or joins) a raft.Barrier and returns the state
// machine's applied index after it.
func (n *Node) leaderBarrier(ctx context.Context) (uint64, error) {
	n.barrierMu.Lock()
	r := n.barrierNext
	if r == nil {
		r = &barrierRound{done: make(chan struct{})}
		n.barrierNext = r
	}
	if !n.barrierRunning {
		n.barrierRunning = true
		go n.runBarriers()
	}
	n.barrierMu.Unlock()
	select {
	case <-r.done:
		return r.index, r.err
	case <-ctx.Done():
		return 0, ctxErr(ctx)
	case <-n.closing:
		return 0, ErrClosed
	}
}

func (n *Node) runBarriers() {
	for {
		n.barrierMu.Lock()
		r := n.barrierNext
		n.barrierNext = nil
		if r == nil {
			n.barrierRunning = false
			n.barrierMu.Unlock()
			return
		}
		n.barrierMu.Unlock()
		if err := n.raft.Barrier(n.cfg.ApplyTimeout).Error(); err != nil {
			r.err = mapRaftErr(err)
		} else {
			// The state machine's index, not raft's: after the barrier
			// it holds every command before it, and it is the index a
			// follower's state machine reaches (raft's also counts
			// barrier and configuration entries, which the state machine
			// never sees).
			r.index = n.sm.AppliedIndex()
		}
		close(r.done)
	}
}

// WaitApplied waits until this node's state machine has applied the
// command entry at index, for a read that needs the effects of one known
// entry (the authorisation of a call whose usage reached another node)
// without a full Barrier: no leader round trip and no barrier entry, only
// the local apply of what the leader already committed. It returns at once
// when index is already applied.
//
// It watches the StateMachine's AppliedIndex, not raft's: raft v1.7.3
// advances its applied index when it hands entries to the FSM goroutine,
// before the FSM has applied them, so a read right after raft's index
// reached the entry could still miss its effects (a usage recorded unrated
// because its call's authorisation was not found yet). The state machine
// counts command entries only, so index must be one.
//
// An index this node's log cannot reach soon (more than MaxWaitAhead past
// its commit index: not an entry of this cluster) fails at once with
// ErrNotApplied; otherwise it waits until ctx ends (ErrTimeout) or the node
// closes (ErrClosed).
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	if n.sm.AppliedIndex() >= index {
		return nil
	}
	if index > n.raft.CommitIndex()+MaxWaitAhead {
		return fmt.Errorf("%w: index %d is past commit index %d", ErrNotApplied, index, n.raft.CommitIndex())
	}
	if err := n.waitApplied(ctx, index); err != nil {
		return fmt.Errorf("consensus: waiting for index %d: %w", index, err)
	}
	return nil
}

// MaxWaitAhead bounds how far past its commit index WaitApplied waits for.
const MaxWaitAhead = 1 << 16

// ErrNotApplied: WaitApplied was asked for an index that is not an entry
// this node will apply soon.
var ErrNotApplied = errors.New("consensus: index not applied")

// waitApplied polls the state machine's applied index until it reaches idx.
func (n *Node) waitApplied(ctx context.Context, idx uint64) error {
	backoff := 100 * time.Microsecond
	for n.sm.AppliedIndex() < idx {
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctxErr(ctx)
		case <-n.closing:
			t.Stop()
			return ErrClosed
		}
		backoff = min(2*backoff, 5*time.Millisecond)
	}
	return nil
}

// Join adds (or re-addresses) voter id at addr; a follower forwards it to the
// leader. Joining an existing voter with the same address is a no-op.
// Errors: ErrNoQuorum, ErrTimeout, ErrClosed, or raft's configuration error.
func (n *Node) Join(ctx context.Context, id, addr string) error {
	if id == "" || addr == "" {
		return errors.New("consensus: join: id and addr are required")
	}
	return n.leaderOp(ctx, rpcJoin, []string{id, addr}, func(timeout time.Duration) error {
		cf := n.raft.GetConfiguration()
		if err := cf.Error(); err != nil {
			return mapRaftErr(err)
		}
		for _, s := range cf.Configuration().Servers {
			if string(s.ID) == id || string(s.Address) == addr {
				if string(s.ID) == id && string(s.Address) == addr && s.Suffrage == raft.Voter {
					return nil
				}
				if err := n.raft.RemoveServer(s.ID, 0, timeout).Error(); err != nil {
					return fmt.Errorf("consensus: join %s: remove stale %s: %w", id, s.ID, mapRaftErr(err))
				}
			}
		}
		if err := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout).Error(); err != nil {
			return fmt.Errorf("consensus: join %s: %w", id, mapRaftErr(err))
		}
		n.log.Info("consensus: member joined", "id", id, "addr", addr)
		return nil
	})
}

// JoinCluster asks the member at seedAddr (any member; it forwards to the
// leader) to add this node as a voter, retrying transient failures until ctx
// ends (ErrTimeout) or ApplyTimeout passes. This is how `ospnode serve --join
// ADDR` works. Then the leader replicates its log (or a snapshot) here.
func (n *Node) JoinCluster(ctx context.Context, seedAddr string) error {
	ctx, cancel := n.opContext(ctx)
	defer cancel()
	backoff := 10 * time.Millisecond
	for {
		var body wbuf
		body.uvarint(uint64(remaining(ctx, n.cfg.ApplyTimeout)))
		body.str(n.id)
		body.str(n.advert)
		_, err := n.rpcc.call(ctx, seedAddr, rpcJoin, body)
		if err == nil {
			return nil
		}
		var rem *errRemote
		if errors.As(err, &rem) || errors.Is(err, ErrClosed) {
			return fmt.Errorf("consensus: join via %s: %w", seedAddr, err)
		}
		n.log.Debug("consensus: join attempt failed", "seed", seedAddr, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("consensus: join via %s: %w (last error: %w)", seedAddr, ctxErr(ctx), err)
		case <-n.closing:
			t.Stop()
			return ErrClosed
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// Remove removes server id from the cluster; a follower forwards it.
// Removing an unknown id is a no-op.
func (n *Node) Remove(ctx context.Context, id string) error {
	return n.leaderOp(ctx, rpcRemove, []string{id}, func(timeout time.Duration) error {
		if err := n.raft.RemoveServer(raft.ServerID(id), 0, timeout).Error(); err != nil {
			return fmt.Errorf("consensus: remove %s: %w", id, mapRaftErr(err))
		}
		return nil
	})
}

// TransferLeadership hands leadership to id ("" = any up-to-date voter); a
// follower forwards it to the leader.
func (n *Node) TransferLeadership(ctx context.Context, id string) error {
	return n.leaderOp(ctx, rpcTransfer, []string{id}, func(time.Duration) error {
		var f raft.Future
		if id == "" {
			f = n.raft.LeadershipTransfer()
		} else {
			cf := n.raft.GetConfiguration()
			if err := cf.Error(); err != nil {
				return mapRaftErr(err)
			}
			var addr raft.ServerAddress
			for _, s := range cf.Configuration().Servers {
				if string(s.ID) == id {
					addr = s.Address
				}
			}
			if addr == "" {
				return fmt.Errorf("consensus: transfer leadership: unknown server %q", id)
			}
			if id == n.id {
				return nil
			}
			f = n.raft.LeadershipTransferToServer(raft.ServerID(id), addr)
		}
		if err := f.Error(); err != nil {
			return fmt.Errorf("consensus: transfer leadership: %w", mapRaftErr(err))
		}
		return nil
	})
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

// noQuorum makes sure err matches ErrNoQuorum.
func noQuorum(err error) error {
	if errors.Is(err, ErrNoQuorum) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrNoQuorum, err)
}
