package settlement

import (
	"bytes"
	"compress/zlib"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// pdfText extracts the text a PDF shows, enough for the core-font
// documents WritePDF makes: every content stream (inflated when it is
// Flate-compressed), every string operand of Tj, unescaped, one per line.
// It is deliberately independent of the library that wrote the PDF.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("not a PDF: %q", pdf[:min(len(pdf), 16)])
	}
	streams := regexp.MustCompile(`(?s)<<(.*?)>>\s*stream\r?\n(.*?)\r?\nendstream`).FindAllSubmatch(pdf, -1)
	if len(streams) == 0 {
		t.Fatal("no stream in the PDF")
	}
	var out strings.Builder
	tj := regexp.MustCompile(`\(((?:\\.|[^\\)])*)\)\s*Tj`)
	for _, m := range streams {
		body := m[2]
		if bytes.Contains(m[1], []byte("/FlateDecode")) {
			zr, err := zlib.NewReader(bytes.NewReader(body))
			if err != nil {
				continue // an image or font stream we do not read
			}
			if body, err = io.ReadAll(zr); err != nil {
				continue
			}
		}
		for _, s := range tj.FindAllSubmatch(body, -1) {
			out.WriteString(unescapePDF(string(s[1])) + "\n")
		}
	}
	return out.String()
}

func unescapePDF(s string) string {
	r := strings.NewReplacer(`\\`, `\`, `\(`, `(`, `\)`, `)`, `\r`, "\r", `\n`, "\n")
	return r.Replace(s)
}

// TestStatementPDF: the PDF carries the same words and figures as the
// page (the debt sentence, names, number, period, totals, every day),
// is deterministic, and an empty period says so.
func TestStatementPDF(t *testing.T) {
	render := func(s *Statement) []byte {
		var buf bytes.Buffer
		if err := s.WritePDF(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	sell := docStatement(t, Sell, "2026-11", docCDRs())
	pdf := render(sell)
	text := pdfText(t, pdf)
	for _, want := range []string{"Carrier A owes Purple peering 1,234.56 USD", "Statement for Carrier A", "member:carrier-a",
		"RECEIVABLE", sell.Number(), "2026-12-02", "2026-11-01 00:00 UTC (inclusive) to 2026-12-01 00:00 UTC", "1,234.5600 USD", "1,234.56 USD",
		"2026-11-30", "Germany Berlin", "Page 1 of"} {
		if !strings.Contains(strings.Join(strings.Fields(text), " "), want) {
			t.Errorf("PDF text lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "2026-11-"); n < 30 {
		t.Errorf("%d day rows in the PDF, want every day of November", n)
	}
	if !bytes.Equal(pdf, render(docStatement(t, Sell, "2026-11", docCDRs()))) {
		t.Error("the same statement gave two different PDFs")
	}
	buyStatement := docStatement(t, Buy, "2026-11", docCDRs())
	buyStatement.Heading.Due = buyStatement.Heading.Issued.AddDate(0, 0, 30)
	buyStatement.Heading.Issuer.PartyDetails, buyStatement.Heading.CounterpartyDetails = purpleDetails, carrierADetails
	buy := pdfText(t, render(buyStatement))
	// the parties' addresses, one line each, under their names
	for _, want := range []string{"Issuer\nPurple peering (purple)\nPurple Peering Ltd\n1 Exchange Square\nLondon EC2A 2BR\nTax ID: GB123456789\n",
		"Counterparty\nCarrier A (member:carrier-a)\nCarrier A Inc.\n500 Main Street\nSpringfield, IL 62701\nap@carrier-a.example\n"} {
		if !strings.Contains(buy, want) {
			t.Errorf("buy PDF lacks %q:\n%s", want, buy)
		}
	}
	if strings.Contains(text, "Counterparty\n") {
		t.Errorf("a statement without addresses grew a counterparty row:\n%s", text)
	}
	if !strings.Contains(buy, "Purple peering owes Carrier A 1,234.56 USD") || strings.Contains(buy, "Carrier A owes") || !strings.Contains(buy, "PAYABLE") ||
		!strings.Contains(buy, "Due date\n2027-01-01") {
		t.Errorf("buy PDF does not read as what we owe:\n%s", buy)
	}
	empty := pdfText(t, render(docStatement(t, Sell, "2026-10", docCDRs())))
	if !strings.Contains(empty, "nothing to settle") || strings.Contains(empty, "By day") {
		t.Errorf("empty PDF:\n%s", empty)
	}
}

// TestStatementPDFHostileAndLong: names with PDF string delimiters print
// as given (no broken content stream), a character outside cp1252 prints
// as '.', and a statement of many destinations runs over pages with the
// table header repeated on each.
func TestStatementPDFHostileAndLong(t *testing.T) {
	cdrs := docCDRs()[:4]
	for i := range 150 {
		c := cdrs[0]
		c.Prefix = "49" + strconv.Itoa(1000+i)
		c.Description = "Destination (" + strconv.Itoa(i) + `) \ with a description far too long for its column in the PDF table`
		cdrs = append(cdrs, c)
	}
	s := docStatement(t, Sell, "2026-11", cdrs)
	s.Heading.CounterpartyName = `Carrier (A) \ Ω`
	var buf bytes.Buffer
	if err := s.WritePDF(&buf); err != nil {
		t.Fatal(err)
	}
	text := pdfText(t, buf.Bytes())
	if !strings.Contains(text, `Carrier (A) \ . owes Purple peering`) {
		t.Errorf("hostile name:\n%s", text)
	}
	pages := strings.Count(text, "Page ")
	if headers := strings.Count(text, "Prefix\n"); pages < 4 || headers < 3 {
		t.Errorf("%d pages, destination header %d times", pages, headers)
	}
	if !strings.Contains(text, "...") || strings.Contains(text, "far too long for its column in the PDF table") {
		t.Error("an over-long description is not cut to its column")
	}
}
