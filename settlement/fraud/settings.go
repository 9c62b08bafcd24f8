package fraud

import (
	"fmt"
	"time"

	"github.com/ospnode/ospnode/ledger"
)

// FromSettings returns DefaultConfig overridden by a network's settings
// (nil: the defaults), validated. Zero fields keep the default; a rule
// named twice, or unknown, is an error.
func FromSettings(s *ledger.FraudSettings) (Config, error) {
	c := DefaultConfig()
	if s == nil {
		return c, nil
	}
	c.Disabled = s.Disabled
	if len(s.HighRiskRanges) > 0 {
		c.Ranges = make([]Range, len(s.HighRiskRanges))
		for i, r := range s.HighRiskRanges {
			c.Ranges[i] = Range{Prefix: r.Prefix, Name: r.Name, Source: r.Source}
		}
	}
	setInt(&c.DestinationDigits, s.DestinationDigits)
	if s.LearnSeconds != nil {
		c.Learn = time.Duration(*s.LearnSeconds) * time.Second
	}
	setInt(&c.MaxKeys, s.MaxKeys)
	setInt(&c.MaxCalls, s.MaxCalls)
	seen := map[Rule]bool{}
	for _, rs := range s.Rules {
		r, err := ParseRule(rs.Rule)
		if err != nil {
			return Config{}, err
		}
		if seen[r] {
			return Config{}, fmt.Errorf("fraud: rule %s given twice", r)
		}
		seen[r] = true
		rc := c.Rule(r)
		if rs.Action != "" {
			rc.Action = Action(rs.Action)
		}
		if rs.WindowSeconds != 0 {
			rc.Window = time.Duration(rs.WindowSeconds) * time.Second
		}
		if rs.NewForSeconds != 0 {
			rc.NewFor = time.Duration(rs.NewForSeconds) * time.Second
		}
		setInt(&rc.BaselineWindows, rs.BaselineWindows)
		setInt(&rc.MinCalls, rs.MinCalls)
		setInt(&rc.ShortSeconds, rs.ShortSeconds)
		setInt(&rc.MaxConcurrent, rs.MaxConcurrent)
		setInt64(&rc.FactorPermille, rs.FactorPermille)
		setInt64(&rc.RatioPermille, rs.RatioPermille)
		setInt64(&rc.MinSeconds, rs.MinSeconds)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func setInt(p *int, v int) {
	if v != 0 {
		*p = v
	}
}

func setInt64(p *int64, v int64) {
	if v != 0 {
		*p = v
	}
}
