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
				append([]cli.Flag{
					&cli.StringFlag{Name: "id", Usage: "network id, e.g. PURPLE (peers know the network by it)", Required: true, EnvVars: env("ID")},
					&cli.StringFlag{Name: "name", Usage: "display name", EnvVars: env("NAME")},
					&cli.StringFlag{Name: "currency", Usage: "ISO 4217 settlement (home) currency, e.g. USD", Required: true, EnvVars: env("CURRENCY")},
					&cli.UintFlag{Name: "txid-epoch", Usage: "0..127 (0..7 with a txid network), folded into every TransactionId: raise it when rebuilding a network from an empty ledger so peers never see an id twice", EnvVars: env("TXID_EPOCH")},
					&cli.IntFlag{Name: "txid-network", Usage: "1..255: this network's number in the high bits of every TransactionId, so peering networks never issue the same id; -1 (default): derived from --id (give distinct numbers to networks that peer, if two derive the same); 0: none (ids as before numbers)", Value: -1, EnvVars: env("TXID_NETWORK")},
					&cli.StringFlag{Name: "billing-basis", Usage: "duration a call is settled on when both sides report: own, source, destination or shorter", Value: string(ledger.BasisOwn), EnvVars: env("BILLING_BASIS")},
				}, billingFlags(env, "none (statements show no due date unless a member or peer has terms); change later with `ospnode apply`")...)...,
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
	var err error
	if net.BillingIdentity, err = billingFromFlags(c); err != nil {
		return err
	}
	if !net.BillingBasis.Valid() {
		return usage("--billing-basis %q: want own, source, destination or shorter", net.BillingBasis)
	}
	if net.ID == "" || strings.ContainsAny(net.ID, " /") {
		return usage("--id %q: want a network id without spaces or slashes, e.g. PURPLE", c.String("id"))
	}
	switch n := c.Int("txid-network"); {
	case n == -1:
		net.TxIDNetwork = ledger.DeriveTxIDNetwork(net.ID)
	case n < 0 || n > 255:
		return usage("--txid-network %d: want 1..255, 0 for none, or -1 to derive it from --id", n)
	default:
		net.TxIDNetwork = uint8(n)
	}
	if net.TxIDNetwork != 0 && net.TxIDEpoch > 7 {
		return usage("--txid-epoch %d: want 0..7 with a txid network (give --txid-network 0 for 0..127)", net.TxIDEpoch)
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
	number := "none"
	if net.TxIDNetwork != 0 {
		number = strconv.Itoa(int(net.TxIDNetwork))
	}
	t := &table{head: []string{"ID", "NAME", "CURRENCY", "TXID EPOCH", "TXID NETWORK", "BILLING BASIS", "PAYMENT TERMS", "TAX ID", "BILLING EMAIL", "ADDRESS"}}
	t.add(net.ID, orDash(net.Name), net.Currency, strconv.Itoa(int(net.TxIDEpoch)), number, basis,
		termsText(net.BillingIdentity, "none"), orDash(net.TaxID), orDash(net.BillingEmail), orDash(strings.Join(net.Address, "; ")))
	return printResult(c, net, t)
}
