package settlement

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"

	"github.com/ospnode/ospnode/ledger/money"
)

// WriteCSV writes the statement as CSV: a section column ("destination",
// "day", "total", "invoice", "invoice-rounding", "conversion") then key,
// description, calls, billable_seconds, minutes, amount, currency.
func (s *Statement) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	row := func(section, key, desc string, calls int, secs int64, minutes string, a money.Amount) {
		n, sec := "", ""
		if calls >= 0 {
			n, sec = strconv.Itoa(calls), strconv.FormatInt(secs, 10)
		}
		_ = cw.Write([]string{section, key, desc, n, sec, minutes, a.Text(), a.Currency()})
	}
	_ = cw.Write([]string{"section", "key", "description", "calls", "billable_seconds", "minutes", "amount", "currency"})
	for _, l := range s.ByDestination {
		row("destination", l.Key, l.Description, l.Calls, l.BillableSeconds, l.Minutes(), l.Amount)
	}
	for _, l := range s.ByDay {
		row("day", l.Key, "", l.Calls, l.BillableSeconds, l.Minutes(), l.Amount)
	}
	row("total", s.Period.String(), s.Counterparty, s.Calls, s.BillableSeconds, s.Minutes(), s.Amount)
	row("invoice", s.Period.String(), s.Counterparty, -1, 0, "", s.Invoice)
	row("invoice-rounding", s.Period.String(), InvoiceRounding+" to "+strconv.Itoa(int(s.MinorUnit))+" decimals", -1, 0, "", s.InvoiceRounding)
	if c := s.Conversion; c != nil {
		row("conversion", c.Rate.Date.Format("2006-01-02"), c.Rate.From+"→"+c.Rate.To+" at "+c.Rate.Rate.Text('f')+" "+c.Rate.Source, -1, 0, "", c.OriginalAmount)
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes the statement as indented JSON, with its number, the
// debtor and creditor and the debt in words (Owes) beside the figures.
func (s *Statement) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	d := s.Debt()
	return enc.Encode(struct {
		*Statement
		Period           string
		Minutes          string
		Number           string
		Debtor, Creditor Party
		Owes             string
	}{s, s.Period.String(), s.Minutes(), s.Number(), d.Debtor, d.Creditor, d.Sentence()})
}
