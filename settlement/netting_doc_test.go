package settlement

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
)

// docNetting nets Carrier A's calls (docCDRs: 1,234.5600 USD owed to
// Purple) against calls Carrier A carried for Purple (234.5600 USD), and a
// EUR pair where Purple pays: a net each way.
func docNetting(t *testing.T, period string) *Netting {
	t.Helper()
	p, err := ParsePeriod(period)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 9, 12, 0, 0, 0, time.UTC)
	buy := func(amt, cur string) CDR {
		return CDR{Line: 2, Counterparty: "member:carrier-a", Prefix: "44", ConnectTime: at, BillableSeconds: 600, HasBillable: true, Amount: money.MustNew(amt, cur)}
	}
	sellEUR := buy("10.0000", "EUR")
	nt, err := BuildNetting("purple", "member:carrier-a", p, append(docCDRs(), sellEUR), []CDR{buy("234.5600", "USD"), buy("25.0000", "EUR")})
	if err != nil {
		t.Fatal(err)
	}
	nt.Heading = NettingHeading{UsName: "Purple peering", ThemName: "Carrier A", Issued: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC),
		UsDetails: purpleDetails, ThemDetails: carrierADetails, Due: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
	return nt
}

func TestNettingDocument(t *testing.T) {
	nt := docNetting(t, "2026-11")
	var page bytes.Buffer
	if err := nt.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	golden(t, "netting.html", page.Bytes())
	var pdf bytes.Buffer
	if err := nt.WritePDF(&pdf); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(pdfText(t, pdf.Bytes())), " ")
	for _, want := range []string{
		"Net: Carrier A pays Purple peering 1,000.00 USD.",
		"Net: Purple peering pays Carrier A 15.00 EUR.",
		"Carrier A owes Purple peering 1,234.56 USD for 4 calls it sent",
		"Purple peering owes Carrier A 234.56 USD for 1 call it carried",
		nt.Number(), "2026-11-01 00:00 UTC (inclusive) to 2026-12-01 00:00 UTC (exclusive)",
		"1 Exchange Square", "London EC2A 2BR", "Tax ID: GB123456789", "500 Main Street", "Springfield, IL 62701", "ap@carrier-a.example",
		"2027-01-01",
	} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("page lacks %q", want)
		}
		if !strings.Contains(text, want) {
			t.Errorf("PDF lacks %q:\n%s", want, text)
		}
	}
	if !strings.HasPrefix(nt.Number(), "PURPLE-20261101-N-") || nt.Number() == docNetting(t, "2026-10").Number() {
		t.Errorf("number %s", nt.Number())
	}
	empty := docNetting(t, "2026-10")
	page.Reset()
	if err := empty.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "nothing is owed either way") || strings.Contains(page.String(), "<table") || strings.Contains(page.String(), "Due date") {
		t.Errorf("empty netting page:\n%s", page.String())
	}
}
