package ledger

import (
	"strings"
	"testing"
	"time"
)

// TestPostedKeyIncludesRole is the regression test for the post-once key:
// a destination-role usage whose componentId equals the source-role
// usage's ("1" — every toolkit numbers its first component 1) must post
// its own rating, not be recorded as "already posted".
func TestPostedKeyIncludesRole(t *testing.T) {
	s := openTest(t)
	setupMembers(t, s)
	tx := authorize(t, s, "r1").TransactionID
	src := RecordUsage{At: t0.Add(time.Hour), TransactionID: tx, Role: RoleSource, ComponentID: "1", Reporter: MemberAccount("a"),
		Called: "12125550100", Connect: t0.Add(time.Minute), DurationMillis: 60000,
		Rating: &Rating{BillableSeconds: 60, Sell: usd("0.05"), SellCounterparty: MemberAccount("a")}}
	dst := src
	dst.Role, dst.Reporter = RoleDestination, MemberAccount("b")
	dst.Rating = &Rating{BillableSeconds: 60, Buy: usd("0.03"), BuyCounterparty: MemberAccount("b")}
	rs := apply1(t, s, src, dst)
	for i, r := range rs {
		eq(t, "code", r.Code, OK)
		if r.PostingID == 0 {
			t.Fatalf("usage %d not posted: %+v", i, r)
		}
	}
	for acct, want := range map[string]string{MemberAccount("a"): "0.05", MemberAccount("b"): "-0.03", AccountRevenue: "-0.05", AccountCost: "0.03"} {
		b, err := s.Balance(acct, "USD")
		if err != nil || b.Text() != want {
			t.Fatalf("balance %s = %v %v, want %s", acct, b.Text(), err, want)
		}
	}
	// The same role and component again is a duplicate, never a second posting.
	eq(t, "retry", apply1(t, s, dst)[0].Code, Duplicate)
	ps, _ := s.Postings(PostingFilter{})
	eq(t, "postings", len(ps), 2)
	if rep, err := s.Audit(); err != nil || !rep.OK {
		t.Fatalf("audit %+v %v", rep, err)
	}
}

// TestRecordUsageV1Replay: a version 1 envelope (an old log) is applied
// with the version 1 rules, so replaying it reproduces the old state: the
// destination side sharing the componentId is recorded, not posted, and a
// destination-role usage of a forwarded transaction is cascaded.
func TestRecordUsageV1Replay(t *testing.T) {
	v1 := func(c RecordUsage) []byte {
		b := enc(t, c)
		eq(t, "written version", b[1], byte(RecordUsageVersion))
		b[1] = 1
		return b
	}
	s := openTest(t)
	setupMembers(t, s)
	tx := authorize(t, s, "v1").TransactionID
	src := rated(tx, "0.05", "0.03")
	src.ComponentID = "1"
	dst := src
	dst.Role, dst.Reporter = RoleDestination, MemberAccount("b")
	out := applyRaw(t, s, v1(src), v1(dst))
	eq(t, "v1 source posted", out[0].PostingID != 0, true)
	eq(t, "v1 destination not posted", out[1].PostingID, uint64(0))
	if !strings.Contains(out[1].Message, "already posted") {
		t.Fatalf("message %q", out[1].Message)
	}

	fw := apply1(t, s, Authorize{At: t0, SourceMember: "a", MessageID: "fw", Called: "44", UpstreamPeer: "yellow", UpstreamTransactionID: 77,
		Destinations: []Destination{{Kind: DestPeer, ID: "yellow", PeerTransactionID: 77}}})[0].TransactionID
	d := rated(fw, "0", "0.01")
	d.Role, d.Reporter, d.Rating.Sell = RoleDestination, MemberAccount("b"), usd("0")
	eq(t, "v1 destination cascaded", applyRaw(t, s, v1(d))[0].OutboxID != 0, true)
	d.ComponentID = "2"
	eq(t, "v2 destination not cascaded", apply1(t, s, d)[0].OutboxID, uint64(0))
	d.ComponentID, d.Role, d.Reporter = "3", RoleSource, MemberAccount("a")
	eq(t, "v2 source cascaded", apply1(t, s, d)[0].OutboxID != 0, true)
}

func applyRaw(t *testing.T, s *Store, raw ...[]byte) []*Result {
	t.Helper()
	return applyLog(t, s, []batch{{s.AppliedIndex() + 1, raw}})[0]
}
