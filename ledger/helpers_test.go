package ledger

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "ledger.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func enc(t testing.TB, c Command) []byte {
	t.Helper()
	b, err := Encode(c)
	if err != nil {
		t.Fatalf("encode %T: %v", c, err)
	}
	return b
}

// batch is one log entry.
type batch struct {
	index uint64
	cmds  [][]byte
}

// applyLog applies every batch and returns the decoded results.
func applyLog(t testing.TB, s *Store, log []batch) [][]*Result {
	t.Helper()
	var out [][]*Result
	for _, b := range log {
		raw := s.ApplyBatch(b.index, b.cmds)
		var rs []*Result
		for i, r := range raw {
			res, err := DecodeResult(r)
			if err != nil {
				t.Fatalf("index %d cmd %d: %v", b.index, i, err)
			}
			rs = append(rs, res)
		}
		out = append(out, rs)
	}
	return out
}

// apply1 applies cmds as one batch at the next index and returns results.
func apply1(t testing.TB, s *Store, cmds ...Command) []*Result {
	t.Helper()
	var raw [][]byte
	for _, c := range cmds {
		raw = append(raw, enc(t, c))
	}
	return applyLog(t, s, []batch{{s.AppliedIndex() + 1, raw}})[0]
}

func mustOK(t testing.TB, rs []*Result) {
	t.Helper()
	for i, r := range rs {
		if r.Code != OK && r.Code != Duplicate {
			t.Fatalf("result %d: %s: %s", i, r.Code, r.Message)
		}
	}
}

func digest(t testing.TB, s *Store) [32]byte {
	t.Helper()
	d, err := s.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// persisted takes a snapshot of s and returns what it persists.
func persisted(t testing.TB, s *Store) *bytes.Buffer {
	t.Helper()
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var buf bytes.Buffer
	if err := snap.Persist(&buf); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func usd(v string) money.Amount { return money.MustNew(v, "USD") }

// fullLog returns a log that uses every command type at least once.
func fullLog(t testing.TB) []batch {
	e := func(c Command) []byte { return enc(t, c) }
	deck := DeckVersion{
		DeckID: "sell-a", Counterparty: MemberAccount("a"), Direction: DirectionSell, Currency: "USD",
		Decimals: 4, RoundingMode: money.HalfUp, EffectiveFrom: t0,
		Rows: []DeckRow{
			{Prefix: "1", Description: "NANP", Rate: usd("0.01"), ConnectFee: usd("0"), FirstIncrement: 6, NextIncrement: 6},
			{Prefix: "1212", Description: "NYC", Rate: usd("0.008"), ConnectFee: usd("0.001"), FirstIncrement: 30, NextIncrement: 6},
		},
	}
	more := deck
	more.Rows = []DeckRow{{Prefix: "44", Description: "UK", Rate: usd("0.02"), ConnectFee: money.Amount{}, FirstIncrement: 1, NextIncrement: 1}}
	return []batch{
		{1, [][]byte{
			e(SetNetwork{Network{ID: "purple", Name: "Purple", Currency: "USD", TxIDEpoch: 1}}),
			e(PutMember{Member{ID: "a", Name: "Carrier A", Credentials: Credentials{SourceAddrs: []string{"192.0.2.7", "198.51.100.0/24"}, DeviceIDs: []string{"dev-a"}},
				CreditLimit: usd("1000"), CPSLimit: 50, TokenKind: TokenSigned, SellDeckID: "sell-a", BlockedPrefixes: []string{"1900"}}}),
			e(PutMember{Member{ID: "b", Name: "Carrier B", BuyDeckID: "buy-b"}}),
			e(PutTrunk{Trunk{ID: "b1", MemberID: "b", Address: "[192.0.2.9]:5060", Protocol: "udp", Weight: 10, Capacity: 100}}),
			e(PutTrunk{Trunk{ID: "b2", MemberID: "b", Address: "[192.0.2.10]:5060"}}),
			e(PutPeer{Peer{ID: "yellow", ServicePoints: []ServicePoint{{URL: "https://yellow.example/osp", Weight: 1}}, OurMemberID: "purple", BuyDeckID: "buy-yellow"}}),
			e(PutPeer{Peer{ID: "gone"}}),
		}},
		{2, [][]byte{
			e(PutRoutes{ReplaceAll: true, Routes: []Route{
				{Prefix: "1", Candidates: []RouteCandidate{{Kind: CandidateTrunk, ID: "b1", Priority: 1, Weight: 5}, {Kind: CandidatePeer, ID: "yellow", Priority: 2, Strip: 1, AddPrefix: "00"}}},
				{Prefix: "1900", Blocked: true},
				{Prefix: "44", Candidates: []RouteCandidate{{Kind: CandidatePeer, ID: "yellow"}}},
			}}),
			e(PutRoutes{Routes: []Route{{Prefix: "", Candidates: []RouteCandidate{{Kind: CandidatePeer, ID: "yellow"}}}, {Prefix: "49"}}}),
			e(RemoveRoute{Prefix: "49"}),
			e(PutDeckVersion{Version: deck}),
			e(PutDeckVersion{Version: more, AppendRows: true}),
			e(SetMemberStatus{ID: "b", Status: MemberSuspended}),
			e(SetMemberStatus{ID: "b", Status: MemberActive}),
			e(RemoveTrunk{ID: "b2"}),
			e(RemovePeer{ID: "gone"}),
			e(RevokeCert{Serial: "0A:BC:01", At: t0, Reason: "key compromise"}),
		}},
		{3, [][]byte{
			e(Authorize{At: t0.Add(time.Hour), SourceMember: "a", MessageID: "m1", CallID: "c1", Calling: "15550001", Called: "12125550100",
				Destinations: []Destination{{Kind: DestTrunk, ID: "b1", Address: "[192.0.2.9]:5060", SellDeckID: "sell-a", BuyDeckID: "buy-b"}}, TimeLimit: 3600}),
			e(Authorize{At: t0.Add(time.Hour), SourceMember: "a", MessageID: "m2", CallID: "c2", Calling: "15550001", Called: "442075550100",
				Destinations: []Destination{{Kind: DestPeer, ID: "yellow", Address: "[203.0.113.1]:5060", PeerTransactionID: 777}},
				UpstreamPeer: "yellow", UpstreamTransactionID: 777}),
		}},
	}
}

// fullLogTail continues fullLog with usage, periods, postings and acks;
// it needs the transaction ids the head assigned.
func fullLogTail(t testing.TB, tx1, tx2 uint64) []batch {
	e := func(c Command) []byte { return enc(t, c) }
	connect := t0.Add(time.Hour + time.Minute)
	return []batch{
		{4, [][]byte{
			e(RecordUsage{At: t0.Add(2 * time.Hour), TransactionID: tx1, Role: RoleSource, Reporter: MemberAccount("a"),
				Calling: "15550001", Called: "12125550100", CallID: "c1", Start: connect.Add(-5 * time.Second), Connect: connect,
				End: connect.Add(95 * time.Second), DurationMillis: 95000, TerminationCause: 16,
				Rating: &Rating{BillableSeconds: 96, Sell: usd("0.0138"), SellCounterparty: MemberAccount("a"), SellDeckID: "sell-a",
					Buy: usd("0.0100"), BuyCounterparty: MemberAccount("b"), BuyDeckID: "buy-b"}}),
			e(RecordUsage{At: t0.Add(2 * time.Hour), TransactionID: tx2, Role: RoleSource, Reporter: MemberAccount("a"),
				Called: "442075550100", Connect: connect, End: connect.Add(60 * time.Second), DurationMillis: 60000,
				Rating: &Rating{BillableSeconds: 60, Sell: usd("0.02"), SellCounterparty: MemberAccount("a"),
					Buy: money.MustNew("0.015", "EUR"), BuyCounterparty: PeerAccount("yellow")}}),
			e(RecordUsage{At: t0.Add(2 * time.Hour), Role: RoleDestination, Reporter: MemberAccount("b"), ReporterKey: "orphan-1",
				Called: "12125550199", DurationMillis: 1000}),
		}},
		{5, [][]byte{
			e(ClosePeriod{At: t0.Add(24 * time.Hour), ID: "2026-11-01", End: t0.Add(24 * time.Hour)}),
			e(PostEntry{At: t0.Add(25 * time.Hour), EffectiveAt: t0.Add(time.Hour), Memo: "reverse",
				Lines: []PostingLine{{Account: MemberAccount("a"), Amount: usd("-0.0138")}, {Account: AccountRevenue, Amount: usd("0.0138")}}}),
			e(AckOutbox{IDs: []uint64{1, 99}}),
			e(FraudBlock{ID: "fr-full", At: t0.Add(25 * time.Hour), Member: "a", Prefix: "881", Rule: "high_risk", By: "node:n1",
				Evidence: "12 authorisations to 881 within 10m0s"}),
			e(FraudRelease{ID: "fr-full", At: t0.Add(26 * time.Hour), By: "admin:ops", Reason: "confirmed"}),
		}},
		{6, [][]byte{{byte(Ignorable | 0x7f), 1, 'x'}}},
	}
}

// buildFull applies fullLog and its tail to s and returns the whole log.
func buildFull(t testing.TB, s *Store) []batch { return buildFullWithout(t, s) }

// buildFullWithout is buildFull with the commands of the types skip left
// out (a log written before those types existed).
func buildFullWithout(t testing.TB, s *Store, skip ...CommandType) []batch {
	t.Helper()
	head := fullLog(t)
	rs := applyLog(t, s, head)
	for _, b := range rs {
		mustOK(t, b)
	}
	last := rs[len(rs)-1]
	tail := fullLogTail(t, last[0].TransactionID, last[1].TransactionID)
	for i := range tail {
		tail[i].cmds = slices.DeleteFunc(tail[i].cmds, func(c []byte) bool { return slices.Contains(skip, CommandType(c[0])) })
	}
	rs2 := applyLog(t, s, tail)
	for _, b := range rs2[:len(rs2)-1] {
		mustOK(t, b)
	}
	return append(head, tail...)
}

func eq[T comparable](t testing.TB, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

var _ = bytes.Equal
