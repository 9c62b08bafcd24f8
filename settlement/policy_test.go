package settlement

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ospnode/ospnode/ledger/money"
)

func mustPolicy(t *testing.T, margin string) Policy {
	t.Helper()
	p, err := NewPolicy(margin, 7200, 1)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewPolicyValidates(t *testing.T) {
	tests := []struct {
		margin string
		limit  int
		ok     bool
	}{
		{"", 7200, true}, {"0", 7200, true}, {"0.05", 7200, true}, {"-0.1", 7200, true}, {"0.999", 7200, true},
		{"0.o5", 7200, false}, {"5%", 7200, false}, {"NaN", 7200, false}, {"Infinity", 7200, false},
		{"1", 7200, false}, {"5", 7200, false}, {"0.05", 0, false},
	}
	for _, tc := range tests {
		_, err := NewPolicy(tc.margin, tc.limit, 0)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadInput)) {
			t.Errorf("NewPolicy(%q, %d) = %v, want ok %v (errors wrap ErrBadInput)", tc.margin, tc.limit, err, tc.ok)
		}
	}
}

func TestMarginOK(t *testing.T) {
	tests := []struct {
		margin, sell, cost string
		costCur            string
		want               bool
	}{
		{"0", "0.10", "0.10", "USD", true},
		{"0", "0.10", "0.1001", "USD", false},
		{"0.05", "0.10", "0.095", "USD", true},
		{"0.05", "0.10", "0.0951", "USD", false},
		{"-0.1", "0.10", "0.11", "USD", true},
		{"0.05", "0.10", "5", "EUR", true}, // no exchange rate: not compared
	}
	for _, tc := range tests {
		p := mustPolicy(t, tc.margin)
		if got := p.MarginOK(usd(tc.sell), money.MustNew(tc.cost, tc.costCur)); got != tc.want {
			t.Errorf("margin %s: sell %s cost %s %s: %v, want %v", tc.margin, tc.sell, tc.cost, tc.costCur, got, tc.want)
		}
	}
	var zero Policy
	if !zero.MarginOK(usd("0.10"), usd("0.10")) || zero.MarginOK(usd("0.10"), usd("0.11")) {
		t.Error("the zero Policy is not margin 0")
	}
}

func TestTranslate(t *testing.T) {
	tests := []struct {
		num   string
		strip int
		add   string
		want  string
	}{
		{"4930123", 2, "0049", "004930123"}, {"49", 5, "x", "x"}, {"49", 2, "", ""}, {"49", 0, "", "49"}, {"49", -1, "1", "149"},
	}
	for _, tc := range tests {
		if got := Translate(tc.num, tc.strip, tc.add); got != tc.want {
			t.Errorf("Translate(%q, %d, %q) = %q, want %q", tc.num, tc.strip, tc.add, got, tc.want)
		}
	}
}

func TestSecondsFor(t *testing.T) {
	tests := []struct {
		rem, sell string
		sellOK    bool
		sellCur   string
		want      int
		why       string
	}{
		{"6.00", "0.03", true, "USD", 7200, ""}, // buys more than the limit
		{"2.40", "0.03", true, "USD", 4800, ""}, // 80 minutes
		{"0.0001", "0.03", true, "USD", 0, "credit limit reached"},
		{"0", "0.03", true, "USD", 0, "credit limit reached"},
		{"-1", "0.03", true, "USD", 0, "credit limit reached"},
		{"1", "0.03", false, "USD", 7200, ""}, // no sell rate: not reduced
		{"1", "0.03", true, "EUR", 7200, ""},  // another currency
		{"1", "0", true, "USD", 7200, ""},     // free
	}
	for _, tc := range tests {
		got, why := SecondsFor(usd(tc.rem), money.MustNew(tc.sell, tc.sellCur), tc.sellOK, 7200)
		if got != tc.want || why != tc.why {
			t.Errorf("SecondsFor(%s, %s %s) = %d %q, want %d %q", tc.rem, tc.sell, tc.sellCur, got, why, tc.want, tc.why)
		}
	}
}

const policyDeck = "prefix,description,rate,connect_fee,first_increment,next_increment,effective_from\n" +
	"1678,Atlanta,0.0300,0.0100,60,60,2026-01-01\n" +
	"44,UK,0.1200,0,30,6,2026-01-01\n"

func TestCreditGrantAndHold(t *testing.T) {
	r := testDeck(t, policyDeck, DeckOptions{Decimals: 4})
	p := mustPolicy(t, "0")
	at := jan1.AddDate(0, 1, 0)
	tests := []struct {
		called, rem string
		limit       int
		hold, why   string
	}{
		{"16785551234", "100", 7200, "3.6100", ""},  // 120 min × 0.03 + 0.01 connect
		{"16785551234", "1.21", 1815, "0.9400", ""}, // 1.21 × 60 / 0.04 (minute incl. fee) = 1815 s → 31 min started
		{"16785551234", "0", 0, "", "credit limit reached"},
		{"4420", "100", 7200, "14.4000", ""},
		{"33", "100", 7200, "", ""}, // no sell rate: the full limit, nothing held
	}
	for _, tc := range tests {
		cc := p.Credit(r, tc.called, at)
		limit, hold, why := cc.Grant(usd(tc.rem))
		h := ""
		if hold.Currency() != "" {
			h = hold.Text()
		}
		if limit != tc.limit || h != tc.hold || why != tc.why {
			t.Errorf("%s with %s: limit %d hold %q %q, want %d %q %q", tc.called, tc.rem, limit, h, why, tc.limit, tc.hold, tc.why)
		}
	}
	// The fallback when the deck does not rate the call: whole minutes × sell.
	if got := HoldAmount(nil, "16785551234", at, usd("0.04"), 61); got.Text() != "0.08" {
		t.Errorf("fallback hold %s, want 0.08", got.Text())
	}
	if c, ok := MinuteCost(r, "33", at); ok {
		t.Errorf("MinuteCost without a row: %s", c)
	}
	if c, ok := MinuteCost(r, "+16785551234", at); !ok || c.Text() != "0.0400" {
		t.Errorf("MinuteCost = %s %v, want 0.0400", c.Text(), ok)
	}
}

func TestRank(t *testing.T) {
	p := mustPolicy(t, "0.10")
	sell := usd("0.10")
	priced := func(id string, prio int, cost string) Candidate {
		return Candidate{ID: id, RoutePriority: prio, BuyDeck: true, Rated: true, Cost: usd(cost)}
	}
	cands := []Candidate{
		priced("dear", 1, "0.095"),                      // below the 10 % margin: dropped
		{ID: "norate", RoutePriority: 1, BuyDeck: true}, // deck without a rate: dropped
		{ID: "unknown", RoutePriority: 1},               // no deck: unknown cost, after the priced
		priced("cheap", 1, "0.05"),
		priced("mid", 1, "0.08"),
		{ID: "peer", Peer: true, RoutePriority: 1, BuyDeck: true, Rated: true, Cost: usd("0.06")},
		priced("backup", 2, "0.01"), // a lower priority beats any cost
		{ID: "first", RoutePriority: 1, TrunkPriority: -1},
	}
	got := p.Rank(cands, sell, true, p.Seed("m", "1", "c"))
	var ids []string
	for _, i := range got {
		ids = append(ids, cands[i].ID)
	}
	want := []string{"first", "cheap", "peer", "mid", "unknown", "backup"}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("ranked %v, want %v", ids, want)
	}
	// Without a sell rate the margin is not checked; a missing rate still drops.
	got = p.Rank(cands[:2], sell, false, 0)
	if len(got) != 1 || cands[got[0]].ID != "dear" {
		t.Fatalf("without a sell rate: %v", got)
	}
	for _, tc := range []struct {
		c   Candidate
		ok  bool
		why string
	}{
		{cands[0], false, "margin"}, {cands[1], false, "no rate"}, {cands[2], true, ""},
	} {
		if ok, why := p.Keep(&tc.c, sell, true); ok != tc.ok || why != tc.why {
			t.Errorf("Keep(%s) = %v %q, want %v %q", tc.c.ID, ok, why, tc.ok, tc.why)
		}
	}
}

// TestRankWeights: equals share by weight, deterministically per seed.
func TestRankWeights(t *testing.T) {
	var p Policy
	cands := []Candidate{{ID: "a", RouteWeight: 1, TrunkWeight: 3}, {ID: "b", RouteWeight: 1}, {ID: "none", RouteWeight: 0}}
	first := map[string]int{}
	for i := range 4000 {
		seed := p.Seed("m", fmt.Sprint(i), "")
		r := p.Rank(cands, money.Amount{}, false, seed)
		if again := p.Rank(cands, money.Amount{}, false, seed); fmt.Sprint(again) != fmt.Sprint(r) {
			t.Fatal("one seed, two orders")
		}
		first[cands[r[0]].ID]++
	}
	// weights 3 : 1 : 1 (0 counts as 1 in the shuffle)
	if a := first["a"]; a < 2100 || a > 2700 {
		t.Fatalf("first choices %v: a should lead ~60%%", first)
	}
}
