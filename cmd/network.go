package cmd

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/node"
)

// networkCommand is `ospnode network init|show`: the network a cluster
// serves (POST/GET /v1/network). A node answers every OSP request 503
// until its ledger has one.
func networkCommand() *cli.Command {
	env := envVars("NETWORK")
	return &cli.Command{
		Name:  "network",
		Usage: "create and show the peering network this cluster serves",
		Subcommands: []*cli.Command{
			{Name: "init", Usage: "create the network (once: its id, currency and txid epoch never change)", Flags: withAdmin(true,
				&cli.StringFlag{Name: "id", Usage: "network id, e.g. PURPLE (peers know the network by it)", Required: true, EnvVars: env("ID")},
				&cli.StringFlag{Name: "name", Usage: "display name", EnvVars: env("NAME")},
				&cli.StringFlag{Name: "currency", Usage: "ISO 4217 settlement (home) currency, e.g. USD", Required: true, EnvVars: env("CURRENCY")},
				&cli.UintFlag{Name: "txid-epoch", Usage: "0..127, folded into every TransactionId: raise it when rebuilding a network from an empty ledger so peers never see an id twice", EnvVars: env("TXID_EPOCH")},
				&cli.StringFlag{Name: "billing-basis", Usage: "duration a call is settled on when both sides report: own, source, destination or shorter", Value: string(ledger.BasisOwn), EnvVars: env("BILLING_BASIS")},
			), Action: networkInit},
			{Name: "show", Usage: "show the network", Flags: withAdmin(true), Action: func(c *cli.Context) error {
				return adminRun(c, func(ctx context.Context, a *adminClient) error {
					var net ledger.Network
					if err := a.do(ctx, http.MethodGet, "/v1/network", nil, nil, &net); err != nil {
						return err
					}
					return printNetwork(c, net)
				})
			}},
		},
	}
}

func networkInit(c *cli.Context) error {
	if c.NArg() > 0 {
		return usage("network init takes no arguments (got %q): give --id, --name and --currency", c.Args().Slice())
	}
	net := ledger.Network{ID: strings.TrimSpace(c.String("id")), Name: c.String("name"),
		Currency: strings.ToUpper(c.String("currency")), BillingBasis: ledger.BillingBasis(c.String("billing-basis"))}
	if !money.ValidCurrency(net.Currency) {
		return usage("--currency %q: want an ISO 4217 code such as USD", c.String("currency"))
	}
	if e := c.Uint("txid-epoch"); e > 127 {
		return usage("--txid-epoch %d: want 0..127", e)
	} else {
		net.TxIDEpoch = uint8(e)
	}
	if !net.BillingBasis.Valid() {
		return usage("--billing-basis %q: want own, source, destination or shorter", net.BillingBasis)
	}
	if net.ID == "" || strings.ContainsAny(net.ID, " /") {
		return usage("--id %q: want a network id without spaces or slashes, e.g. PURPLE", c.String("id"))
	}
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		var res node.NetworkInit
		err := a.do(ctx, http.MethodPost, "/v1/network", nil, net, &res)
		if isAdminStatus(err, http.StatusConflict) {
			return fmt.Errorf("network init refused: %w", err)
		}
		if err != nil {
			return err
		}
		if !res.Created {
			return fmt.Errorf("network %s is already initialised (with these same settings): nothing to do; `ospnode network show` shows it", net.ID)
		}
		return printNetwork(c, res.Network)
	})
}

func printNetwork(c *cli.Context, net ledger.Network) error {
	basis := string(net.BillingBasis)
	if basis == "" {
		basis = string(ledger.BasisOwn)
	}
	t := &table{head: []string{"ID", "NAME", "CURRENCY", "TXID EPOCH", "BILLING BASIS"}}
	t.add(net.ID, orDash(net.Name), net.Currency, strconv.Itoa(int(net.TxIDEpoch)), basis)
	return printResult(c, net, t)
}
