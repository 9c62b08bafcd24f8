package cmd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/settlement"
)

// Exit codes, one convention for every command (exitStatusHelp shows it
// in `ospnode help`): 0 success; 1 the operation failed (for a file: the
// message names the file, line and field); 2 bad usage (flags, arguments,
// a required flag missing); 3 reconcile raised a dispute; 4 some records
// were rejected — the output holds the rest and the rejects file (or
// stderr) each rejected record with its reason.
const (
	exitBadInput = 1
	exitUsage    = 2
	exitDispute  = 3
	exitRejected = 4
)

func settleUsage(format string, args ...any) error {
	return cli.Exit(fmt.Sprintf(format, args...), exitUsage)
}

func badInput(file string, err error) error {
	return cli.Exit(fmt.Sprintf("%s: %v", file, err), exitBadInput)
}

// cdrFormatFlags are the flags describing a carrier's CDR CSV; prefix
// distinguishes the two sides of reconcile ("" for settle).
func cdrFormatFlags(prefix, env string) []cli.Flag {
	p := func(s string) string {
		if prefix == "" {
			return s
		}
		return s + "-" + prefix
	}
	e := func(s string) []string {
		return []string{"OSPNODE_" + env + strings.ToUpper(strings.ReplaceAll(p(s), "-", "_"))}
	}
	return []cli.Flag{
		&cli.StringFlag{Name: p("columns"), Usage: "column map field=column,… (fields: transaction_id, call_id, calling, called, connect_time, duration, role, counterparty, billable_seconds, amount, currency, prefix, description)", EnvVars: e("columns")},
		&cli.StringFlag{Name: p("time-layout"), Usage: "connect time layout: Go layout, unix, unixms, or empty for RFC 3339 / \"2006-01-02 15:04:05\"", EnvVars: e("time-layout")},
		&cli.StringFlag{Name: p("duration-unit"), Usage: "duration unit: s (with up to 3 decimals) or ms", Value: "s", EnvVars: e("duration-unit")},
	}
}

func cdrFormat(c *cli.Context, prefix, currency string) (settlement.CDRFormat, error) {
	p := func(s string) string {
		if prefix == "" {
			return s
		}
		return s + "-" + prefix
	}
	cols, err := settlement.ParseColumnMap(c.String(p("columns")))
	if err != nil {
		return settlement.CDRFormat{}, settleUsage("--%s: %v", p("columns"), err)
	}
	unit := c.String(p("duration-unit"))
	if unit != "s" && unit != "ms" {
		return settlement.CDRFormat{}, settleUsage("--%s %q: want s or ms", p("duration-unit"), unit)
	}
	return settlement.CDRFormat{Columns: cols, TimeLayout: c.String(p("time-layout")), DurationUnit: unit, Currency: currency}, nil
}

// readCDRFile reads a CDR CSV, naming the file in any error.
func readCDRFile(name string, f settlement.CDRFormat) ([]settlement.CDR, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, badInput(name, err)
	}
	defer fh.Close()
	cdrs, err := settlement.ReadCDRs(fh, f)
	if err != nil {
		return nil, badInput(name, err)
	}
	return cdrs, nil
}

// settleCommand is `ospnode settle`: offline rating and statements from CSV
// files, with no running node.
func settleCommand() *cli.Command {
	return &cli.Command{
		Name:  "settle",
		Usage: "rate CDRs against a rate deck and build statements, offline from CSV files",
		Subcommands: []*cli.Command{
			settleRateCommand(),
			{
				Name:  "statement",
				Usage: "total rated CDRs for a counterparty and period: by destination and by day, invoice rounding shown",
				Description: "A statement is one direction of the traffic with one counterparty in one currency and period:\n" +
					"sell is what the counterparty owes us for the calls it sent, buy what we owe it for the calls it\n" +
					"carried. The html and pdf documents say who owes whom in words, name the issuer and the\n" +
					"counterparty, and carry a statement number (the same for the same statement issued again),\n" +
					"the issue date and the period's bounds (UTC, start inclusive, end exclusive), with every day\n" +
					"of the period.\n\n" +
					"Offline (--cdrs FILE) the file is one direction's rated CDRs (settle rate's output): --direction\n" +
					"defaults to sell, and --issuer, --issuer-name and --counterparty-name name the parties\n" +
					"(--issuer-address, --counterparty-address and their --*-tax-id print under the names).\n" +
					"Online (--node URL) the node builds it from its ledger and names the parties from its\n" +
					"settings (names, addresses, tax ids; the due date from the payment terms); without\n" +
					"--direction it takes the one direction the counterparty has traffic in, and refuses (exit 2)\n" +
					"when there is traffic both ways: give --direction, or see settle net.\n\n" +
					"Examples:\n" +
					"  ospnode settle statement --node URL --counterparty carrier-a --period 2026-11 --direction sell --output pdf --out nov.pdf\n" +
					"  ospnode settle statement --cdrs rated.csv --counterparty acme --period 2026-11 --issuer purple \\\n" +
					"      --issuer-name \"Purple peering\" --counterparty-name \"ACME Telecom\" --output html > nov.html\n\n" +
					"Exit status: 0 written, 1 bad input file or the node refused the request, 2 bad usage (flags).\n\n" +
					"Offline the file is read as a stream: memory holds the per-destination and per-day lines, not\n" +
					"the CDRs. A CDR that counts (its counterparty, in the period) but cannot be totalled — not rated,\n" +
					"rated in another currency without --fx, or a record that does not parse — is left out of every\n" +
					"total, counted by reason on stderr and written to --rejects FILE; the exit status is then 4.",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "cdrs", Usage: "rated CDR CSV (e.g. the output of settle rate); or give --node to build it online from the ledger", EnvVars: []string{"OSPNODE_SETTLE_CDRS"}},
					&cli.StringFlag{Name: "counterparty", Usage: "counterparty (CDRs with another counterparty are excluded)", Required: true, EnvVars: []string{"OSPNODE_SETTLE_COUNTERPARTY"}},
					&cli.StringFlag{Name: "period", Usage: "2026-11, 2026-11-05 or START/END (UTC)", Required: true, EnvVars: []string{"OSPNODE_SETTLE_PERIOD"}},
					&cli.StringFlag{Name: "currency", Usage: "statement currency (default: that of the first rated CDR)", EnvVars: []string{"OSPNODE_SETTLE_CURRENCY"}},
					&cli.StringFlag{Name: "direction", Usage: "sell (what the counterparty owes us: calls it sent) or buy (what we owe it: calls it carried for us). " +
						"Online (--node) the default is the one direction the counterparty has traffic in; with traffic both ways you must choose " +
						"(ospnode settle net nets the two). Offline the default is sell (what settle rate prices)", EnvVars: []string{"OSPNODE_SETTLE_DIRECTION"}},
					&cli.StringFlag{Name: "issue-date", Usage: "issue date printed on the statement (2006-01-02; default today, UTC)", EnvVars: []string{"OSPNODE_SETTLE_ISSUE_DATE"}},
					&cli.IntFlag{Name: "due-days", Usage: "print a due date this many days after the issue date (0: no due date). Online the default is the counterparty's payment terms " +
						"(its own, else the network's: payment_terms_days); this overrides them", EnvVars: []string{"OSPNODE_SETTLE_DUE_DAYS"}},
					&cli.StringFlag{Name: "issuer", Usage: "offline: our network id, the statement's issuer (online the node's network settings name it)", EnvVars: []string{"OSPNODE_SETTLE_ISSUER"}},
					&cli.StringFlag{Name: "issuer-name", Usage: "offline: our network's display name", EnvVars: []string{"OSPNODE_SETTLE_ISSUER_NAME"}},
					&cli.StringFlag{Name: "counterparty-name", Usage: "offline: the counterparty's display name, e.g. \"Carrier A\" (online the member's or peer's name)", EnvVars: []string{"OSPNODE_SETTLE_COUNTERPARTY_NAME"}},
					&cli.StringFlag{Name: "issuer-address", Usage: "offline: our postal address, lines separated by ';' (online the network's settings give it)", EnvVars: []string{"OSPNODE_SETTLE_ISSUER_ADDRESS"}},
					&cli.StringFlag{Name: "issuer-tax-id", Usage: "offline: our VAT or registration number", EnvVars: []string{"OSPNODE_SETTLE_ISSUER_TAX_ID"}},
					&cli.StringFlag{Name: "counterparty-address", Usage: "offline: the counterparty's postal address, lines separated by ';' (online its member or peer settings)", EnvVars: []string{"OSPNODE_SETTLE_COUNTERPARTY_ADDRESS"}},
					&cli.StringFlag{Name: "counterparty-tax-id", Usage: "offline: the counterparty's VAT or registration number", EnvVars: []string{"OSPNODE_SETTLE_COUNTERPARTY_TAX_ID"}},
					&cli.StringFlag{Name: "convert-to", Usage: "convert the statement to this currency (offline or online; needs --rate and --rate-date)", EnvVars: []string{"OSPNODE_SETTLE_CONVERT_TO"}},
					&cli.StringFlag{Name: "rate", Usage: "exchange rate for --convert-to (1 unit = RATE target units)", EnvVars: []string{"OSPNODE_SETTLE_FX_RATE"}},
					&cli.StringFlag{Name: "rate-date", Usage: "date of the exchange rate (2006-01-02)", EnvVars: []string{"OSPNODE_SETTLE_FX_DATE"}},
					&cli.StringFlag{Name: "rate-source", Usage: "where the exchange rate comes from", EnvVars: []string{"OSPNODE_SETTLE_FX_SOURCE"}},
					&cli.StringFlag{Name: "output", Usage: "csv, json, html or pdf (a document to send: html and pdf say who owes whom, with names, number and dates)", Value: "csv", EnvVars: []string{"OSPNODE_OUTPUT"}},
					&cli.StringFlag{Name: "out", Usage: "write to this file instead of stdout (pdf is not written to a terminal)", EnvVars: []string{"OSPNODE_SETTLE_OUT"}},
					&cli.StringSliceFlag{Name: "fx", Usage: "offline: dated exchange rate FROM/TO=RATE@YYYY-MM-DD[,SOURCE] for CDRs rated in FROM, converted into the statement's currency TO (listed on stderr and in the statement's FX); repeatable", EnvVars: []string{"OSPNODE_SETTLE_FX"}},
					rejectsFlag(), quietFlag(),
				}, append(cdrFormatFlags("", "SETTLE_"), adminFlags()...)...),
				Action: settleStatement,
			},
			settleNetCommand(),
		},
	}
}

// withOutput runs fn on a buffered stdout, or on the named file.
func withOutput(c *cli.Context, name string, fn func(io.Writer) error) error {
	var w io.Writer = c.App.Writer
	var fh *os.File
	if name != "" {
		var err error
		if fh, err = os.Create(name); err != nil {
			return err
		}
		w = fh
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	err := fn(bw)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if fh != nil {
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

func settleStatement(c *cli.Context) error {
	period, err := settlement.ParsePeriod(c.String("period"))
	if err != nil {
		return settleUsage("--period: %v", err)
	}
	out := c.String("output")
	if out != "csv" && out != "json" && out != "html" && out != "pdf" {
		return settleUsage("--output %q: want csv, json, html or pdf", out)
	}
	if out == "pdf" && c.String("out") == "" && isTerminal(c.App.Writer) {
		return settleUsage("--output pdf: give --out FILE.pdf (or redirect stdout): a PDF is not for a terminal")
	}
	dir := settlement.Direction(c.String("direction"))
	if dir != "" && dir != settlement.Sell && dir != settlement.Buy {
		return settleUsage("--direction %q: want sell or buy", dir)
	}
	issued := time.Now().UTC()
	if d := c.String("issue-date"); d != "" {
		var err error
		if issued, err = time.Parse("2006-01-02", d); err != nil {
			return settleUsage("--issue-date %q: want 2006-01-02", d)
		}
	}
	if n := c.Int("due-days"); n < 0 || n > 366 {
		return settleUsage("--due-days %d: want 0 (no due date) to 366", n)
	}
	for _, who := range []string{"issuer", "counterparty"} {
		b := ledger.BillingIdentity{Address: addressLines(c.String(who + "-address")), TaxID: strings.TrimSpace(c.String(who + "-tax-id"))}
		if p := b.Problems(); len(p) > 0 {
			return settleUsage("--%s-address/--%s-tax-id: %s", who, who, strings.Join(p, "; "))
		}
	}
	cur := c.String("currency")
	if cur != "" && !settlement.ISOCurrency(cur) {
		return settleUsage("--currency %q: not an ISO 4217 code", cur)
	}
	if err := checkConversionFlags(c); err != nil {
		return err
	}
	name := c.String("cdrs")
	if online := c.IsSet("node"); online || name == "" {
		if name != "" {
			return settleUsage("give --cdrs (offline) or --node (online), not both")
		}
		if !online {
			return settleUsage("give --cdrs FILE, or --node URL to build the statement from a running node's ledger")
		}
		for _, f := range []string{"fx", "rejects"} {
			if c.IsSet(f) {
				return settleUsage("--%s works offline (--cdrs): the node's statement is built from rated ledger records", f)
			}
		}
		for _, f := range []string{"issuer", "issuer-name", "counterparty-name", "issuer-address", "issuer-tax-id", "counterparty-address", "counterparty-tax-id"} {
			if c.String(f) != "" {
				return settleUsage("--%s is for offline statements: online the node names the parties from its network, member and peer settings", f)
			}
		}
		return settleStatementOnline(c, out, cur, dir)
	}
	if dir == "" {
		dir = settlement.Sell // what settle rate prices: the file is the calls the counterparty sent
	}
	defer leanHeap()()
	fx, err := fxTable(c)
	if err != nil {
		return err
	}
	format, err := cdrFormat(c, "", cur)
	if err != nil {
		return err
	}
	in, err := openCDRStream(name, format)
	if err != nil {
		return err
	}
	defer in.close()
	rej, err := openRejects(c, name, in.r.Header())
	if err != nil {
		return err
	}
	b, err := settlement.NewStatementBuilder(c.String("counterparty"), cur, period, fx)
	if err != nil {
		return settleUsage("--currency: %v", err)
	}
	var tally settlement.RejectTally
	prog := newProgress(c.App.ErrWriter, "settle statement", c.Bool("quiet"), in.size, in.read)
	var cd settlement.CDR
	for {
		err := in.r.Next(&cd)
		if err == io.EOF {
			break
		}
		if err == nil {
			err = b.Add(&cd)
		}
		var re *settlement.RowError
		if errors.As(err, &re) {
			tally.Add(re)
			if err := rej.write(re, in.r.Record()); err != nil {
				return err
			}
		} else if err != nil {
			rej.close()
			return badInput(name, err)
		}
		prog.tick()
	}
	prog.done()
	if err := rej.close(); err != nil {
		return err
	}
	st, err := b.Finish()
	if err != nil {
		return badInput(name, err)
	}
	for _, u := range st.FX {
		fmt.Fprintf(c.App.ErrWriter, "settle statement: %d CDR(s) in %s (%s %s) converted at %s\n", u.Calls, u.Rate.From, u.Original.Text(), u.Rate.From, u.Rate)
	}
	cur = st.Currency
	st.Heading = settlement.StatementHeading{Issuer: settlement.Party{ID: c.String("issuer"), Name: c.String("issuer-name"),
		PartyDetails: settlement.PartyDetails{Address: addressLines(c.String("issuer-address")), TaxID: strings.TrimSpace(c.String("issuer-tax-id"))}},
		CounterpartyName:    c.String("counterparty-name"),
		CounterpartyDetails: settlement.PartyDetails{Address: addressLines(c.String("counterparty-address")), TaxID: strings.TrimSpace(c.String("counterparty-tax-id"))},
		Direction:           dir, Issued: issued}
	if n := c.Int("due-days"); n > 0 {
		st.Heading.Due = st.Heading.Issued.AddDate(0, 0, n)
	}
	if to := c.String("convert-to"); to != "" {
		date, _ := time.Parse("2006-01-02", c.String("rate-date")) // checked by checkConversionFlags
		x, err := settlement.NewExchangeRate(cur, to, c.String("rate"), date, c.String("rate-source"))
		if err != nil {
			return settleUsage("--convert-to/--rate: %v", err)
		}
		if st, err = st.Convert(x); err != nil {
			return settleUsage("--convert-to: %v", err)
		}
	}
	if err := withOutput(c, c.String("out"), func(w io.Writer) error {
		switch out {
		case "json":
			return st.WriteJSON(w)
		case "html":
			return st.WriteHTML(w)
		case "pdf":
			return st.WritePDF(w)
		}
		return st.WriteCSV(w)
	}); err != nil {
		return err
	}
	if tally.Count > 0 {
		fmt.Fprintf(c.App.ErrWriter, "settle statement: %s CDR(s) counted, %s rejected (not in the totals)\n", thousands(int64(st.Calls)), thousands(tally.Count))
	}
	return rej.summary(c.App.ErrWriter, "settle statement", tally.Reasons())
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// settleStatementOnline asks a node for the statement (GET /v1/statements):
// the node builds the CDRs of the counterparty and period from its ledger
// and runs the same settlement.BuildStatement.
// With --convert-to the node converts it at the given dated rate, which
// the statement records (as offline).
func settleStatementOnline(c *cli.Context, out, cur string, dir settlement.Direction) error {
	a, err := newAdminClient(c)
	if err != nil {
		return err
	}
	q := url.Values{"counterparty": {c.String("counterparty")}, "period": {c.String("period")}, "format": {out}}
	if cur != "" {
		q.Set("currency", cur)
	}
	if dir != "" {
		q.Set("direction", string(dir))
	}
	if d := c.String("issue-date"); d != "" {
		q.Set("issue_date", d)
	}
	if c.IsSet("due-days") { // else the node applies the counterparty's payment terms
		q.Set("due_days", strconv.Itoa(c.Int("due-days")))
	}
	if to := c.String("convert-to"); to != "" {
		q.Set("convert_to", to)
		q.Set("rate", c.String("rate"))
		q.Set("rate_date", c.String("rate-date"))
		if src := c.String("rate-source"); src != "" {
			q.Set("rate_source", src)
		}
	}
	resp, err := a.raw(c.Context, http.MethodGet, "/v1/statements", q, nil, "")
	var ae *adminError
	if errors.As(err, &ae) && ae.Reason == "direction_required" {
		// The node says it in its API's words; say it in ours.
		return settleUsage("counterparty %s has traffic both ways in %s: give --direction sell (what it owes us) or --direction buy (what we owe it); "+
			"`ospnode settle net` shows the two netted", c.String("counterparty"), c.String("period"))
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return withOutput(c, c.String("out"), func(w io.Writer) error {
		_, err := io.Copy(w, resp.Body)
		return err
	})
}

// checkConversionFlags checks --convert-to, --rate, --rate-date and
// --rate-source before any file or node is read: a rate is only used with
// a target currency and a date, and a rate without --convert-to is an
// error rather than silently ignored.
func checkConversionFlags(c *cli.Context) error {
	if c.String("convert-to") == "" {
		for _, f := range []string{"rate", "rate-date", "rate-source"} {
			if c.String(f) != "" {
				return settleUsage("--%s without --convert-to", f)
			}
		}
		return nil
	}
	if !money.ValidCurrency(c.String("convert-to")) {
		return settleUsage("--convert-to %q: not an ISO 4217 code", c.String("convert-to"))
	}
	if c.String("rate") == "" {
		return settleUsage("--convert-to needs --rate (1 unit of the statement currency = RATE target units)")
	}
	if _, err := time.Parse("2006-01-02", c.String("rate-date")); err != nil {
		return settleUsage("--rate-date %q: want 2006-01-02 (the day the exchange rate applies to)", c.String("rate-date"))
	}
	return nil
}
