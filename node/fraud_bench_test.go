package node

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
)

// BenchmarkFraudObserve is what fraud detection adds to the FSM
// goroutine per applied command (fraudControl.observe: decode the command
// and its result, feed the detector): compare with the ledger's own apply
// cost per command (BENCH.md, "Ledger apply").
func BenchmarkFraudObserve(b *testing.B) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	const batch = 256
	for _, kind := range []string{"authorize", "usage"} {
		b.Run(kind, func(b *testing.B) {
			fc := newFraudControl(&Node{log: slog.New(slog.DiscardHandler), cfg: Config{NodeID: "bench"}})
			cmds, results := make([][]byte, batch), make([][]byte, batch)
			for i := range batch {
				called := fmt.Sprintf("%d%09d", []int{1, 44, 49, 33, 1678}[i%5], i*7919)
				var c ledger.Command = ledger.Authorize{At: t0.Add(time.Duration(i) * time.Millisecond), SourceMember: fmt.Sprintf("m%d", i%20),
					MessageID: fmt.Sprint(i), CallID: fmt.Sprint(i), Calling: fmt.Sprintf("1555%07d", i%97), Called: called,
					Destinations: []ledger.Destination{{Kind: ledger.DestTrunk, ID: "b1", Address: "[192.0.2.9]:5060"}}, TimeLimit: 7200}
				if kind == "usage" {
					c = ledger.RecordUsage{At: t0.Add(time.Duration(i) * time.Millisecond), TransactionID: uint64(i + 1), Role: ledger.RoleSource,
						ComponentID: "1", Reporter: ledger.MemberAccount(fmt.Sprintf("m%d", i%20)), Calling: "15550001234", Called: called,
						DurationMillis: 95123, Phase: ledger.PhaseFinal, Matched: true}
				}
				raw, err := ledger.Encode(c)
				if err != nil {
					b.Fatal(err)
				}
				cmds[i] = raw
				res := &ledger.Result{Code: ledger.OK, TransactionID: uint64(i + 1)}
				if a, ok := c.(ledger.Authorize); ok { // what the ledger answers an admitted Authorize
					res.Transaction = &ledger.Transaction{ID: res.TransactionID, SourceMember: a.SourceMember, MessageID: a.MessageID,
						CallID: a.CallID, Calling: a.Calling, Called: a.Called, CreatedAt: a.At, Destinations: a.Destinations, TimeLimit: a.TimeLimit}
				}
				results[i] = ledger.EncodeResult(res)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				fc.observe(cmds, results)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/cmd")
		})
	}
}
