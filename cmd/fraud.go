package cmd

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node"
)

// fraudCommand is `ospnode fraud list|events|block|release|config`.
func fraudCommand() *cli.Command {
	env := envVars("FRAUD")
	byFlag := &cli.StringFlag{Name: "by", Usage: "who decides, recorded in the ledger after how you authenticated (default: $USER)",
		EnvVars: env("BY")}
	return &cli.Command{
		Name:  "fraud",
		Usage: "see fraud findings; list, place and release fraud blocks",
		Description: "Fraud control watches every authorisation and source usage record the ledger applies for\n" +
			"IRSF to high-risk ranges, bursts of short calls (wangiri, traffic pumping), sudden traffic to new\n" +
			"destinations and simultaneous calls from one calling number (rules and thresholds: `fraud config`;\n" +
			"set them in the network configuration file, docs/examples/network.yaml). A rule alerts\n" +
			"(`fraud events`, metrics) or blocks: the member's new authorisations to the destination prefix (or\n" +
			"from the calling number) are refused with OSP status 403 until an operator releases the block.\n" +
			"Blocks and releases are ledger commands: every node enforces them, and `fraud list --all` shows\n" +
			"who decided what, when, by which rule and on which evidence.",
		Subcommands: []*cli.Command{
			{Name: "list", Usage: "list fraud blocks (active ones unless --all)", Flags: withAdmin(true,
				&cli.BoolFlag{Name: "all", Usage: "released blocks too", EnvVars: env("ALL")},
				&cli.StringFlag{Name: "member", Usage: "only this member's blocks", EnvVars: env("MEMBER")}),
				Action: func(c *cli.Context) error {
					return adminRun(c, func(ctx context.Context, a *adminClient) error {
						q := url.Values{}
						if c.Bool("all") {
							q.Set("all", "true")
						}
						if m := c.String("member"); m != "" {
							q.Set("member", m)
						}
						var bs []ledger.FraudBlockRecord
						if err := a.do(ctx, http.MethodGet, "/v1/fraud/blocks", q, nil, &bs); err != nil {
							return err
						}
						return printFraudBlocks(c, bs, bs)
					})
				}},
			{Name: "events", Usage: "the findings of the node asked, newest first", Flags: withAdmin(true,
				&cli.IntFlag{Name: "limit", Usage: "at most this many (1..1000)", Value: 100, EnvVars: env("LIMIT")}),
				Action: func(c *cli.Context) error {
					return adminRun(c, func(ctx context.Context, a *adminClient) error {
						var ev node.FraudEvents
						q := url.Values{"limit": {strconv.Itoa(c.Int("limit"))}}
						if err := a.do(ctx, http.MethodGet, "/v1/fraud/events", q, nil, &ev); err != nil {
							return err
						}
						t := &table{head: []string{"AT", "RULE", "ACTION", "MEMBER", "PREFIX", "CALLING", "OUTCOME", "EVIDENCE"}}
						for _, e := range ev.Events {
							t.add(e.At.UTC().Format(time.RFC3339), string(e.Rule), string(e.Action), e.Member, orDash(e.Prefix),
								orDash(e.Calling), e.Outcome, e.Evidence)
						}
						return printResult(c, ev, t)
					})
				}},
			{Name: "block", Usage: "block a member's calls to a destination prefix, or calls from a calling number",
				Description: "Give --member and --prefix (that member's calls to numbers starting with the prefix), or\n" +
					"--calling (calls from that number, of every member unless --member is given too).",
				Flags: withAdmin(true,
					&cli.StringFlag{Name: "member", Usage: "member id", EnvVars: env("MEMBER")},
					&cli.StringFlag{Name: "prefix", Usage: "destination prefix (E.164 digits)", EnvVars: env("PREFIX")},
					&cli.StringFlag{Name: "calling", Usage: "calling number (E.164)", EnvVars: env("CALLING")},
					&cli.StringFlag{Name: "reason", Usage: "why (recorded; required)", EnvVars: env("REASON")},
					byFlag),
				Action: func(c *cli.Context) error {
					req := node.FraudBlockRequest{Member: c.String("member"), Prefix: c.String("prefix"), Calling: c.String("calling"),
						Reason: c.String("reason"), By: byName(c)}
					if req.Reason == "" {
						return usage("--reason is required: the block is audited")
					}
					if req.Prefix == "" && req.Calling == "" {
						return usage("give --prefix (with --member) or --calling")
					}
					if req.Prefix != "" && req.Member == "" {
						return usage("--prefix needs --member (block a route for every member with `route`)")
					}
					return adminRun(c, func(ctx context.Context, a *adminClient) error {
						var rec ledger.FraudBlockRecord
						if err := a.do(ctx, http.MethodPost, "/v1/fraud/blocks", nil, req, &rec); err != nil {
							return err
						}
						return printFraudBlocks(c, rec, []ledger.FraudBlockRecord{rec})
					})
				}},
			{Name: "release", Usage: "release a fraud block: its calls are authorised again", ArgsUsage: "BLOCK-ID", Flags: withAdmin(true,
				&cli.StringFlag{Name: "reason", Usage: "why (recorded; required)", EnvVars: env("REASON")},
				byFlag),
				Action: func(c *cli.Context) error {
					id, err := oneArg(c, "block ID")
					if err != nil {
						return err
					}
					if c.String("reason") == "" {
						return usage("--reason is required: the release is audited")
					}
					return adminRun(c, func(ctx context.Context, a *adminClient) error {
						var rec ledger.FraudBlockRecord
						body := node.FraudReleaseRequest{Reason: c.String("reason"), By: byName(c)}
						if err := a.do(ctx, http.MethodPost, "/v1/fraud/blocks/"+pathEscape(id)+"/release", nil, body, &rec); err != nil {
							return err
						}
						return printFraudBlocks(c, rec, []ledger.FraudBlockRecord{rec})
					})
				}},
			{Name: "config", Usage: "the fraud rules and high-risk ranges in force", Flags: withAdmin(true),
				Action: func(c *cli.Context) error {
					return adminRun(c, func(ctx context.Context, a *adminClient) error {
						var cfg node.FraudConfigView
						if err := a.do(ctx, http.MethodGet, "/v1/fraud/config", nil, nil, &cfg); err != nil {
							return err
						}
						t := &table{head: []string{"RULE", "ACTION", "WINDOW", "MIN_CALLS", "FACTOR", "OTHER"}}
						for _, r := range cfg.Rules {
							other := ""
							switch r.Rule {
							case "short_calls":
								other = fmt.Sprintf("short < %ds, ratio ≥ %s", r.ShortSeconds, orDash(string(r.Ratio)))
							case "new_destination":
								other = fmt.Sprintf("or %s min; new for %s", orDash(string(r.MinMinutes)), r.NewFor)
							case "simultaneous":
								other = fmt.Sprintf("more than %d at once per calling number", r.MaxConcurrent)
							}
							t.add(string(r.Rule), string(r.Action), r.Window, strconv.Itoa(r.MinCalls), orDash(string(r.Factor)), orDash(other))
						}
						return printResult(c, cfg, t)
					})
				}},
		},
	}
}

// byName is --by, or the login name.
func byName(c *cli.Context) string {
	if b := c.String("by"); b != "" {
		return b
	}
	return os.Getenv("USER")
}

func printFraudBlocks(c *cli.Context, v any, bs []ledger.FraudBlockRecord) error {
	t := &table{head: []string{"ID", "MEMBER", "PREFIX", "CALLING", "RULE", "BY", "AT", "RELEASED", "REASON"}}
	for _, b := range bs {
		rel := "-"
		if !b.Active() {
			rel = b.ReleasedAt.UTC().Format(time.RFC3339) + " by " + b.ReleasedBy
		}
		reason := b.Reason
		if b.Evidence != "" {
			reason = b.Evidence
		}
		t.add(b.ID, orDash(b.Member), orDash(b.Prefix), orDash(b.Calling), b.Rule, b.By, b.At.UTC().Format(time.RFC3339), rel, reason)
	}
	return printResult(c, v, t)
}
