package ledger

import (
	"testing"
	"time"
)

// txUsage is what RecordUsage reads of a transaction.
type txUsage struct {
	id, upstreamTx   uint64
	source, upstream string
	timeLimit        uint32
	deadline         time.Time
}

func usageFields(t *Transaction) txUsage {
	return txUsage{id: t.ID, source: t.SourceMember, timeLimit: t.TimeLimit,
		deadline: t.UsageDeadline, upstream: t.UpstreamPeer, upstreamTx: t.UpstreamTransactionID}
}

// TestDecodeTransactionForUsage: the usage view of a transaction record
// has the same fields RecordUsage reads as the full decode, and refuses
// exactly the same damaged records (every truncation, every flipped byte).
func TestDecodeTransactionForUsage(t *testing.T) {
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	txs := []*Transaction{
		{ID: 1, SourceMember: "a", Calling: "1", Called: "2", CreatedAt: at},
		{ID: 1<<40 | 7, SourceMember: "carrier-a", MessageID: "m", CallID: "c@h", Calling: "14045551234", Called: "33145551234",
			CreatedAt: at, TimeLimit: 7200, UsageDeadline: at.Add(time.Hour), UpstreamPeer: "up", UpstreamTransactionID: 99,
			Destinations: []Destination{
				{Kind: CandidateTrunk, ID: "b-1", Address: "[192.0.2.1]:5060", Called: "4555", SellDeckID: "s", BuyDeckID: "b"},
				{Kind: CandidatePeer, ID: "p", Address: "[192.0.2.2]:5060", PeerTransactionID: 12},
			}},
	}
	for i, tx := range txs {
		var w wbuf
		encodeTransaction(&w, tx)
		full := func(b []byte) (*Transaction, error) {
			r := rbuf{b: b}
			t := decodeTransaction(&r)
			return t, r.done()
		}
		view := func(b []byte) (*Transaction, error) {
			r := rbuf{b: b}
			t := decodeTransactionForUsage(&r)
			return t, r.done()
		}
		ft, ferr := full(w.b)
		vt, verr := view(w.b)
		if ferr != nil || verr != nil {
			t.Fatalf("tx %d: %v / %v", i, ferr, verr)
		}
		if usageFields(ft) != usageFields(vt) {
			t.Fatalf("tx %d: view %+v, full %+v", i, usageFields(vt), usageFields(ft))
		}
		for n := range len(w.b) {
			_, ferr := full(w.b[:n])
			_, verr := view(w.b[:n])
			if (ferr == nil) != (verr == nil) {
				t.Fatalf("tx %d truncated to %d: full %v, view %v", i, n, ferr, verr)
			}
		}
		for j := range w.b {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				b := append([]byte(nil), w.b...)
				b[j] ^= x
				ft, ferr := full(b)
				vt, verr := view(b)
				if (ferr == nil) != (verr == nil) {
					t.Fatalf("tx %d byte %d ^%#x: full %v, view %v", i, j, x, ferr, verr)
				}
				if ferr == nil && usageFields(ft) != usageFields(vt) {
					t.Fatalf("tx %d byte %d ^%#x: fields differ", i, j, x)
				}
			}
		}
	}
}
