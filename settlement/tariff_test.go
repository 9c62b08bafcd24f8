package settlement

import (
	"errors"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
)

// TestRaterTariff: Tariff returns the longest-prefix row's per-minute rate
// and connect fee apart (what a one-minute Rate adds together), and the
// same errors as Rate.
func TestRaterTariff(t *testing.T) {
	r := testDeck(t, lpmDeck, DeckOptions{Decimals: 4, Rounding: money.Up})
	for _, tc := range []struct {
		called, prefix, perMin, fee string
		a, b                        int64
	}{
		{"12125550100", "1", "0.05", "0.15", 30, 6},
		{"4915212345678", "4915", "0.20", "0", 30, 6},
		{"+4930123456", "49", "0.10", "0", 60, 60},
	} {
		got, err := r.Tariff(tc.called, jan1.Add(time.Hour))
		if err != nil {
			t.Fatalf("Tariff(%s): %v", tc.called, err)
		}
		perMin, _ := money.New(tc.perMin, "USD")
		fee, _ := money.New(tc.fee, "USD")
		if got.Prefix != tc.prefix || !got.PerMinute.Equal(perMin) || !got.ConnectFee.Equal(fee) || got.FirstIncrement != tc.a || got.NextIncrement != tc.b {
			t.Errorf("Tariff(%s) = %+v, want %s %s/min + %s, %d/%d", tc.called, got, tc.prefix, tc.perMin, tc.fee, tc.a, tc.b)
		}
	}
	// A one-minute call on the NANP row: 0.15 + 60 × 0.05/60 = 0.20, the
	// figure MinuteCost gives and Tariff keeps apart.
	if c, ok := MinuteCost(r, "1212", jan1); !ok || c.Text() != "0.2000" {
		t.Fatalf("MinuteCost %s %v", c, ok)
	}
	for _, tc := range []struct {
		called string
		at     time.Time
		want   error
	}{{"33123", jan1, ErrNoPrefix}, {"49abc", jan1, ErrBadNumber}, {"49", jan1.Add(-time.Second), ErrNoVersion}} {
		if _, err := r.Tariff(tc.called, tc.at); !errors.Is(err, tc.want) {
			t.Errorf("Tariff(%q) err = %v, want %v", tc.called, err, tc.want)
		}
	}
}
