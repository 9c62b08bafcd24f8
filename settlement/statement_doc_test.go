package settlement

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
)

// docCDRs are rated calls of Carrier A in November 2026 on three days
// (3rd, 5th, 17th), two destinations, amounts large enough to need
// thousands separators: 1,234.5600 USD in all.
func docCDRs() []CDR {
	at := func(day, hour int) time.Time { return time.Date(2026, 11, day, hour, 0, 0, 0, time.UTC) }
	c := func(line int, prefix, desc string, t time.Time, secs int64, amt string) CDR {
		return CDR{Line: line, Called: prefix + "5550100", Prefix: prefix, Description: desc, Counterparty: "member:carrier-a",
			ConnectTime: t, BillableSeconds: secs, HasBillable: true, Amount: money.MustNew(amt, "USD")}
	}
	return []CDR{
		c(2, "4930", "Germany Berlin", at(3, 9), 3600, "600.0000"),
		c(3, "4930", "Germany Berlin", at(3, 10), 60, "0.5600"),
		c(4, "1212", "USA New York", at(5, 23), 1800, "434.0000"),
		c(5, "1212", "USA New York", at(17, 0), 1200, "200.0000"),
		// outside the period: excluded
		c(6, "1212", "USA New York", at(30, 23).Add(2*time.Hour), 60, "9.0000"),
	}
}

// The parties' billing details of the fixtures.
var (
	purpleDetails   = PartyDetails{Address: []string{"Purple Peering Ltd", "1 Exchange Square", "London EC2A 2BR"}, TaxID: "GB123456789"}
	carrierADetails = PartyDetails{Address: []string{"Carrier A Inc.", "500 Main Street", "Springfield, IL 62701"}, Email: "ap@carrier-a.example"}
)

// docStatement builds the fixture statement of dir for period with a
// fixed heading (issue date included, so golden files are stable).
func docStatement(t *testing.T, dir Direction, period string, cdrs []CDR) *Statement {
	t.Helper()
	p, err := ParsePeriod(period)
	if err != nil {
		t.Fatal(err)
	}
	s, err := BuildStatement(cdrs, "member:carrier-a", "USD", p)
	if err != nil {
		t.Fatal(err)
	}
	s.Heading = StatementHeading{Issuer: Party{ID: "purple", Name: "Purple peering"}, CounterpartyName: "Carrier A",
		Direction: dir, Issued: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}
	return s
}

func TestDebtSentence(t *testing.T) {
	neg := docStatement(t, Sell, "2026-11", []CDR{{Line: 2, Counterparty: "member:carrier-a", Prefix: "1",
		ConnectTime: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), HasBillable: true, Amount: money.MustNew("-12.5", "USD")}})
	tests := []struct {
		name string
		s    *Statement
		want string
	}{
		{"sell: they owe us", docStatement(t, Sell, "2026-11", docCDRs()), "Carrier A owes Purple peering 1,234.56 USD for this period."},
		{"buy: we owe them", docStatement(t, Buy, "2026-11", docCDRs()), "Purple peering owes Carrier A 1,234.56 USD for this period."},
		{"credit turns the debt around", neg, "Purple peering owes Carrier A 12.50 USD for this period."},
		{"no direction says so", docStatement(t, "", "2026-11", docCDRs()), "Direction not stated"},
		{"empty direction says so", docStatement(t, Sell, "2026-10", docCDRs()), "Carrier A owes Purple peering nothing for this period: no calls in this statement's direction."},
		{"empty buy direction", docStatement(t, Buy, "2026-10", docCDRs()), "Purple peering owes Carrier A nothing"},
		{"no traffic either way", docStatement(t, "", "2026-10", docCDRs()), "No calls between Purple peering and Carrier A in this period: nothing is owed either way."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Debt().Sentence(); !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %q, want it to start with %q", got, tc.want)
			}
		})
	}
}

// TestStatementNumber: the number is the same for the same statement
// issued again (another day too) and differs when any of issuer,
// counterparty, period, direction or currency differs.
func TestStatementNumber(t *testing.T) {
	base := docStatement(t, Sell, "2026-11", docCDRs())
	again := docStatement(t, Sell, "2026-11", docCDRs())
	again.Heading.Issued = again.Heading.Issued.AddDate(0, 1, 0)
	if base.Number() != again.Number() {
		t.Fatalf("reissue changed the number: %s vs %s", base.Number(), again.Number())
	}
	if got := base.Number(); !strings.HasPrefix(got, "PURPLE-20261101-S-") || len(got) != len("PURPLE-20261101-S-")+10 {
		t.Fatalf("number %q", got)
	}
	variants := map[string]func(s *Statement){
		"issuer":       func(s *Statement) { s.Heading.Issuer.ID = "green" },
		"counterparty": func(s *Statement) { s.Counterparty = "member:carrier-b" },
		"period":       func(s *Statement) { s.Period, _ = ParsePeriod("2026-11-01/2026-11-30") },
		"direction":    func(s *Statement) { s.Heading.Direction = Buy },
		"currency":     func(s *Statement) { s.Currency = "EUR" },
		// length-prefixed fields: moving a character from one field to the next is another statement
		"field boundary": func(s *Statement) { s.Heading.Issuer.ID, s.Counterparty = "purplem", "ember:carrier-a" },
	}
	seen := map[string]string{base.Number(): "base"}
	for name, change := range variants {
		s := docStatement(t, Sell, "2026-11", docCDRs())
		change(s)
		if prev, dup := seen[s.Number()]; dup {
			t.Errorf("%s: number %s equals %s's", name, s.Number(), prev)
		}
		seen[s.Number()] = name
	}
}

func TestDaysFillsEveryDay(t *testing.T) {
	tests := []struct {
		name         string
		period       string
		wantDays     int
		wantComplete bool
	}{
		{"month", "2026-11", 30, true},
		{"one day", "2026-11-03", 1, true},
		{"partial days at both ends", "2026-11-02T12:00:00Z/2026-11-06T01:00:00Z", 5, true},
		{"end at midnight is exclusive", "2026-11-03/2026-11-06", 3, true},
		{"a century lists only the busy days", "2000-01-01/2100-01-01", 3, false},
		{"all time: first to last busy day", "", 15, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := docStatement(t, Sell, tc.period, docCDRs()[:4])
			days, complete := s.Days()
			if len(days) != tc.wantDays || complete != tc.wantComplete {
				t.Fatalf("%d days complete=%v, want %d %v", len(days), complete, tc.wantDays, tc.wantComplete)
			}
			sum, calls := money.Zero("USD"), 0
			for i, d := range days {
				if i > 0 && d.Key <= days[i-1].Key {
					t.Fatalf("days out of order: %s after %s", d.Key, days[i-1].Key)
				}
				sum, _ = sum.Add(d.Amount)
				calls += d.Calls
			}
			if !sum.Equal(s.Amount) || calls != s.Calls {
				t.Fatalf("days sum to %s / %d calls, statement %s / %d", sum, calls, s.Amount, s.Calls)
			}
		})
	}
}

func TestGroupDigits(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "999.99": "999.99", "1000": "1,000", "-1234567.5000": "-1,234,567.5000", "123456": "123,456"} {
		if got := GroupDigits(in); got != want {
			t.Errorf("GroupDigits(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStatementHTMLGolden: the page of a sell, a buy and an empty
// statement, byte for byte (go test -run TestStatementHTMLGolden -update
// rewrites them after a deliberate change; look at them in a browser).
func TestStatementHTMLGolden(t *testing.T) {
	for _, tc := range []struct {
		file string
		s    *Statement
	}{
		{"statement-sell.html", docStatement(t, Sell, "2026-11", docCDRs())},
		{"statement-buy.html", func() *Statement {
			s := docStatement(t, Buy, "2026-11", docCDRs())
			s.Heading.Due = s.Heading.Issued.AddDate(0, 0, 30)
			s.Heading.Issuer.PartyDetails, s.Heading.CounterpartyDetails = purpleDetails, carrierADetails
			return s
		}()},
		{"statement-empty.html", docStatement(t, Sell, "2026-10", docCDRs())},
	} {
		var buf bytes.Buffer
		if err := tc.s.WriteHTML(&buf); err != nil {
			t.Fatal(err)
		}
		golden(t, tc.file, buf.Bytes())
	}
}

// TestStatementHTMLContent checks, on the markup, what the browser test
// checks on the rendered page, so it holds where no browser runs: the
// names, not only the ids; the debt in words; one bar pair per day; no
// fixed width anywhere; a page for each direction that reads differently;
// hostile names escaped.
func TestStatementHTMLContent(t *testing.T) {
	render := func(s *Statement) string {
		var buf bytes.Buffer
		if err := s.WriteHTML(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	sell := render(docStatement(t, Sell, "2026-11", docCDRs()))
	buy := render(docStatement(t, Buy, "2026-11", docCDRs()))
	for _, want := range []string{"Carrier A owes Purple peering 1,234.56 USD", "Statement for Carrier A", "member:carrier-a",
		"Purple peering", "2026-11-01 00:00 UTC (inclusive) to 2026-12-01 00:00 UTC (exclusive)", "Issue date</dt><dd>2026-12-02",
		"Receivable", "1,234.5600 USD"} {
		if !strings.Contains(sell, want) {
			t.Errorf("sell page lacks %q", want)
		}
	}
	if !strings.Contains(buy, "Purple peering owes Carrier A 1,234.56 USD") || !strings.Contains(buy, "Payable") || strings.Contains(buy, "Carrier A owes") {
		t.Error("buy page does not read as what we owe")
	}
	if n := strings.Count(sell, `<div class="day`); n != 30 {
		t.Errorf("%d day columns, want 30 (every day of November)", n)
	}
	if strings.Contains(sell, "width=\"") || strings.Contains(sell, "px;width") {
		t.Error("a fixed width is back")
	}
	hostile := docStatement(t, Sell, "2026-11", docCDRs())
	hostile.Heading.CounterpartyName = `<script>alert(1)</script>`
	if strings.Contains(render(hostile), "<script>alert") {
		t.Error("counterparty name not escaped")
	}
	empty := render(docStatement(t, Sell, "2026-10", docCDRs()))
	if !strings.Contains(empty, `id="empty"`) || strings.Contains(empty, `class="chart"`) || strings.Contains(empty, "by-day") {
		t.Error("an empty period still shows a chart or tables instead of saying so")
	}
}
