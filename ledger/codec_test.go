package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// TestEncodeDecodeRoundTrip: every command of the full log decodes back to
// the same value (compared as JSON, which covers every exported field).
func TestEncodeDecodeRoundTrip(t *testing.T) {
	log := append(fullLog(t), fullLogTail(t, 1<<20, 2<<20)...)
	for _, b := range log {
		for _, raw := range b.cmds {
			if CommandType(raw[0])&Ignorable != 0 {
				continue
			}
			cmd, err := Decode(raw)
			if err != nil {
				t.Fatalf("%s: %v", CommandType(raw[0]), err)
			}
			again, err := Encode(cmd)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, raw) {
				t.Errorf("%s: re-encoding differs", cmd.Type())
			}
			j1, _ := json.Marshal(cmd)
			back, _ := Decode(again)
			j2, _ := json.Marshal(back)
			if !bytes.Equal(j1, j2) {
				t.Errorf("%s: %s != %s", cmd.Type(), j1, j2)
			}
		}
	}
	// Pointers encode like values.
	a, _ := Encode(&Authorize{At: t0, SourceMember: "a", MessageID: "m"})
	b, _ := Encode(Authorize{At: t0, SourceMember: "a", MessageID: "m"})
	if !bytes.Equal(a, b) {
		t.Error("pointer and value encodings differ")
	}
	if _, err := Encode(nil); err == nil {
		t.Error("nil encoded")
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, raw := range [][]byte{nil, {1}, {0x7e, 1}, {byte(TypePutMember), 2, '{', '}'}, {byte(TypePutMember), 1, '{'},
		{byte(TypePutMember), 1, '{', '"', 'x', '"', ':', '1', '}'}, {byte(TypeAuthorize), 1, 1}} {
		if _, err := Decode(raw); !errors.Is(err, ErrInvalid) {
			t.Errorf("Decode(%q) = %v, want ErrInvalid", raw, err)
		}
	}
}

func TestResultRoundTrip(t *testing.T) {
	in := &Result{Code: Duplicate, Message: "m", TransactionID: 1 << 40, UsageID: 2, PostingID: 3, OutboxID: 4, Unmatched: true, LateAdjustment: true, Count: 5,
		Transaction: &Transaction{ID: 1 << 40, SourceMember: "a", CreatedAt: t0, Destinations: []Destination{{Kind: DestPeer, ID: "y", PeerTransactionID: 7}}}}
	out, err := DecodeResult(EncodeResult(in))
	if err != nil {
		t.Fatal(err)
	}
	j1, _ := json.Marshal(in)
	j2, _ := json.Marshal(out)
	if !bytes.Equal(j1, j2) {
		t.Fatalf("%s != %s", j1, j2)
	}
	if _, err := DecodeResult(nil); err == nil {
		t.Fatal("nil result decoded")
	}
}

// FuzzApplyKnownType: arbitrary payload bytes under every known type and
// the current version must yield a Result (usually Invalid), never a panic,
// and leave a store that still audits clean.
func FuzzApplyKnownType(f *testing.F) {
	for _, b := range append(fullLog(f), fullLogTail(f, 1, 2)...) {
		for _, raw := range b.cmds {
			if CommandType(raw[0])&Ignorable == 0 {
				f.Add(raw[0], raw[1], raw[2:])
			}
		}
	}
	f.Add(byte(TypeRecordUsage), byte(1), []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add(byte(TypeAuthorize), byte(1), []byte{0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	adm := enc(f, Authorize{At: t0, SourceMember: "a", MessageID: "m", CallID: "c", Called: "1",
		ActiveUntil: t0.Add(time.Minute), Hold: usd("0.5")})
	f.Add(adm[0], adm[1], adm[2:])
	for _, phase := range []UsagePhase{PhaseSetup, PhaseInterim, PhaseFinal, PhaseFailed} {
		for _, role := range []Role{RoleSource, RoleDestination} {
			u := enc(f, lifeUsage(1<<16, role, phase, "1", 2000))
			f.Add(u[0], u[1], u[2:])
		}
	}
	// Version 5: per-side seconds on the rating and the adjustment.
	split := lifeUsage(1<<16, RoleSource, PhaseFinal, "1", 2000)
	split.Rating = &Rating{BillableSeconds: 60, Sell: usd("0.01"), SellCounterparty: MemberAccount("a"),
		Buy: usd("0.02"), BuyCounterparty: PeerAccount("yellow")}
	split.Rating.SetBuySeconds(66)
	split.Adjust = &Rating{BillableSeconds: 1}
	split.Adjust.SetBuySeconds(2)
	u5 := enc(f, split)
	f.Add(u5[0], u5[1], u5[2:])
	s := openTest(f)
	setupMembers(f, s)
	mustOK(f, apply1(f, s, PutMember{Member{ID: "a", CreditLimit: usd("3"), CPSLimit: 5, ConcurrentLimit: 4}}))
	f.Fuzz(func(t *testing.T, typ, version byte, payload []byte) {
		ct := CommandType(typ)
		if !knownType(ct) {
			ct = TypeRecordUsage
		}
		if !versionSupported(ct, version) {
			version = CommandVersion // an unsupported version stops the node by design
		}
		raw := append([]byte{byte(ct), version}, payload...)
		_, decErr := Decode(raw)
		out := s.ApplyBatch(s.AppliedIndex()+1, [][]byte{raw})
		res, err := DecodeResult(out[0])
		if err != nil {
			t.Fatal(err)
		}
		if decErr != nil && res.Code != Invalid {
			t.Fatalf("undecodable %s got %s", ct, res.Code)
		}
	})
}

func FuzzDecodeResult(f *testing.F) {
	f.Add(EncodeResult(&Result{Code: OK, TransactionID: 9, Transaction: &Transaction{ID: 9}}))
	f.Add([]byte{1, 0, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResult(b)
		if err == nil {
			if _, err := DecodeResult(EncodeResult(r)); err != nil {
				t.Fatalf("re-decode: %v", err)
			}
		}
	})
}
