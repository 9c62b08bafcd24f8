package settlement

import (
	"io"
	"strconv"
	"strings"

	"github.com/ospnode/ospnode/internal/pdfdoc"
)

// WritePDF writes the statement as an A4 PDF with the content of the HTML
// page (statementView: the same words and figures): heading, the debt in
// words, totals, a daily bar chart and table with every day of the
// period, and the table by destination; tables that run over a page
// repeat their header. The output is deterministic: the PDF's dates are
// the issue date (the Unix epoch when none is stated), so the same
// statement gives the same bytes.
//
// It uses the PDF core fonts (Helvetica) in code page 1252: names in
// Latin scripts print as given; a character outside cp1252 prints as '.'.
// The page layout (fpdf, whose geometry is floating point) is
// internal/pdfdoc's: settlement keeps no floating-point types.
func (s *Statement) WritePDF(w io.Writer) error {
	v := s.view()
	p := pdfdoc.New("Statement", v.Number, v.Issuer.Display(), s.Heading.Issued)
	pdfHeading(p, v)
	if v.Empty {
		p.Box("No calls with "+v.Them.Display()+" from "+v.Period+": there is nothing to settle on this statement.", 11, false, [3]int{250, 250, 250})
	} else {
		p.Section("Totals")
		for i, r := range v.Totals {
			p.KeyValue(r.Label, r.Value, i == 3)
		}
		if v.Conversion != "" {
			p.Note(v.Conversion)
		}
		p.Section("Daily minutes and amounts")
		if !v.DaysComplete {
			p.Note("The period spans " + strconv.Itoa(v.PeriodDays) + " days: only the days with calls are listed.")
		}
		p.Chart(pdfBars(v.Days))
		p.Section("By day")
		p.Table([]pdfdoc.Col{{Title: "Day (UTC)", Width: 45, Align: "L"}, {Title: "Calls", Width: 35, Align: "R"}, {Title: "Minutes", Width: 45, Align: "R"}, {Title: "Amount (" + s.Currency + ")", Width: 55, Align: "R"}},
			len(v.Days), func(i int) []string {
				d := v.Days[i]
				return []string{d.Key, strconv.Itoa(d.Calls), d.Minutes, d.Amount}
			})
		p.Section("By destination")
		p.Table([]pdfdoc.Col{{Title: "Prefix", Width: 25, Align: "L"}, {Title: "Destination", Width: 60, Align: "L"}, {Title: "Calls", Width: 25, Align: "R"}, {Title: "Minutes", Width: 30, Align: "R"}, {Title: "Amount (" + s.Currency + ")", Width: 40, Align: "R"}},
			len(v.Destinations), func(i int) []string {
				d := v.Destinations[i]
				return []string{d.Key, d.Description, strconv.Itoa(d.Calls), d.Minutes, d.Amount}
			})
	}
	p.Note("Amounts are exact sums of the rated calls; the invoice amount is rounded once to the currency's minor unit and the difference is shown. Times are UTC.")
	return p.Output(w)
}

func pdfMeta(rows []viewRow) [][2]string {
	out := make([][2]string, len(rows))
	for i, r := range rows {
		out[i] = [2]string{r.Label, r.Value}
	}
	return out
}

func pdfBars(days []viewLine) []pdfdoc.Bar {
	out := make([]pdfdoc.Bar, len(days))
	for i, d := range days {
		out[i] = pdfdoc.Bar{Label: d.Label, MinPerMille: d.MinPerMille, AmtPerMille: d.AmtPerMille, Tick: d.Tick}
	}
	return out
}

// withDetails is a party's name line followed by its address, tax id and
// email, one per line (Meta wraps a value at its newlines).
func withDetails(name string, p Party) string {
	return strings.Join(append([]string{name}, p.Lines()...), "\n")
}

func pdfHeading(p *pdfdoc.Doc, v statementView) {
	switch v.Class {
	case "sell":
		p.TextColor(31, 107, 42)
	case "buy":
		p.TextColor(164, 70, 15)
	default:
		p.TextColor(138, 28, 28)
	}
	p.Font("B", 9)
	p.Cell(pdfdoc.Width, 5, strings.ToUpper(v.Kind))
	p.TextColor(0, 0, 0)
	p.Font("B", 18)
	p.MultiCell(pdfdoc.Width, 9, "Statement for "+v.Them.Display())
	if v.Them.Name != "" {
		p.Font("", 8)
		p.TextColor(100, 100, 100)
		p.Cell(pdfdoc.Width, 4, v.Them.ID)
		p.TextColor(0, 0, 0)
	}
	p.Ln(3)
	issuer := v.Issuer.Display()
	if v.Issuer.Name != "" && v.Issuer.ID != "" {
		issuer += " (" + v.Issuer.ID + ")"
	}
	meta := []viewRow{{"Issuer", withDetails(issuer, v.Issuer)}}
	if !v.Them.PartyDetails.Empty() {
		them := v.Them.Display()
		if v.Them.Name != "" {
			them += " (" + v.Them.ID + ")"
		}
		meta = append(meta, viewRow{"Counterparty", withDetails(them, v.Them)})
	}
	meta = append(meta, viewRow{"Statement no.", v.Number}, viewRow{"Issue date", v.Issued})
	if v.Due != "" {
		meta = append(meta, viewRow{"Due date", v.Due})
	}
	p.Meta(pdfMeta(append(meta, viewRow{"Period", v.Period}, viewRow{"Currency", v.S.Currency})))
	p.Ln(3)
	fill := [3]int{244, 244, 244}
	switch v.Class {
	case "sell":
		fill = [3]int{237, 246, 238}
	case "buy":
		fill = [3]int{251, 240, 232}
	}
	p.Box(v.Owes, 14, true, fill)
	p.Font("", 10)
	p.MultiCell(pdfdoc.Width, 5, v.DirText)
}
