package money

import (
	"encoding/json"
	"errors"
	"github.com/cockroachdb/apd/v3"
	"testing"
)

func TestRoundOnceVector(t *testing.T) {
	// SETTLEMENT.md: 0.15 connect + 30 s at 0.05/min = 0.175 exactly; 0.18 rounding up.
	fee := MustNew("0.15", "USD")
	perMin := MustNew("0.05", "USD")
	half, _ := ParseDecimal("0.5")
	usage, err := perMin.Mul(half)
	if err != nil {
		t.Fatal(err)
	}
	total, err := fee.Add(usage)
	if err != nil {
		t.Fatal(err)
	}
	if total.Text() != "0.175" {
		t.Fatalf("total = %s, want 0.175", total.Text())
	}
	tests := []struct {
		mode string
		want string
	}{{Up, "0.18"}, {HalfUp, "0.18"}, {HalfEven, "0.18"}, {Down, "0.17"}}
	for _, tc := range tests {
		r, err := total.Round(2, tc.mode)
		if err != nil || r.Text() != tc.want {
			t.Errorf("round %s = %s, %v; want %s", tc.mode, r.Text(), err, tc.want)
		}
	}
	if r, _ := MustNew("0.165", "USD").Round(2, HalfEven); r.Text() != "0.16" {
		t.Errorf("half-even 0.165 = %s, want 0.16", r.Text())
	}
}

func TestCurrencyMismatch(t *testing.T) {
	_, err := MustNew("1", "USD").Add(MustNew("1", "EUR"))
	if !errors.Is(err, ErrCurrencyMismatch) {
		t.Fatalf("err = %v, want ErrCurrencyMismatch", err)
	}
	if z, err := Zero("").Add(MustNew("2", "EUR")); err != nil || z.String() != "2 EUR" {
		t.Fatalf("zero adopts currency: %v %v", z, err)
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{"", "1e3", "NaN", "Inf", "1.2.3", "--1", " 1", "1 ", "0x10", "1,5"} {
		if _, err := New(s, "USD"); !errors.Is(err, ErrInvalid) {
			t.Errorf("New(%q) err = %v, want ErrInvalid", s, err)
		}
	}
	for _, c := range []string{"usd", "US", "USDD", ""} {
		if _, err := New("1", c); err == nil {
			t.Errorf("currency %q accepted", c)
		}
	}
}

func TestJSONByValueKeepsValue(t *testing.T) {
	type row struct{ Amount Amount }
	b, err := json.Marshal(row{MustNew("100", "JPY")})
	if err != nil || string(b) != `{"Amount":{"value":"100","currency":"JPY"}}` {
		t.Fatalf("marshal = %s, %v", b, err)
	}
	var back row
	if err := json.Unmarshal(b, &back); err != nil || !back.Amount.Equal(MustNew("100", "JPY")) {
		t.Fatalf("unmarshal = %v, %v", back, err)
	}
	big, _ := MustNew("1", "USD").Mul(mustDec("100"))
	if big.Text() != "100" {
		t.Fatalf("plain notation: %s", big.Text())
	}
}

func mustDec(s string) *apd.Decimal { d, _ := ParseDecimal(s); return d }

// TestAppendTextMatchesApd: AppendText's direct path writes what apd's
// plain notation writes, for every exponent it takes and coefficients of
// every length, and the values it leaves to apd come out as apd writes them.
func TestAppendTextMatchesApd(t *testing.T) {
	coeffs := []uint64{0, 1, 5, 9, 10, 99, 100, 12345, 999999, 1000000, 18446744073709551615, 9999999999999999999, 1234567890123456789}
	for c := uint64(7); c < 10_000_000_000_000_000_000/13; c = c*13 + 1 {
		coeffs = append(coeffs, c)
	}
	for _, c := range coeffs {
		for exp := int32(-20); exp <= 2; exp++ {
			for _, neg := range []bool{false, true} {
				var d apd.Decimal
				d.Coeff.SetUint64(c)
				d.Exponent, d.Negative = exp, neg
				a, err := FromDecimal(&d, "USD")
				if err != nil {
					t.Fatal(err)
				}
				if got, want := string(a.AppendText([]byte("x"))), "x"+d.Text('f'); got != want {
					t.Errorf("coeff %d exp %d neg %v: %q, want %q", c, exp, neg, got, want)
				}
			}
		}
	}
}
