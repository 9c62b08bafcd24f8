package settlement

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/ospnode/ospnode/ledger/money"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden (run with -update if intended):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

const oursCSV = `transaction_id,call_id,calling,called,connect_time,duration,billable_seconds,amount,currency
T1,c1,1212,4930,2026-11-01T10:00:00Z,60.000,60,0.1000,USD
T2,c2,1212,4931,2026-11-01T10:01:00Z,61.200,62,0.1034,USD
T3,c3,1212,4932,2026-11-01T10:02:00Z,30.000,30,0.0500,USD
,c4,1212,4933,2026-11-02T09:00:00Z,120.000,120,0.2000,USD
,,1313,4934,2026-11-02T09:30:00Z,45.000,45,0.0750,USD
T6,c6,1212,4935,2026-11-03T08:00:00Z,10.000,10,0.0167,USD
T7,c7,1212,4936,2026-11-03T08:10:00Z,90.000,90,0.1500,USD
`

const theirsCSV = `txn,sip_call_id,a,b,start,secs,billed,charge
T1,c1,1212,4930,2026-11-01 10:00:00,60,60,0.1000
T2,c2,1212,4931,2026-11-01 10:01:00,62,63,0.1050
T3,c3,1212,4932,2026-11-01 10:02:00,41,41,0.0684
,c4,1212,4933,2026-11-02 09:00:01,120,120,0.2000
,,1313,4934,2026-11-02 09:30:01,45,45,0.0750
T7,c7,1212,4936,2026-11-03 08:10:00,90,90,0.1800
T8,c8,1212,4937,2026-11-04 12:00:00,300,300,0.5000
`

func readPair(t *testing.T) (ours, theirs []CDR) {
	t.Helper()
	ours, err := ReadCDRs(strings.NewReader(oursCSV), CDRFormat{})
	if err != nil {
		t.Fatal(err)
	}
	cols, err := ParseColumnMap("transaction_id=txn,call_id=sip_call_id,calling=a,called=b,connect_time=start,duration=secs,billable_seconds=billed,amount=charge")
	if err != nil {
		t.Fatal(err)
	}
	theirs, err = ReadCDRs(strings.NewReader(theirsCSV), CDRFormat{Columns: cols, Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	return ours, theirs
}

func TestReconcileClassesAndGolden(t *testing.T) {
	ours, theirs := readPair(t)
	rep, err := Reconcile(ours, theirs, ReconcileOptions{Period: "2026-11"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[Class]int{ClassExact: 4, ClassPartial: 1, ClassMismatch: 1, ClassOursOnly: 1, ClassTheirsOnly: 1}
	for c, n := range want {
		if got := rep.Summary(c).Count; got != n {
			t.Errorf("%s: %d, want %d", c, got, n)
		}
	}
	keys := map[string]MatchKey{}
	for _, m := range rep.Matches {
		if m.Ours != nil && m.Theirs != nil {
			keys[m.Ours.Called] = m.Key
		}
	}
	if keys["4930"] != KeyTransactionID || keys["4933"] != KeyCallID || keys["4934"] != KeyFallback {
		t.Errorf("match keys = %v", keys)
	}
	if s := rep.Summary(ClassMismatch); s.OursSeconds != 30 || s.TheirsSeconds != 41 || s.DiffAmount.Text() != "0.0184" {
		t.Errorf("mismatch summary = %+v", s)
	}
	// T7: same seconds, 0.15 vs 0.18: a rate dispute with no minimum.
	if !rep.Decision.Rate || rep.Decision.RateDiffs != 1 || rep.Decision.RateDiffAmount.Text() != "0.0300" {
		t.Errorf("rate decision = %+v", rep.Decision)
	}
	// Theirs 1.2284 vs ours 0.6951: a large share of the invoice.
	if !rep.Decision.Volume || rep.Decision.VolumeDiff.Text() != "0.5333" {
		t.Errorf("volume decision = %+v", rep.Decision)
	}
	var txt, csvb, js bytes.Buffer
	if err := rep.WriteText(&txt, -1); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteCSV(&csvb); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	golden(t, "reconcile.txt", txt.Bytes())
	golden(t, "reconcile.csv", csvb.Bytes())
	golden(t, "reconcile.json", js.Bytes())
}

func TestReconcileToleranceAndThresholds(t *testing.T) {
	mk := func(id string, secs int64, amount string) CDR {
		return CDR{TransactionID: id, Called: "49", ConnectTime: jan1, BillableSeconds: secs, HasBillable: true, Amount: usd(amount)}
	}
	ours := []CDR{mk("a", 100, "1000.00"), mk("b", 100, "10000.00")}
	theirs := []CDR{mk("a", 102, "1000.00"), mk("b", 103, "10000.00")}
	rep, err := Reconcile(ours, theirs, ReconcileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary(ClassPartial).Count != 1 || rep.Summary(ClassMismatch).Count != 1 || rep.Decision.Disputed() {
		t.Fatalf("default tolerance 2 s: %+v %+v", rep.Classes, rep.Decision)
	}
	rep, _ = Reconcile(ours, theirs, ReconcileOptions{Tolerance: -1})
	if rep.Summary(ClassMismatch).Count != 2 {
		t.Fatalf("no tolerance: %+v", rep.Classes)
	}
	rep, _ = Reconcile(ours, theirs, ReconcileOptions{Tolerance: 3 * time.Second})
	if rep.Summary(ClassPartial).Count != 2 {
		t.Fatalf("3 s tolerance: %+v", rep.Classes)
	}
	// Volume: the invoice is their total. 100 on 11,100 is below both
	// thresholds, 112 on 11,112 reaches 1%, and with the ratio disabled (100%), an
	// absolute 1,000 difference still disputes.
	for _, tc := range []struct {
		theirsB string
		ratio   string
		want    bool
	}{{"10100.00", "", false}, {"10112.00", "", true}, {"11000.00", "1", true}, {"10999.99", "1", false}} {
		th := []CDR{mk("a", 100, "1000.00"), mk("b", 100, tc.theirsB)}
		opts := ReconcileOptions{}
		if tc.ratio != "" {
			opts.VolumeDisputeRatio, _, _ = apd.NewFromString(tc.ratio)
		}
		rep, err := Reconcile(ours, th, opts)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Decision.Volume != tc.want || rep.Decision.Rate != true {
			t.Errorf("theirs %s ratio %q: volume %v, want %v (%v)", tc.theirsB, tc.ratio, rep.Decision.Volume, tc.want, rep.Decision.Reasons)
		}
	}
	rep, _ = Reconcile(ours, ours, ReconcileOptions{})
	if rep.Decision.Disputed() || rep.Summary(ClassExact).Count != 2 {
		t.Fatalf("identical sides: %+v", rep.Decision)
	}
	if _, err := Reconcile(ours, []CDR{{TransactionID: "a", Amount: money1("EUR")}}, ReconcileOptions{}); err == nil {
		t.Fatal("mixed currencies accepted")
	}
}

func TestReconcileDistinctTransactionIDsNeverFallBack(t *testing.T) {
	// Same call-id and numbers, different transaction ids: two calls.
	a := CDR{TransactionID: "x", CallID: "c", Calling: "1", Called: "2", ConnectTime: jan1, DurationMillis: 1000}
	b := a
	b.TransactionID = "y"
	rep, err := Reconcile([]CDR{a}, []CDR{b}, ReconcileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary(ClassOursOnly).Count != 1 || rep.Summary(ClassTheirsOnly).Count != 1 {
		t.Fatalf("classes = %+v", rep.Classes)
	}
	// Fallback respects the skew and picks the nearest time.
	c := CDR{Calling: "1", Called: "2", ConnectTime: jan1, DurationMillis: 1000}
	far, near := c, c
	far.ConnectTime, near.ConnectTime = jan1.Add(-1500*time.Millisecond), jan1.Add(time.Second)
	rep, _ = Reconcile([]CDR{c}, []CDR{far, near}, ReconcileOptions{})
	for _, m := range rep.Matches {
		if m.Ours != nil && m.Theirs != nil && !m.Theirs.ConnectTime.Equal(near.ConnectTime) {
			t.Fatalf("fallback matched %s, want the nearest", m.Theirs.ConnectTime)
		}
	}
	tooFar := c
	tooFar.ConnectTime = jan1.Add(3 * time.Second)
	rep, _ = Reconcile([]CDR{c}, []CDR{tooFar}, ReconcileOptions{})
	if rep.Summary(ClassOursOnly).Count != 1 {
		t.Fatalf("beyond skew matched: %+v", rep.Classes)
	}
}

func TestReconcileInternal(t *testing.T) {
	src := CDR{TransactionID: "t1", Called: "49", ConnectTime: jan1, DurationMillis: 60000, Role: RoleSource}
	dst := src
	dst.Role, dst.DurationMillis = RoleDestination, 61000
	lone := CDR{TransactionID: "t2", Called: "49", ConnectTime: jan1, DurationMillis: 1000, Role: RoleSource}
	rep, err := ReconcileInternal([]CDR{src, dst, lone}, ReconcileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mode != "internal" || rep.OursLabel != "source" || rep.Summary(ClassPartial).Count != 1 || rep.Summary(ClassOursOnly).Count != 1 {
		t.Fatalf("internal report: %s %+v", rep.Mode, rep.Classes)
	}
	if _, err := ReconcileInternal([]CDR{{Called: "1"}}, ReconcileOptions{}); err == nil {
		t.Fatal("a CDR without role accepted")
	}
}

func money1(cur string) (a moneyAmount) {
	a, _ = newAmount("1", cur)
	return a
}

// reconcileFixture builds n matched pairs with some deliberate differences,
// deterministically.
func reconcileFixture(n int) (ours, theirs []CDR) {
	ours = make([]CDR, n)
	theirs = make([]CDR, n)
	for i := 0; i < n; i++ {
		c := CDR{TransactionID: fmt.Sprintf("tx%09d", i), CallID: fmt.Sprintf("c%d@sbc", i),
			Calling: "1212555" + fmt.Sprint(i%10000), Called: "49301" + fmt.Sprint(i),
			ConnectTime: jan1.Add(time.Duration(i) * time.Second), BillableSeconds: int64(i % 600), HasBillable: true}
		ours[i] = c
		switch i % 100 {
		case 1:
			c.BillableSeconds++ // partial
		case 2:
			c.BillableSeconds += 30 // mismatch
		case 3:
			c.TransactionID = "" // matched by call-id
		case 4:
			c.TransactionID, c.CallID = "", "" // fallback
			c.ConnectTime = c.ConnectTime.Add(time.Second)
		case 5:
			c.TransactionID = "theirs-only-" + fmt.Sprint(i)
		}
		theirs[i] = c
	}
	return ours, theirs
}

func TestReconcileFixtureCounts(t *testing.T) {
	ours, theirs := reconcileFixture(10000)
	rep, err := Reconcile(ours, theirs, ReconcileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// i%600 == 0 gives 0 s on both sides; adding 1 s makes it partial still.
	if rep.Summary(ClassPartial).Count != 100 || rep.Summary(ClassMismatch).Count != 100 ||
		rep.Summary(ClassOursOnly).Count != 100 || rep.Summary(ClassTheirsOnly).Count != 100 || rep.Summary(ClassExact).Count != 9700 {
		t.Fatalf("classes = %+v", rep.Classes)
	}
}

type moneyAmount = money.Amount

func newAmount(v, cur string) (money.Amount, error) { return money.New(v, cur) }
