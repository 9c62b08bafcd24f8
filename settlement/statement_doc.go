package settlement

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
)

// Party is one side of a statement as the document names it: ID is the
// network id or account ("member:carrier-a"), Name the display name
// ("Carrier A"), and its details what is printed under the name. The zero
// Party is "us".
type Party struct {
	ID   string
	Name string `json:",omitempty"`
	PartyDetails
}

// PartyDetails is what a statement prints under a party's name, from the
// ledger's billing identity of the network, member or peer: the postal
// address one line each, the tax (VAT or registration) number and the
// billing email. All optional; a document shows only what is set.
type PartyDetails struct {
	Address []string `json:",omitempty"`
	TaxID   string   `json:",omitempty"`
	Email   string   `json:",omitempty"`
}

// Empty reports whether there is nothing to print.
func (d PartyDetails) Empty() bool { return len(d.Address) == 0 && d.TaxID == "" && d.Email == "" }

// Lines are the details as printed, one line each: the address, then
// "Tax ID: …" and the email when set.
func (d PartyDetails) Lines() []string {
	out := append([]string(nil), d.Address...)
	if d.TaxID != "" {
		out = append(out, "Tax ID: "+d.TaxID)
	}
	if d.Email != "" {
		out = append(out, d.Email)
	}
	return out
}

// Display is the name a reader sees: Name, else ID, else "us".
func (p Party) Display() string {
	switch {
	case p.Name != "":
		return p.Name
	case p.ID != "":
		return p.ID
	}
	return "us"
}

// StatementHeading is what turns a Statement into a document a finance
// team can send: who issues it, to whom by name, which way the money goes,
// and when it was issued. The zero heading renders (as an unnamed issuer,
// the counterparty's id and an unknown direction) but says so.
type StatementHeading struct {
	Issuer           Party  // the network issuing the statement (us), with its address
	CounterpartyName string // display name of Statement.Counterparty ("" shows the id)
	// CounterpartyDetails is the counterparty's address, tax id and
	// billing email (from its member or peer record).
	CounterpartyDetails PartyDetails `json:",omitzero"`
	Direction           Direction    // Sell: the counterparty owes the issuer; Buy: the issuer owes it; "" not stated
	Issued              time.Time    `json:",omitzero"` // the issue date (a UTC day; the zero time renders as "not stated")
	// Due is the payment due date (zero: none shown): the issue date plus
	// the counterparty's payment terms (its own, else the network's), or
	// an explicit number of days.
	Due time.Time `json:",omitzero"`
}

// CounterpartyParty is the statement's counterparty as a Party.
func (s *Statement) CounterpartyParty() Party {
	return Party{ID: s.Counterparty, Name: s.Heading.CounterpartyName, PartyDetails: s.Heading.CounterpartyDetails}
}

// Number is the statement number: deterministic, so issuing the same
// statement again gives the same number, and unique per issuer,
// counterparty, period, direction and currency (a converted statement is
// another document and gets another number). It reads
// ISSUER-YYYYMMDD-S|B|X-HASH: the issuer's id, the period's first day,
// the direction (X: not stated) and the first 10 hex digits of a SHA-256
// over every field that makes it unique.
func (s *Statement) Number() string {
	h := sha256.New()
	for _, f := range []string{s.Heading.Issuer.ID, s.Counterparty, s.Period.Start.UTC().Format(time.RFC3339Nano),
		s.Period.End.UTC().Format(time.RFC3339Nano), string(s.Heading.Direction), s.Currency} {
		h.Write([]byte(strconv.Itoa(len(f)) + ":" + f + ";")) // length-prefixed: no two field lists hash alike
	}
	issuer := numberPart(s.Heading.Issuer.ID)
	if issuer == "" {
		issuer = "ST"
	}
	day := "ALL"
	if !s.Period.Start.IsZero() {
		day = s.Period.Start.UTC().Format("20060102")
	}
	dir := "X"
	switch s.Heading.Direction {
	case Sell:
		dir = "S"
	case Buy:
		dir = "B"
	}
	return issuer + "-" + day + "-" + dir + "-" + strings.ToUpper(hex.EncodeToString(h.Sum(nil))[:10])
}

// numberPart keeps an id readable inside a statement number: upper-case
// letters and digits, anything else as one '-', at most 16 characters.
func numberPart(id string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToUpper(id) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 16 {
			break
		}
	}
	return strings.Trim(b.String(), "-")
}

// Debt says who owes whom what on a statement: Debtor pays Creditor
// Amount (the invoice, never negative). Known is false when the heading
// states no direction; Nothing is true when no call is in the period.
type Debt struct {
	Debtor, Creditor Party
	Amount           money.Amount
	Known            bool
	Nothing          bool
}

// Debt reads the statement as a debt. A Sell statement's counterparty owes
// the issuer; a Buy statement's issuer owes the counterparty. A negative
// invoice (credits outweigh charges) turns the debt around, so the amount
// stated is never negative.
func (s *Statement) Debt() Debt {
	us, them := s.Heading.Issuer, s.CounterpartyParty()
	d := Debt{Debtor: them, Creditor: us, Amount: s.Invoice, Known: s.Heading.Direction != "", Nothing: s.Calls == 0}
	if s.Heading.Direction == Buy {
		d.Debtor, d.Creditor = us, them
	}
	if s.Invoice.Sign() < 0 {
		d.Debtor, d.Creditor, d.Amount = d.Creditor, d.Debtor, s.Invoice.Neg()
	}
	return d
}

// Sentence is the debt in words: "Carrier A owes Purple peering 1,234.56
// USD for this period." It never leaves the reader to guess the direction:
// an unstated one, or an empty period, says so instead.
func (d Debt) Sentence() string {
	switch {
	case d.Nothing && !d.Known:
		return "No calls between " + d.Creditor.Display() + " and " + d.Debtor.Display() + " in this period: nothing is owed either way."
	case d.Nothing:
		// Only this statement's direction is empty: the other may not be.
		return d.Debtor.Display() + " owes " + d.Creditor.Display() + " nothing for this period: no calls in this statement's direction."
	case !d.Known:
		return "Direction not stated: " + GroupedAmount(d.Amount) + " between " + d.Creditor.Display() + " and " + d.Debtor.Display() + " (give the direction to say who pays)."
	}
	return d.Debtor.Display() + " owes " + d.Creditor.Display() + " " + GroupedAmount(d.Amount) + " for this period."
}

// DirectionText explains the direction of a statement in a reader's words.
func (s *Statement) DirectionText() string {
	them, us := s.CounterpartyParty().Display(), s.Heading.Issuer.Display()
	switch s.Heading.Direction {
	case Sell:
		return "Receivable: calls " + them + " sent through " + us + "; " + them + " pays " + us + "."
	case Buy:
		return "Payable: calls " + them + " carried for " + us + "; " + us + " pays " + them + "."
	}
	return "Direction not stated."
}

// GroupedAmount renders an amount with thousands separators and its
// currency: "1,234.5600 USD". Display only: the digits are the amount's.
func GroupedAmount(a money.Amount) string {
	return GroupDigits(a.Text()) + " " + a.Currency()
}

// GroupDigits puts a ',' between each group of three integer digits of a
// plain decimal ("-1234567.50" → "-1,234,567.50").
func GroupDigits(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if hasFrac {
		b.WriteString("." + frac)
	}
	return sign + b.String()
}

// PeriodText states the period's bounds in words, UTC, with which end is
// included: "2026-11-01 00:00 UTC (inclusive) to 2026-12-01 00:00 UTC
// (exclusive)".
func (p Period) PeriodText() string {
	if p.Start.IsZero() && p.End.IsZero() {
		return "all time (no period given)"
	}
	const layout = "2006-01-02 15:04 UTC"
	return p.Start.UTC().Format(layout) + " (inclusive) to " + p.End.UTC().Format(layout) + " (exclusive)"
}

// MaxListedDays bounds how many days Days fills in: a period longer than
// this (a typo such as 2026/2126) lists only the days with calls rather
// than tens of thousands of empty ones.
const MaxListedDays = 400

// Days returns one line per UTC day of the period, in order, days without
// calls as zero lines, and complete = true; the days come from ByDay, so
// they sum to the statement. For the zero Period the days run from the
// first to the last day with calls. A period longer than MaxListedDays
// returns ByDay alone and complete = false.
func (s *Statement) Days() (days []StatementLine, complete bool) {
	first, last := s.Period.Start.UTC(), s.Period.End.UTC().Add(-time.Nanosecond)
	if s.Period.Start.IsZero() && s.Period.End.IsZero() {
		if len(s.ByDay) == 0 {
			return nil, true
		}
		var err1, err2 error
		first, err1 = time.Parse("2006-01-02", s.ByDay[0].Key)
		last, err2 = time.Parse("2006-01-02", s.ByDay[len(s.ByDay)-1].Key)
		if err1 != nil || err2 != nil {
			return s.ByDay, false
		}
	}
	first = time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, time.UTC)
	n := int(last.Sub(first)/(24*time.Hour)) + 1
	if n > MaxListedDays || n < 1 {
		return s.ByDay, false
	}
	have := make(map[string]StatementLine, len(s.ByDay))
	for _, l := range s.ByDay {
		have[l.Key] = l
	}
	days = make([]StatementLine, 0, n)
	calls := 0
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		key := d.Format("2006-01-02")
		l, ok := have[key]
		if !ok {
			l = StatementLine{Key: key, Amount: money.Zero(s.Currency)}
		}
		calls += l.Calls
		days = append(days, l)
	}
	if calls != s.Calls {
		return s.ByDay, false // a day outside the period: show what there is, not a wrong sum
	}
	return days, true
}
