package ledger

import (
	"reflect"
	"testing"
)

// TestRecordUsageOverLimit: the OverLimit flag survives the command codec
// (version 3) and is stored on the Usage (record version 2, also inside
// the outbox); a usage without it keeps the version 2 command and the
// version 1 record, so logs and digests from before the flag are
// unchanged; a replay from scratch reproduces the digest.
func TestRecordUsageOverLimit(t *testing.T) {
	s := openTest(t)
	setupMembers(t, s)
	tx := authorize(t, s, "ol").TransactionID
	over := rated(tx, "0.05", "0.03")
	over.ComponentID, over.OverLimit, over.DurationMillis = "1", true, 518_400_000

	b := enc(t, over)
	eq(t, "flagged version", b[1], byte(RecordUsageVersionOverLimit))
	back, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, over) {
		t.Fatalf("round trip %+v, want %+v", back, over)
	}
	plain := rated(tx, "0.05", "0.03")
	plain.ComponentID, plain.Role, plain.Reporter = "2", RoleDestination, MemberAccount("b")
	eq(t, "unflagged version", enc(t, plain)[1], byte(RecordUsageVersion))

	rs := apply1(t, s, over, plain)
	mustOK(t, rs)
	u, err := s.Usage(rs[0].UsageID)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "stored flag", u.OverLimit, true)
	eq(t, "reported duration kept", u.DurationMillis, int64(518_400_000))
	u2, err := s.Usage(rs[1].UsageID)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "unflagged", u2.OverLimit, false)
	for _, f := range []UsageFilter{{OverLimitOnly: true}, {OverLimitOnly: true, Member: "a"}} {
		ls, err := s.ListUsage(f)
		if err != nil || len(ls) != 1 || ls[0].ID != rs[0].UsageID {
			t.Fatalf("ListUsage(%+v) = %+v, %v; want only usage %d", f, ls, err, rs[0].UsageID)
		}
	}

	// A forwarded transaction: the flagged usage is cascaded with its flag.
	fw := apply1(t, s, Authorize{At: t0, SourceMember: "a", MessageID: "fw", Called: "44", UpstreamPeer: "yellow", UpstreamTransactionID: 77,
		Destinations: []Destination{{Kind: DestPeer, ID: "yellow"}}})[0].TransactionID
	cas := rated(fw, "0.05", "0.03")
	cas.ComponentID, cas.OverLimit = "1", true
	r := apply1(t, s, cas)[0]
	if r.OutboxID == 0 {
		t.Fatalf("not cascaded: %+v", r)
	}
	items, err := s.PendingOutbox("yellow", 10)
	if err != nil || len(items) == 0 || !items[len(items)-1].Usage.OverLimit {
		t.Fatalf("outbox %+v %v", items, err)
	}

	// Replay from scratch gives the same digest.
	want := digest(t, s)
	s2 := openTest(t)
	setupMembers(t, s2)
	authorize(t, s2, "ol")
	apply1(t, s2, over, plain)
	apply1(t, s2, Authorize{At: t0, SourceMember: "a", MessageID: "fw", Called: "44", UpstreamPeer: "yellow", UpstreamTransactionID: 77,
		Destinations: []Destination{{Kind: DestPeer, ID: "yellow"}}})
	apply1(t, s2, cas)
	eq(t, "replay digest", digest(t, s2), want)
}
