package settlement

import (
	"io"
	"strconv"
	"testing"
)

// benchStatement is a month with 1,000 destinations and traffic every day.
func benchStatement(b *testing.B) *Statement {
	b.Helper()
	base := docCDRs()[0]
	cdrs := make([]CDR, 0, 30000)
	for i := range 30000 {
		c := base
		c.Prefix = "49" + strconv.Itoa(1000+i%1000)
		c.Description = "Destination " + strconv.Itoa(i%1000)
		c.ConnectTime = base.ConnectTime.AddDate(0, 0, i%30-2)
		cdrs = append(cdrs, c)
	}
	p, _ := ParsePeriod("2026-11")
	s, err := BuildStatement(cdrs, "member:carrier-a", "USD", p)
	if err != nil {
		b.Fatal(err)
	}
	s.Heading = StatementHeading{Issuer: Party{ID: "purple", Name: "Purple peering"}, CounterpartyName: "Carrier A", Direction: Sell}
	return s
}

func BenchmarkStatementHTML(b *testing.B) {
	s := benchStatement(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.WriteHTML(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStatementPDF(b *testing.B) {
	s := benchStatement(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.WritePDF(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
