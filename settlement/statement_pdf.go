package settlement

import (
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
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
func (s *Statement) WritePDF(w io.Writer) error {
	v := s.view()
	p := newPDFDoc("Statement", v.Number, v.Issuer.Display(), s.Heading.Issued)
	p.heading(v)
	if v.Empty {
		p.box("No calls with "+v.Them.Display()+" from "+v.Period+": there is nothing to settle on this statement.", 11, false, [3]int{250, 250, 250})
	} else {
		p.section("Totals")
		for i, r := range v.Totals {
			p.keyValue(r.Label, r.Value, i == 3)
		}
		if v.Conversion != "" {
			p.note(v.Conversion)
		}
		p.section("Daily minutes and amounts")
		if !v.DaysComplete {
			p.note("The period spans " + strconv.Itoa(v.PeriodDays) + " days: only the days with calls are listed.")
		}
		p.chart(v.Days)
		p.section("By day")
		p.table([]pdfCol{{"Day (UTC)", 45, "L"}, {"Calls", 35, "R"}, {"Minutes", 45, "R"}, {"Amount (" + s.Currency + ")", 55, "R"}},
			len(v.Days), func(i int) []string {
				d := v.Days[i]
				return []string{d.Key, strconv.Itoa(d.Calls), d.Minutes, d.Amount}
			})
		p.section("By destination")
		p.table([]pdfCol{{"Prefix", 25, "L"}, {"Destination", 60, "L"}, {"Calls", 25, "R"}, {"Minutes", 30, "R"}, {"Amount (" + s.Currency + ")", 40, "R"}},
			len(v.Destinations), func(i int) []string {
				d := v.Destinations[i]
				return []string{d.Key, d.Description, strconv.Itoa(d.Calls), d.Minutes, d.Amount}
			})
	}
	p.note("Amounts are exact sums of the rated calls; the invoice amount is rounded once to the currency's minor unit and the difference is shown. Times are UTC.")
	return p.f.Output(w)
}

// Page geometry in millimetres (A4 portrait, 15 mm margins).
const (
	pdfMargin = 15.0
	pdfWidth  = 180.0 // 210 − 2 × 15
	pdfBottom = 297.0 - 18.0
	pdfLine   = 6.0
)

type pdfDoc struct {
	f  *fpdf.Fpdf
	tr func(string) string // UTF-8 → cp1252 for the core fonts
}

type pdfCol struct {
	title string
	width float64
	align string
}

// newPDFDoc starts an A4 document titled "Statement NUMBER" (or kind),
// authored by the issuer and dated issued (the Unix epoch when zero), with
// a footer naming it on every page.
func newPDFDoc(kind, number, author string, issued time.Time) *pdfDoc {
	f := fpdf.New("P", "mm", "A4", "")
	f.SetMargins(pdfMargin, pdfMargin, pdfMargin)
	f.SetAutoPageBreak(true, 297-pdfBottom)
	f.SetCatalogSort(true)
	at := time.Unix(0, 0).UTC()
	if !issued.IsZero() {
		at = issued.UTC()
	}
	f.SetCreationDate(at)
	f.SetModificationDate(at)
	f.SetTitle(kind+" "+number, true)
	f.SetAuthor(author, true)
	f.SetCreator("ospnode", true)
	p := &pdfDoc{f: f, tr: f.UnicodeTranslatorFromDescriptor("")}
	footer := p.tr(kind + " " + number)
	f.AliasNbPages("{nb}")
	f.SetFooterFunc(func() {
		f.SetY(-12)
		f.SetFont("Helvetica", "", 8)
		f.SetTextColor(110, 110, 110)
		f.CellFormat(pdfWidth/2, 5, footer, "", 0, "L", false, 0, "")
		f.CellFormat(pdfWidth/2, 5, "Page "+strconv.Itoa(f.PageNo())+" of {nb}", "", 0, "R", false, 0, "")
		f.SetTextColor(0, 0, 0)
	})
	f.AddPage()
	return p
}

// meta writes label/value lines (issuer, number, dates…).
func (p *pdfDoc) meta(rows []viewRow) {
	f := p.f
	for _, r := range rows {
		f.SetFont("Helvetica", "", 10)
		f.SetTextColor(90, 90, 90)
		f.CellFormat(32, 5.5, p.tr(r.Label), "", 0, "L", false, 0, "")
		f.SetTextColor(0, 0, 0)
		f.MultiCell(pdfWidth-32, 5.5, p.tr(r.Value), "", "L", false)
	}
}

func (p *pdfDoc) heading(v statementView) {
	f := p.f
	switch v.Class {
	case "sell":
		f.SetTextColor(31, 107, 42)
	case "buy":
		f.SetTextColor(164, 70, 15)
	default:
		f.SetTextColor(138, 28, 28)
	}
	f.SetFont("Helvetica", "B", 9)
	f.CellFormat(pdfWidth, 5, p.tr(strings.ToUpper(v.Kind)), "", 1, "L", false, 0, "")
	f.SetTextColor(0, 0, 0)
	f.SetFont("Helvetica", "B", 18)
	f.MultiCell(pdfWidth, 9, p.tr("Statement for "+v.Them.Display()), "", "L", false)
	if v.Them.Name != "" {
		f.SetFont("Helvetica", "", 8)
		f.SetTextColor(100, 100, 100)
		f.CellFormat(pdfWidth, 4, p.tr(v.Them.ID), "", 1, "L", false, 0, "")
		f.SetTextColor(0, 0, 0)
	}
	f.Ln(3)
	issuer := v.Issuer.Display()
	if v.Issuer.Name != "" && v.Issuer.ID != "" {
		issuer += " (" + v.Issuer.ID + ")"
	}
	meta := []viewRow{{"Issuer", issuer}, {"Statement no.", v.Number}, {"Issue date", v.Issued}}
	if v.Due != "" {
		meta = append(meta, viewRow{"Due date", v.Due})
	}
	p.meta(append(meta, viewRow{"Period", v.Period}, viewRow{"Currency", v.S.Currency}))
	f.Ln(3)
	fill := [3]int{244, 244, 244}
	switch v.Class {
	case "sell":
		fill = [3]int{237, 246, 238}
	case "buy":
		fill = [3]int{251, 240, 232}
	}
	p.box(v.Owes, 14, true, fill)
	f.SetFont("Helvetica", "", 10)
	f.MultiCell(pdfWidth, 5, p.tr(v.DirText), "", "L", false)
}

// box writes text in a filled, padded block.
func (p *pdfDoc) box(text string, size float64, bold bool, fill [3]int) {
	f := p.f
	style := ""
	if bold {
		style = "B"
	}
	f.Ln(2)
	f.SetFont("Helvetica", style, size)
	f.SetFillColor(fill[0], fill[1], fill[2])
	f.MultiCell(pdfWidth, size*0.5, p.tr(text), "", "L", true)
	f.Ln(2)
}

func (p *pdfDoc) section(title string) {
	p.need(2 * pdfLine)
	p.f.Ln(4)
	p.f.SetFont("Helvetica", "B", 12)
	p.f.CellFormat(pdfWidth, 7, p.tr(title), "", 1, "L", false, 0, "")
}

func (p *pdfDoc) note(text string) {
	p.f.Ln(2)
	p.f.SetFont("Helvetica", "", 8)
	p.f.SetTextColor(90, 90, 90)
	p.f.MultiCell(pdfWidth, 4, p.tr(text), "", "L", false)
	p.f.SetTextColor(0, 0, 0)
}

func (p *pdfDoc) keyValue(label, value string, bold bool) {
	style := ""
	if bold {
		style = "B"
	}
	p.need(pdfLine)
	p.f.SetFont("Helvetica", style, 10)
	p.f.CellFormat(120, pdfLine, p.tr(label), "B", 0, "L", false, 0, "")
	p.f.CellFormat(60, pdfLine, p.tr(value), "B", 1, "R", false, 0, "")
}

// need starts a new page when less than h millimetres are left on this one.
func (p *pdfDoc) need(h float64) bool {
	if p.f.GetY()+h > pdfBottom {
		p.f.AddPage()
		return true
	}
	return false
}

// table writes n rows under a header that is repeated on every page the
// table runs onto; a cell too wide for its column is cut with "...".
func (p *pdfDoc) table(cols []pdfCol, n int, row func(int) []string) {
	f := p.f
	header := func() {
		f.SetFont("Helvetica", "B", 9)
		f.SetFillColor(243, 243, 243)
		for _, c := range cols {
			f.CellFormat(c.width, pdfLine, p.tr(c.title), "B", 0, c.align, true, 0, "")
		}
		f.Ln(-1)
		f.SetFont("Helvetica", "", 9)
	}
	p.need(2 * pdfLine)
	header()
	for i := range n {
		if p.need(pdfLine) {
			header()
		}
		for j, cell := range row(i) {
			c := cols[j]
			f.CellFormat(c.width, pdfLine, p.fit(p.tr(cell), c.width-2), "B", 0, c.align, false, 0, "")
		}
		f.Ln(-1)
	}
}

// fit cuts s (already cp1252) to width millimetres in the current font.
func (p *pdfDoc) fit(s string, width float64) string {
	if p.f.GetStringWidth(s) <= width {
		return s
	}
	for len(s) > 0 && p.f.GetStringWidth(s+"...") > width {
		s = s[:len(s)-1]
	}
	return s + "..."
}

// chart draws the daily bars (minutes blue, amount orange, each scaled
// to its busiest day) across the page width with the 1st and every 5th
// day labelled.
func (p *pdfDoc) chart(days []viewLine) {
	const height = 40.0
	f := p.f
	p.need(height + 14)
	top := f.GetY() + 2
	base := top + height
	if len(days) > 0 {
		col := pdfWidth / float64(len(days))
		bar := col * 0.38
		f.SetFont("Helvetica", "", 6)
		for i, d := range days {
			x := pdfMargin + float64(i)*col + col*0.12
			if h := height * float64(d.MinPerMille) / 1000; h > 0 {
				f.SetFillColor(58, 123, 213)
				f.Rect(x, base-h, bar, h, "F")
			}
			if h := height * float64(d.AmtPerMille) / 1000; h > 0 {
				f.SetFillColor(224, 138, 30)
				f.Rect(x+bar, base-h, bar, h, "F")
			}
			if d.Tick || len(days) <= 15 {
				f.SetXY(pdfMargin+float64(i)*col-3, base+0.5)
				f.CellFormat(col+6, 3, d.Label, "", 0, "C", false, 0, "")
			}
		}
	}
	f.SetDrawColor(136, 136, 136)
	f.Line(pdfMargin, base, pdfMargin+pdfWidth, base)
	f.SetDrawColor(0, 0, 0)
	f.SetXY(pdfMargin, base+4)
	f.SetFont("Helvetica", "", 8)
	f.SetFillColor(58, 123, 213)
	f.Rect(pdfMargin, base+5, 3, 3, "F")
	f.SetX(pdfMargin + 4)
	f.CellFormat(20, 5, "minutes", "", 0, "L", false, 0, "")
	f.SetFillColor(224, 138, 30)
	f.Rect(f.GetX(), base+5, 3, 3, "F")
	f.SetX(f.GetX() + 4)
	f.CellFormat(100, 5, "amount (each scaled to its own busiest day)", "", 1, "L", false, 0, "")
}
