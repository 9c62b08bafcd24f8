package consensus

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"time"
)

// StateMachine is what consensus replicates. ledger.Store satisfies it
// structurally; consensus never imports ledger.
//
// raft calls ApplyBatch, Snapshot and Restore from one goroutine, never
// concurrently with each other. AppliedIndex may be called from any goroutine.
type StateMachine interface {
	// ApplyBatch applies the commands of one Raft log entry at index, in one
	// storage transaction, and returns exactly one result per command (a nil
	// result is a valid empty result). It must be deterministic. It must skip
	// (return nil) an index <= AppliedIndex(), because on restart raft replays
	// the entries after the last snapshot, which the on-disk state already holds.
	// A business rejection is a result, not a panic.
	ApplyBatch(index uint64, cmds [][]byte) [][]byte
	// AppliedIndex is the highest log index whose effects are durable in the
	// state machine (0 for an empty one).
	AppliedIndex() uint64
	// Snapshot captures a point-in-time view quickly; the I/O happens in
	// Snapshot.Persist, possibly concurrently with later ApplyBatch calls.
	Snapshot() (Snapshot, error)
	// Restore replaces all state with the stream's (written by Persist). After
	// it returns, AppliedIndex reports the index the snapshot was taken at.
	Restore(r io.Reader) error
}

// Snapshot is a point-in-time view of a StateMachine.
type Snapshot interface {
	// Persist writes the view to w and reports the first write error.
	Persist(w io.Writer) error
	// Release frees the view; it is called exactly once, after Persist.
	Release()
}

// Errors returned by Node methods. Callers map all four to an OSP "try the next
// server" status (503). Errors are wrapped with context: use errors.Is.
//
// Whether a failed Propose committed: only ErrNotLeader and a failure before
// the command left the caller's node guarantee it did not. After ErrTimeout,
// ErrNoQuorum (leadership lost mid-commit, leader unreachable after sending) or
// ErrClosed the command MAY still commit later; callers rely on idempotency
// keys inside the command to make a retry harmless.
var (
	// ErrNoQuorum: no leader is known (within Config.LeaderWait), the leader is
	// unreachable, or the leader lost leadership before the command committed.
	ErrNoQuorum = errors.New("consensus: no quorum")
	// ErrNotLeader: the operation needs the leader, this node is not the
	// leader, and forwarding was not possible. The command was not appended.
	ErrNotLeader = errors.New("consensus: not the leader")
	// ErrClosed: the node is closed (or closing).
	ErrClosed = errors.New("consensus: node closed")
	// ErrTimeout: the context's deadline or Config.ApplyTimeout passed (or the
	// context was cancelled; errors.Is(err, context.Canceled) tells) before
	// the outcome was known; the command may still commit.
	ErrTimeout = errors.New("consensus: timeout")
	// ErrRefused: an internal-channel request from a node that Config.PeerID
	// does not admit (not in the Raft configuration, or joining under
	// another node's ID). The remote side sees it as a remote error.
	ErrRefused = errors.New("consensus: refused")
	// ErrHalted: this node stopped applying its log at an entry it cannot
	// apply (Node.Halted returns the *HaltError naming it). Proposals whose
	// entries this node cannot apply get it; the node needs an operator.
	ErrHalted = errors.New("consensus: halted")
)

// BatchConfig tunes group commit: commands proposed concurrently are carried
// by one Raft log entry and applied by one StateMachine.ApplyBatch call.
// The zero value selects the defaults.
type BatchConfig struct {
	// MaxCommands per log entry (default 512).
	MaxCommands int
	// MaxBytes of command payload per log entry (default 1 MiB). A single
	// larger command still goes alone in its own entry.
	MaxBytes int
	// MaxWait bounds how long a batch may wait for more commands while an
	// earlier entry is still being committed (default 500µs). When nothing is
	// in flight a batch is flushed at once, so a lone proposer never waits.
	MaxWait time.Duration
	// MaxInFlight bounds the log entries proposed but not yet applied (the
	// pipeline depth, default 2); while it is reached, the next batch grows.
	MaxInFlight int
	// ForwardMaxInFlight bounds a follower's forwarding RPCs awaiting the
	// leader's answer (default 8). Each one lasts a whole leader cycle
	// (its queue, the commit, two network hops), so at MaxInFlight's depth
	// of 2 a command reaching a follower just after two RPCs left waited
	// most of a cycle before being sent; the leader's batcher merges the
	// smaller forwarded batches into its entries anyway. On the 3-node
	// benchmark, 8 cut the follower's queueing from 3.3 ms to 0.7 ms at
	// the median and from 15.5 ms to 7.9 ms at p99 (BENCH.md).
	ForwardMaxInFlight int
	// Disabled sends one log entry per command (for comparison only).
	Disabled bool
}

// Config configures Open. Zero durations select the defaults given per field.
type Config struct {
	// NodeID is the stable Raft server ID of this node (required).
	NodeID string
	// Dir holds raft.db (raft-boltdb/v2 log and stable store) and snapshots/
	// (required; created if missing).
	Dir string

	// Listener is the node's one TCP listener, carrying Raft and the internal
	// channel. If nil, Open listens on BindAddr. Close closes it either way.
	Listener net.Listener
	// BindAddr is used when Listener is nil ("127.0.0.1:0" in tests).
	BindAddr string
	// Advertise is the address peers dial to reach this node (default: the
	// listener's address). Tests put a faultnet proxy address here.
	Advertise string
	// TLS, when set, wraps every connection between nodes in mutual TLS: it is
	// used as the server config on accepted connections and (cloned, with
	// ServerName defaulted to the dialled host) as the client config.
	TLS *tls.Config
	// PeerID, when set with TLS, names the node at the other end of an
	// accepted internal-channel connection from its verified TLS state (the
	// node identity of its certificate), and the internal channel admits
	// only members of the Raft configuration: forwarded proposals, read
	// index, remove and transfer from a server of the configuration, a join
	// from the joining node itself (its identity equals the join's ID) or
	// from a server forwarding it. An error, or an empty ID, refuses the
	// connection's requests. Nil: no identity checks (plain TCP on
	// loopback, or TLS without node identities).
	PeerID func(tls.ConnectionState) (string, error)
	// JoinAddr, when set with PeerID, vets the address a node asks to join
	// at as itself (for example: the host is one its certificate names), so
	// that a node cannot direct Raft traffic to an address that is not its
	// own. A join at an address another server of the configuration holds
	// is refused whenever PeerID is set.
	JoinAddr func(cs tls.ConnectionState, addr string) error
	// Dial, when set, opens the TCP connection to a peer instead of a
	// net.Dialer (TLS and the type byte are still added by this package).
	// testnet and the tests route it through faultnet proxies per link, so a
	// node can be cut off in both directions.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// Bootstrap makes a fresh node bootstrap a single-node cluster with itself
	// as the only voter (ignored if Dir already holds Raft state).
	Bootstrap bool

	// Batch configures group commit.
	Batch BatchConfig

	// Logger receives this package's and raft's logs (default: discard).
	Logger *slog.Logger

	// Raft timeouts (defaults: raft's 1s, 1s, 500ms, 50ms). Tests use short ones.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration

	// SnapshotThreshold is how many log entries since the last snapshot
	// trigger a new one (default 8192); SnapshotInterval how often that is
	// checked (default 2m); TrailingLogs how many entries a snapshot leaves
	// behind for slow followers (default 10240).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64

	// ApplyTimeout bounds Propose, Barrier, Join, Remove and
	// TransferLeadership when the context has no earlier deadline (default 10s).
	ApplyTimeout time.Duration
	// LeaderWait bounds how long an operation waits for a leader to be known
	// before failing with ErrNoQuorum (default 3×ElectionTimeout).
	LeaderWait time.Duration
}

// Member is one server of the cluster's Raft configuration.
type Member struct {
	ID    string
	Addr  string
	Voter bool
}

// Status is a snapshot of a node's view of the cluster.
type Status struct {
	ID           string
	Addr         string // advertised address
	State        string // "Leader", "Follower", "Candidate", "Shutdown"
	LeaderID     string // "" when unknown
	LeaderAddr   string
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64    // raft's applied index (includes non-command entries)
	LastContact  time.Time // last contact with the leader (zero on the leader)
	Halted       string    // non-empty: why this node stopped applying its log (Node.Halted)
	Members      []Member
}

// Bucket is one cumulative histogram bucket: Count observations <= UpperBound.
// The last bucket's UpperBound is +Inf.
type Bucket struct {
	UpperBound float64
	Count      uint64
}

// Stats are monotonically increasing counters for /metrics.
type Stats struct {
	// Entries is the number of log entries this node proposed as leader
	// through group commit; Commands the commands they carried.
	Entries  uint64
	Commands uint64
	// BatchSizes is a cumulative histogram of commands per proposed entry;
	// BatchSizeSum is the sum of all observations (== Commands).
	BatchSizes   []Bucket
	BatchSizeSum uint64
	// ForwardedOut counts commands this node forwarded to the leader;
	// ForwardedIn commands it received from followers as leader.
	ForwardedOut uint64
	ForwardedIn  uint64
	// ProposeErrors counts proposals that returned an error.
	ProposeErrors uint64
}
