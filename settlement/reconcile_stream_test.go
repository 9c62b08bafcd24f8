package settlement

import (
	"fmt"
	"io"
	"math/rand"
	"os"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
)

// sliceSource serves cdrs as a CDRSource.
func sliceSource(cdrs []CDR) CDRSource {
	i := 0
	return func(c *CDR) error {
		if i == len(cdrs) {
			return io.EOF
		}
		*c = cdrs[i]
		i++
		return nil
	}
}

// messyPair builds a pair of CDR sets that exercise every key and its
// corner cases: shared and repeated transaction ids, Call-IDs on one side
// only, fallback pairs competing for the same record within the skew,
// amounts that differ, one-sided records. Lines are set like a file's.
func messyPair(seed int64, n int) (ours, theirs []CDR) {
	rng := rand.New(rand.NewSource(seed))
	amt := func(cents int) money.Amount {
		return money.MustNew(fmt.Sprintf("%d.%02d", cents/100, cents%100), "USD")
	}
	for i := 0; i < n; i++ {
		c := CDR{Calling: fmt.Sprint("1212", rng.Intn(5)), Called: fmt.Sprint("4930", rng.Intn(20)),
			ConnectTime: jan1.Add(time.Duration(rng.Intn(600)) * time.Second), BillableSeconds: int64(rng.Intn(120)), HasBillable: true}
		if rng.Intn(3) > 0 {
			c.TransactionID = fmt.Sprint("T", rng.Intn(n))
		}
		if rng.Intn(2) == 0 {
			c.CallID = fmt.Sprint("c", rng.Intn(n))
		}
		c.Amount = amt(int(c.BillableSeconds) * 3)
		ours = append(ours, c)
		t := c
		switch rng.Intn(8) {
		case 0:
			t.BillableSeconds += int64(rng.Intn(40))
		case 1:
			t.TransactionID = ""
		case 2:
			t.CallID = ""
			t.TransactionID = ""
		case 3:
			t.ConnectTime = t.ConnectTime.Add(time.Duration(rng.Intn(3000)) * time.Millisecond)
			t.TransactionID, t.CallID = "", ""
		case 4:
			continue // ours only
		case 5:
			t.Amount = amt(int(c.BillableSeconds)*3 + 1)
		}
		theirs = append(theirs, t)
		if rng.Intn(10) == 0 {
			x := t
			x.TransactionID = fmt.Sprint("X", i)
			theirs = append(theirs, x)
		}
	}
	rng.Shuffle(len(theirs), func(i, j int) { theirs[i], theirs[j] = theirs[j], theirs[i] })
	for i := range ours {
		ours[i].Line = i + 2
	}
	for i := range theirs {
		theirs[i].Line = i + 2
	}
	return ours, theirs
}

type pairKey struct {
	class        Class
	key          MatchKey
	ours, theirs int
}

func pairsOf(ms []Match) []pairKey {
	out := make([]pairKey, 0, len(ms))
	for _, m := range ms {
		k := pairKey{class: m.Class, key: m.Key}
		if m.Ours != nil {
			k.ours = m.Ours.Line
		}
		if m.Theirs != nil {
			k.theirs = m.Theirs.Line
		}
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.class != b.class {
			return a.class < b.class
		}
		if a.ours != b.ours {
			return a.ours < b.ours
		}
		return a.theirs < b.theirs
	})
	return out
}

// TestReconcileStreamEqualsReconcile: partitioned on disk or not, the
// streaming reconciliation pairs exactly the records Reconcile pairs and
// reports the same totals and decision.
func TestReconcileStreamEqualsReconcile(t *testing.T) {
	cases := []struct {
		seed  int64
		n     int
		parts int
	}{{1, 50, 1}, {2, 300, 3}, {3, 2000, 7}, {4, 2000, 64}, {5, 1, 5}, {6, 0, 2}}
	for seed := int64(10); seed < 40; seed++ {
		cases = append(cases, struct {
			seed  int64
			n     int
			parts int
		}{seed, 100 + int(seed)*17, int(seed%9) + 1})
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("seed%d_n%d_p%d", tc.seed, tc.n, tc.parts), func(t *testing.T) {
			ours, theirs := messyPair(tc.seed, tc.n)
			want, err := Reconcile(ours, theirs, ReconcileOptions{})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			got, err := ReconcileStream(sliceSource(ours), sliceSource(theirs), ReconcileOptions{},
				StreamOptions{TmpDir: dir, Partitions: tc.parts})
			if err != nil {
				t.Fatal(err)
			}
			if g, w := pairsOf(got.Matches), pairsOf(want.Matches); !reflect.DeepEqual(g, w) {
				for i := range min(len(g), len(w)) {
					if g[i] != w[i] {
						t.Fatalf("%d pairs, want %d; first difference at %d: got %+v, want %+v", len(g), len(w), i, g[i], w[i])
					}
				}
				t.Fatalf("%d pairs, want %d", len(g), len(w))
			}
			gm, wm := got.Matches, want.Matches
			got.Matches, want.Matches = nil, nil
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("report differs:\n got %+v\nwant %+v", got, want)
			}
			if len(gm) != len(wm) {
				t.Fatalf("%d matches, want %d", len(gm), len(wm))
			}
			left, _ := os.ReadDir(dir)
			if len(left) != 0 {
				t.Fatalf("%d spill files left in the temp dir", len(left))
			}
		})
	}
}

func TestReconcileStreamInternalAndErrors(t *testing.T) {
	ours, theirs := messyPair(9, 200)
	var both []CDR
	for _, c := range ours {
		c.Role = RoleSource
		both = append(both, c)
	}
	for _, c := range theirs {
		c.Role = RoleDestination
		c.Line += len(ours)
		both = append(both, c)
	}
	want, err := ReconcileInternal(both, ReconcileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReconcileStream(sliceSource(both), nil, ReconcileOptions{}, StreamOptions{TmpDir: t.TempDir(), Partitions: 4, Internal: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pairsOf(got.Matches), pairsOf(want.Matches)) || !reflect.DeepEqual(got.Classes, want.Classes) ||
		got.Mode != "internal" || got.OursLabel != "source" {
		t.Fatalf("internal: got %+v\nwant %+v", got.Classes, want.Classes)
	}

	// A record without a role, and a currency that differs, are refused.
	both[3].Role = ""
	if _, err := ReconcileStream(sliceSource(both), nil, ReconcileOptions{}, StreamOptions{TmpDir: t.TempDir(), Internal: true}); err == nil {
		t.Fatal("a record without a role was accepted")
	}
	theirs[0].Amount = money.MustNew("1", "EUR")
	if _, err := ReconcileStream(sliceSource(ours), sliceSource(theirs), ReconcileOptions{}, StreamOptions{TmpDir: t.TempDir()}); err == nil {
		t.Fatal("two currencies were accepted")
	}
}

func TestPartitionsFor(t *testing.T) {
	for _, tc := range []struct {
		in, budget int64
		want       int
	}{{0, 1 << 20, 1}, {1 << 20, 0, 1}, {100 << 20, 256 << 20, 4}, {1600 << 20, 256 << 20, 50}, {1 << 50, 1, MaxPartitions}} {
		if got := PartitionsFor(tc.in, tc.budget); got != tc.want {
			t.Errorf("PartitionsFor(%d, %d) = %d, want %d", tc.in, tc.budget, got, tc.want)
		}
	}
}

// TestReconcileStreamAcrossNetworks: two networks' exports pair on one
// side's peer id and the other's own id (either way round), never on
// equal ids of two numberings; streamed with partitions, the same pairs.
func TestReconcileStreamAcrossNetworks(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	var ours, theirs []CDR
	for i := 0; i < 3000; i++ {
		at := jan1.Add(time.Duration(rng.Intn(3600)) * time.Second)
		o := CDR{TransactionID: fmt.Sprint(rng.Intn(2000)), Network: "A", Calling: "1", Called: fmt.Sprint("49", rng.Intn(50)),
			ConnectTime: at, BillableSeconds: int64(rng.Intn(100)), HasBillable: true}
		th := o
		th.Network, th.TransactionID = "B", fmt.Sprint(rng.Intn(2000)) // the same numbers, another numbering
		switch rng.Intn(4) {
		case 0:
			o.PeerTransactionID = th.TransactionID
		case 1:
			th.PeerTransactionID = o.TransactionID
		case 2:
			o.CallID, th.CallID = fmt.Sprint("c", i), fmt.Sprint("c", i)
		}
		ours = append(ours, o)
		if rng.Intn(10) > 0 {
			theirs = append(theirs, th)
		}
	}
	rng.Shuffle(len(theirs), func(i, j int) { theirs[i], theirs[j] = theirs[j], theirs[i] })
	for i := range ours {
		ours[i].Line = i + 2
	}
	for i := range theirs {
		theirs[i].Line = i + 2
	}
	want, err := Reconcile(ours, theirs, ReconcileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReconcileStream(sliceSource(ours), sliceSource(theirs), ReconcileOptions{}, StreamOptions{TmpDir: t.TempDir(), Partitions: 5})
	if err != nil {
		t.Fatal(err)
	}
	if g, w := pairsOf(got.Matches), pairsOf(want.Matches); !reflect.DeepEqual(g, w) {
		t.Fatalf("%d pairs, want %d", len(g), len(w))
	}
	if !reflect.DeepEqual(got.Classes, want.Classes) || want.Summary(ClassExact).Count == 0 {
		t.Fatalf("classes %+v, want %+v", got.Classes, want.Classes)
	}
}
