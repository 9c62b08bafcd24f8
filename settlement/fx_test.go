package settlement

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
)

func TestParseFX(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want: x.String(), or "" for an error
	}{
		{"EUR/USD=1.0842@2026-11-01", "EUR/USD=1.0842@2026-11-01"},
		{" eur/usd = 1.0842 @2026-11-01,ECB reference", "EUR/USD=1.0842@2026-11-01,ECB reference"},
		{"JPY/EUR=0.0061@2026-11-30", "JPY/EUR=0.0061@2026-11-30"},
		{"EUR/USD=1.0842", ""},            // no date
		{"EUR/USD=1.0842@01/11/2026", ""}, // not ISO date
		{"EUR/QQQ=1@2026-11-01", ""},      // not ISO 4217
		{"EUR/EUR=1@2026-11-01", ""},      // the same currency
		{"EUR/USD=0@2026-11-01", ""},      // not positive
		{"EUR/USD=-1@2026-11-01", ""},
		{"EURUSD=1@2026-11-01", ""},
		{"", ""},
	} {
		x, err := ParseFX(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("ParseFX(%q) = %s, want an error", tc.in, x)
		case tc.want != "" && (err != nil || x.String() != tc.want):
			t.Errorf("ParseFX(%q) = %s, %v; want %s", tc.in, x, err, tc.want)
		case err != nil && !errors.Is(err, ErrBadInput):
			t.Errorf("ParseFX(%q) error %v does not wrap ErrBadInput", tc.in, err)
		}
	}
	a, _ := ParseFX("EUR/USD=1.1@2026-11-01")
	b, _ := ParseFX("EUR/USD=1.2@2026-11-02")
	if _, err := NewFXTable([]ExchangeRate{a, b}); !errors.Is(err, ErrBadInput) {
		t.Errorf("two rates for one pair: %v", err)
	}
}

func FuzzParseFX(f *testing.F) {
	f.Add("EUR/USD=1.0842@2026-11-01,ECB")
	f.Add("a/b=@")
	f.Fuzz(func(t *testing.T, s string) {
		x, err := ParseFX(s)
		if err != nil {
			if !errors.Is(err, ErrBadInput) {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if !ISOCurrency(x.From) || !ISOCurrency(x.To) || x.Rate.Sign() <= 0 || x.Date.IsZero() {
			t.Fatalf("%q accepted as %+v", s, x)
		}
		// What String writes, ParseFX reads back the same.
		y, err := ParseFX(x.String())
		if err != nil || y.String() != x.String() {
			t.Fatalf("%q → %s → %s, %v", s, x, y, err)
		}
	})
}

func TestReadDeckCSVCurrencyColumn(t *testing.T) {
	in := "prefix,rate,connect_fee,first_increment,next_increment,effective_from,currency\n" +
		"49,0.10,0.01,60,60,2026-11-01,EUR\n" +
		"44,0.20,0,60,60,2026-11-01,usd\n" +
		"33,0.30,0,60,60,2026-11-01,\n"
	if _, err := ReadDeckCSV(strings.NewReader(in), DeckOptions{Currency: "USD", Decimals: 4}); !errors.Is(err, ErrBadInput) ||
		!strings.Contains(err.Error(), "line 2, field currency") || !strings.Contains(err.Error(), "--fx EUR/USD") {
		t.Fatalf("EUR row in a USD run without a rate: %v", err)
	}
	x, _ := ParseFX("EUR/USD=1.0842@2026-11-01")
	fx, _ := NewFXTable([]ExchangeRate{x})
	d, err := ReadDeckCSV(strings.NewReader(in), DeckOptions{Currency: "USD", Decimals: 4, FX: fx})
	if err != nil {
		t.Fatal(err)
	}
	rows := d.Versions[0].Rows
	// 0.10 EUR × 1.0842 = 0.108420 USD exactly; the fee too.
	if rows[0].Rate.String() != "0.108420 USD" || rows[0].ConnectFee.String() != "0.010842 USD" || rows[1].Rate.String() != "0.20 USD" || rows[2].Rate.String() != "0.30 USD" {
		t.Fatalf("rows %v %v / %v / %v", rows[0].Rate, rows[0].ConnectFee, rows[1].Rate, rows[2].Rate)
	}
	bad := strings.Replace(in, "EUR", "QQQ", 1)
	if _, err := ReadDeckCSV(strings.NewReader(bad), DeckOptions{Currency: "USD", Decimals: 4, FX: fx}); err == nil || !strings.Contains(err.Error(), "ISO 4217") {
		t.Fatalf("QQQ row: %v", err)
	}
	r, err := NewRater(d)
	if err != nil {
		t.Fatal(err)
	}
	// 60 s at 0.108420 + 0.010842 fee = 0.119262 → 0.1193 (one rounding).
	got, err := r.Rate("4930", time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), 60000)
	if err != nil || got.Amount.String() != "0.1193 USD" {
		t.Fatalf("rate %v %v", got.Amount, err)
	}
}

func TestReadDeckCSVOverlappingVersions(t *testing.T) {
	overlapping := "prefix,rate,first_increment,next_increment,effective_from,effective_until\n" +
		"49,0.10,60,60,2026-01-01,2026-12-01\n" +
		"49,0.20,60,60,2026-11-01,\n"
	_, err := ReadDeckCSV(strings.NewReader(overlapping), DeckOptions{Currency: "USD", Decimals: 4})
	if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "overlaps") || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("overlap: %v", err)
	}
	d, err := ReadDeckCSV(strings.NewReader(overlapping), DeckOptions{Currency: "USD", Decimals: 4, AllowOverlap: true})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := NewRater(d)
	got, _ := r.Rate("49", time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC), 60000)
	if got.Amount.String() != "0.2000 USD" {
		t.Fatalf("with --allow-overlap the later-starting version wins: %v", got.Amount)
	}
	// An open-ended version replaced by a later one is how A–Z decks are
	// sent, not an overlap; nor are versions that touch.
	for _, ok := range []string{
		"prefix,rate,first_increment,next_increment,effective_from\n49,0.1,60,60,2026-01-01\n49,0.2,60,60,2026-11-01\n",
		"prefix,rate,first_increment,next_increment,effective_from,effective_until\n49,0.1,60,60,2026-01-01,2026-11-01\n49,0.2,60,60,2026-11-01,\n",
	} {
		if _, err := ReadDeckCSV(strings.NewReader(ok), DeckOptions{Currency: "USD", Decimals: 4}); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

func TestStatementBuilderRejectsAndFX(t *testing.T) {
	p, _ := ParsePeriod("2026-11")
	at := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	x, _ := ParseFX("EUR/USD=1.1@2026-11-30")
	fx, _ := NewFXTable([]ExchangeRate{x})
	b, err := NewStatementBuilder("acme", "", p, fx)
	if err != nil {
		t.Fatal(err)
	}
	add := func(c CDR) error { return b.Add(&c) }
	if err := add(CDR{Called: "49", ConnectTime: at, Line: 2, Amount: money.MustNew("1.00", "USD"), Prefix: "49"}); err != nil {
		t.Fatal(err)
	}
	if err := add(CDR{Called: "49", ConnectTime: at, Line: 3, Amount: money.MustNew("2.00", "EUR"), Prefix: "49"}); err != nil {
		t.Fatal(err)
	}
	var re *RowError
	if err := add(CDR{Called: "49", ConnectTime: at, Line: 4}); !errors.As(err, &re) || re.Reason != ReasonNotRated || re.Line != 4 {
		t.Fatalf("unrated: %v", err)
	}
	if err := add(CDR{Called: "49", ConnectTime: at, Line: 5, Amount: money.MustNew("1", "GBP")}); !errors.As(err, &re) ||
		re.Reason != ReasonCurrency || !errors.Is(err, money.ErrCurrencyMismatch) {
		t.Fatalf("GBP without a rate: %v", err)
	}
	st, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	// 1.00 USD + 2.00 EUR × 1.1 = 3.2000 USD, exactly; the conversion listed.
	if st.Currency != "USD" || st.Calls != 2 || st.Amount.Text() != "3.200" || len(st.FX) != 1 ||
		st.FX[0].Calls != 1 || st.FX[0].Original.String() != "2.00 EUR" {
		t.Fatalf("statement %+v", st)
	}
	empty, _ := NewStatementBuilder("acme", "", p, nil)
	if _, err := empty.Finish(); !errors.Is(err, ErrBadInput) {
		t.Fatalf("no currency, no CDR: %v", err)
	}
}
