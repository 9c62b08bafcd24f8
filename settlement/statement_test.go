package settlement

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"testing/quick"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/ospnode/ospnode/ledger/money"
)

func TestMinorUnits(t *testing.T) {
	for cur, want := range map[string]int32{"USD": 2, "EUR": 2, "JPY": 0, "KWD": 3, "BHD": 3, "GBP": 2} {
		if got, ok := MinorUnit(cur); !ok || got != want {
			t.Errorf("MinorUnit(%s) = %d %v, want %d", cur, got, ok, want)
		}
	}
	if _, ok := MinorUnit("XXX"); ok {
		t.Error("XXX has a minor unit")
	}
}

// randomCDRs returns n rated CDRs in currency with 4-decimal amounts.
func randomCDRs(rng *rand.Rand, n int, currency string) []CDR {
	out := make([]CDR, n)
	prefixes := []string{"49", "4915", "44", "1", "33"}
	for i := range out {
		p := prefixes[rng.Intn(len(prefixes))]
		amt := money.MustNew(fmt.Sprintf("%d.%04d", rng.Intn(50), rng.Intn(10000)), currency)
		out[i] = CDR{Called: p + "123", Prefix: p, Description: "dest " + p, Counterparty: "acme",
			ConnectTime:     time.Date(2026, 11, 1+rng.Intn(30), rng.Intn(24), 0, 0, 0, time.UTC),
			BillableSeconds: int64(rng.Intn(3600)), HasBillable: true, Amount: amt, Line: i + 2}
	}
	return out
}

// TestStatementTotalEqualsSumOfCDRs is the property test: for any set of
// rated CDRs the statement total equals the exact sum of their amounts, and
// so do the by-destination and by-day breakdowns; the invoice differs from
// the total only by the shown rounding difference, smaller than one minor
// unit.
func TestStatementTotalEqualsSumOfCDRs(t *testing.T) {
	period, _ := ParsePeriod("2026-11")
	prop := func(seed int64, size uint8, curIdx uint8) bool {
		cur := []string{"USD", "JPY", "KWD"}[int(curIdx)%3]
		rng := rand.New(rand.NewSource(seed))
		cdrs := randomCDRs(rng, int(size), cur)
		s, err := BuildStatement(cdrs, "acme", cur, period)
		if err != nil {
			t.Logf("seed %d: %v", seed, err)
			return false
		}
		sum := money.Zero(cur)
		var secs int64
		for _, c := range cdrs {
			sum, _ = sum.Add(c.Amount)
			secs += c.BillableSeconds
		}
		if !s.Amount.Equal(sum) || s.Calls != len(cdrs) || s.BillableSeconds != secs {
			t.Logf("seed %d: total %s vs sum %s", seed, s.Amount, sum)
			return false
		}
		for _, lines := range [][]StatementLine{s.ByDestination, s.ByDay} {
			part := money.Zero(cur)
			n := 0
			for _, l := range lines {
				part, _ = part.Add(l.Amount)
				n += l.Calls
			}
			if !part.Equal(sum) || n != len(cdrs) {
				return false
			}
		}
		back, _ := s.Invoice.Sub(s.InvoiceRounding)
		// Half a minor unit: 5 × 10^-(minor+1).
		lim, _ := money.FromDecimal(apd.New(5, -(s.MinorUnit+1)), cur)
		abs := s.InvoiceRounding
		if abs.Sign() < 0 {
			abs = abs.Neg()
		}
		if c, _ := abs.Cmp(lim); c > 0 || !back.Equal(s.Amount) {
			t.Logf("seed %d: invoice %s, rounding %s", seed, s.Invoice, s.InvoiceRounding)
			return false
		}
		return true
	}
	if err := quick.Check(prop, &quick.Config{MaxCount: 300}); err != nil {
		t.Fatal(err)
	}
}

func TestStatementFiltersAndErrors(t *testing.T) {
	period, _ := ParsePeriod("2026-11")
	in := []CDR{
		{Counterparty: "acme", ConnectTime: time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC), Amount: usd("0.005"), Prefix: "1", HasBillable: true, BillableSeconds: 6},
		{Counterparty: "acme", ConnectTime: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Amount: usd("9")},
		{Counterparty: "other", ConnectTime: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), Amount: usd("9")},
	}
	s, err := BuildStatement(in, "acme", "USD", period)
	if err != nil {
		t.Fatal(err)
	}
	if s.Calls != 1 || s.Excluded != 2 || s.Amount.Text() != "0.005" || s.Invoice.Text() != "0.01" || s.InvoiceRounding.Text() != "0.005" {
		t.Fatalf("statement = %+v", s)
	}
	if _, err := BuildStatement([]CDR{{ConnectTime: in[0].ConnectTime, Line: 9}}, "", "USD", period); !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "line 9") {
		t.Fatalf("unrated: %v", err)
	}
	if _, err := BuildStatement([]CDR{{ConnectTime: in[0].ConnectTime, Amount: money.MustNew("1", "EUR")}}, "", "USD", period); !errors.Is(err, money.ErrCurrencyMismatch) {
		t.Fatalf("currency: %v", err)
	}
	if _, err := BuildStatement(nil, "", "XXX", period); !errors.Is(err, ErrBadInput) {
		t.Fatalf("unknown currency: %v", err)
	}
}

func TestStatementConvertAndNet(t *testing.T) {
	period, _ := ParsePeriod("2026-11")
	rng := rand.New(rand.NewSource(7))
	cdrs := randomCDRs(rng, 40, "USD")
	s, err := BuildStatement(cdrs, "acme", "USD", period)
	if err != nil {
		t.Fatal(err)
	}
	x, err := NewExchangeRate("USD", "JPY", "151.237", time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), "test fixing")
	if err != nil {
		t.Fatal(err)
	}
	j, err := s.Convert(x)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := money.FromDecimal(s.Amount.Decimal(), "JPY")
	want, _ = want.Mul(&x.Rate)
	if !j.Amount.Equal(want) || j.MinorUnit != 0 || j.Conversion == nil || !j.Conversion.OriginalAmount.Equal(s.Amount) {
		t.Fatalf("converted = %+v", j)
	}
	sum := money.Zero("JPY")
	for _, l := range j.ByDay {
		sum, _ = sum.Add(l.Amount)
	}
	if !sum.Equal(j.Amount) || s.Currency != "USD" || s.ByDay[0].Amount.Currency() != "USD" {
		t.Fatal("conversion broke the sum or modified the original")
	}
	b, _ := json.Marshal(j)
	if !strings.Contains(string(b), `"Rate":"151.237"`) || !strings.Contains(string(b), `"Date":"2026-11-30"`) {
		t.Fatalf("conversion JSON: %s", b)
	}
	if _, err := j.Convert(x); !errors.Is(err, money.ErrCurrencyMismatch) {
		t.Fatalf("convert from the wrong currency: %v", err)
	}
	for _, bad := range []string{"0", "-1", "x"} {
		if _, err := NewExchangeRate("USD", "EUR", bad, x.Date, ""); !errors.Is(err, ErrBadInput) {
			t.Errorf("rate %q accepted", bad)
		}
	}

	// Netting: N1 owes N2 100.50 USD and 20 EUR; N2 owes N1 40.25 USD.
	obl := []Obligation{
		{Debtor: "N1", Creditor: "N2", Period: "2026-11", Amount: usd("100.50")},
		{Debtor: "N2", Creditor: "N1", Period: "2026-11", Amount: usd("40.25")},
		{Debtor: "N1", Creditor: "N2", Period: "2026-11", Amount: money.MustNew("20", "EUR")},
		{Debtor: "N2", Creditor: "N1", Period: "2026-10", Amount: usd("5")},
	}
	pos, err := Net("N1", "N2", obl)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, p := range pos {
		got = append(got, fmt.Sprintf("%s %s %s %s→%s", p.Period, p.Currency, p.Net.Text(), p.Payer, p.Payee))
	}
	wantPos := []string{"2026-10 USD -5 N2→N1", "2026-11 EUR 20 N1→N2", "2026-11 USD 60.25 N1→N2"}
	if strings.Join(got, "|") != strings.Join(wantPos, "|") {
		t.Fatalf("net = %v, want %v", got, wantPos)
	}
	if _, err := Net("N1", "N2", []Obligation{{Debtor: "N3", Creditor: "N1", Amount: usd("1")}}); !errors.Is(err, ErrBadInput) {
		t.Fatalf("stranger accepted: %v", err)
	}
	o := s.Obligation("us", Buy)
	if o.Debtor != "us" || o.Creditor != "acme" || !o.Amount.Equal(s.Invoice) {
		t.Fatalf("obligation = %+v", o)
	}
}

func TestStatementOutputs(t *testing.T) {
	period, _ := ParsePeriod("2026-11")
	cdrs := randomCDRs(rand.New(rand.NewSource(3)), 25, "USD")
	cdrs[0].Description = `<script>alert("x")</script>`
	cdrs[0].Prefix = "999"
	s, err := BuildStatement(cdrs, "acme", "USD", period)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := NewExchangeRate("USD", "EUR", "0.9", time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), "ECB")
	s, _ = s.Convert(x)
	var h, c, j bytes.Buffer
	if err := s.WriteHTML(&h); err != nil {
		t.Fatal(err)
	}
	page := h.String()
	for _, want := range []string{`class="chart"`, `class="bar min"`, "<table", GroupDigits(s.Invoice.Text()), "&lt;script&gt;", "1 USD = 0.9 EUR"} {
		if !strings.Contains(page, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, bad := range []string{"<script>", "http://", "https://"} {
		if strings.Contains(page, bad) {
			t.Errorf("HTML contains %q", bad)
		}
	}
	if err := s.WriteCSV(&c); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.String(), "total,2026-11,acme,25,") || !strings.Contains(c.String(), "invoice-rounding,") || !strings.Contains(c.String(), "conversion,2026-11-30") {
		t.Errorf("CSV:\n%s", c.String())
	}
	if err := s.WriteJSON(&j); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(j.Bytes(), &back); err != nil || back["Period"] != "2026-11" {
		t.Fatalf("JSON: %v %v", err, back["Period"])
	}
}

func TestParsePeriod(t *testing.T) {
	p, err := ParsePeriod("2026-12")
	if err != nil || !p.Start.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) || !p.End.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("%+v %v", p, err)
	}
	if p.Contains(p.End) || !p.Contains(p.Start) {
		t.Fatal("period is not half-open")
	}
	if _, err := ParsePeriod("2026-11-05/2026-11-01"); !errors.Is(err, ErrBadInput) {
		t.Fatal("reversed period accepted")
	}
	if _, err := ParsePeriod("November"); !errors.Is(err, ErrBadInput) {
		t.Fatal("bad period accepted")
	}
}
