package cmd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ospnode/ospnode/consensus"
	"github.com/ospnode/ospnode/internal/linefile"
	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node"
	"github.com/ospnode/ospnode/osp"
	"github.com/ospnode/ospnode/settlement/quality"
	"github.com/urfave/cli/v2"
)

// serveFlags are the flags of `ospnode serve`. Every flag has an
// OSPNODE_<NAME> environment variable and may appear in the --config file
// under its flag name. Precedence: flag > environment > config file >
// default.
func serveFlags() []cli.Flag {
	env := func(name string) []string {
		return []string{"OSPNODE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))}
	}
	str := func(name, value, usage string) cli.Flag {
		return &cli.StringFlag{Name: name, Value: value, Usage: usage, EnvVars: env(name)}
	}
	dur := func(name string, value time.Duration, usage string) cli.Flag {
		return &cli.DurationFlag{Name: name, Value: value, Usage: usage, EnvVars: env(name)}
	}
	num := func(name string, value int, usage string) cli.Flag {
		return &cli.IntFlag{Name: name, Value: value, Usage: usage, EnvVars: env(name)}
	}
	boolean := func(name, usage string) cli.Flag {
		return &cli.BoolFlag{Name: name, Usage: usage, EnvVars: env(name)}
	}
	return append([]cli.Flag{
		str("config", "", "configuration `FILE`: one 'key = value' per line, keys are these flag names, # starts a comment"),
		str("node-id", "node1", "stable Raft id of this node"),
		str("data-dir", "./data", "directory for the ledger, the Raft log, keys and the admin token"),
		str("osp-addr", node.DefaultOSPAddr, "OSP HTTP listener (\"-\": none)"),
		str("osp-tls-addr", "", "OSP HTTPS listener (needs --osp-tls-cert and --osp-tls-key)"),
		str("osp-tls-cert", "", "PEM certificate of the OSP HTTPS listener"),
		str("osp-tls-key", "", "PEM key of --osp-tls-cert"),
		str("osp-client-ca", "", "PEM CA of member client certificates (HTTPS listener)"),
		str("admin-addr", node.DefaultAdminAddr, "admin API listener (\"-\": none); keep it on loopback unless TLS is set"),
		str("admin-tls-cert", "", "PEM certificate of the admin API"),
		str("admin-tls-key", "", "PEM key of --admin-tls-cert"),
		str("admin-token", "", "admin API bearer token (default: DATA-DIR/admin.token, generated on first start)"),
		str("cluster-addr", node.DefaultClusterAddr, "Raft and cluster-internal listener"),
		str("cluster-advertise", "", "address other nodes dial to reach this one (default: --cluster-addr as bound)"),
		boolean("bootstrap", "start a new one-node cluster (default: true unless --join is given)"),
		str("join", "", "comma-separated cluster addresses of existing members to join"),
		num("batch-max-commands", 0, "group commit: commands per Raft entry, at most 4095 (0: 512)"),
		dur("batch-max-wait", 0, "group commit: longest wait for more commands (0: 500µs)"),
		str("token-kind", "signed", "default token kind: signed, text or xml"),
		dur("token-validity", 10*time.Minute, "how long a token is valid"),
		str("token-cert", "", "PEM token-signing certificate (default: a CA and key generated in --pki-dir)"),
		str("token-key", "", "PEM key of --token-cert"),
		str("token-ca", "", "PEM CA that issued --token-cert"),
		str("pki-dir", "", "CA directory used when --token-cert is not set (default DATA-DIR/pki)"),
		num("max-body-bytes", 0, "largest OSP request body (0: 1 MiB)"),
		num("max-time-limit", 7200, "longest authorised call, seconds"),
		dur("usage-grace", 24*time.Hour, "how long after a token expires its usage still matches"),
		str("min-margin", "0", "minimum margin over cost, as a fraction of the sell rate (e.g. 0.05)"),
		num("route-seed", 0, "seed of weighted load sharing"),
		num("gc-percent", DefaultGCPercent, "Go garbage collector target (GOGC) for this process; the GOGC environment variable, when set, wins; 0 keeps Go's default of 100"),
		num("gomaxprocs", 0, "Go scheduler Ps for this process (0: 2 per CPU available, so that Ps blocked in fsync do not leave runnable work waiting; negative: Go's default of 1 per CPU); the GOMAXPROCS environment variable, when set, wins"),
		dur("request-timeout", 5*time.Second, "bound on answering one OSP request"),
		boolean("demo", "seed a demo network into an empty ledger and print how to try it"),
		&cli.BoolFlag{Name: "ledger-fsync", Value: true, EnvVars: env("ledger-fsync"),
			Usage: "fsync ledger.db at each of its commits; false: the Raft log (fsynced by a quorum) is the only durable source, and after a crash ledger.db is rebuilt from the Raft snapshot and log (--ledger-fsync=false)"},
		dur("ledger-commit-interval", ledger.DefaultCommitInterval, "how long applied Raft entries may wait before ledger.db commits them (the Raft log already holds them; a restart replays what was not committed); negative: commit every entry"),
		num("quality-window", quality.DefaultWindow, "route quality judges a candidate on its last this many attempts per route prefix (use the same value on every node)"),
		num("quality-max-series", quality.DefaultMaxKeys, "route quality keeps at most this many (candidate, prefix) series, dropping the least recently updated (≈5.6 KB each at a window of 200)"),
		num("quality-rebuild", 200_000, "usage records a starting node reads back at least (and the whole last hour's) to rebuild its route-quality windows (negative: none)"),
		num("fraud-rebuild", 500_000, "authorisations, and usage records, a starting node reads back at most (the newest) to rebuild its fraud baselines over two baseline spans (negative: none: it relearns)"),
		str("log-level", "info", "debug, info, warn or error"),
	}, trustFlags()...)
}

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run an ospnode: the OSP server, the admin API and a Raft member",
		Description: "Example: ospnode serve --demo --data-dir ./data/demo\n" +
			"Settings come from flags, OSPNODE_* environment variables and --config FILE\n" +
			"(key = value per line, keys are flag names), in that order of precedence.",
		Flags: serveFlags(),
		Action: func(c *cli.Context) error {
			cfg, err := serveConfig(c)
			if err != nil {
				return cli.Exit("serve: "+err.Error(), 2)
			}
			setGCPercent(c.Int("gc-percent"))
			setProcs(c.Int("gomaxprocs"))
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServe(ctx, cfg, c.App.Writer)
		},
	}
}

// settings looks flag values up with the precedence flag > env > config
// file > default. urfave/cli already puts flags before env (IsSet covers
// both); the file fills what neither set.
type settings struct {
	c    *cli.Context
	file map[string]string
	err  error
}

func (s *settings) raw(name string) (string, bool) {
	if s.c.IsSet(name) {
		return "", false
	}
	v, ok := s.file[name]
	return v, ok
}

func (s *settings) str(name string) string {
	if v, ok := s.raw(name); ok {
		return v
	}
	return s.c.String(name)
}

func (s *settings) int(name string) int {
	if v, ok := s.raw(name); ok {
		n, err := strconv.Atoi(v)
		if err != nil && s.err == nil {
			s.err = fmt.Errorf("config %s: %q is not a number", name, v)
		}
		return n
	}
	return s.c.Int(name)
}

func (s *settings) dur(name string) time.Duration {
	if v, ok := s.raw(name); ok {
		d, err := time.ParseDuration(v)
		if err != nil && s.err == nil {
			s.err = fmt.Errorf("config %s: %q is not a duration", name, v)
		}
		return d
	}
	return s.c.Duration(name)
}

func (s *settings) bool(name string) (value, set bool) {
	if v, ok := s.raw(name); ok {
		b, err := strconv.ParseBool(v)
		if err != nil && s.err == nil {
			s.err = fmt.Errorf("config %s: %q is not true or false", name, v)
		}
		return b, true
	}
	return s.c.Bool(name), s.c.IsSet(name)
}

// readConfigFile parses `key = value` lines; blank lines and lines
// starting with # are skipped; keys must be flag names of serve.
func readConfigFile(path string, known map[string]bool) (map[string]string, error) {
	out := map[string]string{}
	err := linefile.ForEach(path, func(line int, t string) error {
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			return fmt.Errorf("%s:%d: want key = value", path, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !known[k] || k == "config" {
			return fmt.Errorf("%s:%d: unknown setting %q (settings are serve's flag names)", path, line, k)
		}
		out[k] = strings.Trim(v, `"`)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// serveConfig resolves node.Config from flags, environment and the config
// file.
func serveConfig(c *cli.Context) (node.Config, error) {
	s := &settings{c: c}
	if p := c.String("config"); p != "" {
		known := map[string]bool{}
		for _, f := range c.Command.Flags {
			known[f.Names()[0]] = true
		}
		var err error
		if s.file, err = readConfigFile(p, known); err != nil {
			return node.Config{}, err
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(s.str("log-level"))); err != nil {
		return node.Config{}, fmt.Errorf("log-level: %w", err)
	}
	kind, err := osp.ParseTokenKind(s.str("token-kind"))
	if err != nil {
		return node.Config{}, err
	}
	if b := s.int("batch-max-commands"); b < 0 || b > 4095 {
		// A numbered network's TransactionIds hold the command's position
		// in its entry in 12 bits (ledger DESIGN.md "TransactionIDs").
		return node.Config{}, fmt.Errorf("batch-max-commands %d: want 0..4095", b)
	}
	cfg := node.Config{
		NodeID:               s.str("node-id"),
		DataDir:              s.str("data-dir"),
		OSPAddr:              s.str("osp-addr"),
		OSPTLSAddr:           s.str("osp-tls-addr"),
		OSPTLSCert:           s.str("osp-tls-cert"),
		OSPTLSKey:            s.str("osp-tls-key"),
		OSPClientCA:          s.str("osp-client-ca"),
		AdminAddr:            s.str("admin-addr"),
		AdminTLSCert:         s.str("admin-tls-cert"),
		AdminTLSKey:          s.str("admin-tls-key"),
		AdminToken:           s.str("admin-token"),
		ClusterAddr:          s.str("cluster-addr"),
		ClusterAdvertise:     s.str("cluster-advertise"),
		Batch:                consensus.BatchConfig{MaxCommands: s.int("batch-max-commands"), MaxWait: s.dur("batch-max-wait")},
		TokenKind:            kind,
		TokenValidity:        s.dur("token-validity"),
		TokenCert:            s.str("token-cert"),
		TokenKey:             s.str("token-key"),
		TokenCA:              s.str("token-ca"),
		PKIDir:               s.str("pki-dir"),
		Limits:               osp.Limits{MaxBodyBytes: int64(s.int("max-body-bytes"))},
		MaxTimeLimit:         s.int("max-time-limit"),
		UsageGrace:           s.dur("usage-grace"),
		MinMargin:            s.str("min-margin"),
		RouteSeed:            uint64(s.int("route-seed")),
		RequestTimeout:       s.dur("request-timeout"),
		LedgerCommitInterval: s.dur("ledger-commit-interval"),
		Quality:              quality.Config{Window: s.int("quality-window"), MaxKeys: s.int("quality-max-series")},
		QualityRebuild:       s.int("quality-rebuild"),
		FraudRebuild:         s.int("fraud-rebuild"),
		Logger:               slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level})),
	}
	if j := s.str("join"); j != "" {
		for _, a := range strings.Split(j, ",") {
			if a = strings.TrimSpace(a); a != "" {
				cfg.Join = append(cfg.Join, a)
			}
		}
	}
	boot, set := s.bool("bootstrap")
	cfg.Bootstrap = boot || (!set && len(cfg.Join) == 0)
	cfg.Demo, _ = s.bool("demo")
	if fsync, _ := s.bool("ledger-fsync"); fsync {
		cfg.LedgerSync = node.LedgerFsync
	} else {
		cfg.LedgerSync = node.LedgerNoFsync
	}
	cfg.Trust = trustConfig(s)
	return cfg, s.err
}

// runServe starts the node and blocks until ctx ends, then closes it.
func runServe(ctx context.Context, cfg node.Config, out io.Writer) error {
	// The demo's sample request is on disk before the node serves: a
	// script that waits for the admin API (the README tour does) may post
	// it at once.
	var sample string
	if cfg.Demo {
		var err error
		if sample, err = writeSampleRequest(cfg.DataDir); err != nil {
			return err
		}
	}
	n, err := node.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer n.Close()
	// The token itself is never printed (stdout ends up in logs): only
	// where it is kept.
	tokenAt, tokenCmd := "given by --admin-token / OSPNODE_ADMIN_TOKEN", "$OSPNODE_ADMIN_TOKEN"
	if f := n.AdminTokenFile(); f != "" {
		tokenAt, tokenCmd = "in "+f, "$(cat "+f+")"
	}
	fmt.Fprintf(out, "ospnode %s serving\n  OSP:     %s\n  admin:   %s   (token %s)\n  cluster: %s\n",
		n.ID(), n.OSPURL(), n.AdminURL(), tokenAt, n.ClusterAddr())
	trustBanner(out, n, cfg)
	defer watchReload(n, cfg.Logger)()
	if cfg.Demo {
		how := "ready (seeded now)"
		if !n.DemoSeeded() {
			how = "ready (already in the ledger, left as it is)"
		}
		fmt.Fprintf(out, "\nDemo network %q %s. Try a first authorisation:\n"+
			"  curl -s -H 'Content-Type: text/plain' --data-binary @%s %s | %s osp decode -\n"+
			"  curl -s -H \"Authorization: Bearer %s\" %s/v1/status\n  curl -s %s/metrics\n",
			node.DemoNetwork, how, sample, n.OSPURL(), selfCommand(), tokenCmd, n.AdminURL(), n.AdminURL())
	}
	<-ctx.Done()
	fmt.Fprintln(out, "ospnode: shutting down")
	handOver(n, cfg.Logger)
	return n.Close()
}

// handOverTimeout bounds the leadership hand-over of a stopping leader.
const handOverTimeout = 10 * time.Second

// handOver hands leadership to another voter before a clean stop (SIGTERM,
// systemctl stop, a rolling upgrade): a leader that just stops costs the
// members an election timeout of OSP 503s. A node that does not lead, or
// leads alone, stops at once; a hand-over that fails within the bound
// (no up-to-date voter) is logged and the node stops anyway.
func handOver(n *node.Node, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := n.Consensus()
	st := c.Status()
	if st.State != "Leader" {
		return
	}
	others := 0
	for _, m := range st.Members {
		if m.Voter && m.ID != st.ID {
			others++
		}
	}
	if others == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), handOverTimeout)
	defer cancel()
	if err := c.TransferLeadership(ctx, ""); err != nil {
		log.Warn("stopping as leader: leadership not handed over, the cluster elects a new leader", "err", err)
		return
	}
	log.Info("stopping: leadership handed over to another voter")
}

// selfCommand is how to run this binary again from the working directory:
// "ospnode" when that is the one on PATH, else its path (./bin/ospnode
// under `make run`).
func selfCommand() string {
	exe, err := os.Executable()
	if err != nil {
		return "ospnode"
	}
	if onPath, err := exec.LookPath("ospnode"); err == nil {
		if a, _ := filepath.EvalSymlinks(onPath); a != "" {
			if b, _ := filepath.EvalSymlinks(exe); a == b {
				return "ospnode"
			}
		}
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, exe); err == nil && !strings.HasPrefix(rel, "..") {
			return "./" + rel
		}
	}
	return exe
}

// writeSampleRequest writes an AuthorizationRequest from 14048724799 to
// 16785551234 (a demo route) into dir and returns its path.
func writeSampleRequest(dir string) (string, error) {
	m := &osp.Message{MessageID: "1", Random: "1", Components: []osp.Component{{ID: "1",
		AuthorizationRequest: &osp.AuthorizationRequest{
			Timestamp: time.Now().UTC().Truncate(time.Second),
			CallIDs:   []osp.Binary{osp.Binary("demo-call-1")},
			CallInfo: osp.CallInfo{
				SourceInfo:      osp.TypedValues{{Type: osp.TypeE164, Value: "14048724799"}},
				DeviceInfo:      osp.TypedValues{{Type: osp.TypeTransport, Value: "[127.0.0.1]:5060"}},
				DestinationInfo: osp.TypedValues{{Type: osp.TypeE164, Value: "16785551234"}},
			},
			Service:             &osp.Service{},
			MaximumDestinations: 5,
		}}}}
	b, err := osp.Encode(m)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	// Written whole or not at all (temporary file, then rename): a reader
	// never posts a half-written or empty request.
	p := filepath.Join(dir, "sample-authorization.xml")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return "", err
	}
	return p, os.Rename(tmp, p)
}
