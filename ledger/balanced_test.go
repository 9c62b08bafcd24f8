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
