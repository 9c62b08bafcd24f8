package testnet

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram is not zero")
	}
	r := rand.New(rand.NewPCG(5, 6))
	vals := make([]time.Duration, 50000)
	for i := range vals {
		vals[i] = time.Duration(r.ExpFloat64() * float64(2*time.Millisecond))
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.95, 0.99, 1} {
		exact := vals[int(q*float64(len(vals))+0.999999)-1]
		got := h.Quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/histSub+1 {
			t.Errorf("q%.2f: %s, exact %s", q, got, exact)
		}
	}
	if h.Max() != vals[len(vals)-1] || h.Count() != uint64(len(vals)) {
		t.Errorf("max %s count %d", h.Max(), h.Count())
	}
}

func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 255, 256, 257, 258, 1000, 1 << 20, 1<<39 + 12345, 1<<40 - 1, 1 << 50} {
		i := histIndex(v)
		if i < prev || i >= histBuckets {
			t.Fatalf("index %d for %d (prev %d)", i, v, prev)
		}
		if v < 1<<40 && (histUpper(i) < v || (i > 0 && histUpper(i-1) >= v)) {
			t.Fatalf("value %d not in bucket %d (upper %d)", v, i, histUpper(i))
		}
		prev = i
	}
	var h Histogram
	h.Record(-time.Second)
	h.Record(time.Hour)
	if h.Quantile(0.5) != 0 || h.Max() != time.Hour {
		t.Fatalf("clamping: q50 %s max %s", h.Quantile(0.5), h.Max())
	}
}
