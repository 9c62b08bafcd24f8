package ledger

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
)

// limitedMember is member "a" with the given limits, and member "b".
func limitedMember(t *testing.T, s *Store, cps, concurrent int, credit string) {
	t.Helper()
	m := Member{ID: "a", CPSLimit: cps, ConcurrentLimit: concurrent}
	if credit != "" {
		m.CreditLimit = usd(credit)
	}
	mustOK(t, apply1(t, s, SetNetwork{Network{ID: "purple", Currency: "USD"}}, PutMember{m}, PutMember{Member{ID: "b"}}))
}

// admitted is an Authorize of member a at at, asking for admission until
// at+10 minutes with hold (empty: none).
func admitted(msg string, at time.Time, hold string) Authorize {
	c := Authorize{At: at, SourceMember: "a", MessageID: msg, CallID: "call-" + msg, Called: "12125550100",
		Destinations: []Destination{{Kind: DestTrunk, ID: "b1", Address: "[192.0.2.9]:5060"}},
		TimeLimit:    600, ActiveUntil: at.Add(10 * time.Minute)}
	if hold != "" {
		c.Hold = usd(hold)
	}
	return c
}

// sourceUsage is a source-role report of tx by reporter (its component id
// is the reporter's, so that reports by different reporters are not
// duplicates of each other).
func sourceUsage(tx uint64, reporter string, sell string) RecordUsage {
	u := RecordUsage{At: t0.Add(time.Minute), TransactionID: tx, Role: RoleSource, Reporter: MemberAccount(reporter),
		Called: "12125550100", DurationMillis: 60000, ComponentID: reporter}
	if sell != "" {
		u.Rating = &Rating{BillableSeconds: 60, Sell: usd(sell), SellCounterparty: MemberAccount("a")}
	}
	return u
}

func codes(rs []*Result) []ResultCode {
	var out []ResultCode
	for _, r := range rs {
		out = append(out, r.Code)
	}
	return out
}

func eqCodes(t *testing.T, what string, got []*Result, want ...ResultCode) {
	t.Helper()
	g := codes(got)
	if len(g) != len(want) {
		t.Fatalf("%s: codes %v, want %v", what, g, want)
	}
	for i := range g {
		if g[i] != want[i] {
			t.Fatalf("%s: codes %v, want %v (%s)", what, g, want, got[i].Message)
		}
	}
}

// openEvery is a store that commits every entry, so that Admission (which
// reads the committed file) sees each batch at once.
func openEvery(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "ledger.db"), Options{NoSync: true, CommitInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestAdmissionConcurrentCalls(t *testing.T) {
	s := openEvery(t)
	limitedMember(t, s, 0, 2, "")
	rs := apply1(t, s, admitted("1", t0, ""), admitted("2", t0, ""), admitted("3", t0, ""))
	eqCodes(t, "three calls, limit two", rs, OK, OK, RefusedConcurrent)
	if err := rs[2].Err(); err == nil || !bytes.Contains([]byte(err.Error()), []byte("concurrent")) {
		t.Errorf("refusal error %v", err)
	}
	tx1 := rs[0].TransactionID

	// A destination report, or a source report by someone else, does not
	// end the call; the source member's does, once.
	dst := sourceUsage(tx1, "b", "")
	dst.Role = RoleDestination
	mustOK(t, apply1(t, s, dst, sourceUsage(tx1, "b", "")))
	eqCodes(t, "still two in progress", apply1(t, s, admitted("4", t0, "")), RefusedConcurrent)
	mustOK(t, apply1(t, s, sourceUsage(tx1, "a", "")))
	eqCodes(t, "after the first call ended", apply1(t, s, admitted("5", t0, ""), admitted("6", t0, "")), OK, RefusedConcurrent)
	ad, err := s.Admission("a", "USD", t0)
	if err != nil || ad.Calls != 2 {
		t.Fatalf("Admission = %+v, %v; want 2 calls", ad, err)
	}

	// A repeat of an admitted authorisation is a duplicate, not a new call.
	eqCodes(t, "duplicate", apply1(t, s, admitted("5", t0, "")), Duplicate)

	// The calls end by themselves after ActiveUntil (judged by the next
	// command's proposer time).
	later := t0.Add(11 * time.Minute)
	if ad, _ := s.Admission("a", "USD", later); ad.Calls != 0 {
		t.Fatalf("Admission after the calls ended = %+v", ad)
	}
	eqCodes(t, "after expiry", apply1(t, s, admitted("7", later, ""), admitted("8", later, ""), admitted("9", later, "")),
		OK, OK, RefusedConcurrent)
}

func TestAdmissionCallsPerSecond(t *testing.T) {
	s := openEvery(t)
	limitedMember(t, s, 2, 0, "")
	eqCodes(t, "burst of three at limit 2", apply1(t, s, admitted("1", t0, ""), admitted("2", t0, ""), admitted("3", t0, "")),
		OK, OK, RefusedCPS)
	// Half a second refills one call; a proposer whose clock is behind
	// does not refill (or drain) anything.
	half := t0.Add(500 * time.Millisecond)
	eqCodes(t, "half a second later", apply1(t, s, admitted("4", half, ""), admitted("5", t0, ""), admitted("6", half, "")),
		OK, RefusedCPS, RefusedCPS)
	eqCodes(t, "a second later", apply1(t, s, admitted("7", half.Add(time.Second), ""), admitted("8", half.Add(time.Second), "")),
		OK, OK)
}

func TestAdmissionCreditHolds(t *testing.T) {
	s := openEvery(t)
	limitedMember(t, s, 0, 0, "10")
	rs := apply1(t, s, admitted("1", t0, "4"), admitted("2", t0, "4"), admitted("3", t0, "4"))
	eqCodes(t, "holds of 4 against a limit of 10", rs, OK, OK, RefusedCredit)
	ad, _ := s.Admission("a", "USD", t0)
	if ad.Calls != 2 || !ad.Held.Equal(usd("8")) {
		t.Fatalf("Admission = %+v, want 2 calls holding 8", ad)
	}
	// The first call ends costing 3: the balance owes 3, its hold of 4 is
	// released. Remaining: 10 − 3 − 4 = 3.
	mustOK(t, apply1(t, s, sourceUsage(rs[0].TransactionID, "a", "3")))
	eqCodes(t, "a hold over the remaining credit", apply1(t, s, admitted("4", t0, "4")), RefusedCredit)
	eqCodes(t, "a hold within it", apply1(t, s, admitted("5", t0, "3")), OK)
	eqCodes(t, "nothing left", apply1(t, s, admitted("6", t0, "")), RefusedCredit)
	// A hold in another currency does not count.
	other := admitted("7", t0, "")
	other.Hold = money.MustNew("100", "EUR")
	eqCodes(t, "exhausted whatever the hold", apply1(t, s, other), RefusedCredit)
}

// TestAdmissionRefusalWritesNothing: a refused authorisation leaves the
// state as an invalid command (which writes nothing) at the same index
// does.
func TestAdmissionRefusalWritesNothing(t *testing.T) {
	build := func(second Command) *Store {
		s := openEvery(t)
		limitedMember(t, s, 1, 1, "10")
		mustOK(t, apply1(t, s, admitted("1", t0, "4")))
		apply1(t, s, second)
		return s
	}
	refused := build(admitted("2", t0, "4"))
	invalidCmd := build(Authorize{SourceMember: "a", MessageID: "x"}) // no At: Invalid
	eq(t, "digest after a refusal", digest(t, refused), digest(t, invalidCmd))
	ad, _ := refused.Admission("a", "USD", t0)
	if ad.Calls != 1 || !ad.Held.Equal(usd("4")) {
		t.Fatalf("after the refusal: %+v", ad)
	}
}

// TestAdmissionReplayAndSnapshot: a log with admission replays to the same
// digest, and a snapshot restores it.
func TestAdmissionReplayAndSnapshot(t *testing.T) {
	var log []batch
	e := func(c Command) []byte { return enc(t, c) }
	m := Member{ID: "a", CPSLimit: 100, ConcurrentLimit: 3, CreditLimit: usd("50")}
	log = append(log, batch{1, [][]byte{e(SetNetwork{Network{ID: "purple", Currency: "USD"}}), e(PutMember{m}), e(PutMember{Member{ID: "b"}})}})
	for i := 0; i < 6; i++ {
		at := t0.Add(time.Duration(i) * 4 * time.Minute)
		log = append(log, batch{uint64(2 + i), [][]byte{e(admitted(itoa(uint64(i)), at, "7")), e(admitted(itoa(uint64(i))+"b", at, "7"))}})
	}
	a := openEvery(t)
	applyLog(t, a, log)
	want := digest(t, a)
	b := openTest(t)
	applyLog(t, b, log)
	eq(t, "replayed digest", digest(t, b), want)

	c := openEvery(t)
	if err := c.Restore(persisted(t, a)); err != nil {
		t.Fatal(err)
	}
	eq(t, "restored digest", digest(t, c), want)
	got, _ := c.Admission("a", "USD", t0.Add(20*time.Minute))
	want2, _ := a.Admission("a", "USD", t0.Add(20*time.Minute))
	eq(t, "restored calls", got.Calls, want2.Calls)
}

// TestAuthorizeVersions: a command without admission is still written as
// version 2 (old logs and old builds see the same bytes); one with it is
// version 3 and round-trips; version 3 without ActiveUntil is invalid.
func TestAuthorizeVersions(t *testing.T) {
	plain := enc(t, Authorize{At: t0, SourceMember: "a", MessageID: "m"})
	eq(t, "version without admission", plain[1], byte(AuthorizeVersion))
	c := admitted("m", t0, "1.25")
	b := enc(t, c)
	eq(t, "version with admission", b[1], byte(AuthorizeVersionAdmission))
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	g := got.(Authorize)
	if !g.ActiveUntil.Equal(c.ActiveUntil) || !g.Hold.Equal(c.Hold) {
		t.Fatalf("round trip: %v %v, want %v %v", g.ActiveUntil, g.Hold, c.ActiveUntil, c.Hold)
	}
	bad := append([]byte{byte(TypeAuthorize), AuthorizeVersionAdmission}, plain[2:]...)
	bad = append(bad, 0, 0, 0) // zero ActiveUntil, empty hold
	if _, err := Decode(bad); err == nil {
		t.Fatal("version 3 without ActiveUntil decoded")
	}
}
