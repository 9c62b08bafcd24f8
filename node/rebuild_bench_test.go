package node

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
)

// rebuildLedger writes a ledger of calls calls, one every gap up to now
// (an authorisation and its source final each, two trunks, 50 prefixes,
// 1,000 calling numbers), straight through ApplyBatch in entries of 512
// commands, as the FSM would.
func rebuildLedger(b *testing.B, calls int, gap time.Duration) *ledger.Store {
	b.Helper()
	s, err := ledger.Open(filepath.Join(b.TempDir(), "ledger.db"), ledger.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	var idx uint64
	apply := func(cmds ...ledger.Command) [][]byte {
		var raw [][]byte
		for _, c := range cmds {
			e, err := ledger.Encode(c)
			if err != nil {
				b.Fatal(err)
			}
			raw = append(raw, e)
		}
		idx++
		return s.ApplyBatch(idx, raw)
	}
	apply(ledger.SetNetwork{Network: ledger.Network{ID: "bench", Name: "Bench", Currency: "USD", TxIDEpoch: 1}},
		ledger.PutMember{Member: ledger.Member{ID: "a", Name: "A"}}, ledger.PutMember{Member: ledger.Member{ID: "b", Name: "B"}},
		ledger.PutTrunk{Trunk: ledger.Trunk{ID: "b-1", MemberID: "b", Address: "[192.0.2.9]"}},
		ledger.PutTrunk{Trunk: ledger.Trunk{ID: "b-2", MemberID: "b", Address: "[192.0.2.10]"}},
		ledger.PutRoutes{Routes: []ledger.Route{{Prefix: "1555", Quality: &ledger.RouteQuality{MinSamples: 20, MinASRBps: 5000, RecoverASRBps: 6000},
			Candidates: []ledger.RouteCandidate{{Kind: ledger.CandidateTrunk, ID: "b-1", Weight: 1}, {Kind: ledger.CandidateTrunk, ID: "b-2", Weight: 1}}}}})
	start := time.Now().Add(-time.Duration(calls) * gap)
	const per = 256 // calls per entry: their authorisations, then their finals
	for first := 0; first < calls; first += per {
		var auths []ledger.Command
		n := min(per, calls-first)
		for i := first; i < first+n; i++ {
			auths = append(auths, ledger.Authorize{At: start.Add(time.Duration(i) * gap), SourceMember: "a", CallID: fmt.Sprint("c", i),
				Calling: fmt.Sprint("1555000", i%1000), Called: fmt.Sprintf("1555%02d%05d", i%50, i),
				Destinations: []ledger.Destination{{Kind: ledger.DestTrunk, ID: []string{"b-1", "b-2"}[i%2]}}, TimeLimit: 600})
		}
		res := apply(auths...)
		var finals []ledger.Command
		for k, r := range res {
			i := first + k
			code, tx, _ := ledger.ResultHead(r)
			if code != ledger.OK {
				b.Fatalf("authorise %d: %s", i, code)
			}
			a := auths[k].(ledger.Authorize)
			finals = append(finals, ledger.RecordUsage{At: a.At.Add(gap / 2), TransactionID: tx, Role: ledger.RoleSource, ComponentID: "1",
				Reporter: ledger.MemberAccount("a"), Calling: a.Calling, Called: a.Called, CallID: a.CallID, Matched: true,
				Phase: ledger.PhaseFinal, DurationMillis: int64(i%120) * 1000, TerminationCause: 16,
				Quality: &ledger.UsageQuality{Candidate: "trunk:" + a.Destinations[0].ID, PDDMillis: 1500, LossPPM: -1, JitterMicros: -1}})
		}
		for k, r := range apply(finals...) {
			if code, _, _ := ledger.ResultHead(r); code != ledger.OK {
				b.Fatalf("usage %d: %s", first+k, code)
			}
		}
	}
	return s
}

// BenchmarkRebuild measures what a restarting node spends rebuilding its
// route-quality windows and fraud baselines from a ledger of 100,000
// calls (100,000 transactions and 100,000 source finals) within the
// rebuild spans: 1 s apart, the last ~28 h. Reported per rebuild
// (records/s: both kinds of record read and fed).
func BenchmarkRebuild(b *testing.B) {
	const calls = 100_000
	s := rebuildLedger(b, calls, time.Second)
	log := slog.New(slog.DiscardHandler)
	n := &Node{cfg: Config{NodeID: "bench"}, log: log, store: s}
	n.state = newStateCache(s, log)
	n.quality = newQualityFeed(n.cfg.Quality, log)
	n.quality.state = n.state
	n.fraud = newFraudControl(n)
	for _, bc := range []struct {
		name    string
		records int
		rebuild func() error
		check   func() error
	}{
		{"quality", calls, func() error { return n.quality.rebuild(s, 200_000) }, func() error {
			if keys, _, _ := n.quality.tr.Counters(); keys != 2 {
				return fmt.Errorf("quality series after the rebuild: %d, want 2", keys)
			}
			return nil
		}},
		{"fraud", 2 * calls, func() error { return n.fraud.rebuild(s, 500_000) }, func() error {
			if st := n.fraud.det.Stats(); st.DestinationKeys != 5 || st.Learning {
				return fmt.Errorf("fraud after the rebuild: %+v; want 5 keys (the first five digits), not learning", st)
			}
			return nil
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.rebuild(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(bc.records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			if err := bc.check(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
