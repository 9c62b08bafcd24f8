package cmd

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/settlement"
)

// settleNetCommand is `ospnode settle net`: the mutual traffic of two
// networks netted per currency for a period (SETTLEMENT.md), offline from
// two rated CDR files or online from a node's ledger.
func settleNetCommand() *cli.Command {
	return &cli.Command{
		Name:  "net",
		Usage: "net what a counterparty owes us against what we owe it, per currency, for a period",
		Description: `Offline, from two rated CDR files (e.g. outputs of settle rate):
   ospnode settle net --they-owe SELL.csv --we-owe BUY.csv --us NET-A --counterparty NET-B --period 2026-11
     --they-owe  the calls the counterparty pays us for (it originated them; rated with our sell deck)
     --we-owe    the calls we pay the counterparty for (it terminated them; rated with its buy deck)
   CDRs with another counterparty in their counterparty column, or outside the period, are left out.

Online, both directions from a running node's ledger (GET /v1/netting):
   ospnode settle net --node URL --token T --counterparty carrier-a --period 2026-11

Each side is totalled per currency like settle statement; the invoice amounts
(rounded to the currency's minor unit) are netted: net = they owe us − we owe
them, positive when they pay us. Currencies are never mixed.

--output html or pdf is the netting statement to send: per currency what each
side owes the other and who pays whom the net, in words, with both parties'
names (offline --us-name and --counterparty-name; --us-address,
--counterparty-address and their --*-tax-id print under them), the due date
(--due-days), a statement number (the same
for the same netting issued again), the issue date and the period's bounds.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "they-owe", Usage: "offline: rated CDR CSV of the calls the counterparty owes us for", EnvVars: []string{"OSPNODE_SETTLE_THEY_OWE"}},
			&cli.StringFlag{Name: "we-owe", Usage: "offline: rated CDR CSV of the calls we owe the counterparty for", EnvVars: []string{"OSPNODE_SETTLE_WE_OWE"}},
			&cli.StringFlag{Name: "us", Usage: "offline: our network's name as it appears in the output", Value: "us", EnvVars: []string{"OSPNODE_SETTLE_US"}},
			&cli.StringFlag{Name: "counterparty", Aliases: []string{"them"}, Usage: "the other network: offline, as in the CDRs' counterparty column; online, a member or peer id", Required: true, EnvVars: []string{"OSPNODE_SETTLE_COUNTERPARTY"}},
			&cli.StringFlag{Name: "period", Usage: "2026-11, 2026-11-05 or START/END (UTC)", Required: true, EnvVars: []string{"OSPNODE_SETTLE_PERIOD"}},
			&cli.StringFlag{Name: "us-name", Usage: "offline: our network's display name on html and pdf (online the node's network name)", EnvVars: []string{"OSPNODE_SETTLE_US_NAME"}},
			&cli.StringFlag{Name: "counterparty-name", Usage: "offline: the counterparty's display name on html and pdf (online the member's or peer's name)", EnvVars: []string{"OSPNODE_SETTLE_COUNTERPARTY_NAME"}},
			&cli.StringFlag{Name: "us-address", Usage: "offline: our postal address, lines separated by ';' (online the network's settings give it)", EnvVars: []string{"OSPNODE_SETTLE_US_ADDRESS"}},
			&cli.StringFlag{Name: "us-tax-id", Usage: "offline: our VAT or registration number", EnvVars: []string{"OSPNODE_SETTLE_US_TAX_ID"}},
			&cli.StringFlag{Name: "counterparty-address", Usage: "offline: the counterparty's postal address, lines separated by ';' (online its member or peer settings)", EnvVars: []string{"OSPNODE_SETTLE_COUNTERPARTY_ADDRESS"}},
			&cli.StringFlag{Name: "counterparty-tax-id", Usage: "offline: the counterparty's VAT or registration number", EnvVars: []string{"OSPNODE_SETTLE_COUNTERPARTY_TAX_ID"}},
			&cli.StringFlag{Name: "issue-date", Usage: "issue date printed on html and pdf (2006-01-02; default today, UTC)", EnvVars: []string{"OSPNODE_SETTLE_ISSUE_DATE"}},
			&cli.IntFlag{Name: "due-days", Usage: "payment terms: the net falls due this many days after the issue date (0: no due date; online the default is the counterparty's or the network's terms)", EnvVars: []string{"OSPNODE_SETTLE_DUE_DAYS"}},
			&cli.StringFlag{Name: "output", Usage: "text, json, csv, or a netting statement to send: html or pdf", Value: "text", EnvVars: []string{"OSPNODE_OUTPUT"}},
			&cli.StringFlag{Name: "out", Usage: "write to this file instead of stdout (pdf is not written to a terminal)", EnvVars: []string{"OSPNODE_SETTLE_OUT"}},
		}, append(cdrFormatFlags("", "SETTLE_"), adminFlags()...)...),
		Action: settleNet,
	}
}

func settleNet(c *cli.Context) error {
	period, err := settlement.ParsePeriod(c.String("period"))
	if err != nil {
		return settleUsage("--period: %v", err)
	}
	out := c.String("output")
	switch out {
	case "text", "json", "csv", "html", "pdf":
	default:
		return settleUsage("--output %q: want text, json, csv, html or pdf", out)
	}
	if out == "pdf" && c.String("out") == "" && isTerminal(c.App.Writer) {
		return settleUsage("--output pdf: give --out FILE.pdf (or redirect stdout): a PDF is not for a terminal")
	}
	issued := time.Now().UTC()
	if d := c.String("issue-date"); d != "" {
		if issued, err = time.Parse("2006-01-02", d); err != nil {
			return settleUsage("--issue-date %q: want 2006-01-02", d)
		}
	}
	if n := c.Int("due-days"); n < 0 || n > 366 {
		return settleUsage("--due-days %d: want 0 (no due date) to 366", n)
	}
	var details [2]settlement.PartyDetails // us, them
	for i, who := range []string{"us", "counterparty"} {
		b := ledger.BillingIdentity{Address: addressLines(c.String(who + "-address")), TaxID: strings.TrimSpace(c.String(who + "-tax-id"))}
		if p := b.Problems(); len(p) > 0 {
			return settleUsage("--%s-address/--%s-tax-id: %s", who, who, strings.Join(p, "; "))
		}
		details[i] = settlement.PartyDetails{Address: b.Address, TaxID: b.TaxID}
	}
	they, we := c.String("they-owe"), c.String("we-owe")
	if c.IsSet("node") {
		if they != "" || we != "" {
			return settleUsage("give --they-owe and --we-owe (offline) or --node (online), not both")
		}
		for _, f := range []string{"us-name", "counterparty-name", "us-address", "us-tax-id", "counterparty-address", "counterparty-tax-id"} {
			if c.String(f) != "" {
				return settleUsage("--%s is for offline netting: online the node names the parties from its settings", f)
			}
		}
		return settleNetOnline(c, out)
	}
	if they == "" || we == "" {
		return settleUsage("give both --they-owe FILE and --we-owe FILE, or --node URL to net from a running node's ledger")
	}
	format, err := cdrFormat(c, "", "")
	if err != nil {
		return err
	}
	theirCDRs, err := readCDRFile(they, format)
	if err != nil {
		return err
	}
	ourCDRs, err := readCDRFile(we, format)
	if err != nil {
		return err
	}
	nt, err := settlement.BuildNetting(c.String("us"), c.String("counterparty"), period, theirCDRs, ourCDRs)
	if err != nil {
		return cli.Exit(fmt.Sprintf("netting --they-owe %s / --we-owe %s: %v", they, we, err), exitBadInput)
	}
	nt.Heading = settlement.NettingHeading{UsName: c.String("us-name"), ThemName: c.String("counterparty-name"), Issued: issued,
		UsDetails: details[0], ThemDetails: details[1]}
	if n := c.Int("due-days"); n > 0 {
		nt.Heading.Due = issued.AddDate(0, 0, n)
	}
	return withOutput(c, c.String("out"), func(w io.Writer) error {
		switch out {
		case "json":
			return nt.WriteJSON(w)
		case "csv":
			return nt.WriteCSV(w)
		case "html":
			return nt.WriteHTML(w)
		case "pdf":
			return nt.WritePDF(w)
		}
		return nt.WriteText(w)
	})
}

// settleNetOnline asks a node for the netting (GET /v1/netting): the node
// reads both directions of the counterparty's usage from its ledger and
// runs the same settlement.BuildNetting.
func settleNetOnline(c *cli.Context, out string) error {
	a, err := newAdminClient(c)
	if err != nil {
		return err
	}
	q := url.Values{"counterparty": {c.String("counterparty")}, "period": {c.String("period")}, "format": {out}}
	if d := c.String("issue-date"); d != "" {
		q.Set("issue_date", d)
	}
	if c.IsSet("due-days") { // otherwise the node's payment terms decide
		q.Set("due_days", strconv.Itoa(c.Int("due-days")))
	}
	resp, err := a.raw(c.Context, http.MethodGet, "/v1/netting", q, nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return withOutput(c, c.String("out"), func(w io.Writer) error {
		_, err := io.Copy(w, resp.Body)
		return err
	})
}
