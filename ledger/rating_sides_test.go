package ledger

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestRatingPerSideSeconds: a call rated on two decks that bill it
// differently keeps both sides' billable seconds (RecordUsage version 5,
// usage record version 4), through the log and the store; a rating whose
// sides agree encodes as version 4, byte for byte as before.
func TestRatingPerSideSeconds(t *testing.T) {
	cases := []struct {
		name      string
		buy       int64
		version   byte
		wantSell  int64
		wantBuy   int64
		separated bool
	}{
		{"sides agree", 60, RecordUsageVersionLifecycle, 60, 60, false},
		{"buy deck bills more", 61, RecordUsageVersionPerSide, 60, 61, true},
		{"buy deck bills nothing", 0, RecordUsageVersionPerSide, 60, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			setupMembers(t, s)
			tx := authorize(t, s, "sides").TransactionID
			c := rated(tx, "0.05", "0.03")
			c.CallID, c.Phase, c.Matched, c.ComponentID = "call-sides", PhaseFinal, true, "1"
			c.Rating.SetBuySeconds(tc.buy)
			b := enc(t, c)
			eq(t, "written version", b[1], tc.version)
			back, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			rt := back.(RecordUsage).Rating
			eq(t, "decoded sell seconds", rt.SellSeconds(), tc.wantSell)
			eq(t, "decoded buy seconds", rt.BuySeconds(), tc.wantBuy)
			eq(t, "decoded separately", rt.BuyBillableSeconds != nil, tc.separated)

			rs := applyLog(t, s, []batch{{index: s.AppliedIndex() + 1, cmds: [][]byte{b}}})
			eq(t, "code", rs[0][0].Code, OK)
			u, err := s.Usage(rs[0][0].UsageID)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "stored sell seconds", u.Rating.SellSeconds(), tc.wantSell)
			eq(t, "stored buy seconds", u.Rating.BuySeconds(), tc.wantBuy)
			if rep, err := s.Audit(); err != nil || !rep.OK {
				t.Fatalf("audit %+v %v", rep, err)
			}
		})
	}
}

// TestRatingPerSideRefusals: negative buy seconds are Invalid, and buy
// seconds for a rating that is absent do not decode (a hostile or corrupt
// entry is refused, not half applied).
func TestRatingPerSideRefusals(t *testing.T) {
	s := openTest(t)
	setupMembers(t, s)
	tx := authorize(t, s, "neg").TransactionID
	c := rated(tx, "0.05", "0.03")
	c.CallID, c.Phase, c.Matched = "call-neg", PhaseFinal, true
	c.Rating.SetBuySeconds(-1)
	eq(t, "negative buy seconds", apply1(t, s, c)[0].Code, Invalid)

	// A version 5 payload whose Adjust is absent but claims its seconds.
	c.Rating.SetBuySeconds(61)
	b := enc(t, c)
	b[len(b)-1] = 1 // Adjust: "present" flag of the buy seconds
	b = append(b, 2)
	if _, err := Decode(b); err == nil {
		t.Fatal("buy seconds of an absent Adjust decoded")
	}
}

// TestRatingPerSideWithQuality: a usage with both per-side seconds and a
// quality block is written as RecordUsage version 6 (version 5's payload
// plus the quality block) and stored as usage record version 5
// (usageRecordPerSide's fields plus the block); both survive the log and
// the store. Without the seconds it is still version 6, the buy-seconds
// flags false; without the block it stays version 5, byte for byte.
func TestRatingPerSideWithQuality(t *testing.T) {
	for _, buy := range []int64{61, 60} {
		s := openTest(t)
		setupMembers(t, s)
		tx := authorize(t, s, "sides-q").TransactionID
		c := rated(tx, "0.05", "0.03")
		c.CallID, c.Phase, c.Matched, c.ComponentID = "call-sides-q", PhaseFinal, true, "1"
		c.Rating.SetBuySeconds(buy)
		plain := enc(t, c)
		q := &UsageQuality{Candidate: "trunk:b1", SIPCode: 200, Alert: t0.Add(time.Second), PDDMillis: 1200, LossPPM: 100, JitterMicros: 9000}
		c.Quality = q
		b := enc(t, c)
		eq(t, "written version", b[1], byte(RecordUsageVersionQuality))
		perSide := buy != 60
		if perSide {
			eq(t, "without quality", plain[1], byte(RecordUsageVersionPerSide))
			if !strings.HasPrefix(string(b[2:]), string(plain[2:])) {
				t.Fatal("version 6 payload does not start with version 5's")
			}
		} else {
			eq(t, "without quality", plain[1], byte(RecordUsageVersionLifecycle))
		}
		back, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		got := back.(RecordUsage)
		eq(t, "decoded buy seconds", got.Rating.BuySeconds(), buy)
		eq(t, "decoded separately", got.Rating.BuyBillableSeconds != nil, perSide)
		if !reflect.DeepEqual(got.Quality, q) {
			t.Fatalf("decoded quality %+v, want %+v", got.Quality, q)
		}
		rs := applyLog(t, s, []batch{{index: s.AppliedIndex() + 1, cmds: [][]byte{b}}})
		eq(t, "code", rs[0][0].Code, OK)
		u, err := s.Usage(rs[0][0].UsageID)
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "stored buy seconds", u.Rating.BuySeconds(), buy)
		eq(t, "stored separately", u.Rating.BuyBillableSeconds != nil, perSide)
		if !reflect.DeepEqual(u.Quality, q) {
			t.Fatalf("stored quality %+v, want %+v", u.Quality, q)
		}
		var w wbuf
		encodeUsage(&w, u)
		eq(t, "stored record version", w.b[0], byte(usageRecordQuality))
		if rep, err := s.Audit(); err != nil || !rep.OK {
			t.Fatalf("audit %+v %v", rep, err)
		}
	}
}
