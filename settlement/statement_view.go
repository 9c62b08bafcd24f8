package settlement

import (
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/ospnode/ospnode/ledger/money"
)

// statementView is a Statement as its documents (HTML, PDF) show it: the
// same words and figures for both, computed once, so the two formats can
// never disagree.
type statementView struct {
	S            *Statement
	Number       string
	Kind         string // "Receivable", "Payable" or "Statement"
	Class        string // CSS class of the direction: "sell", "buy" or "unknown"
	Issuer, Them Party
	Parties      partiesView
	Owes         string // the debt in words
	DirText      string
	Issued       string
	Due          string // "" when the heading has no due date
	Period       string
	Empty        bool // no call in the period: words instead of zeros and an empty chart
	Totals       []viewRow
	Destinations []viewLine
	Days         []viewLine
	DaysComplete bool // Days holds every day of the period
	PeriodDays   int  // how many days the period spans (when not complete: more than MaxListedDays)
	Conversion   string
}

type viewRow struct{ Label, Value string }

// partiesView is the issuer and the counterparty as the parties block of
// a page shows them (statement and netting alike).
type partiesView struct{ Issuer, Them Party }

// Show reports whether either party has an address, tax id or email: a
// heading without any renders as it did before they existed.
func (p partiesView) Show() bool {
	return !p.Issuer.PartyDetails.Empty() || !p.Them.PartyDetails.Empty()
}

// viewLine is one table row and, for a day, one pair of bars: MinPct and
// AmtPct are the bar heights in per mille of the busiest day.
type viewLine struct {
	Key, Label, Description  string
	Calls                    int
	Minutes, Amount          string
	MinPerMille, AmtPerMille int
	Title                    string
	Tick                     bool // a day whose label a narrow screen still shows (1st, 5th, 10th, …)
}

// tick reports whether a day's label stays on a narrow chart: the 1st and
// every 5th day, so the labels never crowd into each other.
func tick(key string) bool {
	d, err := strconv.Atoi(key[len(key)-2:])
	return err == nil && (d == 1 || d%5 == 0)
}

// decimalPlaces counts the digits after the point of a plain decimal.
func decimalPlaces(s string) int {
	if _, frac, ok := strings.Cut(s, "."); ok {
		return len(frac)
	}
	return 0
}

// padPlaces appends zeros to a plain decimal up to places digits after
// the point (never removes any: the value is unchanged).
func padPlaces(s string, places int) string {
	have := decimalPlaces(s)
	if have >= places {
		return s
	}
	if have == 0 && !strings.Contains(s, ".") {
		s += "."
	}
	return s + strings.Repeat("0", places-have)
}

// MinPct and AmtPct render a per-mille height as a CSS percentage.
func (l viewLine) MinPct() string { return perMilleText(l.MinPerMille) }
func (l viewLine) AmtPct() string { return perMilleText(l.AmtPerMille) }

func perMilleText(pm int) string {
	return strconv.Itoa(pm/10) + "." + strconv.Itoa(pm%10) + "%"
}

func (s *Statement) view() statementView {
	v := statementView{S: s, Number: s.Number(), Issuer: s.Heading.Issuer, Them: s.CounterpartyParty(),
		Owes: s.Debt().Sentence(), DirText: s.DirectionText(), Period: s.Period.PeriodText(), Empty: s.Calls == 0,
		Kind: "Statement", Class: "unknown", Issued: "not stated"}
	v.Parties = partiesView{v.Issuer, v.Them}
	switch s.Heading.Direction {
	case Sell:
		v.Kind, v.Class = "Receivable", "sell"
	case Buy:
		v.Kind, v.Class = "Payable", "buy"
	}
	if !s.Heading.Issued.IsZero() {
		v.Issued = s.Heading.Issued.UTC().Format("2006-01-02")
	}
	if !s.Heading.Due.IsZero() && !v.Empty {
		v.Due = s.Heading.Due.UTC().Format("2006-01-02")
	}
	cur := " " + s.Currency
	// Every amount of the document with the same decimals: a zero day
	// reads 0.0000 beside 434.0000, not 0.
	places := max(decimalPlaces(s.Amount.Text()), int(s.MinorUnit))
	amount := func(a money.Amount) string { return GroupDigits(padPlaces(a.Text(), places)) }
	v.Totals = []viewRow{
		{"Calls", GroupDigits(strconv.Itoa(s.Calls))},
		{"Billable minutes", GroupDigits(s.Minutes())},
		{"Amount (exact sum of the rated calls)", amount(s.Amount) + cur},
		{"Invoice amount (rounded " + InvoiceRounding + " to " + strconv.Itoa(int(s.MinorUnit)) + " decimals)", GroupDigits(s.Invoice.Text()) + cur},
		{"Rounding difference", GroupDigits(s.InvoiceRounding.Text()) + cur},
	}
	if c := s.Conversion; c != nil {
		v.Conversion = "Converted from " + GroupedAmount(c.OriginalAmount) + " at 1 " + c.Rate.From + " = " +
			c.Rate.Rate.Text('f') + " " + c.Rate.To + " (rate of " + c.Rate.Date.Format("2006-01-02")
		if c.Rate.Source != "" {
			v.Conversion += ", " + c.Rate.Source
		}
		v.Conversion += ")."
	}
	for _, l := range s.ByDestination {
		v.Destinations = append(v.Destinations, viewLine{Key: l.Key, Label: l.Key, Description: l.Description,
			Calls: l.Calls, Minutes: GroupDigits(l.Minutes()), Amount: amount(l.Amount)})
	}
	days, complete := s.Days()
	v.DaysComplete = complete
	if !s.Period.Start.IsZero() {
		v.PeriodDays = int((s.Period.End.Sub(s.Period.Start) + 24*time.Hour - 1) / (24 * time.Hour))
	}
	var maxSecs int64
	maxAmt := new(apd.Decimal)
	for _, d := range days {
		maxSecs = max(maxSecs, d.BillableSeconds)
		if a := d.Amount.Decimal(); a.Cmp(maxAmt) > 0 {
			maxAmt.Set(a)
		}
	}
	for _, d := range days {
		l := viewLine{Key: d.Key, Label: d.Key[len(d.Key)-2:], Calls: d.Calls, Minutes: GroupDigits(d.Minutes()),
			Amount: amount(d.Amount), Tick: tick(d.Key), AmtPerMille: scaleHeight(d.Amount.Decimal(), maxAmt, 1000)}
		if maxSecs > 0 {
			l.MinPerMille = int(d.BillableSeconds * 1000 / maxSecs)
		}
		l.Title = d.Key + ": " + strconv.Itoa(d.Calls) + " calls, " + l.Minutes + " min, " + l.Amount + cur
		v.Days = append(v.Days, l)
	}
	return v
}

// scaleHeight returns a×scale÷max as a whole number (0 for a
// non-positive a or max): bar heights with apd, never floats.
func scaleHeight(a, max *apd.Decimal, scale int64) int {
	if max.Sign() <= 0 || a.Sign() <= 0 {
		return 0
	}
	ctx := apd.BaseContext.WithPrecision(40)
	var h apd.Decimal
	if _, err := ctx.Mul(&h, a, apd.New(scale, 0)); err != nil {
		return 0
	}
	if _, err := ctx.QuoInteger(&h, &h, max); err != nil {
		return 0
	}
	n, err := h.Int64()
	if err != nil || n < 0 || n > scale {
		return 0
	}
	return int(n)
}
