package settlement

import (
	"encoding/csv"
	"encoding/json"
	"html/template"
	"io"
	"strconv"

	"github.com/cockroachdb/apd/v3"
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

// WriteJSON writes the statement as indented JSON.
func (s *Statement) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		*Statement
		Period  string
		Minutes string
	}{s, s.Period.String(), s.Minutes()})
}

// chart geometry of the daily bar chart, in SVG user units.
const (
	chartHeight = 120
	barWidth    = 18
	barGap      = 6
)

type bar struct {
	X, MinH, AmtH, MinY, AmtY int
	Label, Title              string
}

// WriteHTML writes a self-contained page (no external assets, no script):
// the totals, the invoice with its rounding difference, a table by
// destination and by day, and an inline SVG bar chart of daily minutes and
// amounts. Bar heights are computed with integers and apd, never floats.
func (s *Statement) WriteHTML(w io.Writer) error {
	var maxSecs int64
	maxAmt := new(apd.Decimal)
	for _, d := range s.ByDay {
		if d.BillableSeconds > maxSecs {
			maxSecs = d.BillableSeconds
		}
		if a := d.Amount.Decimal(); a.Cmp(maxAmt) > 0 {
			maxAmt.Set(a)
		}
	}
	bars := make([]bar, 0, len(s.ByDay))
	for i, d := range s.ByDay {
		b := bar{X: 40 + i*(2*barWidth+barGap), Label: d.Key[len(d.Key)-2:],
			Title: d.Key + ": " + d.Minutes() + " min, " + d.Amount.String()}
		if maxSecs > 0 {
			b.MinH = int(d.BillableSeconds * chartHeight / maxSecs)
		}
		b.AmtH = scaleHeight(d.Amount.Decimal(), maxAmt)
		b.MinY, b.AmtY = 10+chartHeight-b.MinH, 10+chartHeight-b.AmtH
		bars = append(bars, b)
	}
	width := 60 + len(bars)*(2*barWidth+barGap)
	return statementPage.Execute(w, map[string]any{
		"S": s, "Bars": bars, "Width": width, "Height": chartHeight + 40,
		"BarW": barWidth, "Base": 10 + chartHeight, "LabelY": chartHeight + 26,
	})
}

// scaleHeight returns a×chartHeight÷max as a whole number of units.
func scaleHeight(a, max *apd.Decimal) int {
	if max.Sign() <= 0 || a.Sign() <= 0 {
		return 0
	}
	ctx := apd.BaseContext.WithPrecision(40)
	var h apd.Decimal
	if _, err := ctx.Mul(&h, a, apd.New(chartHeight, 0)); err != nil {
		return 0
	}
	if _, err := ctx.QuoInteger(&h, &h, max); err != nil {
		return 0
	}
	n, err := h.Int64()
	if err != nil || n < 0 || n > chartHeight {
		return 0
	}
	return int(n)
}

var statementPage = template.Must(template.New("statement").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Statement {{.S.Counterparty}} {{.S.Period.String}} {{.S.Currency}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3} td.l,th.l{text-align:left}
.minutes{fill:#3a7bd5}.amount{fill:#e08a1e} svg text{font-size:10px}
</style></head><body>
<h1>Statement for {{.S.Counterparty}}</h1>
<p>Period {{.S.Period.String}}, currency {{.S.Currency}}.</p>
<table>
<tr><th class="l">Calls</th><td>{{.S.Calls}}</td></tr>
<tr><th class="l">Billable minutes</th><td>{{.S.Minutes}}</td></tr>
<tr><th class="l">Amount (sum of rated calls)</th><td>{{.S.Amount.Text}}</td></tr>
<tr><th class="l">Invoice ({{.S.MinorUnit}} decimals)</th><td>{{.S.Invoice.Text}}</td></tr>
<tr><th class="l">Invoice rounding difference</th><td>{{.S.InvoiceRounding.Text}}</td></tr>
{{with .S.Conversion}}<tr><th class="l">Converted from</th><td>{{.OriginalAmount}} at {{.Rate.Rate.Text 102}} {{.Rate.From}}→{{.Rate.To}} ({{.Rate.Date.Format "2006-01-02"}} {{.Rate.Source}})</td></tr>{{end}}
</table>
<h2>Daily minutes and amounts</h2>
<svg xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" role="img" aria-label="daily minutes (blue) and amounts (orange)">
<line x1="35" y1="{{.Base}}" x2="{{.Width}}" y2="{{.Base}}" stroke="#888"/>
{{range .Bars}}<g><title>{{.Title}}</title>
<rect class="minutes" x="{{.X}}" y="{{.MinY}}" width="{{$.BarW}}" height="{{.MinH}}"/>
<rect class="amount" x="{{.X}}" y="{{.AmtY}}" width="{{$.BarW}}" height="{{.AmtH}}" transform="translate({{$.BarW}},0)"/>
<text x="{{.X}}" y="{{$.LabelY}}">{{.Label}}</text></g>
{{end}}</svg>
<p><span style="color:#3a7bd5">■</span> minutes <span style="color:#e08a1e">■</span> amount (each scaled to its own maximum)</p>
<h2>By destination</h2>
<table><tr><th class="l">Prefix</th><th class="l">Description</th><th>Calls</th><th>Minutes</th><th>Amount</th></tr>
{{range .S.ByDestination}}<tr><td class="l">{{.Key}}</td><td class="l">{{.Description}}</td><td>{{.Calls}}</td><td>{{.Minutes}}</td><td>{{.Amount.Text}}</td></tr>
{{end}}</table>
<h2>By day</h2>
<table><tr><th class="l">Day</th><th>Calls</th><th>Minutes</th><th>Amount</th></tr>
{{range .S.ByDay}}<tr><td class="l">{{.Key}}</td><td>{{.Calls}}</td><td>{{.Minutes}}</td><td>{{.Amount.Text}}</td></tr>
{{end}}</table>
</body></html>
`))
