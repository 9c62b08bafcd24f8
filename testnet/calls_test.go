package testnet

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/osp"
)

func TestDurationDistMean(t *testing.T) {
	for _, d := range []DurationDist{
		{Kind: DistExponential, Mean: 180 * time.Second},
		{Kind: DistLognormal, Mean: 120 * time.Second, Sigma: 0.8},
		{}, // default: exponential, 180 s
	} {
		r := rand.New(rand.NewPCG(3, 4))
		const n = 40000
		var sum float64
		for range n {
			x := d.Draw(r)
			if x < 0 || x%time.Millisecond != 0 {
				t.Fatalf("%+v drew %s", d, x)
			}
			sum += x.Seconds()
		}
		want := d.Mean.Seconds()
		if want == 0 {
			want = 180
		}
		if got := sum / n; math.Abs(got-want)/want > 0.03 {
			t.Errorf("%+v: mean %.1fs, want %.1fs ±3%%", d, got, want)
		}
	}
}

func TestCallModelMessages(t *testing.T) {
	plan, err := NewNumberPlan()
	if err != nil {
		t.Fatal(err)
	}
	m := &CallModel{Calling: plan, Called: plan, MaxDestinations: 5, Seed: 9, RunID: 77,
		Source: Party{CustomerID: "1000", DeviceID: "2000", Address: "[127.0.0.1]:5060", NetworkID: "purple"}}
	c := m.NewCall(12)
	if again := m.NewCall(12); again.Calling != c.Calling || again.Called != c.Called || again.Duration != c.Duration || string(again.CallID) != string(c.CallID) {
		t.Fatal("a call is not reproducible from (seed, seq)")
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	auth := m.AuthorizationRequest(&c, now)
	b, err := osp.Encode(auth)
	if err != nil {
		t.Fatal(err)
	}
	if err := osp.CheckToolkitRules(b); err != nil {
		t.Fatalf("toolkit rules: %v\n%s", err, b)
	}
	back, err := osp.Decode(b, osp.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ar := back.Components[0].AuthorizationRequest
	if ar.Calling() != c.Calling || ar.Called() != c.Called || ar.CustomerID != "1000" || ar.DeviceID != "2000" ||
		ar.SourceDevice() != "[127.0.0.1]:5060" || ar.SourceNetworkID() != "purple" || ar.MaximumDestinations != 5 ||
		string(ar.CallIDs[0]) != string(c.CallID) {
		t.Fatalf("decoded request %+v", ar)
	}
	dest := &osp.Destination{SignalAddress: "[127.0.0.2]:5060", CallID: c.CallID, UsageDetail: osp.TimeLimit(60)}
	c.Duration = 90 * time.Second
	src := m.SourceUsage(&c, 55, dest, false, false, now)
	ud := src.Components[0].UsageIndication.UsageDetail
	if ud.Amount != "60.000" || ud.TerminationCause[0].Code != 16 || !ud.StartTime.Equal(now.Add(-time.Minute)) {
		t.Fatalf("source usage detail (time limit 60 s) %+v", ud)
	}
	fail := m.SourceUsage(&c, 55, dest, true, false, now)
	if fu := fail.Components[0].UsageIndication.UsageDetail; fu.Amount != "0.000" || fu.TerminationCause[0].Code != 34 {
		t.Fatalf("failed attempt %+v", fu)
	}
	claims := &osp.TokenClaims{Calling: c.Calling, Called: c.Called, CallID: c.CallID, TransactionID: 5501}
	dst := m.DestinationUsage(&c, claims, dest, now)
	for _, msg := range []*osp.Message{src, fail, dst} {
		b, err := osp.Encode(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := osp.CheckToolkitRules(b); err != nil {
			t.Fatalf("toolkit rules: %v", err)
		}
	}
	du := dst.Components[0].UsageIndication
	if du.Role != osp.RoleDestination || du.TransactionID != 5501 || du.SourceDevice() != "[127.0.0.2]:5060" {
		t.Fatalf("destination usage %+v", du)
	}
	ids := map[string]bool{auth.MessageID: true, src.MessageID: true, dst.MessageID: true}
	if len(ids) != 3 || !strings.HasSuffix(string(c.CallID), "@ospnode-bench") {
		t.Fatalf("ids %v call-id %s", ids, c.CallID)
	}
}

// BenchmarkCallMessages measures the generator's own per-call work:
// drawing a call and building and encoding its three messages.
func BenchmarkCallMessages(b *testing.B) {
	plan, err := NewNumberPlan()
	if err != nil {
		b.Fatal(err)
	}
	m := &CallModel{Calling: plan, Called: plan, MaxDestinations: 5, Seed: 1, RunID: 2,
		Source: Party{CustomerID: "1000", DeviceID: "2000", Address: "[127.0.0.1]:5060"}}
	dest := &osp.Destination{SignalAddress: "[127.0.0.2]:5060", UsageDetail: osp.TimeLimit(3600)}
	now := time.Now()
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c := m.NewCall(uint64(i))
		claims := &osp.TokenClaims{Calling: c.Calling, Called: c.Called, CallID: c.CallID, TransactionID: 7}
		for _, msg := range []*osp.Message{
			m.AuthorizationRequest(&c, now),
			m.SourceUsage(&c, 7, dest, false, false, now),
			m.DestinationUsage(&c, claims, dest, now),
		} {
			if buf, err = osp.AppendEncode(buf[:0], msg); err != nil {
				b.Fatal(err)
			}
		}
	}
}
