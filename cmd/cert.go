package cmd

import (
	"context"
	"fmt"
	"math/big"
	"net/http"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node/pki"
)

// certCommand is `ospnode cert revoke`: revoke a client certificate in the
// replicated ledger, so every node of the cluster refuses it. (`ospnode ca
// revoke` marks it in a local CA directory.)
func certCommand() *cli.Command {
	return &cli.Command{
		Name:  "cert",
		Usage: "certificate revocation in the replicated ledger",
		Subcommands: []*cli.Command{{
			Name: "revoke", Usage: "revoke a certificate serial cluster-wide", ArgsUsage: "SERIAL (decimal, 0x hex, or colon-separated hex)",
			Flags: withAdmin(false, &cli.StringFlag{Name: "reason", Usage: "why (e.g. key-compromise, superseded)", EnvVars: []string{"OSPNODE_CERT_REASON"}}),
			Action: func(c *cli.Context) error {
				arg, err := oneArg(c, "SERIAL")
				if err != nil {
					return err
				}
				serial, err := pki.ParseSerial(arg)
				if err != nil {
					return usage("%v", err)
				}
				return adminRun(c, func(ctx context.Context, a *adminClient) error {
					// The admin API and the ledger take hex.
					body := map[string]string{"serial": serial.Text(16), "reason": c.String("reason")}
					var rc ledger.RevokedCert
					if err := a.do(ctx, http.MethodPost, "/v1/certs/revoke", nil, body, &rc); err != nil {
						return err
					}
					shown := rc.Serial
					if n, ok := new(big.Int).SetString(rc.Serial, 16); ok {
						shown = pki.DescribeSerial(n)
					}
					_, err := fmt.Fprintf(c.App.Writer, "revoked serial %s cluster-wide (%s)\n", shown, orDash(rc.Reason))
					return err
				})
			},
		}},
	}
}
