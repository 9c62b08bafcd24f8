package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/ospnode/ospnode/consensus"
	"github.com/ospnode/ospnode/federation"
	"github.com/ospnode/ospnode/osp"
	"github.com/ospnode/ospnode/settlement"
	"github.com/ospnode/ospnode/settlement/quality"
)

// Default listen addresses of `ospnode serve`. Tests always pass
// "127.0.0.1:0". 5045 is the OSP port of the demo (an unassigned port next
// to nothing else ospnode uses); the admin API sits beside it on 5046 and
// the cluster (Raft + internal channel) on 5047.
const (
	DefaultOSPAddr     = "127.0.0.1:5045"
	DefaultAdminAddr   = "127.0.0.1:5046"
	DefaultClusterAddr = "127.0.0.1:5047"
)

// Config configures Open. The zero value of every optional field selects
// the default given in its comment. A Config is read by Open and not
// retained by reference (slices are copied).
type Config struct {
	// NodeID is this node's stable Raft server id (required).
	NodeID string
	// DataDir holds ledger.db (the bbolt state), raft/ (log and snapshots),
	// pki/ (generated CA and token key, when none is configured) and
	// admin.token (required; created 0700 if missing).
	DataDir string

	// OSPAddr is the OSP listener (HTTP unless OSPTLSCert is set), e.g.
	// "127.0.0.1:5045". Empty: no plain OSP listener unless OSPTLSAddr is
	// also empty, in which case DefaultOSPAddr.
	OSPAddr string
	// OSPTLSAddr, with OSPTLSCert and OSPTLSKey, adds an HTTPS OSP listener.
	OSPTLSAddr string
	OSPTLSCert string
	OSPTLSKey  string
	// OSPClientCA, when set (PEM file), makes the HTTPS listener ask for
	// client certificates, verify them against this CA and identify members
	// by them (cert_subjects / cert_fingerprints). Connections without a
	// certificate are still accepted and identified by address.
	OSPClientCA string

	// AdminAddr is the admin API listener (JSON, bearer token). Default
	// DefaultAdminAddr; "-" disables it. It is HTTPS when AdminTLSCert and
	// AdminTLSKey are set; otherwise keep it on loopback.
	AdminAddr    string
	AdminTLSCert string
	AdminTLSKey  string
	// AdminToken is the bearer token of the admin API. Empty: read
	// DataDir/admin.token, or generate it there (0600) on first start.
	AdminToken string

	// ClusterAddr is the consensus listener (Raft and leader forwarding).
	// Default DefaultClusterAddr. ClusterAdvertise is the address other
	// nodes dial (default: the bound address).
	ClusterAddr      string
	ClusterAdvertise string
	// ClusterDial, when set, opens every TCP connection to another cluster
	// member instead of a net.Dialer (consensus.Config.Dial; TLS is still
	// added by consensus). testnet routes each directed link through a
	// fault proxy with it, so that any node can be cut off both ways.
	ClusterDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Bootstrap makes a fresh node start a one-node cluster (ignored when
	// DataDir already holds Raft state). Join lists seed addresses of
	// existing members; Open asks them in turn to add this node.
	Bootstrap bool
	Join      []string

	// Batch tunes group commit (zero: consensus defaults). Raft timeouts
	// are in Raft (zero: consensus defaults; tests shorten them).
	Batch consensus.BatchConfig
	Raft  RaftTimeouts

	// TokenKind is the default token kind for members that do not set
	// one (default osp.TokenSigned). TokenValidity is how long a token is
	// valid after issue (default 10m); TokenSkew backdates ValidAfter for
	// clock skew between proxies (default 60s).
	TokenKind     osp.TokenKind
	TokenValidity time.Duration
	TokenSkew     time.Duration
	// TokenCert / TokenKey are the PEM files of the token-signing
	// certificate and key. Empty: DataDir/pki is used, creating a CA and a
	// token-signing certificate there on first start.
	TokenCert string
	TokenKey  string
	// TokenCA is the PEM file of the CA that issued TokenCert (published to
	// terminating proxies and used to verify AuthorizationIndications).
	// Empty with TokenCert: TokenCert itself is the trust anchor.
	TokenCA string
	// PKIDir is the CA directory used when TokenCert is empty (default
	// DataDir/pki). Nodes of one cluster should share one CA: give them
	// the same PKIDir (or copy it) so every node's tokens validate with the
	// same CA certificate.
	PKIDir string

	// Trust configures cluster mutual TLS, admin client certificates,
	// revocation and enrollment (see TrustConfig; zero: none of them).
	Trust TrustConfig

	// Limits bounds decoded OSP requests (zero fields: osp.DefaultLimits).
	Limits osp.Limits
	// HTTP bounds the OSP and admin HTTP servers: timeouts, header size,
	// connections per source IP (zero fields: DefaultHTTPLimits).
	HTTP HTTPLimits
	// MaxTimeLimit caps the authorised call duration in seconds (default
	// 7200). UsageGrace is how long after ValidUntil usage still matches
	// its transaction (default 24h; later usage is kept as unmatched).
	MaxTimeLimit int
	UsageGrace   time.Duration
	// MinMargin is the minimum margin, as a fraction of the sell rate, a
	// candidate must leave to be offered (e.g. "0.05"; default "0": never
	// below cost). It is parsed once by Open, which refuses (ErrConfig) a
	// value that is not a decimal number below 1.
	MinMargin string
	// RouteSeed seeds the weighted load-sharing choice. Each request mixes
	// it with its Call-ID, so the order is deterministic for a request and
	// spread across requests.
	RouteSeed uint64
	// policy is MinMargin, MaxTimeLimit and RouteSeed parsed and validated
	// once (fill): the routing and credit policy of settlement.
	policy settlement.Policy

	// RequestTimeout bounds the handling of one OSP request, commit
	// included (default 5s; a timed-out request is answered 503).
	RequestTimeout time.Duration

	// Demo seeds a demonstration network into an empty ledger (see SeedDemo).
	Demo bool

	// LedgerSync selects whether ledger.db is fsynced at its commits
	// (default LedgerFsync). LedgerNoFsync makes the file a cache of the
	// Raft log (see LedgerSync).
	LedgerSync LedgerSync
	// LedgerCommitInterval bounds how long applied Raft entries wait in
	// ledger.db's open write transaction before it commits (ledger
	// Options.CommitInterval; default ledger.DefaultCommitInterval,
	// negative: every entry). Entries are durable in the Raft log before
	// they are applied; a restart replays those not yet committed.
	LedgerCommitInterval time.Duration

	// NetworkID is our network id for federation: loop prevention (the
	// forwarding path) and our identity at peers. Empty: the ledger
	// Network's id; with neither, peer route candidates are skipped.
	NetworkID string
	// ForwardBudget bounds the time one authorisation may spend upstream,
	// across every peer candidate tried (default federation.DefaultBudget,
	// 2s); a slow or dead peer falls over to the next candidate within it.
	// Keep it well under RequestTimeout and the members' OSP timeout.
	ForwardBudget time.Duration
	// HopLimit is the hop limit a request from our own members starts with
	// (default federation.DefaultHopLimit; at most federation.MaxHopLimit).
	HopLimit int
	// FederationSourceAddress is the source device address sent to peers
	// (DeviceInfo transport), e.g. "[198.51.100.1]:5060". Optional.
	FederationSourceAddress string
	// UpstreamTokensUnverified skips checking upstream tokens against the
	// peer's trusted CAs before passing them on (checked by default; a peer
	// without trusted CAs is never checked).
	UpstreamTokensUnverified bool
	// Cascade tunes the usage cascader (zero fields: federation defaults).
	Cascade CascadeConfig
	// PeerBreaker tunes the per-service-point circuit breakers of peers
	// (zero fields: federation defaults).
	PeerBreaker federation.BreakerConfig
	// Quality sizes the route-quality windows (settlement/quality; zero
	// fields: its defaults: the last 200 attempts, 4096 series). Every
	// node of a cluster should use the same Window, or they judge
	// candidates on different samples.
	Quality quality.Config
	// QualityRebuild is how many of the most recent usage records a
	// starting node reads at least to rebuild its route-quality windows
	// (the last-N windows); it reads the whole last hour's (the hour
	// windows) when that is more, up to 1,000,000 (default 200,000;
	// negative: none).
	QualityRebuild int
	// FraudRebuild caps the authorisations, and the usage records, a
	// starting node reads back (the newest) to rebuild its fraud
	// baselines: two baseline spans, two days with the default rules
	// (fraud_rebuild.go; default 500,000 each; negative: none, the
	// detector relearns).
	FraudRebuild int

	// Logger receives the node's logs (default: discard). Clock is the
	// node's time source (default time.Now).
	Logger *slog.Logger
	Clock  func() time.Time
}

// CascadeConfig tunes the cascading of usage to peers (see
// federation.CascaderConfig): how often the outbox is read when nothing
// wakes the cascader (default 1s), the budget of one delivery (5s), and the
// per-item retry backoff bounds (1s, 5m).
type CascadeConfig struct {
	Interval   time.Duration
	Budget     time.Duration
	MinBackoff time.Duration
	MaxBackoff time.Duration
}

// RaftTimeouts are consensus.Config's timeouts; zero selects its defaults.
type RaftTimeouts struct {
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	ApplyTimeout       time.Duration
	LeaderWait         time.Duration
	SnapshotThreshold  uint64
	// SnapshotInterval is how often the threshold is checked (consensus
	// default 2m); TrailingLogs how many entries a snapshot leaves in the
	// log for lagging followers (default 10240). Tests shorten both so a
	// wiped node provably rejoins by InstallSnapshot.
	SnapshotInterval time.Duration
	TrailingLogs     uint64
}

// ErrConfig wraps every configuration error Open returns.
var ErrConfig = errors.New("node: invalid configuration")

// LedgerSync is Config.LedgerSync.
type LedgerSync uint8

const (
	// LedgerSyncDefault selects LedgerFsync.
	LedgerSyncDefault LedgerSync = iota
	// LedgerFsync fsyncs ledger.db at every commit. Commits are deferred
	// (LedgerCommitInterval): one commit, two fdatasyncs, carries all the
	// entries applied in the interval, on top of the Raft log's two
	// fdatasyncs per entry. After a crash the file is trusted and the Raft
	// log entries after its last commit are replayed.
	LedgerFsync
	// LedgerNoFsync does not fsync ledger.db per entry (ledger
	// Options.Unsynced): the Raft log, fsynced by a quorum before an entry
	// commits, is the durable source. A clean Close fsyncs the file; after
	// a crash or power loss the node moves ledger.db aside and rebuilds it
	// from its latest Raft snapshot and the log after it, so nothing
	// confirmed is lost but such a restart costs a full restore and replay.
	LedgerNoFsync
)

func (c *Config) fill() error {
	if c.NodeID == "" {
		return fmt.Errorf("%w: NodeID is required", ErrConfig)
	}
	switch c.LedgerSync {
	case LedgerSyncDefault:
		c.LedgerSync = LedgerFsync
	case LedgerFsync, LedgerNoFsync:
	default:
		return fmt.Errorf("%w: LedgerSync %d unknown", ErrConfig, c.LedgerSync)
	}
	if c.DataDir == "" {
		return fmt.Errorf("%w: DataDir is required", ErrConfig)
	}
	if c.OSPAddr == "" && c.OSPTLSAddr == "" {
		c.OSPAddr = DefaultOSPAddr
	}
	if c.OSPTLSAddr != "" && (c.OSPTLSCert == "" || c.OSPTLSKey == "") {
		return fmt.Errorf("%w: the HTTPS OSP listener needs OSPTLSCert and OSPTLSKey", ErrConfig)
	}
	if (c.AdminTLSCert == "") != (c.AdminTLSKey == "") {
		return fmt.Errorf("%w: AdminTLSCert and AdminTLSKey go together", ErrConfig)
	}
	if c.AdminAddr == "" {
		c.AdminAddr = DefaultAdminAddr
	}
	if c.ClusterAddr == "" {
		c.ClusterAddr = DefaultClusterAddr
	}
	if (c.TokenCert == "") != (c.TokenKey == "") {
		return fmt.Errorf("%w: TokenCert and TokenKey go together", ErrConfig)
	}
	if c.PKIDir == "" {
		c.PKIDir = filepath.Join(c.DataDir, "pki")
	}
	if c.TokenKind > osp.TokenXML {
		return fmt.Errorf("%w: token kind %d", ErrConfig, c.TokenKind)
	}
	if c.TokenValidity <= 0 {
		c.TokenValidity = 10 * time.Minute
	}
	if c.TokenSkew <= 0 {
		c.TokenSkew = time.Minute
	}
	if c.MaxTimeLimit <= 0 {
		c.MaxTimeLimit = 7200
	}
	if c.UsageGrace <= 0 {
		c.UsageGrace = 24 * time.Hour
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 5 * time.Second
	}
	c.HTTP = c.HTTP.withDefaults()
	if c.ForwardBudget <= 0 {
		c.ForwardBudget = federation.DefaultBudget
	}
	if c.HopLimit <= 0 {
		c.HopLimit = federation.DefaultHopLimit
	}
	if c.HopLimit > federation.MaxHopLimit {
		return fmt.Errorf("%w: HopLimit %d above %d", ErrConfig, c.HopLimit, federation.MaxHopLimit)
	}
	if c.MinMargin == "" {
		c.MinMargin = "0"
	}
	pol, err := settlement.NewPolicy(c.MinMargin, c.MaxTimeLimit, c.RouteSeed)
	if err != nil {
		return fmt.Errorf("%w: MinMargin (--min-margin): %w", ErrConfig, err)
	}
	c.policy = pol
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.QualityRebuild == 0 {
		c.QualityRebuild = 200_000
	}
	if c.FraudRebuild == 0 {
		c.FraudRebuild = 500_000
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	c.Join = append([]string(nil), c.Join...)
	c.Trust.ClusterNames = append([]string(nil), c.Trust.ClusterNames...)
	c.Trust.AdminClientSerials = append([]string(nil), c.Trust.AdminClientSerials...)
	return nil
}
