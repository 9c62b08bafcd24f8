package ledger

import (
	"testing"

	"github.com/ospnode/ospnode/ledger/money"
)

// TestCheckBalancedSmallMatchesMap: the small-posting fast path gives the
// general path's exact message (Apply stores and returns it).
func TestCheckBalancedSmallMatchesMap(t *testing.T) {
	eur := func(v string) money.Amount { return money.MustNew(v, "EUR") }
	gbp := func(v string) money.Amount { return money.MustNew(v, "GBP") }
	l := func(acct string, a money.Amount) PostingLine { return PostingLine{Account: acct, Amount: a} }
	cases := map[string][]PostingLine{
		"empty":          nil,
		"balanced":       {l("a", usd("1.5")), l("b", usd("-1.5"))},
		"usage two curs": {l("a", usd("0.0160")), l("r", usd("-0.0160")), l("c", eur("0.015")), l("p", eur("-0.015"))},
		"off one":        {l("a", usd("1")), l("b", usd("-0.9"))},
		"off two, order": {l("a", usd("1")), l("b", gbp("2")), l("c", eur("3")), l("d", usd("-1"))},
		"zero amount":    {l("a", money.Amount{}), l("b", usd("0"))},
		"single":         {l("a", eur("-0.0001"))},
	}
	for name, lines := range cases {
		t.Run(name, func(t *testing.T) {
			if got, want := checkBalancedSmall(lines), checkBalancedMap(lines); got != want {
				t.Errorf("small %q, map %q", got, want)
			}
		})
	}
}

// TestApplyHotDecodeMatchesDecode: Apply decodes Authorize and RecordUsage
// without Decode, but a malformed payload still gets Decode's message.
func TestApplyHotDecodeMatchesDecode(t *testing.T) {
	s := openTest(t)
	auth := enc(t, benchAuthorize(1))
	use := enc(t, benchUsage(1, 1))
	cmds := [][]byte{auth[:len(auth)-3], use[:len(use)-5], append(append([]byte{}, use...), 0), auth[:2]}
	for i, r := range s.ApplyBatch(1, cmds) {
		res, err := DecodeResult(r)
		if err != nil {
			t.Fatal(err)
		}
		_, derr := Decode(cmds[i])
		if derr == nil || res.Code != Invalid || res.Message != derr.Error() {
			t.Errorf("cmd %d: %s %q, Decode error %v", i, res.Code, res.Message, derr)
		}
	}
}
