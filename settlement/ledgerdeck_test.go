package settlement

import (
	"errors"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
)

func ledgerVersion(from time.Time, rate string) ledger.DeckVersion {
	return ledger.DeckVersion{
		DeckID: "sell-a", Counterparty: ledger.MemberAccount("a"), Direction: ledger.DirectionSell,
		Currency: "USD", Decimals: 2, RoundingMode: money.Up, EffectiveFrom: from,
		Rows: []ledger.DeckRow{
			{Prefix: "1", Rate: money.MustNew(rate, "USD"), ConnectFee: money.MustNew("0.15", "USD"), FirstIncrement: 30, NextIncrement: 6},
			{Prefix: "1678", Description: "test", Rate: money.MustNew("0.10", "USD"), ConnectFee: money.MustNew("0", "USD"), FirstIncrement: 60, NextIncrement: 60},
		},
	}
}

func TestDeckFromLedger(t *testing.T) {
	t1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	d, err := DeckFromLedger([]ledger.DeckVersion{ledgerVersion(t1, "0.05"), ledgerVersion(t2, "0.06")})
	if err != nil {
		t.Fatal(err)
	}
	if d.Direction != Sell || d.Currency != "USD" || d.Decimals != 2 || len(d.Versions) != 2 {
		t.Fatalf("deck %+v", d)
	}
	r, err := NewRater(d)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		number string
		at     time.Time
		ms     int64
		want   string
		secs   int64
	}{
		// SETTLEMENT.md: 0.15 connect + 30 s at 0.05/min = 0.175 → 0.18 rounding up.
		{"14045551234", t1.Add(time.Hour), 30_000, "0.18", 30},
		{"14045551234", t2.Add(time.Hour), 30_000, "0.18", 30}, // 0.15 + 0.03
		{"14045551234", t2.Add(time.Hour), 31_000, "0.19", 36}, // 0.15 + 0.036 → up
		{"16785551234", t1.Add(time.Hour), 61_000, "0.20", 120},
	}
	for _, tc := range tests {
		got, err := r.Rate(tc.number, tc.at, tc.ms)
		if err != nil {
			t.Fatal(err)
		}
		if got.Amount.Text() != tc.want || got.BillableSeconds != tc.secs {
			t.Errorf("%s %dms at %s: %s (%d s), want %s (%d s)", tc.number, tc.ms, tc.at.Format(time.DateOnly), got.Amount.Text(), got.BillableSeconds, tc.want, tc.secs)
		}
	}

	// Refusals.
	if _, err := DeckFromLedger(nil); !errors.Is(err, ErrBadInput) {
		t.Errorf("no versions: %v", err)
	}
	v := ledgerVersion(t1, "0.05")
	v.Direction = "sideways"
	if _, err := DeckFromLedger([]ledger.DeckVersion{v}); !errors.Is(err, ErrBadInput) {
		t.Errorf("bad direction: %v", err)
	}
	other := ledgerVersion(t2, "0.05")
	other.Currency = "EUR"
	if _, err := DeckFromLedger([]ledger.DeckVersion{ledgerVersion(t1, "0.05"), other}); !errors.Is(err, ErrBadInput) {
		t.Errorf("mixed currencies: %v", err)
	}
	bad := ledgerVersion(t1, "0.05")
	bad.Rows[0].Prefix = "1x"
	if _, err := DeckFromLedger([]ledger.DeckVersion{bad}); err == nil {
		t.Error("bad prefix accepted")
	}
}
