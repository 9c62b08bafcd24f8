// Package pdfdoc is the PDF adapter of the settlement documents
// (settlement's Statement.WritePDF and Netting.WritePDF): an A4 page
// layout over github.com/go-pdf/fpdf with an integer API (millimetres,
// points, permille). fpdf's geometry is floating point; it stays here, so
// that settlement keeps its house rule (no floating-point types in
// non-test code under ledger/ or settlement/). Display only: nothing it
// computes reaches the ledger or a figure of a document.
package pdfdoc

import (
	"io"
	"strconv"
	"time"

	"github.com/go-pdf/fpdf"
)

// Page geometry in millimetres (A4 portrait, 15 mm margins).
const (
	margin = 15.0
	// Width is the text width in millimetres (210 − 2 × 15).
	Width  = 180
	bottom = 297.0 - 18.0
	line   = 6.0
)

// Doc is a document being written.
type Doc struct {
	f  *fpdf.Fpdf
	tr func(string) string // UTF-8 → cp1252 for the core fonts
}

// Col is a table column: its title, width in millimetres and alignment
// ("L" or "R").
type Col struct {
	Title string
	Width int
	Align string
}

// Bar is one day of a chart: its label, its two bars in permille of the
// busiest day (minutes, amount), and whether its label is shown when the
// chart has more than 15 days.
type Bar struct {
	Label                    string
	MinPerMille, AmtPerMille int
	Tick                     bool
}

// New starts an A4 document titled "KIND NUMBER", authored by author and
// dated issued (the Unix epoch when zero: the same input gives the same
// bytes), with a footer naming it on every page. It uses the PDF core
// fonts (Helvetica) in code page 1252.
func New(kind, number, author string, issued time.Time) *Doc {
	f := fpdf.New("P", "mm", "A4", "")
	f.SetMargins(margin, margin, margin)
	f.SetAutoPageBreak(true, 297-bottom)
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
	p := &Doc{f: f, tr: f.UnicodeTranslatorFromDescriptor("")}
	footer := p.tr(kind + " " + number)
	f.AliasNbPages("{nb}")
	f.SetFooterFunc(func() {
		f.SetY(-12)
		f.SetFont("Helvetica", "", 8)
		f.SetTextColor(110, 110, 110)
		f.CellFormat(Width/2, 5, footer, "", 0, "L", false, 0, "")
		f.CellFormat(Width/2, 5, "Page "+strconv.Itoa(f.PageNo())+" of {nb}", "", 0, "R", false, 0, "")
		f.SetTextColor(0, 0, 0)
	})
	f.AddPage()
	return p
}

// Output writes the document.
func (p *Doc) Output(w io.Writer) error { return p.f.Output(w) }

// Font sets the font: style "" or "B", size in points.
func (p *Doc) Font(style string, size int) { p.f.SetFont("Helvetica", style, float64(size)) }

// TextColor sets the text colour.
func (p *Doc) TextColor(r, g, b int) { p.f.SetTextColor(r, g, b) }

// Cell writes text in a cell of width × height millimetres, left
// aligned, then moves to the next line.
func (p *Doc) Cell(width, height int, text string) {
	p.f.CellFormat(float64(width), float64(height), p.tr(text), "", 1, "L", false, 0, "")
}

// MultiCell writes text wrapped in width millimetres, lines of height.
func (p *Doc) MultiCell(width, height int, text string) {
	p.f.MultiCell(float64(width), float64(height), p.tr(text), "", "L", false)
}

// Ln moves down mm millimetres.
func (p *Doc) Ln(mm int) { p.f.Ln(float64(mm)) }

// Meta writes label/value lines (issuer, number, dates…).
func (p *Doc) Meta(rows [][2]string) {
	f := p.f
	for _, r := range rows {
		f.SetFont("Helvetica", "", 10)
		f.SetTextColor(90, 90, 90)
		f.CellFormat(32, 5.5, p.tr(r[0]), "", 0, "L", false, 0, "")
		f.SetTextColor(0, 0, 0)
		f.MultiCell(Width-32, 5.5, p.tr(r[1]), "", "L", false)
	}
}

// Box writes text in a filled, padded block (size in points).
func (p *Doc) Box(text string, size int, bold bool, fill [3]int) {
	f := p.f
	style := ""
	if bold {
		style = "B"
	}
	f.Ln(2)
	f.SetFont("Helvetica", style, float64(size))
	f.SetFillColor(fill[0], fill[1], fill[2])
	f.MultiCell(Width, float64(size)*0.5, p.tr(text), "", "L", true)
	f.Ln(2)
}

// Section starts a titled section (on a new page when little is left).
func (p *Doc) Section(title string) {
	p.need(2 * line)
	p.f.Ln(4)
	p.f.SetFont("Helvetica", "B", 12)
	p.f.CellFormat(Width, 7, p.tr(title), "", 1, "L", false, 0, "")
}

// Note writes a small grey paragraph.
func (p *Doc) Note(text string) {
	p.f.Ln(2)
	p.f.SetFont("Helvetica", "", 8)
	p.f.SetTextColor(90, 90, 90)
	p.f.MultiCell(Width, 4, p.tr(text), "", "L", false)
	p.f.SetTextColor(0, 0, 0)
}

// KeyValue writes a label and its value, right aligned, underlined.
func (p *Doc) KeyValue(label, value string, bold bool) {
	style := ""
	if bold {
		style = "B"
	}
	p.need(line)
	p.f.SetFont("Helvetica", style, 10)
	p.f.CellFormat(120, line, p.tr(label), "B", 0, "L", false, 0, "")
	p.f.CellFormat(60, line, p.tr(value), "B", 1, "R", false, 0, "")
}

// need starts a new page when less than h millimetres are left on this one.
func (p *Doc) need(h float64) bool {
	if p.f.GetY()+h > bottom {
		p.f.AddPage()
		return true
	}
	return false
}

// Table writes n rows under a header that is repeated on every page the
// table runs onto; a cell too wide for its column is cut with "...".
func (p *Doc) Table(cols []Col, n int, row func(int) []string) {
	f := p.f
	header := func() {
		f.SetFont("Helvetica", "B", 9)
		f.SetFillColor(243, 243, 243)
		for _, c := range cols {
			f.CellFormat(float64(c.Width), line, p.tr(c.Title), "B", 0, c.Align, true, 0, "")
		}
		f.Ln(-1)
		f.SetFont("Helvetica", "", 9)
	}
	p.need(2 * line)
	header()
	for i := range n {
		if p.need(line) {
			header()
		}
		for j, cell := range row(i) {
			c := cols[j]
			f.CellFormat(float64(c.Width), line, p.fit(p.tr(cell), float64(c.Width)-2), "B", 0, c.Align, false, 0, "")
		}
		f.Ln(-1)
	}
}

// fit cuts s (already cp1252) to width millimetres in the current font.
func (p *Doc) fit(s string, width float64) string {
	if p.f.GetStringWidth(s) <= width {
		return s
	}
	for len(s) > 0 && p.f.GetStringWidth(s+"...") > width {
		s = s[:len(s)-1]
	}
	return s + "..."
}

// Chart draws the daily bars (minutes blue, amount orange, each scaled
// to its busiest day) across the page width with the ticked days
// labelled (every day when there are at most 15).
func (p *Doc) Chart(days []Bar) {
	const height = 40.0
	f := p.f
	p.need(height + 14)
	top := f.GetY() + 2
	base := top + height
	if len(days) > 0 {
		col := Width / float64(len(days))
		bar := col * 0.38
		f.SetFont("Helvetica", "", 6)
		for i, d := range days {
			x := margin + float64(i)*col + col*0.12
			if h := height * float64(d.MinPerMille) / 1000; h > 0 {
				f.SetFillColor(58, 123, 213)
				f.Rect(x, base-h, bar, h, "F")
			}
			if h := height * float64(d.AmtPerMille) / 1000; h > 0 {
				f.SetFillColor(224, 138, 30)
				f.Rect(x+bar, base-h, bar, h, "F")
			}
			if d.Tick || len(days) <= 15 {
				f.SetXY(margin+float64(i)*col-3, base+0.5)
				f.CellFormat(col+6, 3, d.Label, "", 0, "C", false, 0, "")
			}
		}
	}
	f.SetDrawColor(136, 136, 136)
	f.Line(margin, base, margin+Width, base)
	f.SetDrawColor(0, 0, 0)
	f.SetXY(margin, base+4)
	f.SetFont("Helvetica", "", 8)
	f.SetFillColor(58, 123, 213)
	f.Rect(margin, base+5, 3, 3, "F")
	f.SetX(margin + 4)
	f.CellFormat(20, 5, "minutes", "", 0, "L", false, 0, "")
	f.SetFillColor(224, 138, 30)
	f.Rect(f.GetX(), base+5, 3, 3, "F")
	f.SetX(f.GetX() + 4)
	f.CellFormat(100, 5, "amount (each scaled to its own busiest day)", "", 1, "L", false, 0, "")
}
