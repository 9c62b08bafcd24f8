package ledger

import (
	"testing"
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
