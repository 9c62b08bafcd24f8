package cmd

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/ledger"
)

// trunkCommand is `ospnode trunk add|list|remove`.
func trunkCommand() *cli.Command {
	env := envVars("TRUNK")
	return &cli.Command{
		Name:  "trunk",
		Usage: "manage members' termination trunks",
		Subcommands: []*cli.Command{
			{Name: "add", Usage: "create or replace a trunk", ArgsUsage: "ID", Flags: withAdmin(true,
				&cli.StringFlag{Name: "member", Usage: "member id that owns it", Required: true, EnvVars: env("MEMBER")},
				&cli.StringFlag{Name: "address", Usage: "SIP signalling address, e.g. [192.0.2.7]:5060", Required: true, EnvVars: env("ADDRESS")},
				&cli.StringFlag{Name: "protocol", Usage: "udp, tcp or tls", Value: "udp", EnvVars: env("PROTOCOL")},
				&cli.IntFlag{Name: "weight", Usage: "load-sharing weight", Value: 1, EnvVars: env("WEIGHT")},
				&cli.IntFlag{Name: "priority", Usage: "lower is preferred", EnvVars: env("PRIORITY")},
				&cli.IntFlag{Name: "capacity", Usage: "concurrent calls (0: unlimited)", EnvVars: env("CAPACITY")},
			), Action: trunkAdd},
			{Name: "list", Usage: "list trunks", Flags: withAdmin(true,
				&cli.StringFlag{Name: "member", Usage: "only this member's trunks", EnvVars: env("MEMBER")}),
				Action: func(c *cli.Context) error {
					return adminRun(c, func(ctx context.Context, a *adminClient) error {
						var q url.Values
						if m := c.String("member"); m != "" {
							q = url.Values{"member": {m}}
						}
						var ts []ledger.Trunk
						if err := a.do(ctx, http.MethodGet, "/v1/trunks", q, nil, &ts); err != nil {
							return err
						}
						return printTrunks(c, ts, ts)
					})
				}},
			{Name: "remove", Usage: "delete a trunk", ArgsUsage: "ID", Flags: withAdmin(false), Action: func(c *cli.Context) error {
				id, err := oneArg(c, "trunk ID")
				if err != nil {
					return err
				}
				return adminRun(c, func(ctx context.Context, a *adminClient) error {
					if err := a.do(ctx, http.MethodDelete, "/v1/trunks/"+pathEscape(id), nil, nil, nil); err != nil {
						return err
					}
					_, err := c.App.Writer.Write([]byte("removed trunk " + id + "\n"))
					return err
				})
			}},
		},
	}
}

func trunkAdd(c *cli.Context) error {
	id, err := oneArg(c, "trunk ID")
	if err != nil {
		return err
	}
	t := ledger.Trunk{ID: id, MemberID: c.String("member"), Address: c.String("address"), Protocol: c.String("protocol"),
		Weight: c.Int("weight"), Priority: c.Int("priority"), Capacity: c.Int("capacity")}
	switch t.Protocol {
	case "udp", "tcp", "tls":
	default:
		return usage("--protocol %q: want udp, tcp or tls", t.Protocol)
	}
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		var out ledger.Trunk
		if err := a.do(ctx, http.MethodPut, "/v1/trunks/"+pathEscape(id), nil, t, &out); err != nil {
			return err
		}
		return printTrunks(c, out, []ledger.Trunk{out})
	})
}

func printTrunks(c *cli.Context, v any, ts []ledger.Trunk) error {
	t := &table{head: []string{"ID", "MEMBER", "ADDRESS", "PROTOCOL", "WEIGHT", "PRIORITY", "CAPACITY"}}
	for _, tr := range ts {
		t.add(tr.ID, tr.MemberID, tr.Address, orDash(tr.Protocol), strconv.Itoa(tr.Weight), strconv.Itoa(tr.Priority), strconv.Itoa(tr.Capacity))
	}
	return printResult(c, v, t)
}
