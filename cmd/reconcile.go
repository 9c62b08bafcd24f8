package cmd

import (
	"io"

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
		&cli.StringFlag{Name: "ours", Usage: "our CDR CSV (with --internal: one file with source and destination roles)", Required: true, EnvVars: []string{"OSPNODE_RECONCILE_OURS"}},
		&cli.StringFlag{Name: "theirs", Usage: "the counterparty's CDR CSV", EnvVars: []string{"OSPNODE_RECONCILE_THEIRS"}},
		&cli.BoolFlag{Name: "internal", Usage: "compare source-role vs destination-role records of --ours", EnvVars: []string{"OSPNODE_RECONCILE_INTERNAL"}},
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
	return &cli.Command{
		Name:   "reconcile",
		Usage:  "match our CDRs against a counterparty's; exit 0 no dispute, 3 dispute raised, 1 bad input, 2 bad usage",
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
