package cmd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/testnet"
)

// benchCommand is `ospnode bench`: the load generator of package testnet,
// driving any OSP server with simulated carrier calls over HTTP(S).
func benchCommand() *cli.Command {
	env := func(name string) []string { return []string{"OSPNODE_BENCH_" + name} }
	return &cli.Command{
		Name:  "bench",
		Usage: "drive OSP service points with simulated calls and report throughput and latency",
		Description: "Each call is an AuthorizationRequest, the terminating side's token check, and usage from the\n" +
			"source and the destination role (a failed attempt: source usage only). Open loop with --rate\n" +
			"(latency from each call's intended start), closed loop with --concurrency. The run is bounded\n" +
			"by --duration and/or --calls. The last line of the text summary is \"completed calls/s: N\".\n" +
			"Only the --url and --dest-url service points given are contacted.\n\n" +
			"Across peer networks (PURPLE → HUB → YELLOW) the tokens come from the network that terminates\n" +
			"the call, and only it knows their TransactionIds: give its OSP service points with --dest-url\n" +
			"(the destination usage goes there, and --dest-verify-admin checks it there). A call whose token\n" +
			"names another network's transaction while no --dest-url is given is not reported and fails\n" +
			"the run; so does any confirmed usage the ledger holds unmatched or unrated.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "url", Usage: "OSP service point, e.g. http://127.0.0.1:5060/osp; repeatable", Required: true, EnvVars: env("URL")},
			&cli.IntSliceFlag{Name: "weight", Usage: "weight of each --url, in order (default all 1)", EnvVars: env("WEIGHT")},
			&cli.BoolFlag{Name: "failover", Usage: "move a request to the next --url on a transport error or 503, as the toolkit does", EnvVars: env("FAILOVER")},
			&cli.StringSliceFlag{Name: "ca", Usage: "PEM CA certificate(s) to verify https service points; repeatable", EnvVars: env("CA")},
			&cli.StringFlag{Name: "cert", Usage: "PEM client certificate for mutual TLS", EnvVars: env("CERT")},
			&cli.StringFlag{Name: "key", Usage: "PEM key of --cert", EnvVars: env("KEY")},
			&cli.BoolFlag{Name: "insecure", Usage: "do not verify the server certificate (the stock toolkit does not either)", EnvVars: env("INSECURE")},
			&cli.BoolFlag{Name: "new-connections", Usage: "one TCP/TLS connection per request, as the OSP Toolkit does (default: keep-alive)", EnvVars: env("NEW_CONNECTIONS")},
			&cli.DurationFlag{Name: "timeout", Usage: "bound on one request", Value: 5 * time.Second, EnvVars: env("TIMEOUT")},

			&cli.Float64Flag{Name: "rate", Usage: "open loop: calls started per second (0: closed loop)", EnvVars: env("RATE")},
			&cli.IntFlag{Name: "concurrency", Usage: "closed loop: callers (default 64); open loop: cap on calls in flight (default 4096)", EnvVars: env("CONCURRENCY")},
			&cli.DurationFlag{Name: "duration", Usage: "how long to start calls (0 with --calls: until the count, at most 10m)", EnvVars: env("DURATION")},
			&cli.IntFlag{Name: "calls", Usage: "how many calls to start (0: as many as --duration allows)", EnvVars: env("CALLS")},

			&cli.IntFlag{Name: "destinations", Usage: "MaximumDestinations asked for", Value: 5, EnvVars: env("DESTINATIONS")},
			&cli.Float64Flag{Name: "fail-ratio", Usage: "share of calls whose attempt fails (reported with a failure cause, zero duration)", EnvVars: env("FAIL_RATIO")},
			&cli.StringFlag{Name: "distribution", Usage: "call duration distribution: exponential or lognormal", Value: testnet.DistExponential, EnvVars: env("DISTRIBUTION")},
			&cli.DurationFlag{Name: "mean-duration", Usage: "mean call duration (only reported in usage, never waited out)", Value: 180 * time.Second, EnvVars: env("MEAN_DURATION")},
			&cli.Float64Flag{Name: "sigma", Usage: "lognormal shape (standard deviation of the log)", Value: 1, EnvVars: env("SIGMA")},
			&cli.StringSliceFlag{Name: "calling-cc", Usage: "country codes of calling numbers (default all embedded: 33, 44, 49, 61)", EnvVars: env("CALLING_CC")},
			&cli.StringSliceFlag{Name: "called-cc", Usage: "country codes of called numbers (default all embedded)", EnvVars: env("CALLED_CC")},
			&cli.StringSliceFlag{Name: "carrier", Usage: "a simulated terminating carrier, by the address routing offers: ADDR=ANSWER[:PDD[:SIP/WEIGHT+…]], e.g. 127.0.0.3=0.1:4s:503/3+486/1 answers 10% of its calls after a 4 s post-dial delay and fails the rest with 503 or 486 (3:1); its calls are reported as Kamailio does (setup and final records); repeatable", EnvVars: env("CARRIER")},
			&cli.Uint64Flag{Name: "seed", Usage: "seed of the call model (numbers, failures, durations)", Value: 1, EnvVars: env("SEED")},

			&cli.StringFlag{Name: "customer", Usage: "source CustomerId", Value: "1000", EnvVars: env("CUSTOMER")},
			&cli.StringFlag{Name: "device", Usage: "source DeviceId", Value: "1000", EnvVars: env("DEVICE")},
			&cli.StringFlag{Name: "source-address", Usage: "source DeviceInfo (transport)", Value: "[127.0.0.1]:5060", EnvVars: env("SOURCE_ADDRESS")},
			&cli.StringFlag{Name: "source-network", Usage: "source SourceAlternate (network)", EnvVars: env("SOURCE_NETWORK")},
			&cli.StringFlag{Name: "source-bind", Usage: "local IP the source proxy's requests leave from (members are identified by address)", EnvVars: env("SOURCE_BIND")},
			&cli.StringSliceFlag{Name: "dest-url", Usage: "OSP service point of the network that terminates the calls, where destination usage goes (default: the --url list); repeatable", EnvVars: env("DEST_URL")},
			&cli.BoolFlag{Name: "per-destination-txid", Usage: "the server gives every destination's token its own TransactionId (not ospnode): such a token is not taken for another network's", EnvVars: env("PER_DESTINATION_TXID")},
			&cli.StringFlag{Name: "dest-bind", Usage: "local IP the terminating proxy's requests leave from, or \"signal\": each call's destination IP (one 127.x per carrier)", EnvVars: env("DEST_BIND")},
			&cli.StringFlag{Name: "dest-customer", Usage: "terminating side's CustomerId (default --customer)", EnvVars: env("DEST_CUSTOMER")},
			&cli.StringFlag{Name: "dest-device", Usage: "terminating side's DeviceId (default --device)", EnvVars: env("DEST_DEVICE")},
			&cli.StringFlag{Name: "dest-address", Usage: "terminating side's DeviceInfo (default: the routed destination's address)", EnvVars: env("DEST_ADDRESS")},

			&cli.StringSliceFlag{Name: "token-ca", Usage: "PEM CA certificate(s) the terminating side trusts for tokens; repeatable", EnvVars: env("TOKEN_CA")},
			&cli.BoolFlag{Name: "accept-unsigned", Usage: "accept text and XML tokens (Kamailio token_format 2)", EnvVars: env("ACCEPT_UNSIGNED")},

			&cli.StringFlag{Name: "verify-admin", Usage: "after the run, check every confirmed usage at this admin API base URL", EnvVars: env("VERIFY_ADMIN")},
			&cli.StringFlag{Name: "admin-token", Usage: "bearer token for --verify-admin", EnvVars: []string{"OSPNODE_BENCH_ADMIN_TOKEN", "OSPNODE_ADMIN_TOKEN"}},
			&cli.StringFlag{Name: "dest-verify-admin", Usage: "admin API base URL of the terminating network: check every confirmed destination usage there (needed with --dest-url and --verify-admin)", EnvVars: env("DEST_VERIFY_ADMIN")},
			&cli.StringFlag{Name: "dest-admin-token", Usage: "bearer token for --dest-verify-admin", EnvVars: env("DEST_ADMIN_TOKEN")},
			&cli.StringFlag{Name: "output", Usage: "text or json", Value: "text", EnvVars: env("OUTPUT")},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress lines on stderr", EnvVars: env("QUIET")},
		},
		Action: benchRun,
	}
}

func benchOptions(c *cli.Context) (testnet.LoadOptions, error) {
	o := testnet.LoadOptions{
		URLs:               c.StringSlice("url"),
		DestURLs:           c.StringSlice("dest-url"),
		PerDestinationTxID: c.Bool("per-destination-txid"),
		Weights:            c.IntSlice("weight"),
		Failover:           c.Bool("failover"),
		NewConnections:     c.Bool("new-connections"),
		Timeout:            c.Duration("timeout"),
		Rate:               c.Float64("rate"),
		Concurrency:        c.Int("concurrency"),
		Duration:           c.Duration("duration"),
		Calls:              c.Int("calls"),
		MaxDestinations:    c.Int("destinations"),
		FailRatio:          c.Float64("fail-ratio"),
		Durations:          testnet.DurationDist{Kind: c.String("distribution"), Mean: c.Duration("mean-duration"), Sigma: c.Float64("sigma")},
		CallingCountries:   c.StringSlice("calling-cc"),
		CalledCountries:    c.StringSlice("called-cc"),
		Seed:               c.Uint64("seed"),
		Source: testnet.Party{CustomerID: c.String("customer"), DeviceID: c.String("device"),
			Address: c.String("source-address"), NetworkID: c.String("source-network"), Bind: c.String("source-bind")},
		Destination: testnet.Party{CustomerID: c.String("dest-customer"), DeviceID: c.String("dest-device"),
			Address: c.String("dest-address"), Bind: c.String("dest-bind")},
		AcceptUnsigned: c.Bool("accept-unsigned"),
	}
	carriers, err := parseCarriers(c.StringSlice("carrier"))
	if err != nil {
		return o, usage("--carrier: %v", err)
	}
	o.Carriers = carriers
	if o.Destination.CustomerID == "" {
		o.Destination.CustomerID = o.Source.CustomerID
	}
	if o.Destination.DeviceID == "" {
		o.Destination.DeviceID = o.Source.DeviceID
	}
	if o.Duration == 0 && o.Calls == 0 {
		return o, usage("give --duration, --calls or both: a bench run is always bounded")
	}
	switch c.String("output") {
	case "text", "json":
	default:
		return o, usage("--output %q: want text or json", c.String("output"))
	}
	roots, err := loadCAs(c.StringSlice("token-ca"))
	if err != nil {
		return o, usage("--token-ca: %v", err)
	}
	o.TokenRoots = roots
	if o.TLSConfig, err = benchTLS(c); err != nil {
		return o, usage("%v", err)
	}
	if !c.Bool("quiet") {
		o.Progress = c.App.ErrWriter
	}
	base, destBase := c.String("verify-admin"), c.String("dest-verify-admin")
	switch {
	case destBase != "" && base == "":
		return o, usage("--dest-verify-admin checks the destination side only: give --verify-admin too (the originating network's admin API)")
	case base != "" && destBase == "" && len(o.DestURLs) > 0:
		return o, usage("--dest-url sends destination usage to another network: give --dest-verify-admin (its admin API) so that it is verified where it belongs")
	}
	if base != "" {
		hc := &http.Client{Timeout: 30 * time.Second}
		if o.TLSConfig != nil {
			hc.Transport = &http.Transport{TLSClientConfig: o.TLSConfig}
		}
		var l testnet.UsageLedger = &testnet.AdminLedger{BaseURL: base, Token: c.String("admin-token"), HTTP: hc}
		if destBase != "" {
			tok := c.String("dest-admin-token")
			if tok == "" {
				tok = c.String("admin-token")
			}
			l = testnet.ByRole{Source: l, Destination: &testnet.AdminLedger{BaseURL: destBase, Token: tok, HTTP: hc}}
		}
		o.Verify = testnet.VerifyUsages(l, 8)
	}
	return o, nil
}

// benchTLS builds the client TLS configuration, or nil when no TLS flag is
// given (Go's defaults then apply to https URLs).
func benchTLS(c *cli.Context) (*tls.Config, error) {
	cas, cert, key, insecure := c.StringSlice("ca"), c.String("cert"), c.String("key"), c.Bool("insecure")
	if len(cas) == 0 && cert == "" && key == "" && !insecure {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // opt-in, as the toolkit
	var err error
	var pool *x509.CertPool
	if pool, err = loadCAs(cas); err != nil {
		return nil, fmt.Errorf("--ca: %w", err)
	}
	cfg.RootCAs = pool
	if (cert == "") != (key == "") {
		return nil, errors.New("--cert and --key go together")
	}
	if cert != "" {
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("--cert/--key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return cfg, nil
}

func benchRun(c *cli.Context) error {
	// The generator decodes every answer with etree too: same trade as serve.
	setGCPercent(DefaultGCPercent)
	o, err := benchOptions(c)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
	defer stop()
	res, err := testnet.RunLoad(ctx, o)
	if res == nil {
		if errors.Is(err, testnet.ErrLoadOptions) {
			return usage("bench: %v", err)
		}
		return cli.Exit("bench: "+err.Error(), 1)
	}
	var werr error
	if c.String("output") == "json" {
		werr = res.WriteJSON(c.App.Writer)
	} else {
		werr = res.WriteText(c.App.Writer)
	}
	switch {
	case errors.Is(err, testnet.ErrVerify), errors.Is(err, testnet.ErrDestinationElsewhere):
		return cli.Exit("bench: "+err.Error(), 1)
	case errors.Is(err, context.Canceled):
		return cli.Exit("bench: interrupted", 130)
	case err != nil:
		return cli.Exit("bench: "+err.Error(), 1)
	}
	return werr
}

// parseCarriers reads --carrier ADDR=ANSWER[:PDD[:SIP/WEIGHT+…]] values.
func parseCarriers(vals []string) (map[string]testnet.CarrierProfile, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	out := make(map[string]testnet.CarrierProfile, len(vals))
	for _, v := range vals {
		addr, spec, ok := strings.Cut(v, "=")
		if !ok || addr == "" {
			return nil, fmt.Errorf("%q: want ADDR=ANSWER[:PDD[:SIP/WEIGHT+…]]", v)
		}
		parts := strings.SplitN(spec, ":", 3)
		var p testnet.CarrierProfile
		var err error
		if p.AnswerRatio, err = strconv.ParseFloat(parts[0], 64); err != nil || p.AnswerRatio < 0 || p.AnswerRatio > 1 {
			return nil, fmt.Errorf("%q: answer ratio %q: want 0..1", v, parts[0])
		}
		if len(parts) > 1 && parts[1] != "" {
			if p.PDD, err = time.ParseDuration(parts[1]); err != nil || p.PDD < 0 {
				return nil, fmt.Errorf("%q: post-dial delay %q: want a duration such as 3s", v, parts[1])
			}
			p.PDDSpread = p.PDD / 4
		}
		if len(parts) > 2 {
			for _, fc := range strings.Split(parts[2], "+") {
				code, weight, _ := strings.Cut(fc, "/")
				f := testnet.FailureCause{Weight: 1}
				if f.SIP, err = strconv.Atoi(code); err != nil {
					return nil, fmt.Errorf("%q: failure %q: want SIP[/WEIGHT]", v, fc)
				}
				if weight != "" {
					if f.Weight, err = strconv.Atoi(weight); err != nil {
						return nil, fmt.Errorf("%q: failure %q: want SIP[/WEIGHT]", v, fc)
					}
				}
				p.Failures = append(p.Failures, f)
			}
		}
		out[addr] = p
	}
	return out, nil
}
