package cmd

import (
	"context"
	"fmt"
	"net/http"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/ledger"
)

// certCommand is `ospnode cert revoke`: revoke a client certificate in the
// replicated ledger, so every node of the cluster refuses it. (`ospnode ca
// revoke` marks it in a local CA directory.)
func certCommand() *cli.Command {
	return &cli.Command{
		Name:  "cert",
		Usage: "certificate revocation in the replicated ledger",
		Subcommands: []*cli.Command{{
			Name: "revoke", Usage: "revoke a certificate serial cluster-wide", ArgsUsage: "SERIAL",
			Flags: withAdmin(false, &cli.StringFlag{Name: "reason", Usage: "why (e.g. key-compromise, superseded)", EnvVars: []string{"OSPNODE_CERT_REASON"}}),
			Action: func(c *cli.Context) error {
				serial, err := oneArg(c, "SERIAL (hex)")
				if err != nil {
					return err
				}
				return adminRun(c, func(ctx context.Context, a *adminClient) error {
					var rc ledger.RevokedCert
					if err := a.do(ctx, http.MethodPost, "/v1/certs/revoke", nil, map[string]string{"serial": serial, "reason": c.String("reason")}, &rc); err != nil {
						return err
					}
					_, err := fmt.Fprintf(c.App.Writer, "revoked serial %s cluster-wide (%s)\n", rc.Serial, orDash(rc.Reason))
					return err
				})
			},
		}},
	}
}
