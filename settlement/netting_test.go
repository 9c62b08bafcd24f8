package settlement

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
)

func netCDR(cp, amount, cur string, day, line int) CDR {
	return CDR{Called: "49301234", Prefix: "49", Counterparty: cp, ConnectTime: time.Date(2026, 11, day, 10, 0, 0, 0, time.UTC),
		BillableSeconds: 60, HasBillable: true, Amount: money.MustNew(amount, cur), Line: line}
}

// TestBuildNetting: per currency, net = invoice they owe − invoice we owe,
// with the payer named; other counterparties and other periods are left
// out; a currency on one side only still nets.
func TestBuildNetting(t *testing.T) {
	period, _ := ParsePeriod("2026-11")
	theyOwe := []CDR{
		netCDR("acme", "0.1250", "USD", 3, 2),
		netCDR("acme", "0.2000", "USD", 4, 3),  // 0.3250 → invoice 0.33
		netCDR("other", "9.0000", "USD", 4, 4), // another counterparty
		netCDR("acme", "7.0000", "USD", 31, 5), // December 1st: outside
		netCDR("", "1.0000", "EUR", 5, 6),      // no counterparty column: matches
		netCDR("acme", "0.0040", "GBP", 6, 7),  // GBP: they owe only 0.00 after rounding
	}
	theyOwe[3].ConnectTime = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	weOwe := []CDR{
		netCDR("acme", "0.5010", "USD", 3, 2), // invoice 0.50
		netCDR("acme", "0.4000", "EUR", 7, 3),
		netCDR("acme", "2.5000", "JPY", 8, 4), // JPY invoice rounds to 3
	}
	nt, err := BuildNetting("us", "acme", period, theyOwe, weOwe)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ cur, they, we, net, payer, payee string }{
		{"EUR", "1.00", "0.40", "0.60", "acme", "us"},
		{"GBP", "0.00", "0", "0.00", "", ""},
		{"JPY", "0", "3", "-3", "us", "acme"},
		{"USD", "0.33", "0.50", "-0.17", "us", "acme"},
	}
	if len(nt.Positions) != len(want) {
		t.Fatalf("positions %+v", nt.Positions)
	}
	for i, w := range want {
		p := nt.Positions[i]
		if p.Currency != w.cur || p.AOwesB.Text() != w.they || p.BOwesA.Text() != w.we || p.Net.Text() != w.net ||
			p.Payer != w.payer || p.Payee != w.payee || p.Period != "2026-11" {
			t.Errorf("position %d = %s they %s we %s net %s %s→%s; want %+v", i, p.Currency, p.AOwesB.Text(), p.BOwesA.Text(),
				p.Net.Text(), p.Payer, p.Payee, w)
		}
	}
	if s := statementFor(nt.TheyOwe, "USD"); s == nil || s.Calls != 2 || s.Amount.Text() != "0.3250" {
		t.Fatalf("USD they-owe statement %+v", s)
	}

	var txt, js, cs bytes.Buffer
	if err := nt.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(txt.String(), "us pays acme 0.17 USD") || !strings.Contains(txt.String(), "acme pays us 0.60 EUR") ||
		!strings.Contains(txt.String(), "even: nothing to pay") {
		t.Fatalf("text:\n%s", txt.String())
	}
	if err := nt.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back NettingJSON
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("%v\n%s", err, js.String())
	}
	if back.Period != "2026-11" || len(back.Positions) != 4 || back.Positions[3].Due.Text() != "0.17" ||
		back.Positions[3].Payer != "us" || len(back.TheyOwe) != 3 || len(back.WeOwe) != 3 {
		t.Fatalf("json round trip %+v", back)
	}
	if err := nt.WriteCSV(&cs); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(cs.String()), "\n"); len(lines) != 5 ||
		lines[4] != "2026-11,us,acme,USD,0.33,2,2.00,0.50,1,1.00,-0.17,us,acme,0.17" {
		t.Fatalf("csv:\n%s", cs.String())
	}
}

func TestBuildNettingErrors(t *testing.T) {
	period, _ := ParsePeriod("2026-11")
	unrated := netCDR("acme", "1", "USD", 3, 9)
	unrated.Amount = money.Amount{}
	bogus := netCDR("acme", "1", "USD", 3, 4)
	bogus.Amount = money.MustNew("1", "XXX")
	for _, c := range []struct {
		name      string
		us, them  string
		they, we  []CDR
		wantInErr string
	}{
		{"same party", "acme", "acme", nil, nil, "two different parties"},
		{"no us", "", "acme", nil, nil, "two different parties"},
		{"unrated", "us", "acme", nil, []CDR{unrated}, "we owe: line 9"},
		{"no minor unit", "us", "acme", []CDR{bogus}, nil, "XXX"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := BuildNetting(c.us, c.them, period, c.they, c.we)
			if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), c.wantInErr) {
				t.Fatalf("err %v, want ErrBadInput with %q", err, c.wantInErr)
			}
		})
	}
	// Nothing in the period: no positions, and the text says so.
	nt, err := BuildNetting("us", "acme", period, []CDR{netCDR("other", "1", "USD", 3, 2)}, nil)
	if err != nil || len(nt.Positions) != 0 {
		t.Fatalf("%v %+v", err, nt)
	}
	var b bytes.Buffer
	if err := nt.WriteText(&b); err != nil || !strings.Contains(b.String(), "no rated traffic") {
		t.Fatalf("%v %s", err, b.String())
	}
}
