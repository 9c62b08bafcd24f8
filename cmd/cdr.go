package cmd

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/settlement"
)

// cdrCommand is `ospnode cdr list|export`.
func cdrCommand() *cli.Command {
	env := envVars("CDR")
	filters := func() []cli.Flag {
		return []cli.Flag{
			&cli.StringFlag{Name: "member", Usage: "records of this member (originated or reported)", EnvVars: env("MEMBER")},
			&cli.StringFlag{Name: "from", Usage: "calls ending at or after (RFC 3339 or 2006-01-02, UTC)", EnvVars: env("FROM")},
			&cli.StringFlag{Name: "to", Usage: "calls ending before (RFC 3339 or 2006-01-02, UTC)", EnvVars: env("TO")},
			&cli.StringFlag{Name: "number", Usage: "called numbers starting with these digits", EnvVars: env("NUMBER")},
			&cli.BoolFlag{Name: "unmatched", Usage: "only usage of unknown or expired transactions", EnvVars: env("UNMATCHED")},
		}
	}
	return &cli.Command{
		Name:  "cdr",
		Usage: "list and export call detail records (usage) from the ledger",
		Subcommands: []*cli.Command{
			{Name: "list", Usage: "one page of records", Flags: withAdmin(true, append(filters(),
				&cli.IntFlag{Name: "limit", Usage: "records per page", Value: 100, EnvVars: env("LIMIT")},
				&cli.Uint64Flag{Name: "after", Usage: "cursor: the last record id of the previous page", EnvVars: env("AFTER")})...),
				Action: cdrList},
			{Name: "export", Usage: "every matching record, streamed (CSV in the format settle statement and reconcile read)",
				Description: "CSV has one line per rated side of a call: the counterparty it is owed by or to, that side's\n" +
					"deck's billable seconds and amount, our network id (whose numbering transaction_id is) and,\n" +
					"for a peer's line, peer_transaction_id: the id that network knows the call by. Send a peer\n" +
					"its lines (--counterparty PEER) to reconcile against: `ospnode reconcile` pairs the two\n" +
					"networks' exports on those ids.",
				Flags: withAdmin(false, append(filters(),
					&cli.StringFlag{Name: "counterparty", Usage: "CSV: only the lines of this member or peer (its side of each call), what it reconciles against", EnvVars: env("COUNTERPARTY")},
					&cli.StringFlag{Name: "format", Usage: "csv or json", Value: "csv", EnvVars: env("FORMAT")},
					&cli.StringFlag{Name: "out", Usage: "write to this file instead of stdout", EnvVars: env("OUT")})...),
				Action: cdrExport},
			{Name: "unfinished", Usage: "calls that connected but whose source or destination sent no final record before the usage deadline (nothing is paid for that side)",
				Flags:  withAdmin(true, &cli.IntFlag{Name: "limit", Usage: "at most this many calls", Value: 1000, EnvVars: env("LIMIT")}),
				Action: cdrUnfinished},
		},
	}
}

func cdrQuery(c *cli.Context) (url.Values, error) {
	q := url.Values{}
	for _, f := range []string{"member", "from", "to", "number"} {
		if v := c.String(f); v != "" {
			q.Set(f, v)
		}
	}
	for _, f := range []string{"from", "to"} {
		if v := c.String(f); v != "" {
			if _, err := time.Parse(time.RFC3339, v); err != nil {
				if _, err := time.Parse("2006-01-02", v); err != nil {
					return nil, usage("--%s %q: want RFC 3339 or 2006-01-02", f, v)
				}
			}
		}
	}
	if c.Bool("unmatched") {
		q.Set("unmatched", "true")
	}
	return q, nil
}

type cdrPage struct {
	CDRs      []ledger.Usage `json:"cdrs"`
	Count     int            `json:"count"`
	NextAfter string         `json:"next_after"`
}

func cdrList(c *cli.Context) error {
	q, err := cdrQuery(c)
	if err != nil {
		return err
	}
	if c.Int("limit") <= 0 {
		return usage("--limit must be positive")
	}
	q.Set("limit", strconv.Itoa(c.Int("limit")))
	if a := c.Uint64("after"); a > 0 {
		q.Set("after", strconv.FormatUint(a, 10))
	}
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		var p cdrPage
		if err := a.do(ctx, http.MethodGet, "/v1/cdrs", q, nil, &p); err != nil {
			return err
		}
		t := &table{head: []string{"ID", "TX", "ROLE", "REPORTER", "CALLING", "CALLED", "DURATION", "BILLABLE", "SELL", "BUY", "FLAGS"}}
		for _, u := range p.CDRs {
			bill, sell, buy := "-", "-", "-"
			if r := u.Rating; r != nil {
				bill = billableText(r)
				sell, buy = amountText(r.Sell), amountText(r.Buy)
			}
			flags := ""
			if u.Phase != ledger.PhaseNone && u.Phase != ledger.PhaseFinal {
				flags += u.Phase.String() + " "
			}
			if u.Conflict {
				flags += "conflict "
			}
			if u.Unmatched {
				flags += "unmatched "
			}
			if u.LateAdjustment {
				flags += "late"
			}
			t.add(strconv.FormatUint(u.ID, 10), strconv.FormatUint(u.TransactionID, 10), u.Role.String(), u.Reporter, u.Calling,
				u.Called, settlement.FormatMillis(u.DurationMillis), bill, sell, buy, orDash(flags))
		}
		if err := printResult(c, p, t); err != nil {
			return err
		}
		if p.NextAfter != "" && c.String("output") == "table" {
			fmt.Fprintf(c.App.ErrWriter, "more: --after %s\n", p.NextAfter)
		}
		return nil
	})
}

func cdrExport(c *cli.Context) error {
	q, err := cdrQuery(c)
	if err != nil {
		return err
	}
	f := c.String("format")
	if f != "csv" && f != "json" {
		return usage("--format %q: want csv or json", f)
	}
	q.Set("format", f)
	if cp := c.String("counterparty"); cp != "" {
		if f != "csv" {
			return usage("--counterparty is for --format csv (JSON lists the ledger's usage records whole)")
		}
		q.Set("counterparty", cp)
	}
	q.Set("limit", "0") // everything, streamed
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		a.hc.Timeout = 0 // a month of CDRs takes as long as it takes; ctx still cancels
		resp, err := a.raw(ctx, http.MethodGet, "/v1/cdrs", q, nil, "")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var w io.Writer = c.App.Writer
		if name := c.String("out"); name != "" {
			fh, err := os.Create(name)
			if err != nil {
				return err
			}
			defer fh.Close()
			w = fh
		}
		if _, err := io.Copy(w, resp.Body); err != nil {
			return fmt.Errorf("export interrupted: %w", err)
		}
		return nil
	})
}

func cdrUnfinished(c *cli.Context) error {
	if c.Int("limit") <= 0 {
		return usage("--limit must be positive")
	}
	q := url.Values{"limit": {strconv.Itoa(c.Int("limit"))}}
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		var p struct {
			Calls []ledger.UnfinishedCall `json:"calls"`
			Count int                     `json:"count"`
		}
		if err := a.do(ctx, http.MethodGet, "/v1/calls/unfinished", q, nil, &p); err != nil {
			return err
		}
		t := &table{head: []string{"TX", "ROLE", "MEMBER", "CALLED", "SETUP RECORD", "DEADLINE"}}
		for _, u := range p.Calls {
			t.add(strconv.FormatUint(u.TransactionID, 10), u.Role.String(), u.SourceMember, u.Called,
				strconv.FormatUint(u.SetupUsageID, 10), u.UsageDeadline.UTC().Format(time.RFC3339))
		}
		return printResult(c, p, t)
	})
}

// billableText is a rating's billable seconds: one number, or "sell/buy"
// when the two sides' decks billed the call differently.
func billableText(r *ledger.Rating) string {
	if r.SellSeconds() != r.BuySeconds() {
		return strconv.FormatInt(r.SellSeconds(), 10) + "/" + strconv.FormatInt(r.BuySeconds(), 10)
	}
	return strconv.FormatInt(r.BillableSeconds, 10)
}
