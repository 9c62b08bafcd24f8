package cmd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/urfave/cli/v2"

	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/settlement"
)

func settleRateCommand() *cli.Command {
	return &cli.Command{
		Name:      "rate",
		Usage:     "rate CDRS.csv with a deck; write the CDRs with billable_seconds and amount and a final TOTAL line",
		ArgsUsage: "CDRS.csv",
		Description: "The file is read as a stream: memory does not grow with its length, except ~11 bytes per\n" +
			"distinct transaction id (the duplicate check). Records that cannot be rated are never priced at 0:\n" +
			"they are left out of the output and the TOTAL, counted by reason on stderr, and written with their\n" +
			"line and reason to --rejects FILE (else the first " + strconv.Itoa(rejectsShown) + " are shown on stderr). Reasons: a field\n" +
			"that does not parse, extra fields beyond the header, a currency other than --currency, a\n" +
			"transaction id seen earlier in the file, no deck version in force at connect_time, no matching\n" +
			"prefix, a called number that is not E.164.\n\n" +
			"Currency: --currency is the run's (ISO 4217). A deck row whose currency column names another\n" +
			"currency is converted exactly with --fx FROM/TO=RATE@DATE, or the deck is refused; a CDR whose\n" +
			"currency column names another currency is rejected.\n\n" +
			"Exit status: 0 every record rated; 4 some rejected (the output holds the rest); 1 the deck or the\n" +
			"file cannot be read; 2 bad usage.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "deck", Usage: "rate deck CSV (prefix,description,rate,connect_fee,first_increment,next_increment,effective_from[,effective_until][,currency])", Required: true, EnvVars: []string{"OSPNODE_SETTLE_DECK"}},
			&cli.StringFlag{Name: "currency", Usage: "the run's currency (ISO 4217): of the deck, the CDRs and the output", Required: true, EnvVars: []string{"OSPNODE_SETTLE_CURRENCY"}},
			&cli.StringSliceFlag{Name: "fx", Usage: "dated exchange rate FROM/TO=RATE@YYYY-MM-DD[,SOURCE] converting deck rows in FROM to the run's currency TO (1 FROM = RATE TO); repeatable", EnvVars: []string{"OSPNODE_SETTLE_FX"}},
			&cli.BoolFlag{Name: "allow-overlap", Usage: "accept deck versions whose effective_until reaches past a later version's start (the later-starting version wins while in force); refused by default", EnvVars: []string{"OSPNODE_SETTLE_ALLOW_OVERLAP"}},
			&cli.IntFlag{Name: "decimals", Usage: "round each CDR's cost to this many places", Value: 4, EnvVars: []string{"OSPNODE_SETTLE_DECIMALS"}},
			&cli.StringFlag{Name: "rounding", Usage: "half-up, half-even, up or down", Value: money.HalfUp, EnvVars: []string{"OSPNODE_SETTLE_ROUNDING"}},
			&cli.StringFlag{Name: "duration-rounding", Usage: "milliseconds to whole seconds: up, down or half-up", Value: "up", EnvVars: []string{"OSPNODE_SETTLE_DURATION_ROUNDING"}},
			&cli.BoolFlag{Name: "zero-duration-fee", Usage: "charge the connect fee for 0 s calls too", EnvVars: []string{"OSPNODE_SETTLE_ZERO_DURATION_FEE"}},
			&cli.StringFlag{Name: "counterparty", Usage: "deck counterparty (also stamped on CDRs that have none)", EnvVars: []string{"OSPNODE_SETTLE_COUNTERPARTY"}},
			&cli.StringFlag{Name: "out", Usage: "write to this file instead of stdout", EnvVars: []string{"OSPNODE_SETTLE_OUT"}},
			rejectsFlag(), quietFlag(),
		}, cdrFormatFlags("", "SETTLE_")...),
		Action: settleRate,
	}
}

func rejectsFlag() cli.Flag {
	return &cli.StringFlag{Name: "rejects", Usage: "write every rejected record to this CSV file: reject_line, reject_reason, reject_detail, then its fields", EnvVars: []string{"OSPNODE_SETTLE_REJECTS"}}
}

func quietFlag() cli.Flag {
	return &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress on stderr (the summary of rejects is still printed)", EnvVars: []string{"OSPNODE_QUIET"}}
}

// fxTable parses the repeatable --fx flag.
func fxTable(c *cli.Context) (settlement.FXTable, error) {
	var rates []settlement.ExchangeRate
	for _, s := range c.StringSlice("fx") {
		x, err := settlement.ParseFX(s)
		if err != nil {
			return nil, settleUsage("--fx: %v", err)
		}
		rates = append(rates, x)
	}
	t, err := settlement.NewFXTable(rates)
	if err != nil {
		return nil, settleUsage("--fx: %v", err)
	}
	return t, nil
}

func settleRate(c *cli.Context) error {
	if c.NArg() != 1 {
		return settleUsage("settle rate: give exactly one CDRS.csv")
	}
	cdrFile := c.Args().First()
	defer leanHeap()()
	cur := c.String("currency")
	if !settlement.ISOCurrency(cur) {
		return settleUsage("--currency %q: not an ISO 4217 code", cur)
	}
	fx, err := fxTable(c)
	if err != nil {
		return err
	}
	dm, err := settlement.ParseDurationMode(c.String("duration-rounding"))
	if err != nil {
		return settleUsage("--duration-rounding: %v", err)
	}
	if c.Int("decimals") < 0 || c.Int("decimals") > settlement.MaxDecimals {
		return settleUsage("--decimals %d: want 0..%d", c.Int("decimals"), settlement.MaxDecimals)
	}
	opts := settlement.DeckOptions{
		Counterparty: c.String("counterparty"), Currency: cur,
		Decimals: int32(c.Int("decimals")), Rounding: c.String("rounding"), DurationRounding: dm,
		ZeroDurationConnectFee: c.Bool("zero-duration-fee"), FX: fx, AllowOverlap: c.Bool("allow-overlap"),
	}
	rater, err := readRater(c.String("deck"), opts)
	if err != nil {
		return err
	}
	format, err := cdrFormat(c, "", cur)
	if err != nil {
		return err
	}
	in, err := openCDRStream(cdrFile, format)
	if err != nil {
		return err
	}
	defer in.close()
	rej, err := openRejects(c, cdrFile, in.r.Header())
	if err != nil {
		return err
	}
	prog := newProgress(c.App.ErrWriter, "settle rate", c.Bool("quiet"), in.size, in.read)
	var sum *settlement.RateSummary
	werr := withOutput(c, c.String("out"), func(w io.Writer) error {
		out, err := settlement.NewCDRWriter(w)
		if err != nil {
			return err
		}
		sum, err = settlement.RateStream(in.r, rater, settlement.RateStreamOptions{
			Counterparty:    opts.Counterparty,
			ExpectedRecords: estimateLines(cdrFile, in.size),
			Rated: func(cd *settlement.CDR) error {
				prog.tick()
				return out.Write(cd)
			},
			Reject: func(e *settlement.RowError, fields []string) error {
				prog.tick()
				return rej.write(e, fields)
			},
		})
		prog.done()
		if err != nil {
			return err
		}
		note := strconv.FormatInt(sum.Rated, 10) + " calls"
		if sum.Rejected.Count > 0 {
			note += ", " + strconv.FormatInt(sum.Rejected.Count, 10) + " rejected"
		}
		rec := settlement.TotalRecord(sum.BillableSeconds, sum.Amount, note)
		if err := out.WriteRaw(rec); err != nil {
			return err
		}
		return out.Flush()
	})
	if cerr := rej.close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		if sum != nil && (errors.Is(werr, settlement.ErrTooLarge) || errors.Is(werr, settlement.ErrBadInput)) {
			return badInput(cdrFile, fmt.Errorf("%w; stopped there: the output has the %d records rated before it and no TOTAL line", werr, sum.Rated))
		}
		return badInput(cdrFile, werr)
	}
	fmt.Fprintf(c.App.ErrWriter, "settle rate: %s rated (%s billable s, %s %s), %s rejected\n",
		thousands(sum.Rated), thousands(sum.BillableSeconds), sum.Amount.Text(), sum.Amount.Currency(), thousands(sum.Rejected.Count))
	return rej.summary(c.App.ErrWriter, "settle rate", sum.Rejected.Reasons())
}

// readRater reads and compiles a deck file, naming it in errors.
func readRater(deckFile string, opts settlement.DeckOptions) (*settlement.Rater, error) {
	fh, err := os.Open(deckFile)
	if err != nil {
		return nil, badInput(deckFile, err)
	}
	deck, err := settlement.ReadDeckCSV(fh, opts)
	fh.Close()
	if err != nil {
		var de *settlement.DeckError
		if !errors.As(err, &de) && errors.Is(err, settlement.ErrBadInput) {
			return nil, settleUsage("%v", err) // a deck-level option, not a line
		}
		return nil, badInput(deckFile, err)
	}
	rater, err := settlement.NewRater(deck)
	if err != nil {
		return nil, badInput(deckFile, err)
	}
	return rater, nil
}

// cdrStream is an open CDR file read as a stream, with its size and the
// bytes read so far for progress.
type cdrStream struct {
	r    *settlement.CDRReader
	fh   *os.File
	size int64
	read *atomic.Int64
}

func openCDRStream(name string, f settlement.CDRFormat) (*cdrStream, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, badInput(name, err)
	}
	s := &cdrStream{fh: fh, read: new(atomic.Int64)}
	if st, err := fh.Stat(); err == nil && st.Mode().IsRegular() {
		s.size = st.Size()
	}
	if s.r, err = settlement.NewCDRReader(countingReader{fh, s.read}, f); err != nil {
		fh.Close()
		return nil, badInput(name, err)
	}
	return s, nil
}

func (s *cdrStream) close() { s.fh.Close() }

// estimateLines guesses how many lines a file of size bytes holds from its
// first 256 KiB (exactly, when that is all of it); 0 when it cannot tell
// (not a regular file, unreadable, no newline). CDR exports have lines of
// nearly one length, so the guess is close; it is only a sizing hint.
func estimateLines(name string, size int64) int64 {
	if size <= 0 {
		return 0
	}
	fh, err := os.Open(name)
	if err != nil {
		return 0
	}
	defer fh.Close()
	buf := make([]byte, 256<<10)
	n, _ := io.ReadFull(fh, buf)
	lines := int64(bytes.Count(buf[:n], []byte{'\n'}))
	if int64(n) >= size || lines == 0 {
		return lines
	}
	return size/int64(n)*lines + size%int64(n)*lines/int64(n)
}

// rejectsShown is how many rejected records stderr lists when no
// --rejects file is given (the count of the rest is always said).
const rejectsShown = 10

// rejectSink sends rejected records to the --rejects file, or lists the
// first rejectsShown on stderr.
type rejectSink struct {
	name   string // the --rejects file
	input  string // the file read
	fh     *os.File
	bw     *bufio.Writer
	w      *settlement.RejectWriter
	stderr io.Writer
	n      int64
}

func openRejects(c *cli.Context, input string, header []string) (*rejectSink, error) {
	s := &rejectSink{name: c.String("rejects"), input: input, stderr: c.App.ErrWriter}
	if s.name == "" {
		return s, nil
	}
	fh, err := os.Create(s.name)
	if err != nil {
		return nil, cli.Exit(fmt.Sprintf("--rejects: %v", err), exitBadInput)
	}
	s.fh, s.bw = fh, bufio.NewWriterSize(fh, 1<<16)
	if s.w, err = settlement.NewRejectWriter(s.bw, header); err != nil {
		fh.Close()
		return nil, err
	}
	return s, nil
}

func (s *rejectSink) write(e *settlement.RowError, fields []string) error {
	s.n++
	if s.w != nil {
		return s.w.Write(e, fields)
	}
	if s.n <= rejectsShown {
		fmt.Fprintf(s.stderr, "rejected: %s: %v [%s]\n", s.input, e, e.Reason)
	}
	return nil
}

func (s *rejectSink) close() error {
	if s.w == nil {
		return nil
	}
	err := s.w.Flush()
	if ferr := s.bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := s.fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--rejects %s: %w", s.name, err)
	}
	return nil
}

// summary prints the rejects by reason (every reason, with its count) and
// returns the exit status: nil when nothing was rejected, else exit 4.
func (s *rejectSink) summary(w io.Writer, what string, reasons []settlement.ReasonCount) error {
	if s.n == 0 {
		return nil
	}
	for _, r := range reasons {
		fmt.Fprintf(w, "  %s rejected: %s\n", thousands(r.Count), r.Reason)
	}
	if s.w != nil {
		fmt.Fprintf(w, "%s: every rejected record, with its line and reason, is in %s\n", what, s.name)
	} else if s.n > rejectsShown {
		fmt.Fprintf(w, "%s: the first %d rejected records are listed above, … and %s more; give --rejects FILE to keep them all\n",
			what, rejectsShown, thousands(s.n-rejectsShown))
	}
	return cli.Exit("", exitRejected)
}
