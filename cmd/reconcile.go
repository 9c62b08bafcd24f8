package cmd

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

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
		&cli.StringFlag{Name: "memory", Usage: "offline: memory for records at a time; larger inputs are partitioned on disk under --tmp-dir (e.g. 256M, 2G)", Value: "256M", EnvVars: []string{"OSPNODE_RECONCILE_MEMORY"}},
		&cli.StringFlag{Name: "tmp-dir", Usage: "offline: directory for the partition files (default: the system's temporary directory); removed at the end", EnvVars: []string{"OSPNODE_RECONCILE_TMP_DIR"}},
		quietFlag(),
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
			"it for the calls forwarded to that peer), or on Call-ID with connect times within --skew.\n\n" +
			"Offline, both files are read as streams: records are hash-partitioned into files under --tmp-dir\n" +
			"by each matching key in turn (transaction id, Call-ID, calling+called) and matched one partition at\n" +
			"a time, so files larger than memory reconcile within --memory (plus ~50 MB). The pairs, totals and\n" +
			"decision are those of matching in memory; records are listed grouped by class. A file with any\n" +
			"bad record is rejected whole (exit 1), naming its lines.",
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
	if cur != "" && !settlement.ISOCurrency(cur) {
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
	budget, err := parseBytes(c.String("memory"))
	if err != nil || budget < 16<<20 {
		return settleUsage("--memory %q: want a size of at least 16M, e.g. 256M or 2G", c.String("memory"))
	}
	defer leanHeap()()
	oursFmt, err := cdrFormat(c, "ours", cur)
	if err != nil {
		return err
	}
	oursIn, err := openCDRStream(c.String("ours"), oursFmt)
	if err != nil {
		return err
	}
	defer oursIn.close()
	so := settlement.StreamOptions{TmpDir: c.String("tmp-dir"), Period: period, Internal: internal}
	inputBytes := oursIn.size
	var theirs settlement.CDRSource
	name := c.String("ours")
	if !internal {
		theirsFmt, err := cdrFormat(c, "theirs", cur)
		if err != nil {
			return err
		}
		theirsIn, err := openCDRStream(c.String("theirs"), theirsFmt)
		if err != nil {
			return err
		}
		defer theirsIn.close()
		theirs = fileSource(c, "theirs", theirsIn)
		inputBytes += theirsIn.size
		name += " vs " + c.String("theirs")
	}
	so.Partitions = settlement.PartitionsFor(inputBytes, budget)
	rw, err := settlement.NewReportWriter(c.App.Writer, out, c.Int("max-records"))
	if err != nil {
		return settleUsage("--output: %v", err)
	}
	so.Start, so.Sink = rw.Start, rw.Match
	rep, err := settlement.ReconcileStream(fileSource(c, "ours", oursIn), theirs, opts, so)
	if err != nil {
		var ne namedErr
		if errors.As(err, &ne) {
			return badInput(ne.file, ne.err)
		}
		if errors.Is(err, settlement.ErrBadInput) || errors.Is(err, money.ErrCurrencyMismatch) {
			return badInput(name, err)
		}
		return err
	}
	if err := rw.Finish(); err != nil {
		return err
	}
	if rep.Decision.Disputed() {
		return cli.Exit("", exitDispute)
	}
	return nil
}

// namedErr ties a bad-input error to the file it came from, so the
// message names it (ReconcileStream reads two files).
type namedErr struct {
	file string
	err  error
}

func (e namedErr) Error() string { return e.file + ": " + e.err.Error() }
func (e namedErr) Unwrap() error { return e.err }

// fileSource reads an open CDR file for ReconcileStream. A file with any
// bad record is rejected whole (a reconciliation over part of a file would
// raise false disputes): the first bad record ends it, named with its file.
func fileSource(c *cli.Context, side string, in *cdrStream) settlement.CDRSource {
	prog := newProgress(c.App.ErrWriter, "reconcile: reading --"+side, c.Bool("quiet"), in.size, in.read)
	var bad settlement.CDRError
	return func(cd *settlement.CDR) error {
		for {
			err := in.r.Next(cd)
			var re *settlement.RowError
			if errors.As(err, &re) {
				if len(bad.Errors) < settlement.MaxListedErrors {
					bad.Errors = append(bad.Errors, re.Errors...)
				} else {
					bad.Omitted++
				}
				continue
			}
			if err == io.EOF {
				prog.done()
				if len(bad.Errors) > 0 {
					e := bad
					return namedErr{c.String(side), &e}
				}
				return io.EOF
			}
			if err != nil {
				return namedErr{c.String(side), err}
			}
			prog.tick()
			return nil
		}
	}
}

// parseBytes reads a size: a number of bytes, or with a K, M or G suffix
// (powers of 1024; an optional trailing B or iB).
func parseBytes(s string) (int64, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "B"), "I")
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q", s)
	}
	return n * mult, nil
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
