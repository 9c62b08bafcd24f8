package settlement

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// WriteText writes a readable summary: totals, one line per class, amount
// differences, the decision with its reasons, and up to maxRecords records
// of every class except exact (0 = none, negative = all).
func (r *Report) WriteText(w io.Writer, maxRecords int) error {
	return r.writeWith(w, "text", maxRecords)
}

// writeWith writes r through a ReportWriter: the in-memory and the
// streamed report are one format.
func (r *Report) writeWith(w io.Writer, format string, maxRecords int) error {
	rw, err := NewReportWriter(w, format, maxRecords)
	if err != nil {
		return err
	}
	if err := rw.Start(r); err != nil {
		return err
	}
	for k := range r.Matches {
		if err := rw.Match(&r.Matches[k]); err != nil {
			return err
		}
	}
	return rw.Finish()
}

// ReportWriter writes a report whose matches arrive one at a time after
// its totals are known — ReconcileStream's Start and Sink — in the format
// of WriteText, WriteCSV or WriteJSON ("text", "csv", "json"), byte for
// byte. Not safe for concurrent use.
type ReportWriter struct {
	bw      *bufio.Writer
	format  string
	max     int
	r       *Report
	shown   map[Class]int
	n       int
	rec     []string
	cw      *csv.Writer
	jsonEnd []byte
}

// NewReportWriter returns a writer of format; maxRecords as WriteText
// (text only).
func NewReportWriter(w io.Writer, format string, maxRecords int) (*ReportWriter, error) {
	switch format {
	case "text", "csv", "json":
	default:
		return nil, fmt.Errorf("%w: report format %q (want text, csv or json)", ErrBadInput, format)
	}
	return &ReportWriter{bw: bufio.NewWriter(w), format: format, max: maxRecords, shown: map[Class]int{}}, nil
}

// Start writes everything before the records: r's totals, classes and
// decision (r.Matches is not read).
func (rw *ReportWriter) Start(r *Report) error {
	rw.r = r
	switch rw.format {
	case "csv":
		rw.cw = csv.NewWriter(rw.bw)
		rw.rec = make([]string, len(ReportCSVHeader))
		return rw.cw.Write(ReportCSVHeader)
	case "json":
		return rw.startJSON()
	}
	bw := rw.bw
	fmt.Fprintf(bw, "Reconciliation (%s) period %s, currency %s, tolerance %s, skew %s\n",
		r.Mode, orDash(r.Period), orDash(r.Currency), r.Tolerance, r.Skew)
	for _, side := range []struct {
		label string
		t     Totals
	}{{r.OursLabel, r.Ours}, {r.TheirsLabel, r.Theirs}} {
		if r.DurationsOnly {
			// Not "amount 0 (0 rated)": the calls are rated, on two decks.
			fmt.Fprintf(bw, "%-8s %d calls, %d s reported (whole seconds up); amounts not compared: each side is rated on its own deck\n",
				side.label+":", side.t.Calls, side.t.Seconds)
			continue
		}
		fmt.Fprintf(bw, "%-8s %d calls, %d billable s, amount %s (%d rated)\n", side.label+":", side.t.Calls, side.t.Seconds, side.t.Amount.Text(), side.t.Rated)
	}
	if r.Conflicts > 0 {
		fmt.Fprintf(bw, "conflicts: %d final record(s) contradicted their call's paid final (kept, never paid, not paired)\n", r.Conflicts)
	}
	fmt.Fprintln(bw)
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "class\tcount\t%s s\t%s s\tdiff s\t%s amount\t%s amount\tdiff amount\t\n", r.OursLabel, r.TheirsLabel, r.OursLabel, r.TheirsLabel)
	for _, s := range r.Classes {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t\n", s.Class, s.Count, s.OursSeconds, s.TheirsSeconds,
			s.DiffSeconds, s.OursAmount.Text(), s.TheirsAmount.Text(), s.DiffAmount.Text())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(bw, "\nAmount differences on matched calls: %d, sum %s\n", r.AmountDiffs, r.AmountDiffSum.Text())
	d := r.Decision
	if r.DurationsOnly {
		fmt.Fprintf(bw, "Volume difference: %d s (%s%%), by reported seconds\n", d.VolumeDiffSeconds, orDash(d.VolumePercent))
	} else if d.VolumeBasis == "seconds" {
		fmt.Fprintf(bw, "Volume difference: %d s (%s%%), by billable seconds: not both sides rated\n", d.VolumeDiffSeconds, orDash(d.VolumePercent))
	} else {
		fmt.Fprintf(bw, "Volume difference: %s %s (%s%%)\n", d.VolumeDiff.Text(), r.Currency, orDash(d.VolumePercent))
	}
	if d.Disputed() {
		fmt.Fprintln(bw, "DECISION: DISPUTE")
	} else {
		fmt.Fprintln(bw, "DECISION: no dispute")
	}
	for _, reason := range d.Reasons {
		fmt.Fprintf(bw, "  - %s\n", reason)
	}
	return nil
}

// Match writes one record (records come grouped by class, in Classes
// order).
func (rw *ReportWriter) Match(m *Match) error {
	rw.n++
	switch rw.format {
	case "csv":
		rw.csvRow(m)
		return rw.cw.Write(rw.rec)
	case "json":
		b, err := json.MarshalIndent(m, "    ", "  ")
		if err != nil {
			return err
		}
		if rw.n > 1 {
			rw.bw.WriteByte(',')
		} else {
			rw.bw.WriteByte('[')
		}
		rw.bw.WriteString("\n    ")
		_, err = rw.bw.Write(b)
		return err
	}
	if rw.max == 0 || (m.Class == ClassExact && !m.AmountDiffers) {
		return nil
	}
	if rw.max > 0 && rw.shown[m.Class] >= rw.max {
		return nil
	}
	if rw.shown[m.Class] == 0 {
		fmt.Fprintf(rw.bw, "\n%s (%d):\n", m.Class, rw.r.Summary(m.Class).Count)
	}
	rw.shown[m.Class]++
	_, err := fmt.Fprintf(rw.bw, "  %s\n", describeMatch(m, rw.r.OursLabel, rw.r.TheirsLabel))
	return err
}

// Finish writes what follows the records and flushes.
func (rw *ReportWriter) Finish() error {
	switch rw.format {
	case "csv":
		rw.cw.Flush()
		if err := rw.cw.Error(); err != nil {
			return err
		}
	case "json":
		if rw.n == 0 {
			rw.bw.WriteString("null")
		} else {
			rw.bw.WriteString("\n  ]")
		}
		rw.bw.Write(rw.jsonEnd)
	}
	return rw.bw.Flush()
}

func describeMatch(m *Match, oursLabel, theirsLabel string) string {
	one := func(label string, c *CDR) string {
		if c == nil {
			return ""
		}
		s := fmt.Sprintf(" %s line %d %s→%s %s %ds", label, c.Line, orDash(c.Calling), c.Called,
			c.ConnectTime.UTC().Format("2006-01-02T15:04:05Z"), c.Billable())
		if c.Rated() {
			s += " " + c.Amount.Text()
		}
		return s
	}
	id := ""
	if c := firstNonNil(m.Ours, m.Theirs); c != nil {
		id = orDash(c.TransactionID) + "/" + orDash(c.CallID)
	}
	s := id + one(oursLabel, m.Ours) + one(theirsLabel, m.Theirs)
	if m.Ours != nil && m.Theirs != nil {
		s += fmt.Sprintf(" Δ%ds", m.DiffSeconds)
		if m.AmountDiffers {
			s += " Δamount " + m.DiffAmount.Text()
		}
	}
	return s
}

func firstNonNil(a, b *CDR) *CDR {
	if a != nil {
		return a
	}
	return b
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ReportCSVHeader is the header of WriteCSV.
var ReportCSVHeader = []string{"class", "key", "transaction_id", "call_id", "calling", "called", "connect_time",
	"ours_line", "theirs_line", "ours_seconds", "theirs_seconds", "diff_seconds",
	"ours_amount", "theirs_amount", "diff_amount", "currency"}

// WriteCSV writes one row per record (every class, exact included) with
// ReportCSVHeader.
func (r *Report) WriteCSV(w io.Writer) error { return r.writeWith(w, "csv", -1) }

func (rw *ReportWriter) csvRow(m *Match) {
	rec := rw.rec
	c := firstNonNil(m.Ours, m.Theirs)
	for i := range rec {
		rec[i] = ""
	}
	rec[0], rec[1] = string(m.Class), string(m.Key)
	rec[2], rec[3], rec[4], rec[5] = c.TransactionID, c.CallID, c.Calling, c.Called
	rec[6] = c.ConnectTime.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	if m.Ours != nil {
		rec[7], rec[9] = strconv.Itoa(m.Ours.Line), strconv.FormatInt(m.Ours.Billable(), 10)
		if m.Ours.Rated() {
			rec[12] = m.Ours.Amount.Text()
		}
	}
	if m.Theirs != nil {
		rec[8], rec[10] = strconv.Itoa(m.Theirs.Line), strconv.FormatInt(m.Theirs.Billable(), 10)
		if m.Theirs.Rated() {
			rec[13] = m.Theirs.Amount.Text()
		}
	}
	if m.Ours != nil && m.Theirs != nil {
		rec[11] = strconv.FormatInt(m.DiffSeconds, 10)
		if m.DiffAmount.Currency() != "" {
			rec[14] = m.DiffAmount.Text()
		}
	}
	rec[15] = rw.r.Currency
}

// WriteJSON writes the report as indented JSON (durations as strings like
// "2s", amounts as {"value","currency"}).
func (r *Report) WriteJSON(w io.Writer) error { return r.writeWith(w, "json", -1) }

// jsonMatchesMark stands in for the matches while the rest of the report
// is encoded; the records are streamed in its place.
const jsonMatchesMark = `"Matches": null`

// startJSON encodes the report without its matches and writes everything
// up to where they go; the rest waits for Finish.
func (rw *ReportWriter) startJSON() error {
	type alias Report
	head := *rw.r
	head.Matches = nil
	out := struct {
		*alias
		Tolerance string
		Skew      string
		Disputed  bool
	}{(*alias)(&head), head.Tolerance.String(), head.Skew.String(), head.Decision.Disputed()}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	b := buf.Bytes()
	i := bytes.LastIndex(b, []byte(jsonMatchesMark)) // the field, not a label that quotes it
	if i < 0 {
		return fmt.Errorf("settlement: report JSON without its matches field")
	}
	cut := i + len(jsonMatchesMark) - len("null")
	rw.jsonEnd = append([]byte(nil), b[i+len(jsonMatchesMark):]...)
	_, err := rw.bw.Write(b[:cut])
	return err
}
