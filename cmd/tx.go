package cmd

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/settlement"
)

// txCommand is `ospnode tx show`: one call as the ledger holds it, what
// support staff look at first.
func txCommand() *cli.Command {
	env := envVars("TX")
	return &cli.Command{
		Name:  "tx",
		Usage: "look at one call (transaction) in the ledger",
		Subcommands: []*cli.Command{{
			Name:      "show",
			Usage:     "a transaction's source, numbers, destinations, time limit, upstream/downstream ids and every usage record (setup, final, conflicts), by id or by Call-ID",
			ArgsUsage: "[TRANSACTION-ID]",
			Flags:     withAdmin(true, &cli.StringFlag{Name: "call-id", Usage: "find the transactions of this Call-ID (the most recent 200,000 are searched)", EnvVars: env("CALL_ID")}),
			Action:    txShow,
		}},
	}
}

func txShow(c *cli.Context) error {
	callID := c.String("call-id")
	if (c.NArg() == 1) == (callID != "") {
		return usage("give one TRANSACTION-ID or --call-id")
	}
	var id uint64
	if c.NArg() == 1 {
		var err error
		if id, err = strconv.ParseUint(c.Args().First(), 10, 64); err != nil || id == 0 {
			return usage("transaction id %q: want a positive integer", c.Args().First())
		}
	}
	return adminRun(c, func(ctx context.Context, a *adminClient) error {
		var calls []ledger.CallRecords
		if id != 0 {
			var rec ledger.CallRecords
			if err := a.do(ctx, http.MethodGet, "/v1/transactions/"+strconv.FormatUint(id, 10), nil, nil, &rec); err != nil {
				return err
			}
			calls = append(calls, rec)
		} else {
			var p struct {
				Calls []ledger.CallRecords `json:"calls"`
			}
			if err := a.do(ctx, http.MethodGet, "/v1/transactions", url.Values{"call_id": {callID}}, nil, &p); err != nil {
				return err
			}
			if len(p.Calls) == 0 {
				return fmt.Errorf("no transaction with Call-ID %q among the most recent", callID)
			}
			calls = p.Calls
		}
		if c.String("output") == "json" {
			if id != 0 {
				return writeJSON(c.App.Writer, calls[0])
			}
			return writeJSON(c.App.Writer, calls)
		}
		for i, rec := range calls {
			if i > 0 {
				fmt.Fprintln(c.App.Writer)
			}
			if err := writeCall(c, rec); err != nil {
				return err
			}
		}
		return nil
	})
}

func writeCall(c *cli.Context, rec ledger.CallRecords) error {
	w, t := c.App.Writer, rec.Transaction
	fmt.Fprintf(w, "transaction  %d\n", t.ID)
	fmt.Fprintf(w, "source       member %s (messageId %s)\n", t.SourceMember, orDash(t.MessageID))
	fmt.Fprintf(w, "call         %s → %s, Call-ID %s\n", orDash(t.Calling), t.Called, orDash(t.CallID))
	fmt.Fprintf(w, "authorised   %s, time limit %d s, usage accepted until %s\n", t.CreatedAt.UTC().Format(time.RFC3339), t.TimeLimit,
		timeOrDash(t.UsageDeadline))
	if t.UpstreamPeer != "" {
		fmt.Fprintf(w, "forwarded    to peer %s as its transaction %d\n", t.UpstreamPeer, t.UpstreamTransactionID)
	}
	dt := &table{head: []string{"DESTINATION", "KIND", "ADDRESS", "CALLED", "SELL DECK", "BUY DECK", "PEER TX"}}
	for _, d := range t.Destinations {
		ptx := "-"
		if d.PeerTransactionID != 0 {
			ptx = strconv.FormatUint(d.PeerTransactionID, 10)
		}
		dt.add(d.ID, d.Kind, orDash(d.Address), orDash(d.Called), orDash(d.SellDeckID), orDash(d.BuyDeckID), ptx)
	}
	fmt.Fprintln(w)
	if err := printResult(c, nil, dt); err != nil {
		return err
	}
	ut := &table{head: []string{"USAGE", "ROLE", "PHASE", "REPORTER", "COMPONENT", "DURATION", "BILLABLE", "AMOUNT", "POSTING", "FLAGS"}}
	for _, u := range rec.Usage {
		bill, amount := "-", "-"
		if r := u.Rating; r != nil {
			bill = billableText(r)
			amount = amountText(r.Sell)
			if u.Role == ledger.RoleDestination {
				amount = amountText(r.Buy)
			}
		}
		var flags []string
		if (u.Role == ledger.RoleSource && u.ID == rec.PaidSource) || (u.Role == ledger.RoleDestination && u.ID == rec.PaidDestination) {
			flags = append(flags, "paid")
		}
		if u.Conflict {
			flags = append(flags, "conflict")
		}
		if u.Unmatched {
			flags = append(flags, "unmatched: "+u.Mismatch)
		}
		if u.OverLimit {
			flags = append(flags, "over-limit")
		}
		if u.AdjustedBy != 0 {
			flags = append(flags, "adjusted by "+strconv.FormatUint(u.AdjustedBy, 10))
		}
		posting := "-"
		if u.PostingID != 0 {
			posting = strconv.FormatUint(u.PostingID, 10)
		}
		phase := u.Phase.String()
		if u.Phase == ledger.PhaseNone {
			phase = "-"
		}
		ut.add(strconv.FormatUint(u.ID, 10), u.Role.String(), phase, u.Reporter, orDash(u.ComponentID),
			settlement.FormatMillis(u.DurationMillis), bill, amount, posting, orDash(strings.Join(flags, ", ")))
	}
	fmt.Fprintln(w)
	if len(rec.Usage) == 0 {
		_, err := fmt.Fprintln(w, "no usage recorded")
		return err
	}
	return printResult(c, nil, ut)
}

func timeOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
