package settlement

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/ospnode/ospnode/ledger/money"
)

type pfx struct {
	p string
	v int
}

func TestPrefixIndexLongestMatch(t *testing.T) {
	ix, err := NewPrefixIndex([]pfx{{"1", 1}, {"1678", 2}, {"44", 3}, {"4420", 4}, {"", 0}, {"44", 5}},
		func(x *pfx) string { return x.p })
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		number, prefix string
		v              int
		ok             bool
	}{
		{"16785551234", "1678", 2, true},
		{"+16785551234", "1678", 2, true},
		{"1404", "1", 1, true},
		{"442071234567", "4420", 4, true},
		{"44161", "44", 5, true}, // duplicate prefix: the last value wins
		{"33123", "", 0, true},   // the default route
		{"", "", 0, true},
		{"1678", "1678", 2, true},
		{"167", "1", 1, true}, // a longer prefix never matches a shorter number
	}
	for _, tc := range tests {
		v, p, ok := ix.Lookup(tc.number)
		if ok != tc.ok || p != tc.prefix || (ok && v.v != tc.v) {
			t.Errorf("Lookup(%q) = %v %q %v, want %d %q %v", tc.number, v, p, ok, tc.v, tc.prefix, tc.ok)
		}
	}
	if ix.Len() != 5 {
		t.Errorf("Len %d", ix.Len())
	}
	noDefault, _ := NewPrefixIndex([]pfx{{"49", 1}}, func(x *pfx) string { return x.p })
	if _, _, ok := noDefault.Lookup("33"); ok {
		t.Error("match without a prefix")
	}
	var nilIx *PrefixIndex[pfx]
	if _, _, ok := nilIx.Lookup("1"); ok || nilIx.Len() != 0 {
		t.Error("nil index matched")
	}
	for _, bad := range []string{"12a", "+44", "1234567890123456"} {
		if _, err := NewPrefixIndex([]pfx{{bad, 1}}, func(x *pfx) string { return x.p }); !errors.Is(err, ErrBadPrefix) {
			t.Errorf("prefix %q: %v", bad, err)
		}
	}
}

// TestPrefixIndexAgainstScan compares Lookup with a brute-force scan on
// random tables.
func TestPrefixIndexAgainstScan(t *testing.T) {
	seed := uint64(20261126)
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(4)) // few digits: many shared prefixes
		}
		return string(b)
	}
	var rows []pfx
	for i := 0; i < 2000; i++ {
		rows = append(rows, pfx{digits(1 + r.IntN(7)), i})
	}
	ix, err := NewPrefixIndex(rows, func(x *pfx) string { return x.p })
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]int{}
	for _, x := range rows {
		last[x.p] = x.v
	}
	for i := 0; i < 5000; i++ {
		num := digits(r.IntN(12))
		best, found := "", false
		for p := range last {
			if len(p) <= len(num) && num[:len(p)] == p && (!found || len(p) > len(best)) {
				best, found = p, true
			}
		}
		v, p, ok := ix.Lookup(num)
		if ok != found || p != best || (ok && v.v != last[best]) {
			t.Fatalf("Lookup(%q) = %q %v, scan says %q %v", num, p, ok, best, found)
		}
	}
}

func usdAmt(s string) money.Amount { return money.MustNew(s, "USD") }

func TestRankRoutes(t *testing.T) {
	opts := []RouteOption{
		{Key: "dear", Priority: 0, Cost: usdAmt("0.02")},
		{Key: "cheap", Priority: 0, Cost: usdAmt("0.01")},
		{Key: "unknown", Priority: 0},
		{Key: "preferred", Priority: -1, Cost: usdAmt("0.05")},
		{Key: "backup", Priority: 5, Cost: usdAmt("0.001")},
	}
	RankRoutes(opts, 1)
	var got []string
	for _, o := range opts {
		got = append(got, o.Key)
	}
	want := []string{"preferred", "cheap", "dear", "unknown", "backup"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

// TestRankRoutesWeights: equal priority and cost are shared by weight,
// deterministically per seed.
func TestRankRoutesWeights(t *testing.T) {
	first := map[string]int{}
	const n = 20000
	for s := uint64(0); s < n; s++ {
		opts := []RouteOption{{Key: "a", Weight: 1, Cost: usdAmt("0.01")}, {Key: "b", Weight: 3, Cost: usdAmt("0.01")}}
		RankRoutes(opts, s)
		first[opts[0].Key]++
		again := []RouteOption{{Key: "a", Weight: 1, Cost: usdAmt("0.01")}, {Key: "b", Weight: 3, Cost: usdAmt("0.01")}}
		RankRoutes(again, s)
		if again[0].Key != opts[0].Key {
			t.Fatal("same seed, different order")
		}
	}
	// b should lead about 75% of the time.
	if share := float64(first["b"]) / n; share < 0.72 || share > 0.78 {
		t.Fatalf("b first in %.3f of orders, want ~0.75", share)
	}
}

func makePrefixes(n int) []pfx {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]pfx, n)
	for i := range out {
		l := 4 + r.IntN(6)
		b := make([]byte, 0, l)
		b = strconv.AppendInt(b, int64(1+r.IntN(99)), 10)
		for len(b) < l {
			b = append(b, byte('0'+r.IntN(10)))
		}
		out[i] = pfx{string(b), i}
	}
	return out
}

// BenchmarkPrefixIndexLoad500k builds the index of 500,000 prefixes.
func BenchmarkPrefixIndexLoad500k(b *testing.B) {
	rows := makePrefixes(500_000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewPrefixIndex(rows, func(x *pfx) string { return x.p }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrefixIndexLookup500k looks up 15-digit numbers in an index of
// 500,000 prefixes.
func BenchmarkPrefixIndexLookup500k(b *testing.B) {
	rows := makePrefixes(500_000)
	ix, err := NewPrefixIndex(rows, func(x *pfx) string { return x.p })
	if err != nil {
		b.Fatal(err)
	}
	nums := make([]string, 1024)
	for i := range nums {
		nums[i] = rows[i*37%len(rows)].p + "123456789012345"[:15-len(rows[i*37%len(rows)].p)]
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, _, ok := ix.Lookup(nums[i&1023]); !ok {
			b.Fatal("no match")
		}
		i++
	}
}
