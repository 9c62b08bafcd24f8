package node

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ospnode/ospnode/consensus"
	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node/pki"
	"github.com/ospnode/ospnode/osp"
)

// Node is one running ospnode: a ledger replica, a consensus member, the OSP
// server and the admin API. Create it with Open and stop it with Close. All
// methods are safe for concurrent use.
type Node struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	store *ledger.Store
	cons  *consensus.Node
	// demoSeeded: Open seeded the demo network (cfg.Demo on a ledger
	// without a network); false when it was already there.
	demoSeeded bool

	tokens *tokenIssuer
	trust  *trust
	state  *stateCache
	adm    *admission
	met    *metrics
	// metricsHandler serves met's registry (GET /metrics).
	metricsHandler http.Handler
	fed            *fedState
	fraud          *fraudControl
	// quality: the route-quality windows, fed by the ledger's apply path
	// (quality.go).
	quality *qualityFeed

	ospSrv, ospTLSSrv, adminSrv *http.Server
	ospBudget                   *budget // connections and body bytes of the OSP listeners
	adminBudget                 *budget // connections of the admin listener
	ospURL, ospTLSURL, adminURL string
	adminToken                  string

	// caughtUp: a read barrier succeeded since Open (catchup.go); until
	// then OSP requests are answered 503.
	caughtUp atomic.Bool

	serveWG   sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}
}

// Open starts a node: it opens (or creates) the ledger and the Raft state
// under cfg.DataDir, joins or bootstraps the cluster, loads or creates the
// token-signing key, starts the OSP and admin listeners and, with cfg.Demo,
// seeds the demo network. ctx bounds joining and seeding only. Errors wrap
// ErrConfig for a bad configuration; on any error everything opened so far
// is closed again.
func Open(ctx context.Context, cfg Config) (_ *Node, err error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("node: data dir: %w", err)
	}
	// The data directory holds the ledger, the Raft log, the admin token and
	// keys: an existing one made with a wider mode is narrowed.
	if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("node: data dir: %w", err)
	}
	n := &Node{cfg: cfg, log: cfg.Logger, now: cfg.Clock, closed: make(chan struct{}), met: newMetrics()}
	var closers []func() error
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				_ = closers[i]()
			}
		}
	}()

	n.quality = newQualityFeed(cfg.Quality, cfg.Logger.With("component", "quality"))
	n.store, err = ledger.Open(filepath.Join(cfg.DataDir, "ledger.db"), ledger.Options{
		Logger:         cfg.Logger.With("component", "ledger"),
		Unsynced:       cfg.LedgerSync == LedgerNoFsync,
		CommitInterval: cfg.LedgerCommitInterval,
		OnUsage:        n.quality.onUsage,
	})
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if aside := n.store.Discarded(); aside != "" {
		// Consensus.Open restores the latest snapshot into the empty store
		// and raft replays the log after it.
		n.log.Warn("node: ledger.db was not closed cleanly after unsynced writes; rebuilding it from the Raft snapshot and log", "moved_to", aside)
	}
	closers = append(closers, n.store.Close)
	n.state = newStateCache(n.store, cfg.Logger)
	n.quality.state = n.state
	if cfg.QualityRebuild > 0 {
		// Before consensus replays the log above the ledger's applied
		// index: those entries then arrive through OnUsage, in order.
		if err := n.quality.rebuild(n.store, cfg.QualityRebuild); err != nil {
			n.log.Warn("node: route quality not rebuilt from the ledger", "err", err)
		}
	}

	n.tokens, err = newTokenIssuer(&cfg)
	if err != nil {
		return nil, err
	}
	if n.adminToken, err = loadAdminToken(&cfg); err != nil {
		return nil, err
	}
	if n.trust, err = newTrust(n); err != nil {
		return nil, err
	}

	// Before consensus: raft may apply entries while it opens, and the
	// detector sees every applied one. It starts from the ledger's recent
	// history (fraud_rebuild.go), as the quality windows do, so that the
	// entries replayed next continue it.
	n.fraud = newFraudControl(n)
	if cfg.FraudRebuild > 0 {
		if err := n.fraud.rebuild(n.store, cfg.FraudRebuild); err != nil {
			n.log.Warn("node: fraud baselines not rebuilt from the ledger", "err", err)
		}
	}

	ln, err := net.Listen("tcp", cfg.ClusterAddr)
	if err != nil {
		return nil, fmt.Errorf("node: cluster listener: %w", err)
	}
	n.cons, err = consensus.Open(consensus.Config{
		NodeID:             cfg.NodeID,
		Dir:                filepath.Join(cfg.DataDir, "raft"),
		Listener:           ln,
		TLS:                n.trust.cluster,
		PeerID:             n.trust.clusterPeerID(),
		JoinAddr:           n.trust.clusterJoinAddr(),
		Advertise:          cfg.ClusterAdvertise,
		Bootstrap:          cfg.Bootstrap,
		Batch:              cfg.Batch,
		Logger:             cfg.Logger.With("component", "consensus"),
		HeartbeatTimeout:   cfg.Raft.HeartbeatTimeout,
		ElectionTimeout:    cfg.Raft.ElectionTimeout,
		LeaderLeaseTimeout: cfg.Raft.LeaderLeaseTimeout,
		CommitTimeout:      cfg.Raft.CommitTimeout,
		ApplyTimeout:       cfg.Raft.ApplyTimeout,
		LeaderWait:         cfg.Raft.LeaderWait,
		SnapshotThreshold:  cfg.Raft.SnapshotThreshold,
		SnapshotInterval:   cfg.Raft.SnapshotInterval,
		TrailingLogs:       cfg.Raft.TrailingLogs,
		Dial:               cfg.ClusterDial,
	}, timedStateMachine{stateMachine{s: n.store, watch: n.fraud.observe, restored: n.ledgerRestored}, n.met.applyLatency})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("node: %w", err)
	}
	closers = append(closers, n.cons.Close)

	n.adm = newAdmission(n.now, cfg.TokenValidity, n.store.Admission, n.store.AppliedIndex)
	n.adm.txIndex = n.transactionIndex
	if n.fed, err = newFedState(n); err != nil {
		return nil, err
	}
	n.fed.start()
	n.met.reg.MustRegister(stateCollector{n}, qualityCollector{n})
	n.metricsHandler = promhttp.HandlerFor(n.met.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	closers = append(closers, func() error { n.fed.stop(); return nil })
	n.fraud.start()
	closers = append(closers, func() error { n.fraud.close(); return nil })

	n.watchCatchUp()
	if err := n.listen(); err != nil {
		return nil, err
	}
	closers = append(closers, func() error { n.shutdownHTTP(context.Background()); return nil })

	if len(cfg.Join) > 0 {
		if err := n.join(ctx); err != nil {
			return nil, err
		}
	}
	if cfg.Demo {
		seeded, err := SeedDemo(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("node: seed demo: %w", err)
		}
		n.demoSeeded = seeded
	}
	if cfg.Bootstrap || cfg.Demo || len(cfg.Join) > 0 {
		// A node that creates or joins a cluster here is expected to serve
		// when Open returns: wait (within ctx) for its first catch-up. A
		// restart from disk does not wait: it may be cut off, and answers
		// 503 until it has caught up (catchup.go).
		if err := n.waitCaughtUp(ctx); err != nil {
			return nil, fmt.Errorf("node: catching up with the cluster: %w", err)
		}
	}
	// Build the member view now: it warns about members that
	// self-declared ids identify (Credentials.IdentifyByIDs).
	if _, err := n.state.get(); err != nil {
		n.log.Warn("node: state view", "err", err)
	}
	n.log.Info("node started", "id", cfg.NodeID, "osp", n.OSPURL(), "admin", n.adminURL, "cluster", n.ClusterAddr())
	return n, nil
}

// join asks each seed in turn to add this node, until one succeeds.
func (n *Node) join(ctx context.Context) error {
	var errs []error
	for _, seed := range n.cfg.Join {
		err := n.cons.JoinCluster(ctx, seed)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("node: join %s: %w", strings.Join(n.cfg.Join, ","), errors.Join(errs...))
}

// listen opens the OSP and admin listeners and starts serving.
func (n *Node) listen() error {
	hl := n.cfg.HTTP
	maxBody := n.cfg.Limits.MaxBodyBytes
	if maxBody <= 0 {
		maxBody = osp.DefaultLimits().MaxBodyBytes
	}
	srcBytes := max(hl.MaxSourceBodyBytes, maxBody)
	n.ospBudget = newBudget(hl.MaxConns, hl.MaxConnsPerSource, max(hl.MaxBodyBytesInFlight, srcBytes), srcBytes,
		&n.met.connsRefused, &n.met.connsEvicted, &n.met.bytesRefused)
	n.adminBudget = newBudget(hl.AdminMaxConns, hl.AdminMaxConnsPerSource, 0, 0, &n.met.adminRefused, &n.met.adminEvicted, nil)
	ospH := n.enrollMount(n.ospHandler())
	if n.cfg.OSPAddr != "" && n.cfg.OSPAddr != "-" {
		ln, err := net.Listen("tcp", n.cfg.OSPAddr)
		if err != nil {
			return fmt.Errorf("node: osp listener: %w", err)
		}
		n.ospSrv = n.newServer(ospH, n.ospBudget)
		n.ospURL = "http://" + ln.Addr().String() + "/osp"
		n.serve(n.ospSrv, n.ospBudget.listener(ln))
	}
	if n.cfg.OSPTLSAddr != "" {
		tc, err := n.ospTLSConfig()
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", n.cfg.OSPTLSAddr)
		if err != nil {
			return fmt.Errorf("node: osp tls listener: %w", err)
		}
		n.ospTLSSrv = n.newServer(ospH, n.ospBudget)
		n.ospTLSURL = "https://" + ln.Addr().String() + "/osp"
		n.serve(n.ospTLSSrv, tls.NewListener(n.ospBudget.listener(ln), tc))
	}
	if n.cfg.AdminAddr != "-" {
		ln, err := net.Listen("tcp", n.cfg.AdminAddr)
		if err != nil {
			return fmt.Errorf("node: admin listener: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /healthz", n.handleHealthz)
		mux.HandleFunc("GET /metrics", n.handleMetrics)
		n.trustRoutes(mux)
		mux.Handle("/", n.adminHandler())
		n.adminSrv = n.newServer(n.met.instrumentAdmin(mux), n.adminBudget)
		ln = n.adminBudget.listener(ln)
		scheme := "http"
		if n.cfg.AdminTLSCert != "" {
			cert, err := newListenerCert("admin", n.cfg.AdminTLSCert, n.cfg.AdminTLSKey, nil)
			if err != nil {
				ln.Close()
				return err
			}
			ln = tls.NewListener(ln, n.trust.adminTLS(cert))
			scheme = "https"
		}
		n.adminURL = scheme + "://" + ln.Addr().String()
		n.serve(n.adminSrv, ln)
	}
	return nil
}

func (n *Node) ospTLSConfig() (*tls.Config, error) {
	cert, err := newListenerCert("osp", n.cfg.OSPTLSCert, n.cfg.OSPTLSKey, nil)
	if err != nil {
		return nil, err
	}
	tc := pki.Harden(&tls.Config{})
	if n.cfg.OSPClientCA != "" {
		cas, err := newClientCAs(n.cfg.OSPClientCA)
		if err != nil {
			return nil, err
		}
		n.trust.clientCAs = cas
		// A member may still be identified by its address: ask for a
		// certificate, verify it when given.
		tc.ClientAuth = tls.VerifyClientCertIfGiven
		cas.serve(tc)
	}
	return n.trust.ospTLS(tc, cert), nil
}

func (n *Node) newServer(h http.Handler, b *budget) *http.Server {
	s := &http.Server{
		Handler:     h,
		ErrorLog:    slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
		ConnState:   b.connState,
		ConnContext: b.connContext,
	}
	n.cfg.HTTP.applyTo(s)
	return s
}

func (n *Node) serve(s *http.Server, ln net.Listener) {
	n.serveWG.Add(1)
	go func() {
		defer n.serveWG.Done()
		if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

func (n *Node) shutdownHTTP(ctx context.Context) {
	for _, s := range []*http.Server{n.ospSrv, n.ospTLSSrv, n.adminSrv} {
		if s == nil {
			continue
		}
		if err := s.Shutdown(ctx); err != nil {
			_ = s.Close()
		}
	}
	n.serveWG.Wait()
}

// Close stops the node: the HTTP servers stop accepting and finish the
// requests in flight (for up to 5 s), then consensus and the ledger close.
// It is idempotent and returns the first call's error.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		close(n.closed)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		n.shutdownHTTP(ctx)
		cancel()
		// Before consensus: the cascader proposes AckOutbox. Items in
		// flight are delivered again by the next leader.
		n.fed.stop()
		n.fraud.close() // before consensus: it proposes blocks
		var errs []error
		if err := n.cons.Close(); err != nil {
			errs = append(errs, err)
		}
		if err := n.store.Close(); err != nil && !errors.Is(err, ledger.ErrClosed) {
			errs = append(errs, err)
		}
		n.closeErr = errors.Join(errs...)
		n.log.Info("node closed", "id", n.cfg.NodeID)
	})
	return n.closeErr
}

// ID returns the node's Raft server id.
func (n *Node) ID() string { return n.cfg.NodeID }

// OSPURL returns the OSP service-point URL (http, or https when only the
// HTTPS listener runs), e.g. "http://127.0.0.1:5045/osp".
func (n *Node) OSPURL() string {
	if n.ospURL != "" {
		return n.ospURL
	}
	return n.ospTLSURL
}

// OSPTLSURL returns the HTTPS OSP service-point URL, or "".
func (n *Node) OSPTLSURL() string { return n.ospTLSURL }

// AdminURL returns the admin API base URL, e.g. "http://127.0.0.1:5046", or
// "" when the admin listener is disabled.
func (n *Node) AdminURL() string { return n.adminURL }

// AdminToken returns the bearer token of the admin API. Never print or log
// it: print AdminTokenFile instead.
func (n *Node) AdminToken() string { return n.adminToken }

// AdminTokenFile returns the file holding the admin token
// (DATA-DIR/admin.token), or "" when Config.AdminToken gave it.
func (n *Node) AdminTokenFile() string {
	if n.cfg.AdminToken != "" {
		return ""
	}
	return filepath.Join(n.cfg.DataDir, "admin.token")
}

// ClaimableMembers lists the members that a request's DeviceId or
// CustomerId alone identifies, from any address (Credentials.IdentifyByIDs):
// `ospnode serve` prints them at start.
func (n *Node) ClaimableMembers() []string {
	v, err := n.state.get()
	if err != nil {
		return nil
	}
	return claimableIDs(v)
}

// ClusterAddr returns the address other nodes use to reach this one (the
// --join address).
func (n *Node) ClusterAddr() string { return n.cons.Status().Addr }

// Store returns the node's ledger replica (read it; write through Propose).
func (n *Node) Store() *ledger.Store { return n.store }

// DemoSeeded reports whether Open seeded the demo network (Config.Demo
// on a ledger that had none); false on a restart of a demo ledger.
func (n *Node) DemoSeeded() bool { return n.demoSeeded }

// Consensus returns the node's consensus member.
func (n *Node) Consensus() *consensus.Node { return n.cons }

// Snapshot forces a snapshot of the ledger into the Raft snapshot store now
// and compacts the log to RaftTimeouts.TrailingLogs entries (see
// consensus.Node.Snapshot); a follower missing the compacted entries then
// catches up by InstallSnapshot. Nothing new to snapshot is not an error.
func (n *Node) Snapshot() error { return n.cons.Snapshot() }

// Config returns the effective configuration (defaults filled in).
func (n *Node) Config() Config { return n.cfg }

// DataDir returns the node's data directory.
func (n *Node) DataDir() string { return n.cfg.DataDir }

// CACertificates returns the certificates a terminating proxy must trust to
// validate this node's signed tokens (the CA, or the token certificate
// itself when it is self-signed).
func (n *Node) CACertificates() []*x509.Certificate { return n.tokens.roots() }

// loadAdminToken returns cfg.AdminToken, or the token stored in
// DataDir/admin.token, generating it on first start.
func loadAdminToken(cfg *Config) (string, error) {
	if cfg.AdminToken != "" {
		return cfg.AdminToken, nil
	}
	path := filepath.Join(cfg.DataDir, "admin.token")
	if b, err := os.ReadFile(path); err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("node: admin token: %w", err)
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("node: admin token: %w", err)
	}
	t := hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("node: admin token: %w", err)
	}
	return t, nil
}

// limits returns the configured OSP decoding limits.
func (n *Node) limits() osp.Limits { return n.cfg.Limits }
