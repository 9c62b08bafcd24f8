package ledger

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ospnode/ospnode/ledger/money"
)

func setupMembers(t testing.TB, s *Store) {
	t.Helper()
	mustOK(t, apply1(t, s,
		SetNetwork{Network{ID: "purple", Currency: "USD"}},
		PutMember{Member{ID: "a"}}, PutMember{Member{ID: "b"}},
		PutPeer{Peer{ID: "yellow", ServicePoints: []ServicePoint{{URL: "https://y/osp"}}}}))
}

func authorize(t testing.TB, s *Store, msg string) *Result {
	t.Helper()
	rs := apply1(t, s, Authorize{At: t0, SourceMember: "a", MessageID: msg, CallID: "call-" + msg, Called: "12125550100",
		Destinations: []Destination{{Kind: DestTrunk, ID: "b1", Address: "[192.0.2.9]:5060"}}})
	return rs[0]
}

func rated(tx uint64, sell, buy string) RecordUsage {
	return RecordUsage{At: t0.Add(time.Hour), TransactionID: tx, Role: RoleSource, Reporter: MemberAccount("a"),
		Called: "12125550100", Connect: t0.Add(time.Minute), End: t0.Add(2 * time.Minute), DurationMillis: 60000,
		Rating: &Rating{BillableSeconds: 60, Sell: usd(sell), SellCounterparty: MemberAccount("a"), Buy: usd(buy), BuyCounterparty: MemberAccount("b")}}
}

func TestAuthorizeIdempotentAndIDs(t *testing.T) {
	s := openTest(t)
	setupMembers(t, s)
	first := authorize(t, s, "m1")
	eq(t, "code", first.Code, OK)
	wantID, _ := TransactionIDFor(0, s.AppliedIndex(), 0)
	eq(t, "transaction id", first.TransactionID, wantID)
	if first.TransactionID >= 1<<63 || first.TransactionID == 0 {
		t.Fatalf("id %d out of range", first.TransactionID)
	}
	again := authorize(t, s, "m1")
	eq(t, "retry code", again.Code, Duplicate)
	eq(t, "retry id", again.TransactionID, first.TransactionID)
	eq(t, "retry call id", again.Transaction.CallID, "call-m1")

	// Two in one batch get distinct ids from their positions.
	rs := apply1(t, s,
		Authorize{At: t0, SourceMember: "a", MessageID: "x", Called: "1"},
		Authorize{At: t0, SourceMember: "a", MessageID: "y", Called: "1"},
		Authorize{At: t0, SourceMember: "a", MessageID: "x", Called: "1"}) // dup within batch
	if rs[0].TransactionID == rs[1].TransactionID || rs[2].Code != Duplicate || rs[2].TransactionID != rs[0].TransactionID {
		t.Fatalf("batch ids: %+v %+v %+v", rs[0], rs[1], rs[2])
	}
	got, err := s.TransactionByKey("a", "y", "")
	if err != nil || got.ID != rs[1].TransactionID {
		t.Fatalf("by key: %v %v", got, err)
	}
	// Suspended and unknown members are rejected as results.
	mustOK(t, apply1(t, s, SetMemberStatus{ID: "a", Status: MemberSuspended}))
	eq(t, "suspended", authorize(t, s, "m9").Code, Rejected)
	rs = apply1(t, s, Authorize{At: t0, SourceMember: "zz", MessageID: "q", Called: "1"})
	eq(t, "unknown member", rs[0].Code, Rejected)
	if err := rs[0].Err(); !errors.Is(err, ErrRejected) {
		t.Fatalf("Err() = %v", err)
	}
}

func TestTransactionIDLayout(t *testing.T) {
	id, ok := TransactionIDFor(127, maxTxIndex, maxPosition)
	if !ok || id >= 1<<63 {
		t.Fatalf("max id %x ok=%v", id, ok)
	}
	if _, ok := TransactionIDFor(0, maxTxIndex+1, 0); ok {
		t.Fatal("index overflow accepted")
	}
	if _, ok := TransactionIDFor(0, 1, maxPosition+1); ok {
		t.Fatal("position overflow accepted")
	}
	a, _ := TransactionIDFor(1, 5, 0)
	b, _ := TransactionIDFor(2, 5, 0)
	if a == b {
		t.Fatal("epochs collide")
	}
}

func TestUsageIdempotent(t *testing.T) {
	s := openTest(t)
	setupMembers(t, s)
	tx := authorize(t, s, "m1").TransactionID
	u := rated(tx, "0.05", "0.03")
	r1 := apply1(t, s, u)[0]
	eq(t, "first code", r1.Code, OK)
	if r1.PostingID == 0 || r1.UsageID == 0 || r1.Unmatched {
		t.Fatalf("first result %+v", r1)
	}
	r2 := apply1(t, s, u, u) // retried twice more, once in the same batch
	for _, r := range r2 {
		eq(t, "retry code", r.Code, Duplicate)
		eq(t, "retry usage id", r.UsageID, r1.UsageID)
		eq(t, "retry posting id", r.PostingID, r1.PostingID)
	}
	list, err := s.ListUsage(UsageFilter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("usage records: %d %v", len(list), err)
	}
	ps, _ := s.Postings(PostingFilter{})
	eq(t, "postings", len(ps), 1)
	bal, _ := s.Balance(MemberAccount("a"), "USD")
	eq(t, "member a balance", bal.Text(), "0.05")

	// The destination side reports the same call (same componentId) with
	// its own rating: recorded and posted, since the post-once key
	// includes the role (TestPostedKeyIncludesRole has the details).
	d := u
	d.Role, d.Reporter = RoleDestination, MemberAccount("b")
	d.Rating = &Rating{BillableSeconds: 60, Buy: usd("0.03"), BuyCounterparty: MemberAccount("b")}
	r3 := apply1(t, s, d)[0]
	eq(t, "dest code", r3.Code, OK)
	if r3.PostingID == 0 {
		t.Fatalf("destination usage not posted: %+v", r3)
	}
	ps, _ = s.Postings(PostingFilter{})
	eq(t, "postings after dest", len(ps), 2)
	mine, _ := s.ListUsage(UsageFilter{Member: "b"})
	eq(t, "usage for member b", len(mine), 1)
	mine, _ = s.ListUsage(UsageFilter{Member: "a"})
	eq(t, "usage for member a", len(mine), 2)
}

func TestUnmatchedUsage(t *testing.T) {
	s := openTest(t)
	setupMembers(t, s)
	mustOK(t, apply1(t, s, Authorize{At: t0, SourceMember: "a", MessageID: "e", Called: "1", UsageDeadline: t0.Add(time.Hour)}))
	expired, _ := s.TransactionByKey("a", "e", "")
	rs := apply1(t, s,
		RecordUsage{At: t0, TransactionID: 424242, Role: RoleSource, Reporter: "member:a", Called: "1999"},
		RecordUsage{At: t0.Add(2 * time.Hour), TransactionID: expired.ID, Role: RoleSource, Reporter: "member:a", Called: "1888"},
		RecordUsage{At: t0, Role: RoleDestination, Reporter: "member:b", ReporterKey: "cdr-1", Called: "1777"},
		RecordUsage{At: t0, Role: RoleDestination, Reporter: "member:b", ReporterKey: "cdr-1", Called: "1777"},
	)
	for i := 0; i < 3; i++ {
		if rs[i].Code != OK || !rs[i].Unmatched {
			t.Fatalf("usage %d: %+v", i, rs[i])
		}
	}
	eq(t, "reporter-key retry", rs[3].Code, Duplicate)
	un, err := s.ListUsage(UsageFilter{UnmatchedOnly: true})
	if err != nil || len(un) != 3 {
		t.Fatalf("unmatched: %d %v", len(un), err)
	}
	pre, _ := s.ListUsage(UsageFilter{UnmatchedOnly: true, CalledPrefix: "18"})
	eq(t, "prefix filter", len(pre), 1)
	page, _ := s.ListUsage(UsageFilter{Limit: 2})
	next, _ := s.ListUsage(UsageFilter{After: page[len(page)-1].ID})
	eq(t, "paging", len(page)+len(next), 3)
}

func TestUsageValidation(t *testing.T) {
	s := openTest(t)
	setupMembers(t, s)
	neg := rated(1, "0.05", "0.03")
	neg.Rating.Sell = usd("-1")
	noCP := rated(1, "0.05", "0.03")
	noCP.Rating.BuyCounterparty = ""
	for i, c := range []RecordUsage{
		{Role: RoleSource, Reporter: "member:a", ReporterKey: "k"}, // no At
		{At: t0, Role: 9, Reporter: "member:a", ReporterKey: "k"},  // bad role
		{At: t0, Role: RoleSource, ReporterKey: "k"},               // no reporter
		{At: t0, Role: RoleSource, Reporter: "member:a"},           // no key
		{At: t0, Role: RoleSource, Reporter: "m", ReporterKey: "k", DurationMillis: -1},
		neg, noCP,
	} {
		r := apply1(t, s, c)[0]
		eq(t, fmt.Sprintf("case %d code", i), r.Code, Invalid)
	}
	list, _ := s.ListUsage(UsageFilter{})
	eq(t, "nothing recorded", len(list), 0)
}

// TestPostingsBalanceProperty: random rated usage in several currencies;
// every currency nets to zero over all accounts, member a's balance is the
// sum of sells, revenue − cost = margin, and Audit agrees.
func TestPostingsBalanceProperty(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	s := openTest(t)
	setupMembers(t, s)
	curs := []string{"USD", "EUR", "JPY"}
	want := map[string]map[string]money.Amount{} // account → currency → sum
	add := func(acct string, a money.Amount) {
		if want[acct] == nil {
			want[acct] = map[string]money.Amount{}
		}
		v, err := want[acct][a.Currency()].Add(a)
		if err != nil {
			t.Fatal(err)
		}
		want[acct][a.Currency()] = v
	}
	amt := func(cur string) money.Amount {
		return money.MustNew(fmt.Sprintf("%d.%04d", rng.IntN(5), rng.IntN(10000)), cur)
	}
	for b := 0; b < 20; b++ {
		var cmds []Command
		for i := 0; i < 1+rng.IntN(30); i++ {
			sell, buy := amt(curs[rng.IntN(3)]), amt(curs[rng.IntN(3)])
			buyer := []string{MemberAccount("b"), PeerAccount("yellow")}[rng.IntN(2)]
			cmds = append(cmds, RecordUsage{At: t0, Role: RoleSource, Reporter: "member:a", ReporterKey: fmt.Sprintf("%d-%d", b, i),
				Connect: t0, Rating: &Rating{Sell: sell, SellCounterparty: MemberAccount("a"), Buy: buy, BuyCounterparty: buyer}})
			if !sell.IsZero() {
				add(MemberAccount("a"), sell)
				add(AccountRevenue, sell.Neg())
			}
			if !buy.IsZero() {
				add(AccountCost, buy)
				add(buyer, buy.Neg())
			}
		}
		mustOK(t, apply1(t, s, cmds...))
	}
	bals, err := s.Balances()
	if err != nil {
		t.Fatal(err)
	}
	net := map[string]money.Amount{}
	for _, b := range bals {
		w := want[b.Account][b.Amount.Currency()]
		if !w.Equal(b.Amount) && !(w.IsZero() && b.Amount.IsZero()) {
			t.Errorf("%s %s = %s, want %s", b.Account, b.Amount.Currency(), b.Amount.Text(), w.Text())
		}
		net[b.Amount.Currency()], _ = net[b.Amount.Currency()].Add(b.Amount)
	}
	for cur, n := range net {
		if !n.IsZero() {
			t.Errorf("%s does not net to zero: %s", cur, n.Text())
		}
	}
	rep, err := s.Audit()
	if err != nil || !rep.OK {
		t.Fatalf("audit: %+v %v", rep, err)
	}

	// An unbalanced manual entry is rejected and writes nothing.
	before := digest(t, s)
	r := apply1(t, s, PostEntry{At: t0, Lines: []PostingLine{{Account: "member:a", Amount: usd("1")}, {Account: "revenue", Amount: usd("-0.99")}}})[0]
	eq(t, "unbalanced", r.Code, Rejected)
	mixed := apply1(t, s, PostEntry{At: t0, Lines: []PostingLine{{Account: "member:a", Amount: usd("1")}, {Account: "revenue", Amount: money.MustNew("-1", "EUR")}}})[0]
	eq(t, "mixed currencies", mixed.Code, Rejected)
	after := digest(t, s)
	if before == after {
		t.Fatal("applied index not recorded") // the digest covers the applied index
	}
	ps, _ := s.Postings(PostingFilter{After: rep.Postings})
	eq(t, "postings after rejections", len(ps), 0)
}

func TestAuditDetectsTampering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(tx *bolt.Tx) error
		want   string
	}{
		{"flip a byte of a posting", func(tx *bolt.Tx) error {
			b := tx.Bucket(bPostings)
			v := append([]byte{}, b.Get(u64key(2))...)
			i := strings.Index(string(v), "0.03") // the buy amount text
			v[i+3] = '4'
			return b.Put(u64key(2), v)
		}, "posting 2: hash mismatch"},
		{"edit a balance", func(tx *bolt.Tx) error {
			return tx.Bucket(bBalances).Put(balanceKey("member:a", "USD"), []byte("0.01"))
		}, "balance member:a USD: stored 0.01"},
		{"delete a posting", func(tx *bolt.Tx) error {
			return tx.Bucket(bPostings).Delete(u64key(1))
		}, "posting 2: expected id 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "l.db")
			s, err := Open(path, Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			setupMembers(t, s)
			tx := authorize(t, s, "m1").TransactionID
			tx2 := authorize(t, s, "m2").TransactionID
			tx3 := authorize(t, s, "m3").TransactionID
			mustOK(t, apply1(t, s, rated(tx, "0.05", "0.03"), rated(tx2, "0.06", "0.03"), rated(tx3, "0.07", "0.05")))
			if rep, _ := s.Audit(); !rep.OK {
				t.Fatalf("clean audit: %v", rep.Problems)
			}
			s.Close()
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(tc.mutate); err != nil {
				t.Fatal(err)
			}
			db.Close()
			s, err = Open(path, Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			rep, err := s.Audit()
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || !strings.Contains(strings.Join(rep.Problems, "\n"), tc.want) {
				t.Fatalf("audit did not find %q: %v", tc.want, rep.Problems)
			}
		})
	}
}

func TestLateUsageAfterClosePeriod(t *testing.T) {
	s := openTest(t)
	setupMembers(t, s)
	nov, dec := t0, t0.AddDate(0, 1, 0)
	tx := authorize(t, s, "m1").TransactionID
	// Close November.
	mustOK(t, apply1(t, s, ClosePeriod{At: dec.Add(time.Hour), ID: "2026-11", End: dec}))
	// Usage connected in November arrives in December.
	u := rated(tx, "0.05", "0.03")
	u.At, u.Connect = dec.Add(2*time.Hour), nov.Add(10*24*time.Hour)
	r := apply1(t, s, u)[0]
	if r.Code != OK || !r.LateAdjustment {
		t.Fatalf("late usage result %+v", r)
	}
	ps, _ := s.Postings(PostingFilter{From: dec})
	if len(ps) != 1 || !ps[0].LateAdjustment || !ps[0].EffectiveAt.Equal(dec) {
		t.Fatalf("late posting %+v", ps)
	}
	inNov, _ := s.Postings(PostingFilter{From: nov, To: dec})
	eq(t, "postings dated into the closed period", len(inNov), 0)
	got, _ := s.Usage(r.UsageID)
	eq(t, "usage flagged", got.LateAdjustment, true)

	ps2, _ := s.Periods()
	if len(ps2) != 2 || ps2[0].ID != "2026-11" || !ps2[0].Closed || ps2[1].Closed || !ps2[1].Start.Equal(dec) {
		t.Fatalf("periods %+v", ps2)
	}
	// Period rules.
	for _, c := range []ClosePeriod{
		{At: dec.Add(time.Hour), ID: "again", End: dec},                  // not after the last end
		{At: dec.Add(time.Hour), ID: "2026-11", End: dec.Add(time.Hour)}, // duplicate id
		{At: dec, ID: "future", End: dec.AddDate(0, 1, 0)},               // in the future
	} {
		eq(t, "close "+c.ID, apply1(t, s, c)[0].Code, Rejected)
	}
}

func TestOutboxCascade(t *testing.T) {
	s := openTest(t)
	setupMembers(t, s)
	rs := apply1(t, s, Authorize{At: t0, SourceMember: "a", MessageID: "f1", Called: "44", UpstreamPeer: "yellow", UpstreamTransactionID: 9001,
		Destinations: []Destination{{Kind: DestPeer, ID: "yellow", PeerTransactionID: 9001}}})
	u := rated(rs[0].TransactionID, "0.05", "0.03")
	r := apply1(t, s, u)[0]
	if r.OutboxID == 0 {
		t.Fatalf("no outbox item: %+v", r)
	}
	eq(t, "retry does not enqueue again", apply1(t, s, u)[0].OutboxID, r.OutboxID)
	items, err := s.PendingOutbox("yellow", 10)
	if err != nil || len(items) != 1 {
		t.Fatalf("pending: %v %v", items, err)
	}
	it := items[0]
	if it.UpstreamTransactionID != 9001 || it.Usage.ID != r.UsageID || it.Usage.Rating == nil {
		t.Fatalf("item %+v", it)
	}
	all, _ := s.PendingOutbox("", 0)
	eq(t, "all peers", len(all), 1)
	other, _ := s.PendingOutbox("nobody", 0)
	eq(t, "other peer", len(other), 0)
	eq(t, "ack", apply1(t, s, AckOutbox{IDs: []uint64{it.ID, it.ID}})[0].Count, 1)
	items, _ = s.PendingOutbox("yellow", 10)
	eq(t, "pending after ack", len(items), 0)
}

func TestDecksAndRoutes(t *testing.T) {
	s := openTest(t)
	v1 := DeckVersion{DeckID: "d", Counterparty: "member:a", Direction: DirectionSell, Currency: "USD", RoundingMode: money.Up, Decimals: 2,
		EffectiveFrom: t0, EffectiveUntil: t0.AddDate(0, 1, 0),
		Rows: []DeckRow{{Prefix: "1", Rate: usd("0.10"), NextIncrement: 1}, {Prefix: "1212", Rate: usd("0.20"), FirstIncrement: 30, NextIncrement: 6}}}
	v2 := v1
	v2.EffectiveFrom, v2.EffectiveUntil = t0.AddDate(0, 1, 0), time.Time{}
	v2.Rows = []DeckRow{{Prefix: "1", Rate: usd("0.11"), NextIncrement: 1}}
	mustOK(t, apply1(t, s, PutDeckVersion{Version: v2}, PutDeckVersion{Version: v1}))
	for _, tc := range []struct {
		at     time.Time
		number string
		rate   string
		err    error
	}{
		{t0.Add(time.Hour), "12125550100", "0.2", nil},
		{t0.Add(time.Hour), "13105550100", "0.1", nil},
		{t0.AddDate(0, 1, 1), "12125550100", "0.11", nil}, // v2 has no 1212: its longest is 1
		{t0.Add(-time.Hour), "1212", "", ErrNotFound},
		{t0.Add(time.Hour), "44", "", ErrNotFound},
	} {
		_, row, err := s.LookupDeckRow("d", tc.at, tc.number)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s %s: err %v", tc.at, tc.number, err)
			}
			continue
		}
		if err != nil || !row.Rate.Equal(usd(tc.rate)) {
			t.Errorf("%s %s: %v %v", tc.at, tc.number, row.Rate, err)
		}
	}
	vs, err := s.DeckVersions("d")
	if err != nil || len(vs) != 2 || !vs[0].EffectiveFrom.Equal(t0) || len(vs[0].Rows) != 2 {
		t.Fatalf("versions %+v %v", vs, err)
	}
	// Appending with a different header is rejected; bad rows are invalid.
	bad := v1
	bad.Decimals = 3
	bad.Rows = []DeckRow{{Prefix: "7", Rate: usd("1"), NextIncrement: 1}}
	eq(t, "append mismatch", apply1(t, s, PutDeckVersion{Version: bad, AppendRows: true})[0].Code, Rejected)
	bad = v1
	bad.Rows = []DeckRow{{Prefix: "7", Rate: money.MustNew("1", "EUR"), NextIncrement: 1}}
	eq(t, "row currency", apply1(t, s, PutDeckVersion{Version: bad})[0].Code, Invalid)

	// Routes: ReplaceAll then chunks; ForEachRoute sees the latest table.
	mustOK(t, apply1(t, s, PutRoutes{ReplaceAll: true, Routes: []Route{{Prefix: "1"}, {Prefix: "2"}}}))
	mustOK(t, apply1(t, s, PutRoutes{ReplaceAll: true, Routes: []Route{{Prefix: "3"}}}, PutRoutes{Routes: []Route{{Prefix: "4"}, {Prefix: ""}}}))
	var got []string
	if err := s.ForEachRoute(func(r Route) error { got = append(got, "["+r.Prefix+"]"); return nil }); err != nil {
		t.Fatal(err)
	}
	eq(t, "routes", strings.Join(got, ""), "[][3][4]")
	eq(t, "bad prefix", apply1(t, s, PutRoutes{Routes: []Route{{Prefix: "1a"}}})[0].Code, Invalid)
	eq(t, "remove missing", apply1(t, s, RemoveRoute{Prefix: "9"})[0].Code, NotFound)
}

// TestConcurrentReadsDuringApply runs readers against the applier (for -race).
func TestConcurrentReadsDuringApply(t *testing.T) {
	s := openTest(t)
	setupMembers(t, s)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.ListUsage(UsageFilter{Limit: 10}); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Balances(); err != nil {
					t.Error(err)
					return
				}
				_ = s.Generation()
			}
		}()
	}
	for b := 0; b < 50; b++ {
		var cmds []Command
		for i := 0; i < 10; i++ {
			c := rated(0, "0.01", "0.005")
			c.ReporterKey = fmt.Sprintf("%d/%d", b, i)
			cmds = append(cmds, c)
		}
		mustOK(t, apply1(t, s, cmds...))
	}
	close(stop)
	wg.Wait()
	if rep, _ := s.Audit(); !rep.OK || rep.Postings != 500 {
		t.Fatalf("audit %+v", rep)
	}
}

func TestStats(t *testing.T) {
	s := openTest(t)
	buildFull(t, s)
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	// fullLog: 3 usages, 2 rated postings + 1 manual, 1 outbox item acked.
	if st.UsageRecords != 3 || st.Postings != 3 || st.OutboxEnqueued != 1 || st.OutboxPending != 0 || st.AppliedIndex != 6 || st.FileBytes == 0 {
		t.Fatalf("stats %+v", st)
	}
}
