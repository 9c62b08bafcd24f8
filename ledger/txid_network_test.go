package ledger

import (
	"testing"
)

// TestNetworkTransactionIDLayout: a numbered network's ids carry its
// number in their high bits, stay below 2^63 (the OSP toolkit's parsers),
// read back their log index, and never equal another network's.
func TestNetworkTransactionIDLayout(t *testing.T) {
	cases := []struct {
		name          string
		number, epoch uint8
		index         uint64
		pos           int
		ok            bool
	}{
		{"first id", 1, 0, 1, 0, true},
		{"largest", maxTxNetwork, maxNumberedEpoch, maxTxIndex, maxNumPosition, true},
		{"epoch over 3 bits", 1, maxNumberedEpoch + 1, 1, 0, false},
		{"index over 40 bits", 1, 0, maxTxIndex + 1, 0, false},
		{"position over 12 bits", 1, 0, 1, maxNumPosition + 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, ok := NetworkTransactionIDFor(tc.number, tc.epoch, tc.index, tc.pos)
			eq(t, "ok", ok, tc.ok)
			if !ok {
				return
			}
			if id >= 1<<63 {
				t.Fatalf("id %d not below 2^63", id)
			}
			n := Network{TxIDNetwork: tc.number, TxIDEpoch: tc.epoch}
			eq(t, "index", n.TransactionIndex(id), tc.index)
			eq(t, "network", TransactionNetwork(id), tc.number)
		})
	}
	// Without a number: the layout from before, unchanged.
	old, _ := TransactionIDFor(3, 77, 5)
	id, _ := NetworkTransactionIDFor(0, 3, 77, 5)
	eq(t, "unnumbered id", id, old)
	eq(t, "unnumbered index", Network{}.TransactionIndex(id), uint64(77))
	// Two networks, same log position: different ids.
	a, _ := NetworkTransactionIDFor(DeriveTxIDNetwork("PURPLE"), 0, 42, 0)
	b, _ := NetworkTransactionIDFor(DeriveTxIDNetwork("HUB"), 0, 42, 0)
	if a == b {
		t.Fatal("two networks issued the same id")
	}
}

// TestTxIDNetworkApply: Authorize issues ids in the network's layout; the
// number may be set while no transaction exists and never changed after
// (its ids so far would no longer be readable, a new number could reissue
// one); an epoch over 3 bits with a number is Invalid.
func TestTxIDNetworkApply(t *testing.T) {
	s := openTest(t)
	mustOK(t, apply1(t, s,
		SetNetwork{Network{ID: "purple", Currency: "USD"}},
		SetNetwork{Network{ID: "purple", Currency: "USD", TxIDNetwork: 99}}, // no transaction yet
		PutMember{Member{ID: "a"}}, PutMember{Member{ID: "b"}}))
	res := authorize(t, s, "n1")
	eq(t, "code", res.Code, OK)
	want, _ := NetworkTransactionIDFor(99, 0, s.AppliedIndex(), 0)
	eq(t, "transaction id", res.TransactionID, want)
	eq(t, "network in id", TransactionNetwork(res.TransactionID), uint8(99))

	for _, tc := range []struct {
		name string
		net  Network
		code ResultCode
	}{
		{"another number", Network{ID: "purple", Currency: "USD", TxIDNetwork: 24}, Invalid},
		{"no number", Network{ID: "purple", Currency: "USD"}, Invalid},
		{"epoch 8 with a number", Network{ID: "purple", Currency: "USD", TxIDNetwork: 99, TxIDEpoch: 8}, Invalid},
		{"raise the epoch", Network{ID: "purple", Currency: "USD", TxIDNetwork: 99, TxIDEpoch: 1}, OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eq(t, "code", apply1(t, s, SetNetwork{tc.net})[0].Code, tc.code)
		})
	}
	nw, err := s.Network()
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "number kept", nw.TxIDNetwork, uint8(99))
}

// TestTxIDNetworkExistingLedger: a ledger that issued ids without a number
// keeps its layout: a number is refused, and its ids stay as they were.
func TestTxIDNetworkExistingLedger(t *testing.T) {
	s := openTest(t)
	setupMembers(t, s)
	first := authorize(t, s, "old")
	want, _ := TransactionIDFor(0, s.AppliedIndex(), 0)
	eq(t, "legacy id", first.TransactionID, want)
	eq(t, "number refused", apply1(t, s, SetNetwork{Network{ID: "purple", Currency: "USD", TxIDNetwork: 7}})[0].Code, Invalid)
}
