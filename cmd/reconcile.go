package cmd

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/settlement"
)

// reconcileCommand is `ospnode reconcile`: match our CDRs against a
// counterparty's, offline. Exit status: 0 no dispute, 3 a dispute was raised
// (volume or rate; the report says which and why), 1 a bad input file (the
// message names file, line and field), 2 bad flags.
func reconcileCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "ours", Usage: "our CDR CSV (with --internal: one file with source and destination roles); or give --node to take ours from a running node's ledger", EnvVars: []string{"OSPNODE_RECONCILE_OURS"}},
		&cli.StringFlag{Name: "counterparty", Usage: "with --node: whose CDRs --theirs holds (member or peer id)", EnvVars: []string{"OSPNODE_RECONCILE_COUNTERPARTY"}},
		&cli.StringFlag{Name: "theirs", Usage: "the counterparty's CDR CSV", EnvVars: []string{"OSPNODE_RECONCILE_THEIRS"}},
		&cli.BoolFlag{Name: "internal", Usage: "compare the durations the source-role and destination-role records of --ours report (amounts are not compared: each side is rated on its own deck)", EnvVars: []string{"OSPNODE_RECONCILE_INTERNAL"}},
		&cli.DurationFlag{Name: "tolerance", Usage: "billable-seconds difference still counted as partial (0 = none)", Value: settlement.DefaultTolerance, EnvVars: []string{"OSPNODE_RECONCILE_TOLERANCE"}},
		&cli.DurationFlag{Name: "skew", Usage: "connect-time skew for matching without ids", Value: settlement.DefaultSkew, EnvVars: []string{"OSPNODE_RECONCILE_SKEW"}},
		&cli.StringFlag{Name: "period", Usage: "only records connected in this period: 2026-11, 2026-11-05 or START/END", EnvVars: []string{"OSPNODE_RECONCILE_PERIOD"}},
		&cli.StringFlag{Name: "currency", Usage: "invoice currency; also the currency of amounts in files without a currency column", EnvVars: []string{"OSPNODE_RECONCILE_CURRENCY"}},
		&cli.StringFlag{Name: "volume-ratio", Usage: "volume dispute when the difference is at least this share of the invoice", Value: "0.01", EnvVars: []string{"OSPNODE_RECONCILE_VOLUME_RATIO"}},
		&cli.StringFlag{Name: "volume-minimum", Usage: "volume dispute when the difference is at least this amount", Value: "1000", EnvVars: []string{"OSPNODE_RECONCILE_VOLUME_MINIMUM"}},
		&cli.StringFlag{Name: "output", Usage: "text, json or csv", Value: "text", EnvVars: []string{"OSPNODE_OUTPUT"}},
		&cli.IntFlag{Name: "max-records", Usage: "text output: records listed per class (-1 = all)", Value: 20, EnvVars: []string{"OSPNODE_RECONCILE_MAX_RECORDS"}},
	}
	flags = append(flags, cdrFormatFlags("ours", "RECONCILE_")...)
	flags = append(flags, cdrFormatFlags("theirs", "RECONCILE_")...)
	flags = append(flags, adminFlags()...)
	return &cli.Command{
		Name:  "reconcile",
		Usage: "match our CDRs against a counterparty's; exit 0 no dispute, 3 dispute raised, 1 bad input, 2 bad usage",
		Description: "Records are paired by transaction id, then Call-ID, then calling and called number with the\n" +
			"connect time within --skew. A file's network column says whose numbering its transaction_id\n" +
			"is (ospnode exports write it; a member's own file, without it, carries the ids we gave it).\n" +
			"Two networks' ids are never compared as equals: their records pair when one side's\n" +
			"peer_transaction_id is the other's transaction_id (`cdr export --counterparty PEER` writes\n" +
			"it for the calls forwarded to that peer), or on Call-ID with connect times within --skew.",
		Flags:  flags,
		Action: reconcile,
	}
}

func reconcile(c *cli.Context) error {
	out := c.String("output")
	if out != "text" && out != "json" && out != "csv" {
		return settleUsage("--output %q: want text, json or csv", out)
	}
	internal := c.Bool("internal")
	if !internal && c.String("theirs") == "" {
		return settleUsage("give --theirs (or --internal)")
	}
	if c.IsSet("node") {
		if c.String("ours") != "" {
			return settleUsage("give --ours (offline) or --node (online), not both")
		}
		return reconcileOnline(c, out, internal)
	}
	if c.String("ours") == "" {
		return settleUsage("give --ours FILE, or --node URL to take our CDRs from a running node's ledger")
	}
	period, err := settlement.ParsePeriod(c.String("period"))
	if err != nil {
		return settleUsage("--period: %v", err)
	}
	cur := c.String("currency")
	if cur != "" && !money.ValidCurrency(cur) {
		return settleUsage("--currency %q: not an ISO 4217 code", cur)
	}
	ratio, err := money.ParseDecimal(c.String("volume-ratio"))
	if err != nil || ratio.Sign() < 0 {
		return settleUsage("--volume-ratio %q: want a non-negative decimal such as 0.01", c.String("volume-ratio"))
	}
	minimum, err := money.ParseDecimal(c.String("volume-minimum"))
	if err != nil || minimum.Sign() < 0 {
		return settleUsage("--volume-minimum %q: want a non-negative decimal", c.String("volume-minimum"))
	}
	tol := c.Duration("tolerance")
	if tol < 0 {
		return settleUsage("--tolerance must not be negative")
	}
	if tol == 0 {
		tol = -1 // the flag's 0 means no tolerance; the library's 0 means default
	}
	opts := settlement.ReconcileOptions{
		Tolerance: tol, Skew: c.Duration("skew"), Period: c.String("period"), Currency: cur,
		VolumeDisputeRatio: ratio, VolumeDisputeMinimum: minimum,
	}
	if opts.Skew <= 0 {
		return settleUsage("--skew must be positive")
	}
	oursFmt, err := cdrFormat(c, "ours", cur)
	if err != nil {
		return err
	}
	ours, err := readCDRFile(c.String("ours"), oursFmt)
	if err != nil {
		return err
	}
	ours = inPeriod(ours, period)
	var rep *settlement.Report
	if internal {
		if rep, err = settlement.ReconcileInternal(ours, opts); err != nil {
			return badInput(c.String("ours"), err)
		}
	} else {
		theirsFmt, err := cdrFormat(c, "theirs", cur)
		if err != nil {
			return err
		}
		theirs, err := readCDRFile(c.String("theirs"), theirsFmt)
		if err != nil {
			return err
		}
		theirs = inPeriod(theirs, period)
		if rep, err = settlement.Reconcile(ours, theirs, opts); err != nil {
			return badInput(c.String("ours")+" vs "+c.String("theirs"), err)
		}
	}
	if err := withOutput(c, "", func(w io.Writer) error {
		switch out {
		case "json":
			return rep.WriteJSON(w)
		case "csv":
			return rep.WriteCSV(w)
		}
		return rep.WriteText(w, c.Int("max-records"))
	}); err != nil {
		return err
	}
	if rep.Decision.Disputed() {
		return cli.Exit("", exitDispute)
	}
	return nil
}

func inPeriod(cdrs []settlement.CDR, p settlement.Period) []settlement.CDR {
	out := cdrs[:0]
	for _, c := range cdrs {
		if p.Contains(c.ConnectTime) {
			out = append(out, c)
		}
	}
	return out
}

// reconcileOnline runs the reconciliation on a node: POST /v1/reconcile
// with their CDR file (ours come from the ledger), or GET
// /v1/reconcile/internal. The exit status follows the offline command (3
// when the node reports a dispute).
func reconcileOnline(c *cli.Context, out string, internal bool) error {
	if c.String("period") == "" {
		return settleUsage("--period is required with --node")
	}
	q := url.Values{"period": {c.String("period")}, "format": {out},
		"tolerance":      {c.Duration("tolerance").String()},
		"skew":           {c.Duration("skew").String()},
		"volume_ratio":   {c.String("volume-ratio")},
		"volume_minimum": {c.String("volume-minimum")},
		"max_records":    {strconv.Itoa(c.Int("max-records"))}}
	if cur := c.String("currency"); cur != "" {
		q.Set("currency", cur)
	}
	a, err := newAdminClient(c)
	if err != nil {
		return err
	}
	var resp *http.Response
	if internal {
		resp, err = a.raw(c.Context, http.MethodGet, "/v1/reconcile/internal", q, nil, "")
	} else {
		if c.String("counterparty") == "" {
			return settleUsage("--counterparty is required with --node (whose CDRs --theirs holds)")
		}
		q.Set("counterparty", c.String("counterparty"))
		for _, f := range []struct{ flag, param string }{{"columns-theirs", "columns"}, {"time-layout-theirs", "time_layout"}, {"duration-unit-theirs", "duration_unit"}} {
			if v := c.String(f.flag); v != "" {
				q.Set(f.param, v)
			}
		}
		fh, ferr := os.Open(c.String("theirs"))
		if ferr != nil {
			return badInput(c.String("theirs"), ferr)
		}
		defer fh.Close()
		resp, err = a.raw(c.Context, http.MethodPost, "/v1/reconcile", q, fh, "text/csv")
		if err != nil && isAdminStatus(err, http.StatusBadRequest) {
			return badInput(c.String("theirs"), err)
		}
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := withOutput(c, "", func(w io.Writer) error {
		_, err := io.Copy(w, resp.Body)
		return err
	}); err != nil {
		return err
	}
	if resp.Header.Get("X-Ospnode-Dispute") == "true" {
		return cli.Exit("", exitDispute)
	}
	return nil
}
