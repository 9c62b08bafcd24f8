package ledger

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// lifeUsage is a version 4 usage of transaction tx by role's party, as
// node proposes it: matched, rated for finals.
func lifeUsage(tx uint64, role Role, phase UsagePhase, comp string, ms int64) RecordUsage {
	u := RecordUsage{At: t0.Add(time.Hour), TransactionID: tx, Role: role, ComponentID: comp, Reporter: MemberAccount("a"),
		Calling: "15550001", Called: "12125550100", CallID: "call-lc", Connect: t0.Add(time.Minute), DurationMillis: ms, Phase: phase, Matched: true}
	if role == RoleDestination {
		u.Reporter = MemberAccount("b")
	}
	if phase == PhaseFinal {
		u.End = u.Connect.Add(time.Duration(ms) * time.Millisecond)
		u.Rating = &Rating{BillableSeconds: (ms + 999) / 1000}
		if role == RoleSource {
			u.Rating.Sell, u.Rating.SellCounterparty = usd("0.05"), MemberAccount("a")
		} else {
			u.Rating.Buy, u.Rating.BuyCounterparty = usd("0.03"), MemberAccount("b")
		}
	}
	return u
}

// lifeSetup is setupMembers plus b's trunk and a call authorised to it
// for member a (with a concurrent-call limit of 1 when limited).
func lifeSetup(t *testing.T, limited bool) (*Store, uint64) {
	t.Helper()
	s := openTest(t)
	setupMembers(t, s)
	a := Member{ID: "a"}
	if limited {
		a.ConcurrentLimit = 1
	}
	mustOK(t, apply1(t, s, PutMember{a}, PutTrunk{Trunk{ID: "b1", MemberID: "b", Address: "[192.0.2.9]:5060"}}))
	auth := Authorize{At: t0, SourceMember: "a", MessageID: "lc", CallID: "call-lc", Calling: "15550001", Called: "12125550100",
		Destinations: []Destination{{Kind: DestTrunk, ID: "b1", Address: "[192.0.2.9]:5060"}}, TimeLimit: 3600}
	if limited {
		auth.ActiveUntil = t0.Add(2 * time.Hour)
	}
	rs := apply1(t, s, auth)
	mustOK(t, rs)
	return s, rs[0].TransactionID
}

func TestLifecycleCodecRoundTrip(t *testing.T) {
	for _, phase := range []UsagePhase{PhaseSetup, PhaseInterim, PhaseFinal, PhaseFailed} {
		for _, over := range []bool{false, true} {
			u := lifeUsage(1<<20, RoleSource, phase, "7", 2000)
			u.OverLimit = over
			b := enc(t, u)
			eq(t, "written version", b[1], byte(RecordUsageVersionLifecycle))
			back, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, u) {
				t.Fatalf("%s: round trip %+v, want %+v", phase, back, u)
			}
		}
	}
	// A version 4 payload without a phase is not a command of this build.
	b := enc(t, lifeUsage(1, RoleSource, PhaseSetup, "1", 0))
	b[len(b)-4] = byte(PhaseNone) // phase, matched, other final (0), no adjustment
	if _, err := Decode(b); err == nil {
		t.Fatal("version 4 without a phase decoded")
	}
}

// TestLifecycleSetupThenFinal: the Kamailio sequence per role (setup, then
// final under the same ids), retries, a repeat under other ids, and a
// conflicting final.
func TestLifecycleSetupThenFinal(t *testing.T) {
	s, tx := lifeSetup(t, false)
	setup := lifeUsage(tx, RoleDestination, PhaseSetup, "1", 0)
	final := lifeUsage(tx, RoleDestination, PhaseFinal, "1", 3000)

	r := apply1(t, s, setup)[0]
	eq(t, "setup code", r.Code, OK)
	eq(t, "setup posts nothing", r.PostingID, uint64(0))
	r2 := apply1(t, s, final)[0]
	eq(t, "final code", r2.Code, OK)
	if r2.PostingID == 0 || r2.UsageID == r.UsageID {
		t.Fatalf("final under the setup's ids not recorded as its own paid record: %+v", r2)
	}
	again := apply1(t, s, setup, final)
	eq(t, "setup retry", again[0].Code, Duplicate)
	eq(t, "setup retry id", again[0].UsageID, r.UsageID)
	eq(t, "final retry", again[1].Code, Duplicate)
	eq(t, "final retry posting", again[1].PostingID, r2.PostingID)

	other := final
	other.ComponentID = "99"
	ro := apply1(t, s, other)[0]
	eq(t, "same final, other ids", ro.Code, Duplicate)
	eq(t, "same final, other ids: its usage", ro.UsageID, r2.UsageID)

	conflict := lifeUsage(tx, RoleDestination, PhaseFinal, "2", 7200_000)
	rc := apply1(t, s, conflict)[0]
	eq(t, "conflict code", rc.Code, OK)
	eq(t, "conflict flagged", rc.Conflict, true)
	eq(t, "conflict not paid", rc.PostingID, uint64(0))
	u, err := s.Usage(rc.UsageID)
	if err != nil {
		t.Fatal(err)
	}
	if !u.Conflict || u.Rating != nil || u.Phase != PhaseFinal {
		t.Fatalf("stored conflict %+v", u)
	}
	failedLate := lifeUsage(tx, RoleDestination, PhaseFailed, "3", 0)
	eq(t, "failure after the final", apply1(t, s, failedLate)[0].Conflict, true)

	bal, err := s.Balance(MemberAccount("b"), "USD")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "b paid once", bal.Text(), "-0.03")
	byKey, err := s.UsageByKey(tx, RoleDestination, "1")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "UsageByKey gives the paid final", byKey.ID, r2.UsageID)
	rep, err := s.Audit()
	if err != nil || !rep.OK || rep.PaidFinals != 1 || rep.Conflicts != 2 {
		t.Fatalf("audit %+v %v, want OK with 1 paid final and 2 conflicts", rep, err)
	}
}

// TestLifecycleFailedAttemptThenCall: the source's failed attempt pays
// nothing and does not block the completed call's final.
func TestLifecycleFailedAttemptThenCall(t *testing.T) {
	s, tx := lifeSetup(t, false)
	failed := lifeUsage(tx, RoleSource, PhaseFailed, "1", 0)
	failed.TerminationCause = 486
	rs := apply1(t, s, failed, lifeUsage(tx, RoleSource, PhaseFinal, "2", 2000))
	mustOK(t, rs)
	eq(t, "failed attempt pays nothing", rs[0].PostingID, uint64(0))
	if rs[1].PostingID == 0 || rs[1].Conflict {
		t.Fatalf("completed call after a failed attempt: %+v", rs[1])
	}
}

// TestLifecycleStale: a usage whose proposer had not seen its transaction
// is refused and writes nothing; the same usage once matched is recorded.
func TestLifecycleStale(t *testing.T) {
	s, tx := lifeSetup(t, false)
	u := lifeUsage(tx, RoleSource, PhaseFinal, "1", 2000)
	u.Matched, u.Rating = false, nil
	before := digestWithoutIndex(t, s)
	r := apply1(t, s, u)[0]
	eq(t, "stale code", r.Code, Stale)
	if got := digestWithoutIndex(t, s); got != before {
		t.Fatal("a stale usage changed the state")
	}
	eq(t, "matched again", apply1(t, s, lifeUsage(tx, RoleSource, PhaseFinal, "1", 2000))[0].Code, OK)
	// No such transaction: unmatched, whatever the proposer saw.
	orphan := lifeUsage(tx+1, RoleSource, PhaseFinal, "1", 2000)
	orphan.Matched = false
	ro := apply1(t, s, orphan)[0]
	if ro.Code != OK || !ro.Unmatched || ro.PostingID != 0 {
		t.Fatalf("orphan %+v", ro)
	}
}

// TestLifecycleMismatch: usage that is not the authorised call's is kept
// unmatched with its reason and never paid.
func TestLifecycleMismatch(t *testing.T) {
	s, tx := lifeSetup(t, false)
	for _, c := range []struct {
		name string
		edit func(*RecordUsage)
	}{
		{"call-id", func(u *RecordUsage) { u.CallID = "another" }},
		{"called", func(u *RecordUsage) { u.Called = "12125550199" }},
		{"calling", func(u *RecordUsage) { u.Calling = "15559999" }},
		{"source-not-the-caller", func(u *RecordUsage) { u.Reporter = MemberAccount("b") }},
		{"destination-not-a-terminator", func(u *RecordUsage) { u.Role = RoleDestination }},
	} {
		u := lifeUsage(tx, RoleSource, PhaseFinal, c.name, 2000)
		c.edit(&u)
		if u.Role == RoleDestination {
			u.Rating = &Rating{BillableSeconds: 2, Buy: usd("0.03"), BuyCounterparty: MemberAccount("a")}
		}
		r := apply1(t, s, u)[0]
		us, err := s.Usage(r.UsageID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Code != OK || !r.Unmatched || r.PostingID != 0 || us.Mismatch == "" || us.Rating != nil {
			t.Fatalf("%s: %+v stored %+v", c.name, r, us)
		}
	}
	// "+" and the translated number match.
	u := lifeUsage(tx, RoleSource, PhaseFinal, "plus", 2000)
	u.Called, u.Calling = "+12125550100", "+15550001"
	if r := apply1(t, s, u)[0]; r.Unmatched {
		t.Fatalf("E.164 with a plus did not match: %+v", r)
	}
}

// TestLifecycleAdmission: a setup record keeps the call's slot; the final
// releases it.
func TestLifecycleAdmission(t *testing.T) {
	s, tx := lifeSetup(t, true)
	calls := func() int64 {
		t.Helper()
		if _, err := s.Network(); err != nil { // a read API commits: Admission reads the committed file
			t.Fatal(err)
		}
		ad, err := s.Admission("a", "", t0)
		if err != nil {
			t.Fatal(err)
		}
		return int64(ad.Calls)
	}
	eq(t, "after authorisation", calls(), int64(1))
	mustOK(t, apply1(t, s, lifeUsage(tx, RoleSource, PhaseSetup, "1", 0)))
	eq(t, "after the setup record", calls(), int64(1))
	mustOK(t, apply1(t, s, lifeUsage(tx, RoleDestination, PhaseFinal, "1", 3000)))
	eq(t, "after the destination's final", calls(), int64(1))
	mustOK(t, apply1(t, s, lifeUsage(tx, RoleSource, PhaseFinal, "1", 2000)))
	eq(t, "after the source's final", calls(), int64(0))
}

// TestLifecycleReplayAndSnapshot: the same log gives the same digest on a
// second replica and survives snapshot and restore.
func TestLifecycleReplayAndSnapshot(t *testing.T) {
	s1, tx := lifeSetup(t, true)
	cmds := []Command{
		lifeUsage(tx, RoleSource, PhaseSetup, "1", 0), lifeUsage(tx, RoleDestination, PhaseSetup, "1", 0),
		lifeUsage(tx, RoleSource, PhaseInterim, "1", 1000), lifeUsage(tx, RoleSource, PhaseFinal, "1", 2000),
		lifeUsage(tx, RoleDestination, PhaseFinal, "1", 3000), lifeUsage(tx, RoleDestination, PhaseFinal, "2", 9000),
	}
	apply1(t, s1, cmds...)
	s2, tx2 := lifeSetup(t, true)
	eq(t, "same transaction id", tx2, tx)
	apply1(t, s2, cmds...)
	eq(t, "replica digest", digest(t, s2), digest(t, s1))
	s3 := openTest(t)
	if err := s3.Restore(bytes.NewReader(persisted(t, s1).Bytes())); err != nil {
		t.Fatal(err)
	}
	eq(t, "restored digest", digest(t, s3), digest(t, s1))
}

// digestWithoutIndex is the digest of s as if no entry had been applied
// since: a refused command still advances the applied index.
func digestWithoutIndex(t *testing.T, s *Store) [32]byte {
	t.Helper()
	var d [32]byte
	us, err := s.ListUsage(UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := s.Postings(PostingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	copy(d[:], []byte{byte(len(us)), byte(len(ps))})
	return d
}

// TestLifecycleSharedBasis: under a shared billing basis a final rated
// without the other side's paid final is refused Stale; rated with it, it
// re-rates the other side (record and an adjustment posting).
func TestLifecycleSharedBasis(t *testing.T) {
	s, tx := lifeSetup(t, false)
	mustOK(t, apply1(t, s, SetNetwork{Network{ID: "purple", Currency: "USD", BillingBasis: BasisDestination}}))
	src := apply1(t, s, lifeUsage(tx, RoleSource, PhaseFinal, "1", 2000))[0]
	eq(t, "first final", src.Code, OK)
	dst := lifeUsage(tx, RoleDestination, PhaseFinal, "1", 3000)
	eq(t, "rated without the source's final", apply1(t, s, dst)[0].Code, Stale)
	dst.OtherFinal = src.UsageID
	dst.Adjust = &Rating{BillableSeconds: 3, Sell: usd("0.08"), SellCounterparty: MemberAccount("a")}
	r := apply1(t, s, dst)[0]
	eq(t, "rated with it", r.Code, OK)
	u, err := s.Usage(src.UsageID)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "adjusted by", u.AdjustedBy, r.UsageID)
	eq(t, "adjusted rating", u.Rating.Sell.Text(), "0.08")
	bal, err := s.Balance(MemberAccount("a"), "USD")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "a owes the adjusted amount", bal.Text(), "0.08")
	if err := apply1(t, s, SetNetwork{Network{ID: "purple", Currency: "USD", BillingBasis: "longest"}})[0].Err(); err == nil {
		t.Fatal("unknown billing basis accepted")
	}
}

// TestUnfinishedCalls: a role that connected and sent no final record by
// its transaction's usage deadline is listed; one that did is not.
func TestUnfinishedCalls(t *testing.T) {
	s := openTest(t)
	setupMembers(t, s)
	mustOK(t, apply1(t, s, PutTrunk{Trunk{ID: "b1", MemberID: "b", Address: "[192.0.2.9]:5060"}}))
	auth := Authorize{At: t0, SourceMember: "a", MessageID: "uf", CallID: "call-lc", Calling: "15550001", Called: "12125550100",
		Destinations: []Destination{{Kind: DestTrunk, ID: "b1"}}, TimeLimit: 3600, UsageDeadline: t0.Add(2 * time.Hour)}
	tx := apply1(t, s, auth)[0].TransactionID
	mustOK(t, apply1(t, s, lifeUsage(tx, RoleSource, PhaseSetup, "1", 0), lifeUsage(tx, RoleDestination, PhaseSetup, "1", 0),
		lifeUsage(tx, RoleDestination, PhaseFinal, "1", 3000)))
	if got, err := s.UnfinishedCalls(t0.Add(time.Hour), 10); err != nil || len(got) != 0 {
		t.Fatalf("before the deadline: %+v %v", got, err)
	}
	got, err := s.UnfinishedCalls(t0.Add(3*time.Hour), 10)
	if err != nil || len(got) != 1 || got[0].TransactionID != tx || got[0].Role != RoleSource || got[0].SetupUsageID == 0 {
		t.Fatalf("after the deadline: %+v %v, want the source side of %d", got, err, tx)
	}
}
