package ledger

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// benchStore opens a store with members and a pool of authorised
// transactions for usage benchmarks.
func benchStore(b *testing.B, noSync bool, pool int) (*Store, []uint64) {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{NoSync: noSync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	setupMembers(b, s)
	ids := make([]uint64, 0, pool)
	for len(ids) < pool {
		var cmds [][]byte
		for i := 0; i < 256 && len(ids)+i < pool; i++ {
			cmds = append(cmds, enc(b, benchAuthorize(len(ids)+i)))
		}
		for _, r := range s.ApplyBatch(s.AppliedIndex()+1, cmds) {
			res, _ := DecodeResult(r)
			ids = append(ids, res.TransactionID)
		}
	}
	return s, ids
}

func benchAuthorize(i int) Authorize {
	return Authorize{At: t0.Add(time.Duration(i) * time.Millisecond), SourceMember: "a", MessageID: "msg-" + strconv.Itoa(i),
		CallID: "call-" + strconv.Itoa(i) + "@192.0.2.7", Calling: "15550001234", Called: "12125550100",
		Destinations: []Destination{
			{Kind: DestTrunk, ID: "b1", Address: "[192.0.2.9]:5060", SellDeckID: "sell-a", BuyDeckID: "buy-b"},
			{Kind: DestTrunk, ID: "b2", Address: "[192.0.2.10]:5060", SellDeckID: "sell-a", BuyDeckID: "buy-b"},
		}, TimeLimit: 7200}
}

func benchUsage(tx uint64, i int) RecordUsage {
	connect := t0.Add(time.Duration(i) * time.Millisecond)
	return RecordUsage{At: connect.Add(2 * time.Minute), TransactionID: tx, Role: RoleSource, ComponentID: strconv.Itoa(i),
		Reporter: MemberAccount("a"), Calling: "15550001234", Called: "12125550100", CallID: "call-" + strconv.Itoa(i) + "@192.0.2.7",
		Start: connect.Add(-3 * time.Second), Connect: connect, End: connect.Add(95 * time.Second), DurationMillis: 95123, TerminationCause: 16,
		Rating: &Rating{BillableSeconds: 96, Sell: usd("0.0160"), SellCounterparty: MemberAccount("a"), SellDeckID: "sell-a",
			Buy: usd("0.0128"), BuyCounterparty: MemberAccount("b"), BuyDeckID: "buy-b"}}
}

// BenchmarkApplyUsageBatch256: one ApplyBatch (one bbolt transaction, one
// fsync unless NoSync) of 256 rated RecordUsage commands for known
// transactions: idempotency check, transaction lookup, usage record,
// member index, posting with hash chain, two balance updates each.
func BenchmarkApplyUsageBatch256(b *testing.B) {
	for _, noSync := range []bool{false, true} {
		b.Run(fmt.Sprintf("nosync=%v", noSync), func(b *testing.B) {
			s, ids := benchStore(b, noSync, 8192)
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cmds := make([][]byte, 256)
				for j := range cmds {
					cmds[j] = enc(b, benchUsage(ids[n%len(ids)], n))
					n++
				}
				b.StartTimer()
				s.ApplyBatch(s.AppliedIndex()+1, cmds)
			}
			b.ReportMetric(float64(b.N*256)/b.Elapsed().Seconds(), "cmds/s")
		})
	}
}

// BenchmarkApplyUsageLifecycleBatch256 is BenchmarkApplyUsageBatch256 with
// the commands node writes now (RecordUsage version 4): a matched final per
// call, so each also reads the whole transaction, checks the usage against
// it and writes the call's lifecycle record. (Past the pool's 32,768 calls
// the finals become conflicts: run it with -benchtime=64x or less for the
// paid path.)
func BenchmarkApplyUsageLifecycleBatch256(b *testing.B) {
	benchLifecycle(b, nil)
}

// BenchmarkApplyUsageQualityBatch256: the same with the quality block
// node writes (RecordUsage version 6), for the cost of route quality in
// the ledger (compare with BenchmarkApplyUsageLifecycleBatch256).
func BenchmarkApplyUsageQualityBatch256(b *testing.B) {
	benchLifecycle(b, &UsageQuality{Candidate: "trunk:b1", Alert: t0.Add(time.Second), PDDMillis: 1000, LossPPM: 2000, JitterMicros: 15000})
}

func benchLifecycle(b *testing.B, q *UsageQuality) {
	s, ids := benchStore(b, true, 32768)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		cmds := make([][]byte, 256)
		for j := range cmds {
			k := n % len(ids)
			u := benchUsage(ids[k], n)
			u.CallID, u.Phase, u.Matched, u.Quality = "call-"+strconv.Itoa(k)+"@192.0.2.7", PhaseFinal, true, q
			cmds[j] = enc(b, u)
			n++
		}
		b.StartTimer()
		s.ApplyBatch(s.AppliedIndex()+1, cmds)
	}
	b.ReportMetric(float64(b.N*256)/b.Elapsed().Seconds(), "cmds/s")
}

// BenchmarkApplyAuthorizeBatch256: 256 new authorisations per ApplyBatch.
func BenchmarkApplyAuthorizeBatch256(b *testing.B) {
	for _, noSync := range []bool{false, true} {
		b.Run(fmt.Sprintf("nosync=%v", noSync), func(b *testing.B) {
			s, _ := benchStore(b, noSync, 0)
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cmds := make([][]byte, 256)
				for j := range cmds {
					cmds[j] = enc(b, benchAuthorize(n))
					n++
				}
				b.StartTimer()
				s.ApplyBatch(s.AppliedIndex()+1, cmds)
			}
			b.ReportMetric(float64(b.N*256)/b.Elapsed().Seconds(), "cmds/s")
		})
	}
}

// BenchmarkEncodeRecordUsage: the proposer's encoding cost.
func BenchmarkEncodeRecordUsage(b *testing.B) {
	u := benchUsage(1<<20, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(u); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMillionCalls builds a store of 1,000,000 calls (one Authorize
// and one rated RecordUsage each, so 1M transactions, 1M usage records, 1M
// postings) and measures Open (restart) time; it reports the file size
// per call. Slow (minutes): set OSPNODE_LEDGER_MILLION=1 to run it, e.g.
//
//	OSPNODE_LEDGER_MILLION=1 go test ./ledger -run '^$' -bench MillionCalls -benchtime 5x
func BenchmarkMillionCalls(b *testing.B) {
	if os.Getenv("OSPNODE_LEDGER_MILLION") == "" {
		b.Skip("set OSPNODE_LEDGER_MILLION=1 to build a 1M-call store")
	}
	const calls = 3907 * 256 // 1,000,192: whole batches of 256
	path := filepath.Join(b.TempDir(), "million.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	setupMembers(b, s)
	for done := 0; done < calls; done += 256 {
		auths := make([][]byte, 256)
		for j := range auths {
			auths[j] = enc(b, benchAuthorize(done+j))
		}
		raw := s.ApplyBatch(s.AppliedIndex()+1, auths)
		usages := make([][]byte, 256)
		for j := range usages {
			r, _ := DecodeResult(raw[j])
			usages[j] = enc(b, benchUsage(r.TransactionID, done+j))
		}
		s.ApplyBatch(s.AppliedIndex()+1, usages)
	}
	start := time.Now()
	d1, _ := s.Digest()
	digestTime := time.Since(start)
	start = time.Now()
	rep, err := s.Audit()
	auditTime := time.Since(start)
	if err != nil || !rep.OK || rep.Postings != calls {
		b.Fatalf("audit: %+v %v", rep, err)
	}
	s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s, err := Open(path, Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		if s.AppliedIndex() == 0 {
			b.Fatal("empty store")
		}
		s.Close()
	}
	b.StopTimer()
	s, _ = Open(path, Options{NoSync: true})
	d2, _ := s.Digest()
	s.Close()
	if d1 != d2 {
		b.Fatal("digest changed across reopen")
	}
	b.ReportMetric(float64(fi.Size())/calls, "file-bytes/call")
	b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
	b.ReportMetric(digestTime.Seconds(), "digest-s")
	b.ReportMetric(auditTime.Seconds(), "audit-s")
}
