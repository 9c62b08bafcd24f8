package testnet

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram is a log-linear latency histogram in the manner of HdrHistogram:
// values (nanoseconds) below 2·histSub are counted exactly; above, each
// power of two is split into histSub linear buckets, so a reported value is
// within 1/histSub (0.8 %) of the true one. Values above ~18 minutes are
// clamped. Recording is lock-free (one atomic add); a Histogram is safe for
// concurrent use and its zero value is ready.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64
	max    atomic.Uint64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits
	histMaxBits = 40 // 2^40 ns ≈ 18.3 min
	histBuckets = (histMaxBits-histSubBits)*histSub + 2*histSub
)

func histIndex(v uint64) int {
	if v >= 1<<histMaxBits {
		v = 1<<histMaxBits - 1
	}
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(v) - 1 - histSubBits
	return shift*histSub + int(v>>uint(shift))
}

// histUpper returns the highest value that maps to bucket i.
func histUpper(i int) uint64 {
	if i < 2*histSub {
		return uint64(i)
	}
	shift := i/histSub - 1
	top := uint64(i - shift*histSub)
	return (top+1)<<uint(shift) - 1
}

// Record adds one observation; a negative d counts as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[histIndex(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max returns the largest observation, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean returns the mean observation (0 when empty).
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the value at quantile q (0 < q ≤ 1): the upper bound of
// the bucket holding the ⌈q·n⌉-th smallest observation, never above Max.
// It is 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.999999)
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			v := histUpper(i)
			if m := h.max.Load(); v > m {
				v = m
			}
			return time.Duration(v)
		}
	}
	return h.Max()
}
