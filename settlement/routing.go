package settlement

import (
	"errors"
	"fmt"
	"math/bits"
	"sort"
	"strings"

	"github.com/ospnode/ospnode/ledger/e164"
	"github.com/ospnode/ospnode/ledger/money"
)

// PrefixIndex is an immutable longest-prefix-match index from E.164 digit
// prefixes to values (routes, blocks). Build it with NewPrefixIndex; it is
// safe for concurrent use once built.
//
// It is a hash map keyed by the prefix string plus a bitmask of the prefix
// lengths present: a lookup tries only lengths that exist, longest first,
// with no allocation. A digit trie would answer in fewer probes but costs
// ~40 bytes per digit (hundreds of MB at 500,000 prefixes); the map holds
// one entry per prefix and loads 500,000 in well under a second (see
// BenchmarkPrefixIndex*).
type PrefixIndex[V any] struct {
	m    map[string]int32
	vals []V
	keys []string
	lens uint32 // bit l set: some prefix has length l (0..MaxPrefixDigits)
}

// ErrBadPrefix is wrapped by NewPrefixIndex for a prefix that is not 0 to
// MaxPrefixDigits decimal digits.
var ErrBadPrefix = errors.New("settlement: bad prefix")

// NewPrefixIndex indexes vals by prefix(v). The empty prefix is a valid
// default entry. A prefix given twice keeps the last value. A prefix that is
// not 0..MaxPrefixDigits digits fails with ErrBadPrefix.
func NewPrefixIndex[V any](vals []V, prefix func(*V) string) (*PrefixIndex[V], error) {
	ix := &PrefixIndex[V]{m: make(map[string]int32, len(vals)), vals: make([]V, 0, len(vals)), keys: make([]string, 0, len(vals))}
	for i := range vals {
		p := prefix(&vals[i])
		if len(p) > MaxPrefixDigits || !e164.IsDigits(p) {
			return nil, fmt.Errorf("%w: %q", ErrBadPrefix, p)
		}
		if j, ok := ix.m[p]; ok {
			ix.vals[j] = vals[i]
			continue
		}
		ix.m[p] = int32(len(ix.vals))
		ix.vals = append(ix.vals, vals[i])
		ix.keys = append(ix.keys, p)
		ix.lens |= 1 << uint(len(p))
	}
	return ix, nil
}

// Len returns the number of distinct prefixes.
func (ix *PrefixIndex[V]) Len() int {
	if ix == nil {
		return 0
	}
	return len(ix.vals)
}

// Lookup returns the value of the longest prefix of number, that prefix,
// and true; or false when no prefix (not even the empty default) matches.
// number should be digits (a leading '+' is ignored). The returned pointer
// aliases the index: do not modify it. No allocation.
func (ix *PrefixIndex[V]) Lookup(number string) (*V, string, bool) {
	if ix == nil {
		return nil, "", false
	}
	number = strings.TrimPrefix(number, "+")
	n := min(len(number), MaxPrefixDigits)
	mask := ix.lens & (uint32(1)<<uint(n+1) - 1)
	for mask != 0 {
		l := 31 - bits.LeadingZeros32(mask)
		mask &^= 1 << uint(l)
		if i, ok := ix.m[number[:l]]; ok {
			return &ix.vals[i], ix.keys[i], true
		}
	}
	return nil, "", false
}

// RouteOption is one candidate destination offered to RankRoutes.
type RouteOption struct {
	// Key identifies the option to the caller (e.g. a trunk id).
	Key string
	// Tier orders before everything else, lower first: route quality
	// puts a probed candidate before the healthy ones and a demoted one
	// after them (Policy.Rank). 0 for all: no effect.
	Tier int
	// Priority: lower is preferred; it overrides cost.
	Priority int
	// Weight shares load between options of equal priority and cost
	// (0 counts as 1).
	Weight int
	// Cost is the per-minute buy rate (what the terminating party charges
	// us); the zero Amount (no currency) means unknown and sorts last
	// within its priority.
	Cost money.Amount
}

// RankRoutes orders options in place by policy: tier, then priority ascending, then
// cost ascending (least cost routing; unknown cost last), then, among
// options of equal priority and cost, a weighted random order (weighted
// sampling without replacement) drawn from seed, so one request always gets
// the same order and load spreads across requests by weight. Costs in
// different currencies are not compared (their order is by Key). Safe for
// concurrent use on distinct slices.
func RankRoutes(opts []RouteOption, seed uint64) {
	sort.SliceStable(opts, func(i, j int) bool {
		a, b := &opts[i], &opts[j]
		if a.Tier != b.Tier {
			return a.Tier < b.Tier
		}
		if a.Priority != b.Priority {
			return a.Priority < b.Priority
		}
		if c := cmpCost(a.Cost, b.Cost); c != 0 {
			return c < 0
		}
		return a.Key < b.Key
	})
	rng := splitmix{seed}
	for i := 0; i < len(opts); {
		j := i + 1
		for j < len(opts) && opts[j].Tier == opts[i].Tier && opts[j].Priority == opts[i].Priority && cmpCost(opts[j].Cost, opts[i].Cost) == 0 {
			j++
		}
		weightedShuffle(opts[i:j], &rng)
		i = j
	}
}

// cmpCost compares two costs; unknown (no currency) is greater than any
// known cost; different currencies compare by currency code.
func cmpCost(a, b money.Amount) int {
	ac, bc := a.Currency(), b.Currency()
	switch {
	case ac == "" && bc == "":
		return 0
	case ac == "":
		return 1
	case bc == "":
		return -1
	case ac != bc:
		return strings.Compare(ac, bc)
	}
	c, err := a.Cmp(b)
	if err != nil {
		return 0
	}
	return c
}

// weightedShuffle orders g by weighted sampling without replacement.
func weightedShuffle(g []RouteOption, rng *splitmix) {
	for k := 0; k < len(g)-1; k++ {
		total := uint64(0)
		for _, o := range g[k:] {
			total += uint64(max(o.Weight, 1))
		}
		r := rng.next() % total
		pick := k
		for i, o := range g[k:] {
			w := uint64(max(o.Weight, 1))
			if r < w {
				pick = k + i
				break
			}
			r -= w
		}
		g[k], g[pick] = g[pick], g[k]
	}
}

// splitmix is SplitMix64: a tiny deterministic generator for the weighted
// order (not for anything secret).
type splitmix struct{ s uint64 }

func (r *splitmix) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
