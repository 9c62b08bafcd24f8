package settlement

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"strings"
	"testing"
	"time"
)

// streamFixture returns a deck CSV and a CDR CSV of n records that the deck
// rates entirely (numbers under the deck's prefixes, November 2026).
func streamFixture(tb testing.TB, n int) (deckCSV string, cdrCSV []byte) {
	tb.Helper()
	rng := rand.New(rand.NewSource(1))
	var d strings.Builder
	d.WriteString("prefix,description,rate,connect_fee,first_increment,next_increment,effective_from\n")
	prefixes := []string{}
	for i := 0; i < 2000; i++ {
		p := fmt.Sprintf("%d%d", []int{1, 33, 44, 49, 61, 86, 91}[i%7], 1000+i)
		prefixes = append(prefixes, p)
		fmt.Fprintf(&d, "%s,dest %d,0.%06d,0,%d,%d,2026-01-01\n", p, i, rng.Intn(1000000), []int{1, 30, 60, 6}[i%4], []int{1, 6, 60, 6}[i%4])
	}
	var b bytes.Buffer
	b.WriteString("transaction_id,call_id,calling,called,connect_time,duration\n")
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(rng.Int63n(int64(720 * time.Hour)))).Truncate(time.Millisecond)
		fmt.Fprintf(&b, "%d,c%d@sbc,4420%07d,%s%05d,%s,%d.%03d\n", 100000000+i, i, rng.Intn(9999999),
			prefixes[rng.Intn(len(prefixes))], rng.Intn(100000), at.Format("2006-01-02T15:04:05.000Z"), rng.Intn(3600), rng.Intn(1000))
	}
	return d.String(), b.Bytes()
}

// BenchmarkRateStream reads, rates and writes CDRs end to end as `settle
// rate` does (CSV in, CSV out to io.Discard; every record has a
// transaction id, so the duplicate check runs) and reports records per
// CPU-second of the process (all threads, the collector included) and
// per wall-clock second.
func BenchmarkRateStream(b *testing.B) {
	deckCSV, cdrs := streamFixture(b, 200_000)
	deck, err := ReadDeckCSV(strings.NewReader(deckCSV), DeckOptions{Currency: "USD", Decimals: 4})
	if err != nil {
		b.Fatal(err)
	}
	r, err := NewRater(deck)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(cdrs)))
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for n := 0; n < b.N; n++ {
		in, err := NewCDRReader(bytes.NewReader(cdrs), CDRFormat{Currency: "USD"})
		if err != nil {
			b.Fatal(err)
		}
		out, _ := NewCDRWriter(io.Discard)
		s, err := RateStream(in, r, RateStreamOptions{Rated: out.Write})
		if err != nil || s.Rejected.Count != 0 || s.Rated != 200_000 {
			b.Fatalf("%v %+v %v", err, s, s.Rejected.Reasons())
		}
		_ = out.Flush()
	}
	b.ReportMetric(float64(b.N)*200_000/time.Since(start).Seconds(), "records/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(b.N)*200_000/cpu.Seconds(), "records/cpu-s")
	}
}
