package settlement

import (
	"bufio"
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
	bw := bufio.NewWriter(w)
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
	if maxRecords != 0 {
		shown := map[Class]int{}
		for k := range r.Matches {
			m := &r.Matches[k]
			if m.Class == ClassExact && !m.AmountDiffers {
				continue
			}
			if maxRecords > 0 && shown[m.Class] >= maxRecords {
				continue
			}
			if shown[m.Class] == 0 {
				fmt.Fprintf(bw, "\n%s (%d):\n", m.Class, r.Summary(m.Class).Count)
			}
			shown[m.Class]++
			fmt.Fprintf(bw, "  %s\n", describeMatch(m, r.OursLabel, r.TheirsLabel))
		}
	}
	return bw.Flush()
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
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(ReportCSVHeader); err != nil {
		return err
	}
	rec := make([]string, len(ReportCSVHeader))
	for k := range r.Matches {
		m := &r.Matches[k]
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
		rec[15] = r.Currency
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes the report as indented JSON (durations as strings like
// "2s", amounts as {"value","currency"}).
func (r *Report) WriteJSON(w io.Writer) error {
	type alias Report
	out := struct {
		*alias
		Tolerance string
		Skew      string
		Disputed  bool
	}{(*alias)(r), r.Tolerance.String(), r.Skew.String(), r.Decision.Disputed()}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
