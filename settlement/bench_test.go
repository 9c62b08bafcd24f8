package settlement

import (
	"fmt"
	"math/rand"
	"runtime"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
)

// benchDeck builds a deterministic deck of n prefixes (seed 1): country codes
// followed by 1–6 random digits, nested like real A–Z decks, with rates of up
// to 6 decimals and mixed increments.
func benchDeck(tb testing.TB, n int) (*Rater, []string) {
	tb.Helper()
	rng := rand.New(rand.NewSource(1))
	ccs := []string{"1", "7", "20", "27", "30", "31", "33", "34", "39", "41", "44", "46", "49", "52", "55", "61", "81", "86", "91", "234", "351", "880", "971"}
	incs := [][2]int64{{1, 1}, {30, 6}, {60, 60}, {6, 6}}
	seen := map[string]bool{}
	rows := make([]Row, 0, n)
	for len(rows) < n {
		p := ccs[rng.Intn(len(ccs))]
		for k := rng.Intn(6) + 1; k > 0; k-- {
			p += string(rune('0' + rng.Intn(10)))
		}
		if seen[p] {
			continue
		}
		seen[p] = true
		inc := incs[rng.Intn(len(incs))]
		rate := money.MustNew(fmt.Sprintf("0.%06d", rng.Intn(1000000)), "USD")
		rows = append(rows, Row{Prefix: p, Description: "d", Rate: rate, ConnectFee: money.Zero("USD"), FirstIncrement: inc[0], NextIncrement: inc[1]})
	}
	// Every country code itself, so every generated number matches.
	for _, cc := range ccs {
		if !seen[cc] {
			rows = append(rows, Row{Prefix: cc, Rate: money.MustNew("0.1", "USD"), FirstIncrement: 1, NextIncrement: 1})
		}
	}
	d := &Deck{Currency: "USD", Direction: Sell, Decimals: 4, Rounding: money.HalfUp,
		Versions: []DeckVersion{{ID: "v1", EffectiveFrom: jan1, Rows: rows}}}
	r, err := NewRater(d)
	if err != nil {
		tb.Fatal(err)
	}
	numbers := make([]string, 1<<16)
	for i := range numbers {
		p := rows[rng.Intn(len(rows))].Prefix
		for len(p) < 12 {
			p += string(rune('0' + rng.Intn(10)))
		}
		numbers[i] = p
	}
	return r, numbers
}

// BenchmarkRate rates one CDR per iteration against a 100,000-prefix deck
// and reports CDRs/s on one goroutine.
func BenchmarkRate(b *testing.B) {
	r, numbers := benchDeck(b, 100000)
	at := jan1.Add(time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := r.Rate(numbers[i&(len(numbers)-1)], at, int64(i%3600_000)); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%d CDRs/s on one goroutine (b.N=%d)", perSecond(b.N, time.Since(start)), b.N)
}

// BenchmarkRate1M rates 1,000,000 CDRs per op against a 100,000-prefix deck
// and reports CDRs/s per core and the peak heap.
func BenchmarkRate1M(b *testing.B) {
	r, numbers := benchDeck(b, 100000)
	at := jan1.Add(time.Hour)
	out := make([]Rated, 1_000_000)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for n := 0; n < b.N; n++ {
		for i := range out {
			var err error
			if out[i], err = r.Rate(numbers[i&(len(numbers)-1)], at, int64(i%3600_000)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Logf("%d CDRs/s on one goroutine; %s", perSecond(b.N*len(out), time.Since(start)), heapPeak())
}

// BenchmarkReconcile1M reconciles 1,000,000 of ours against 1,000,000 of
// theirs (1% partial, 1% mismatch, 1% each side only, some matched by
// call-id and by the fallback key).
func BenchmarkReconcile1M(b *testing.B) {
	ours, theirs := reconcileFixture(1_000_000)
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		rep, err := Reconcile(ours, theirs, ReconcileOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Summary(ClassExact).Count != 970000 {
			b.Fatalf("exact = %d", rep.Summary(ClassExact).Count)
		}
	}
	b.Logf("%s", heapPeak())
}

// perSecond returns n per second over d, in integers (metrics stay out of
// floating point like the rest of the package).
func perSecond(n int, d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(n) * int64(time.Second) / int64(d)
}

// heapPeak reports the heap obtained from the OS (its high-water mark) and
// the total allocated.
func heapPeak() string {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return fmt.Sprintf("heap from OS %d MiB, total allocated %d MiB", ms.HeapSys>>20, ms.TotalAlloc>>20)
}
