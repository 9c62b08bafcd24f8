package ledger

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A usage's quality block survives the command encoding and the stored
// record, reaches Options.OnUsage in apply order, and changes nothing
// else: the same usage without it writes the version-4 bytes.
func TestUsageQualityRoundTrip(t *testing.T) {
	var seen []Usage
	var seenIdx []uint64
	s, err := Open(filepath.Join(t.TempDir(), "ledger.db"), Options{NoSync: true, OnUsage: func(i uint64, us []Usage) {
		seenIdx = append(seenIdx, i)
		seen = append(seen, us...)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rs := applyLog(t, s, fullLog(t))
	last := rs[len(rs)-1]
	tx := last[0].TransactionID
	q := &UsageQuality{Candidate: "trunk:b1", SIPCode: 486, Alert: t0.Add(time.Hour + 3*time.Second), PDDMillis: 3000, LossPPM: 2500, JitterMicros: 12000}
	u := RecordUsage{At: t0.Add(2 * time.Hour), TransactionID: tx, Role: RoleSource, ComponentID: "1", Reporter: MemberAccount("a"),
		Calling: "15550001", Called: "12125550100", CallID: "c1", Start: t0.Add(time.Hour), TerminationCause: 486,
		Phase: PhaseFailed, Matched: true, Quality: q}
	b := enc(t, u)
	if b[1] != RecordUsageVersionQuality {
		t.Fatalf("written as version %d, want %d", b[1], RecordUsageVersionQuality)
	}
	back, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.(RecordUsage); !reflect.DeepEqual(got.Quality, q) {
		t.Fatalf("decoded quality %+v, want %+v", got.Quality, q)
	}
	plain := u
	plain.Quality = nil
	if pb := enc(t, plain); pb[1] != RecordUsageVersionLifecycle || !strings.HasPrefix(string(b[2:]), string(pb[2:])) {
		t.Fatalf("without quality: version %d; the version 6 payload must be version 4's plus the buy-seconds flags and the block", pb[1])
	}
	res := apply1(t, s, u)
	mustOK(t, res)
	stored, err := s.Usage(res[0].UsageID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stored.Quality, q) {
		t.Fatalf("stored quality %+v, want %+v", stored.Quality, q)
	}
	if len(seen) == 0 || !reflect.DeepEqual(seen[len(seen)-1], *stored) || seenIdx[len(seenIdx)-1] != s.AppliedIndex() {
		t.Fatalf("OnUsage saw %d records, the last at index %v; want the stored one at %d", len(seen), seenIdx, s.AppliedIndex())
	}
	u2 := u
	u2.ComponentID, u2.TerminationCause = "2", 503
	mustOK(t, apply1(t, s, u2))
	recent, err := s.RecentUsage(2)
	if err != nil || len(recent) != 2 || recent[0].ID != stored.ID || recent[1].ID <= recent[0].ID {
		t.Fatalf("RecentUsage(2) = %d records, %v; want the last two in id order", len(recent), err)
	}
	if all, _ := s.RecentUsage(100); len(all) != 2 {
		t.Fatalf("RecentUsage(100) = %d records, want the 2 there are", len(all))
	}
}

func TestUsageQualityRefused(t *testing.T) {
	s := openTest(t)
	rs := applyLog(t, s, fullLog(t))
	tx := rs[len(rs)-1][0].TransactionID
	for _, tc := range []struct {
		name string
		q    UsageQuality
		want string
	}{
		{"loss over 100%", UsageQuality{PDDMillis: -1, LossPPM: 1_000_001, JitterMicros: -1}, "loss"},
		{"negative delay", UsageQuality{PDDMillis: -5, LossPPM: -1, JitterMicros: -1}, "post-dial delay"},
		{"a day of delay", UsageQuality{PDDMillis: 90_000_000, LossPPM: -1, JitterMicros: -1}, "post-dial delay"},
		{"candidate too long", UsageQuality{Candidate: "trunk:" + strings.Repeat("x", 200), PDDMillis: -1, LossPPM: -1, JitterMicros: -1}, "candidate"},
	} {
		q := tc.q
		u := RecordUsage{At: t0.Add(2 * time.Hour), TransactionID: tx, Role: RoleSource, ComponentID: tc.name, Reporter: MemberAccount("a"),
			Calling: "15550001", Called: "12125550100", CallID: "c1", Phase: PhaseFailed, Matched: true, Quality: &q}
		r := apply1(t, s, u)[0]
		if r.Code != Invalid || !strings.Contains(r.Message, tc.want) {
			t.Errorf("%s: %s %q, want Invalid naming %q", tc.name, r.Code, r.Message, tc.want)
		}
	}
}

// A route's quality policy is written as PutRoutes version 2 (routes
// without one keep version 1's bytes), stored, and refused out of range.
func TestRouteQuality(t *testing.T) {
	s := openTest(t)
	plain := PutRoutes{Routes: []Route{{Prefix: "44", Candidates: []RouteCandidate{{Kind: CandidateTrunk, ID: "t"}}}}}
	if b := enc(t, plain); b[1] != CommandVersion {
		t.Fatalf("routes without quality written as version %d", b[1])
	}
	rq := &RouteQuality{MinSamples: 100, MinASRBps: 3000, RecoverASRBps: 4000, MinNERBps: 6000, MaxPDDMillis: 4000, RecoverPDDMillis: 3000, Exclude: true, ProbeBps: 500}
	withQ := PutRoutes{Routes: []Route{{Prefix: "44", Candidates: plain.Routes[0].Candidates, Quality: rq}}}
	if b := enc(t, withQ); b[1] != PutRoutesVersionQuality {
		t.Fatalf("routes with quality written as version %d", b[1])
	}
	mustOK(t, apply1(t, s, withQ))
	r, err := s.Route("44")
	if err != nil || !reflect.DeepEqual(r.Quality, rq) {
		t.Fatalf("stored %+v, %v; want quality %+v", r.Quality, err, rq)
	}
	for _, bad := range []RouteQuality{{MinASRBps: 13000}, {ProbeBps: -100}, {MinSamples: -3}, {MaxPDDMillis: -1}} {
		b := bad
		res := apply1(t, s, PutRoutes{Routes: []Route{{Prefix: "45", Quality: &b}}})[0]
		if res.Code != Invalid {
			t.Errorf("quality %+v: %s, want Invalid", bad, res.Code)
		}
	}
}
