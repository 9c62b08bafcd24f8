package cmd

import (
	"context"
	"net/http"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/ledger"
)

// periodCommand is `ospnode period close|list`.
func periodCommand() *cli.Command {
	return &cli.Command{
		Name:  "period",
		Usage: "settlement periods: close one (late usage then goes to the next), list them",
		Subcommands: []*cli.Command{
			{Name: "close", Usage: "close the open period at END under ID (e.g. ID 2026-11, END 2026-12-01)", ArgsUsage: "ID",
				Flags: withAdmin(true, &cli.StringFlag{Name: "end", Usage: "end of the period, exclusive (RFC 3339 or 2006-01-02, UTC)", Required: true, EnvVars: []string{"OSPNODE_PERIOD_END"}}),
				Action: func(c *cli.Context) error {
					id, err := oneArg(c, "period ID")
					if err != nil {
						return err
					}
					end := c.String("end")
					if _, err := time.Parse(time.RFC3339, end); err != nil {
						if _, err := time.Parse("2006-01-02", end); err != nil {
							return usage("--end %q: want RFC 3339 or 2006-01-02", end)
						}
					}
					return adminRun(c, func(ctx context.Context, a *adminClient) error {
						var ps []ledger.Period
						if err := a.do(ctx, http.MethodPost, "/v1/periods/close", nil, map[string]string{"id": id, "end": end}, &ps); err != nil {
							return err
						}
						return printPeriods(c, ps)
					})
				}},
			{Name: "list", Usage: "closed periods, then the open one", Flags: withAdmin(true), Action: func(c *cli.Context) error {
				return adminRun(c, func(ctx context.Context, a *adminClient) error {
					var ps []ledger.Period
					if err := a.do(ctx, http.MethodGet, "/v1/periods", nil, nil, &ps); err != nil {
						return err
					}
					return printPeriods(c, ps)
				})
			}},
		},
	}
}

func printPeriods(c *cli.Context, ps []ledger.Period) error {
	t := &table{head: []string{"ID", "START", "END", "STATUS", "CLOSED AT"}}
	ts := func(x time.Time) string {
		if x.IsZero() {
			return "-"
		}
		return x.UTC().Format(time.RFC3339)
	}
	for _, p := range ps {
		st := "open"
		if p.Closed {
			st = "closed"
		}
		t.add(orDash(p.ID), ts(p.Start), ts(p.End), st, ts(p.ClosedAt))
	}
	return printResult(c, ps, t)
}
