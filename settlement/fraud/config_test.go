package fraud

import (
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
)

func TestFromSettings(t *testing.T) {
	zero := 0
	c, err := FromSettings(&ledger.FraudSettings{
		HighRiskRanges: []ledger.FraudRange{{Prefix: "4470", Name: "UK personal numbers", Source: "ops"}},
		LearnSeconds:   &zero,
		Rules:          []ledger.FraudRuleSettings{{Rule: "short_calls", Action: "block", WindowSeconds: 60, MinCalls: 5}},
	})
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultConfig()
	if len(c.Ranges) != 1 || c.Ranges[0].Prefix != "4470" || c.Learn != 0 {
		t.Fatalf("ranges %+v learn %s", c.Ranges, c.Learn)
	}
	if c.ShortCalls.Action != ActionBlock || c.ShortCalls.Window != time.Minute || c.ShortCalls.MinCalls != 5 ||
		c.ShortCalls.RatioPermille != def.ShortCalls.RatioPermille || c.HighRisk != def.HighRisk {
		t.Fatalf("short calls %+v high risk %+v: want the overrides on the defaults", c.ShortCalls, c.HighRisk)
	}
	if c, err := FromSettings(nil); err != nil || c.HighRisk != def.HighRisk || len(c.Ranges) != len(def.Ranges) {
		t.Fatalf("nil settings: %+v %v", c, err)
	}
	for _, bad := range []*ledger.FraudSettings{
		{Rules: []ledger.FraudRuleSettings{{Rule: "telepathy"}}},
		{Rules: []ledger.FraudRuleSettings{{Rule: "high_risk"}, {Rule: "high_risk"}}},
		{Rules: []ledger.FraudRuleSettings{{Rule: "high_risk", Action: "maybe"}}},
		{HighRiskRanges: []ledger.FraudRange{{Prefix: "+88x"}}},
	} {
		if _, err := FromSettings(bad); err == nil || !strings.HasPrefix(err.Error(), "fraud: ") {
			t.Errorf("%+v: error %v", bad, err)
		}
	}
}
