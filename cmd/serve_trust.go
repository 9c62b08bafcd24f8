package cmd

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/node"
)

// trustFlags are serve's TLS, revocation and enrollment flags (node.TrustConfig).
func trustFlags() []cli.Flag {
	env := func(name string) []string {
		return []string{"OSPNODE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))}
	}
	str := func(name, usage string) cli.Flag {
		return &cli.StringFlag{Name: name, Usage: usage, EnvVars: env(name)}
	}
	boolean := func(name, usage string) cli.Flag {
		return &cli.BoolFlag{Name: name, Usage: usage, EnvVars: env(name)}
	}
	return []cli.Flag{
		str("tls-ca", "PEM network CA: trust anchor of cluster mutual TLS and admin client certificates (default: PKI-DIR/ca.crt when it exists)"),
		str("cluster-cert", "PEM node certificate `FILE` (ospnode ca issue --kind node --name NODE-ID --ip …): Raft and the internal channel run over mutual TLS, node certificates only"),
		str("cluster-key", "PEM key of --cluster-cert"),
		str("cluster-names", "comma-separated node IDs further restricting the cluster's node certificates (optional: only node certificates are ever admitted)"),
		boolean("cluster-insecure", "allow a plain-TCP cluster listener on a non-loopback --cluster-addr (anyone reaching it can rewrite the ledger)"),
		str("admin-client-serials", "comma-separated serials (decimal, 0x hex, or colon-separated hex) of client certificates accepted by the admin API instead of the token (needs --admin-tls-cert)"),
		boolean("enroll", "serve the OSP Toolkit's enrollment endpoint POST /tep on the OSP listeners (request over HTTPS only)"),
		str("enroll-credentials", "file of username:password lines: matching enrollment requests are signed at once"),
		boolean("enroll-approval", "queue other enrollment requests for 'ospnode ca approve'"),
		str("enroll-legacy-ca", "`DIR` of the MD5 legacy enrollment CA (ospnode ca init --legacy-enrollment) for stock toolkits; never a trust anchor"),
	}
}

// trustConfig resolves node.TrustConfig from the settings.
func trustConfig(s *settings) node.TrustConfig {
	list := func(name string) []string {
		var out []string
		for _, v := range strings.Split(s.str(name), ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
		return out
	}
	enroll, _ := s.bool("enroll")
	approval, _ := s.bool("enroll-approval")
	insecure, _ := s.bool("cluster-insecure")
	return node.TrustConfig{
		CA:                 s.str("tls-ca"),
		ClusterCert:        s.str("cluster-cert"),
		ClusterKey:         s.str("cluster-key"),
		ClusterNames:       list("cluster-names"),
		ClusterInsecure:    insecure,
		AdminClientSerials: list("admin-client-serials"),
		Enroll:             enroll,
		EnrollCredentials:  s.str("enroll-credentials"),
		EnrollApproval:     approval,
		EnrollLegacyCA:     s.str("enroll-legacy-ca"),
	}
}

// trustBanner says which links are encrypted; a node on plain HTTP says
// that this is for loopback (the demo) only.
func trustBanner(out io.Writer, n *node.Node, cfg node.Config) {
	cluster := "plain TCP"
	if cfg.Trust.ClusterCert != "" {
		cluster = "mutual TLS"
	}
	fmt.Fprintf(out, "  cluster links: %s; token bundle: %s/v1/ca/bundle; SIGHUP reloads the token key, CA revocations, listener certificates and the OSP client CA file\n", cluster, n.AdminURL())
	if ids := n.ClaimableMembers(); len(ids) > 0 {
		fmt.Fprintf(out, "  warning: members identified by their self-declared DeviceId/CustomerId from any address (identify_by_ids; anyone can claim them): %s\n",
			strings.Join(ids, ", "))
	}
	if strings.HasPrefix(n.OSPURL(), "http:") || strings.HasPrefix(n.AdminURL(), "http:") || cfg.Trust.ClusterCert == "" {
		fmt.Fprintln(out, "  note: some listeners are plain HTTP/TCP — fine on loopback for the demo; for a network set\n"+
			"        --osp-tls-addr/--osp-tls-cert, --admin-tls-cert and --cluster-cert (see node/DESIGN.md, Trust)")
	}
}

// watchReload calls n.Reload on SIGHUP until the returned stop is called.
func watchReload(n *node.Node, log *slog.Logger) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				if err := n.Reload(); err != nil {
					log.Error("reload failed; the previous keys stay in force", "err", err)
				} else {
					log.Info("reloaded token key, CA revocations and listener certificates")
				}
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}
