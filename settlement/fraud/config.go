package fraud

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Rule names a detection rule.
type Rule string

// The rules (doc.go describes each).
const (
	RuleHighRisk       Rule = "high_risk"
	RuleShortCalls     Rule = "short_calls"
	RuleNewDestination Rule = "new_destination"
	RuleSimultaneous   Rule = "simultaneous"
)

// Rules lists every rule, in a fixed order (for metrics and listings).
var Rules = []Rule{RuleHighRisk, RuleShortCalls, RuleNewDestination, RuleSimultaneous}

// Action is what a rule's finding asks for.
type Action string

// Actions.
const (
	ActionOff   Action = "off"   // the rule does not run
	ActionAlert Action = "alert" // report the finding
	ActionBlock Action = "block" // report it and block its scope until released
)

// Actions lists every action, in a fixed order.
var Actions = []Action{ActionOff, ActionAlert, ActionBlock}

// Valid reports whether a is a known action.
func (a Action) Valid() bool { return a == ActionOff || a == ActionAlert || a == ActionBlock }

// RuleConfig is one rule's settings. Fields a rule does not use are
// ignored (doc.go says which rule reads which).
type RuleConfig struct {
	Action Action
	// Window is the counting window (simultaneous: the least time
	// between two findings of one key); BaselineWindows the span of the
	// baseline in windows (the EWMA's N: α = 2/(N+1)).
	Window          time.Duration
	BaselineWindows int
	// MinCalls: the least count that may fire (high_risk, short_calls,
	// new_destination); FactorPermille: how far above the baseline the
	// count must be, in permille (3000 = 3×; high_risk, short_calls).
	MinCalls       int
	FactorPermille int64
	// ShortSeconds and RatioPermille (the least share of short calls, in
	// permille: 700 = 70%): short_calls.
	ShortSeconds  int
	RatioPermille int64
	// MinSeconds (the least call time in the window, in seconds: the
	// file's min_minutes) and NewFor: new_destination.
	MinSeconds int64
	NewFor     time.Duration
	// MaxConcurrent: simultaneous.
	MaxConcurrent int
}

// Config is the detector's configuration. DefaultConfig is what ships;
// the network configuration file overrides it field by field.
type Config struct {
	// Disabled turns every rule off.
	Disabled bool
	// Ranges are the high-risk ranges (DefaultRanges unless replaced).
	Ranges []Range
	// DestinationDigits: a number outside every high-risk range is keyed
	// by its first DestinationDigits digits (a number inside one, by the
	// range).
	DestinationDigits int
	// Learn is the learning period after the first event (doc.go).
	Learn time.Duration
	// MaxKeys caps the tracked (member, destination) and (member,
	// calling number) keys each; MaxCalls the calls in progress.
	MaxKeys  int
	MaxCalls int

	HighRisk       RuleConfig
	ShortCalls     RuleConfig
	NewDestination RuleConfig
	Simultaneous   RuleConfig
}

// DefaultConfig returns the shipped configuration: IRSF to high-risk
// ranges blocks; the other rules alert (their false positives, e.g. a
// call centre's short calls or a new customer's new destination, are an
// operator's call, not the clearinghouse's).
func DefaultConfig() Config {
	return Config{
		Ranges:            DefaultRanges(),
		DestinationDigits: 5,
		Learn:             time.Hour,
		MaxKeys:           100_000,
		MaxCalls:          500_000,
		// 10 calls in 10 minutes to a high-risk range from a member with
		// no history there, or 5× its usual (over a day of windows).
		HighRisk: RuleConfig{Action: ActionBlock, Window: 10 * time.Minute, BaselineWindows: 144, MinCalls: 10, FactorPermille: 5000},
		// 30 calls in 5 minutes to one destination, 70% under 6 s, 3× the
		// usual number of short calls: wangiri or pumping.
		ShortCalls: RuleConfig{Action: ActionAlert, Window: 5 * time.Minute, BaselineWindows: 288, MinCalls: 30, FactorPermille: 3000,
			ShortSeconds: 6, RatioPermille: 700},
		// 50 calls or 120 minutes in 5 minutes to a destination the member
		// never used before today.
		NewDestination: RuleConfig{Action: ActionAlert, Window: 5 * time.Minute, MinCalls: 50, MinSeconds: 120 * 60, NewFor: 24 * time.Hour},
		// More than 10 calls at once from one calling number (reported at
		// most once per window).
		Simultaneous: RuleConfig{Action: ActionAlert, Window: 5 * time.Minute, MaxConcurrent: 10},
	}
}

// Rule returns the settings of rule r (nil for an unknown rule).
func (c *Config) Rule(r Rule) *RuleConfig {
	switch r {
	case RuleHighRisk:
		return &c.HighRisk
	case RuleShortCalls:
		return &c.ShortCalls
	case RuleNewDestination:
		return &c.NewDestination
	case RuleSimultaneous:
		return &c.Simultaneous
	}
	return nil
}

// Bounds that keep the fixed-point arithmetic within int64 (factor ×
// baseline in micro-units) and a baseline's decay loop short.
const (
	maxFactorPermille  = 1_000_000 // 1000×
	maxBaselineWindows = 10_000
	maxMinSeconds      = 1 << 31
)

// Validate returns an error naming every setting that cannot work.
func (c *Config) Validate() error {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	if err := CheckRanges(c.Ranges); err != nil {
		bad("%v", err)
	}
	if c.DestinationDigits < 1 || c.DestinationDigits > maxPrefixDigits {
		bad("destination_digits %d: want 1 to %d", c.DestinationDigits, maxPrefixDigits)
	}
	if c.Learn < 0 {
		bad("learn %s: negative", c.Learn)
	}
	if c.MaxKeys < 1 || c.MaxCalls < 1 {
		bad("max_keys %d, max_calls %d: want at least 1", c.MaxKeys, c.MaxCalls)
	}
	for _, r := range Rules {
		rc := c.Rule(r)
		if !rc.Action.Valid() {
			bad("%s: action %q: want off, alert or block", r, rc.Action)
		}
		if rc.Action == ActionOff {
			continue
		}
		if rc.Window <= 0 {
			bad("%s: window %s: want more than 0", r, rc.Window)
		}
		if rc.MinCalls < 0 || rc.BaselineWindows < 0 || rc.FactorPermille < 0 || rc.MinSeconds < 0 {
			bad("%s: negative threshold", r)
		}
		if rc.FactorPermille > maxFactorPermille || rc.BaselineWindows > maxBaselineWindows || rc.MinSeconds > maxMinSeconds {
			bad("%s: want factor at most %d, baseline_windows at most %d and min_minutes at most %d", r,
				maxFactorPermille/Permille, maxBaselineWindows, maxMinSeconds/60)
		}
		switch r {
		case RuleHighRisk:
			if rc.MinCalls < 1 {
				bad("%s: min_calls %d: want at least 1", r, rc.MinCalls)
			}
		case RuleShortCalls:
			if rc.MinCalls < 1 || rc.ShortSeconds < 1 || rc.RatioPermille <= 0 || rc.RatioPermille > Permille {
				bad("%s: want min_calls ≥ 1, short_seconds ≥ 1 and 0 < ratio ≤ 1", r)
			}
		case RuleNewDestination:
			if rc.MinCalls < 1 && rc.MinSeconds <= 0 {
				bad("%s: want min_calls or min_minutes", r)
			}
			if rc.NewFor <= 0 {
				bad("%s: new_for %s: want more than 0", r, rc.NewFor)
			}
		case RuleSimultaneous:
			if rc.MaxConcurrent < 1 {
				bad("%s: max_concurrent %d: want at least 1", r, rc.MaxConcurrent)
			}
		}
	}
	if len(probs) > 0 {
		return errors.New("fraud: " + strings.Join(probs, "; "))
	}
	return nil
}

// ParseRule returns the rule named s.
func ParseRule(s string) (Rule, error) {
	for _, r := range Rules {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("fraud: unknown rule %q (want high_risk, short_calls, new_destination or simultaneous)", s)
}
