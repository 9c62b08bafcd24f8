package settlement

import (
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
)

var jan1 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestBillableSecondsVectors(t *testing.T) {
	// SETTLEMENT.md step 2.
	tests := []struct{ a, b, d, want int64 }{
		{30, 6, 0, 0}, {30, 6, 1, 30}, {30, 6, 10, 30}, {30, 6, 30, 30}, {30, 6, 31, 36}, {30, 6, 32, 36},
		{30, 6, 36, 36}, {30, 6, 37, 42}, {30, 6, 57, 60}, {30, 6, 75, 78},
		{6, 6, 5, 6}, {6, 6, 8, 12}, {6, 6, 12, 12},
		{60, 60, 1, 60}, {60, 60, 60, 60}, {60, 60, 61, 120},
		{1, 1, 1, 1}, {1, 1, 59, 59}, {1, 1, 3600, 3600},
		{0, 1, 7, 7}, {0, 10, 7, 10}, {0, 10, 0, 0},
	}
	for _, tc := range tests {
		if got := BillableSeconds(tc.d, tc.a, tc.b); got != tc.want {
			t.Errorf("%d/%d: %d s → %d, want %d", tc.a, tc.b, tc.d, got, tc.want)
		}
	}
}

func TestWholeSeconds(t *testing.T) {
	tests := []struct {
		ms   int64
		mode DurationMode
		want int64
	}{
		{0, DurationUp, 0}, {1, DurationUp, 1}, {30000, DurationUp, 30}, {30001, DurationUp, 31}, {30999, DurationUp, 31},
		{30999, DurationDown, 30}, {30001, DurationDown, 30}, {499, DurationDown, 0},
		{30499, DurationHalfUp, 30}, {30500, DurationHalfUp, 31}, {499, DurationHalfUp, 0},
	}
	for _, tc := range tests {
		got, err := WholeSeconds(tc.ms, tc.mode)
		if err != nil || got != tc.want {
			t.Errorf("WholeSeconds(%d, %s) = %d, %v; want %d", tc.ms, tc.mode, got, err, tc.want)
		}
	}
	for _, bad := range []int64{-1, maxDurationMillis + 1} {
		if _, err := WholeSeconds(bad, DurationUp); !errors.Is(err, ErrBadInput) {
			t.Errorf("WholeSeconds(%d) err = %v, want ErrBadInput", bad, err)
		}
	}
}

func usd(s string) money.Amount { return money.MustNew(s, "USD") }

func TestCostRoundsOncePerCDR(t *testing.T) {
	// SETTLEMENT.md step 3: 0.15 connect + 30 s at 0.05/min = 0.175 exactly.
	tests := []struct {
		rate, fee string
		secs      int64
		dec       int32
		mode      string
		want      string
	}{
		{"0.05", "0.15", 30, 4, money.Up, "0.1750"},
		{"0.05", "0.15", 30, 3, money.Down, "0.175"},
		{"0.05", "0.15", 30, 2, money.Up, "0.18"},
		{"0.05", "0.15", 30, 2, money.HalfUp, "0.18"},
		{"0.05", "0.15", 30, 2, money.HalfEven, "0.18"},
		{"0.05", "0.15", 30, 2, money.Down, "0.17"},
		// 0.165 → half-even 0.16, half-up 0.17: 0.03/min × 30 s + 0.15.
		{"0.03", "0.15", 30, 2, money.HalfEven, "0.16"},
		{"0.03", "0.15", 30, 2, money.HalfUp, "0.17"},
		// Non-terminating ÷60: 61 s × 0.1/min = 0.101666…
		{"0.1", "0", 61, 4, money.Up, "0.1017"},
		{"0.1", "0", 61, 4, money.Down, "0.1016"},
		{"0.1", "0", 61, 4, money.HalfUp, "0.1017"},
		{"0.1", "0", 61, 6, money.HalfEven, "0.101667"},
		// 0.0333… (1 s at 2/min): never exactly a half, so modes differ only by direction.
		{"2", "0", 1, 2, money.HalfUp, "0.03"},
		{"2", "0", 1, 2, money.Up, "0.04"},
		{"0", "0.5", 60, 2, money.HalfUp, "0.50"},
		{"0", "0", 0, 0, money.Up, "0"},
		// 1234567.891234 × 1440 + 12.5, exact at 6 places.
		{"1234567.891234", "12.5", 86400, 6, money.HalfEven, "1777777775.876960"},
	}
	for _, tc := range tests {
		got, err := Cost(usd(tc.rate), usd(tc.fee), tc.secs, tc.dec, tc.mode)
		if err != nil {
			t.Fatalf("Cost(%+v): %v", tc, err)
		}
		if got.Text() != tc.want {
			t.Errorf("Cost(%s/min + %s, %d s, %d %s) = %s, want %s", tc.rate, tc.fee, tc.secs, tc.dec, tc.mode, got.Text(), tc.want)
		}
		// The integer fast path must agree exactly.
		ok, ru, fu, sc := fastUnits(usd(tc.rate).Decimal(), usd(tc.fee).Decimal())
		if ok {
			row := &compiledRow{rateUnits: ru, feeUnits: fu, scale: sc}
			fast, fok := fastCost(row, tc.secs, tc.dec, tc.mode, "USD")
			if fok && fast.Text() != got.Text() {
				t.Errorf("fast path %s ≠ reference %s for %+v", fast.Text(), got.Text(), tc)
			}
		}
	}
}

// TestFastPathMatchesReference: the 128-bit integer path and the apd sticky
// path are two independent exact computations; they must agree everywhere.
func TestFastPathMatchesReference(t *testing.T) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d", seed)
	modes := []string{money.HalfUp, money.HalfEven, money.Up, money.Down}
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for i := 0; i < n; i++ {
		rate := fmt.Sprintf("%d.%0*d", rng.Intn(5), 1+rng.Intn(6), rng.Intn(1000000))
		fee := fmt.Sprintf("0.%0*d", 1+rng.Intn(4), rng.Intn(10000))
		secs := int64(rng.Intn(7200))
		dec := int32(rng.Intn(MaxDecimals + 1))
		mode := modes[rng.Intn(len(modes))]
		want, err := Cost(usd(rate), usd(fee), secs, dec, mode)
		if err != nil {
			t.Fatal(err)
		}
		ok, ru, fu, sc := fastUnits(usd(rate).Decimal(), usd(fee).Decimal())
		if !ok {
			t.Fatalf("fast path refused %s %s", rate, fee)
		}
		got, fok := fastCost(&compiledRow{rateUnits: ru, feeUnits: fu, scale: sc}, secs, dec, mode, "USD")
		if !fok {
			continue // overflow: the reference path is used, nothing to compare
		}
		if got.Text() != want.Text() {
			t.Fatalf("seed %d: rate %s fee %s %d s %d %s: fast %s, reference %s", seed, rate, fee, secs, dec, mode, got.Text(), want.Text())
		}
	}
}

func testDeck(t testing.TB, csv string, opts DeckOptions) *Rater {
	t.Helper()
	if opts.Currency == "" {
		opts.Currency = "USD"
	}
	d, err := ReadDeckCSV(strings.NewReader(csv), opts)
	if err != nil {
		t.Fatalf("ReadDeckCSV: %v", err)
	}
	r, err := NewRater(d)
	if err != nil {
		t.Fatalf("NewRater: %v", err)
	}
	return r
}

const lpmDeck = `prefix,description,rate,connect_fee,first_increment,next_increment,effective_from
49,Germany,0.10,0,60,60,2026-01-01
4915,Germany mobile,0.20,0,30,6,2026-01-01
49151,Germany mobile T,0.01,0,1,1,2026-01-01
1,NANP,0.05,0.15,30,6,2026-01-01
`

func TestRaterLongestPrefixWins(t *testing.T) {
	r := testDeck(t, lpmDeck, DeckOptions{Decimals: 4, Rounding: money.Up})
	tests := []struct {
		called string
		ms     int64
		prefix string
		secs   int64
		amount string
	}{
		{"+4930123456", 61000, "49", 120, "0.2000"},
		{"4915212345678", 31000, "4915", 36, "0.1200"},
		{"49151123456", 31000, "49151", 31, "0.0052"}, // 31 × 0.01/60 = 0.005166… ↑
		{"1212555", 30000, "1", 30, "0.1750"},         // the SETTLEMENT.md vector
		{"1212555", 0, "1", 0, "0.0000"},              // 0 s: no connect fee
		{"+1212555", 1, "1", 30, "0.1750"},            // 1 ms rounds up to 1 s → 30
		{"4916", 1000, "49", 60, "0.1000"},            // 4916 is not 4915
	}
	for _, tc := range tests {
		got, err := r.Rate(tc.called, jan1.Add(time.Hour), tc.ms)
		if err != nil {
			t.Fatalf("Rate(%s): %v", tc.called, err)
		}
		if got.Prefix != tc.prefix || got.BillableSeconds != tc.secs || got.Amount.Text() != tc.amount || got.Amount.Currency() != "USD" {
			t.Errorf("Rate(%s, %d ms) = %s %d s %s, want %s %d s %s", tc.called, tc.ms, got.Prefix, got.BillableSeconds, got.Amount, tc.prefix, tc.secs, tc.amount)
		}
	}
	for _, tc := range []struct {
		called string
		want   error
	}{{"33123", ErrNoPrefix}, {"49abc", ErrBadNumber}, {"", ErrBadNumber}, {"+", ErrBadNumber}} {
		if _, err := r.Rate(tc.called, jan1, 1000); !errors.Is(err, tc.want) {
			t.Errorf("Rate(%q) err = %v, want %v", tc.called, err, tc.want)
		}
	}
	if _, err := r.Rate("49", jan1.Add(-time.Second), 1000); !errors.Is(err, ErrNoVersion) {
		t.Errorf("before the first version: err = %v, want ErrNoVersion", err)
	}
	if _, err := r.Rate("49", jan1, -1); !errors.Is(err, ErrBadInput) {
		t.Errorf("negative duration: err = %v", err)
	}
}

func TestZeroDurationConnectFeeOption(t *testing.T) {
	r := testDeck(t, lpmDeck, DeckOptions{Decimals: 2, ZeroDurationConnectFee: true})
	got, err := r.Rate("1212", jan1, 0)
	if err != nil || got.Amount.Text() != "0.15" || got.BillableSeconds != 0 {
		t.Fatalf("zero-duration with fee: %+v %v", got, err)
	}
	// Duration rounding down: 0.999 s is 0 s and costs nothing by default.
	r = testDeck(t, lpmDeck, DeckOptions{Decimals: 2, DurationRounding: DurationDown})
	got, err = r.Rate("1212", jan1, 999)
	if err != nil || !got.Amount.IsZero() || got.BillableSeconds != 0 {
		t.Fatalf("0.999 s rounded down: %+v %v", got, err)
	}
}

func TestRaterVersionInForceAtConnectTime(t *testing.T) {
	deck := `prefix,rate,first_increment,next_increment,effective_from,effective_until,description
44,0.10,1,1,2026-01-01,,UK
44,0.20,1,1,2026-06-01,2026-07-01,UK summer
447,0.30,1,1,2026-06-01,2026-07-01,UK mobile summer
`
	r := testDeck(t, deck, DeckOptions{Decimals: 2})
	tests := []struct {
		at     time.Time
		called string
		want   string
		ver    string
	}{
		{time.Date(2026, 5, 31, 23, 59, 59, 0, time.UTC), "447700", "0.10", "2026-01-01T00:00:00Z"},
		{time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), "447700", "0.30", "2026-06-01T00:00:00Z/2026-07-01T00:00:00Z"},
		{time.Date(2026, 6, 30, 23, 0, 0, 0, time.UTC), "4420", "0.20", "2026-06-01T00:00:00Z/2026-07-01T00:00:00Z"},
		{time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), "447700", "0.10", "2026-01-01T00:00:00Z"},
	}
	for _, tc := range tests {
		// A call that connects before a change and ends after it is rated
		// entirely by the version in force at connect time.
		got, err := r.Rate(tc.called, tc.at, 3_600_000)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"0.10": "6.00", "0.20": "12.00", "0.30": "18.00"}[tc.want]
		if got.Amount.Text() != want || got.DeckVersion != tc.ver {
			t.Errorf("at %s: %s in %s, want %s in %s", tc.at, got.Amount, got.DeckVersion, want, tc.ver)
		}
	}
}

func TestRaterConcurrent(t *testing.T) {
	r := testDeck(t, lpmDeck, DeckOptions{Decimals: 4, Rounding: money.Up})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				got, err := r.Rate("1212555", jan1, 30000)
				if err != nil || got.Amount.Text() != "0.1750" {
					errs <- fmt.Errorf("got %v %v", got.Amount, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
