package quality

import (
	"errors"
	"fmt"
	"time"
)

// ErrBadThresholds is wrapped by Thresholds.Normalize for a value out of
// range; the message names the field.
var ErrBadThresholds = errors.New("quality: bad thresholds")

// DefaultMinSamples is the sample size a verdict needs when Thresholds
// leaves MinSamples at 0.
const DefaultMinSamples = 20

// Thresholds is one route's quality policy: when a candidate enters the
// demoted state (ASR or NER below its minimum, PDD p50 above its maximum,
// over the last-N window, once it holds MinSamples attempts), when it
// leaves it (every Recover threshold met: hysteresis, so a candidate near a
// limit does not flap), what demoted means (Exclude: not offered at all;
// otherwise offered after every healthy candidate) and which share of
// authorisations still offers a demoted candidate first (ProbeBps), so
// that a carrier that recovered gets traffic to show it. A zero field is
// off. Shares are integer basis points, 0..10000 (3000 is 30.00 %), and
// compare with Stats' truncated basis points: integers, so every node
// judges alike on any CPU. Build it with Normalize.
type Thresholds struct {
	MinSamples    int           `json:"min_samples,omitempty"`
	MinASRBps     int           `json:"min_asr_bps,omitempty"`
	RecoverASRBps int           `json:"recover_asr_bps,omitempty"`
	MinNERBps     int           `json:"min_ner_bps,omitempty"`
	RecoverNERBps int           `json:"recover_ner_bps,omitempty"`
	MaxPDD        time.Duration `json:"max_pdd,omitempty"`
	RecoverPDD    time.Duration `json:"recover_pdd,omitempty"`
	Exclude       bool          `json:"exclude,omitempty"`
	ProbeBps      int           `json:"probe_bps,omitempty"`
	// WeightCost orders candidates of equal priority by cost per answered
	// call (cost ÷ ASR over the last-N window, once it holds MinSamples)
	// instead of cost alone: a cheap carrier that answers half its calls
	// costs twice its rate.
	WeightCost bool `json:"weight_cost,omitempty"`
}

// Enabled reports whether any threshold is set.
func (th *Thresholds) Enabled() bool {
	return th != nil && (th.MinASRBps > 0 || th.MinNERBps > 0 || th.MaxPDD > 0 || th.WeightCost)
}

// Normalize validates th and fills its defaults: MinSamples 0 is
// DefaultMinSamples, a Recover threshold left at 0 is its entering one (no
// hysteresis). Errors wrap ErrBadThresholds: a share outside 0..10000
// basis points, a negative duration or sample size, a recovery
// threshold on the wrong side of its entering one.
func (th Thresholds) Normalize() (Thresholds, error) {
	for _, f := range []struct {
		name string
		v    int
	}{{"min ASR", th.MinASRBps}, {"recover ASR", th.RecoverASRBps}, {"min NER", th.MinNERBps},
		{"recover NER", th.RecoverNERBps}, {"probe share", th.ProbeBps}} {
		if f.v < 0 || f.v > 10000 {
			return th, fmt.Errorf("%w: %s %s is not between 0 and 100%%", ErrBadThresholds, f.name, pct(f.v))
		}
	}
	if th.MinSamples < 0 || th.MaxPDD < 0 || th.RecoverPDD < 0 {
		return th, fmt.Errorf("%w: sample size and delays must not be negative", ErrBadThresholds)
	}
	if th.MinSamples == 0 {
		th.MinSamples = DefaultMinSamples
	}
	if th.RecoverASRBps == 0 {
		th.RecoverASRBps = th.MinASRBps
	}
	if th.RecoverNERBps == 0 {
		th.RecoverNERBps = th.MinNERBps
	}
	if th.RecoverPDD == 0 {
		th.RecoverPDD = th.MaxPDD
	}
	if th.RecoverASRBps < th.MinASRBps {
		return th, fmt.Errorf("%w: recover ASR %s is below min ASR %s (recovery must ask at least as much)", ErrBadThresholds, pct(th.RecoverASRBps), pct(th.MinASRBps))
	}
	if th.RecoverNERBps < th.MinNERBps {
		return th, fmt.Errorf("%w: recover NER %s is below min NER %s", ErrBadThresholds, pct(th.RecoverNERBps), pct(th.MinNERBps))
	}
	if th.MaxPDD > 0 && th.RecoverPDD > th.MaxPDD {
		return th, fmt.Errorf("%w: recover PDD %v is above max PDD %v", ErrBadThresholds, th.RecoverPDD, th.MaxPDD)
	}
	return th, nil
}

// breach returns why st enters the demoted state ("" when it does not).
func (th *Thresholds) breach(st *Stats) string {
	switch {
	case th.MinASRBps > 0 && st.ASRBps < th.MinASRBps:
		return fmt.Sprintf("ASR %s < %s", pct(st.ASRBps), pct(th.MinASRBps))
	case th.MinNERBps > 0 && st.NERBps < th.MinNERBps:
		return fmt.Sprintf("NER %s < %s", pct(st.NERBps), pct(th.MinNERBps))
	case th.MaxPDD > 0 && st.PDDSamples > 0 && st.PDD50 > th.MaxPDD:
		return fmt.Sprintf("PDD p50 %s > %s", secs(st.PDD50), secs(th.MaxPDD))
	}
	return ""
}

// unhealthy returns what keeps st in the demoted state ("" when every
// recovery threshold is met).
func (th *Thresholds) unhealthy(st *Stats) string {
	switch {
	case th.MinASRBps > 0 && st.ASRBps < th.RecoverASRBps:
		return fmt.Sprintf("ASR %s < %s to recover", pct(st.ASRBps), pct(th.RecoverASRBps))
	case th.MinNERBps > 0 && st.NERBps < th.RecoverNERBps:
		return fmt.Sprintf("NER %s < %s to recover", pct(st.NERBps), pct(th.RecoverNERBps))
	case th.MaxPDD > 0 && st.PDDSamples > 0 && st.PDD50 > th.RecoverPDD:
		return fmt.Sprintf("PDD p50 %s > %s to recover", secs(st.PDD50), secs(th.RecoverPDD))
	}
	return ""
}

// probePeriod is one in how many verdicts on a demoted key probes it (0:
// never): 10000 ÷ ProbeBps rounded half up, at least 1.
func (th *Thresholds) probePeriod() uint64 {
	if th.ProbeBps <= 0 {
		return 0
	}
	return uint64(max(1, (10000+th.ProbeBps/2)/th.ProbeBps))
}

// pct formats basis points as a percentage: whole ("30%") when it is
// whole, else to one decimal, rounded half up ("12.5%").
func pct(bps int) string {
	sign := ""
	if bps < 0 {
		sign, bps = "-", -bps
	}
	if bps%100 == 0 {
		return fmt.Sprintf("%s%d%%", sign, bps/100)
	}
	t := (bps + 5) / 10 // tenths of a percent
	if t%10 == 0 {
		return fmt.Sprintf("%s%d%%", sign, t/10)
	}
	return fmt.Sprintf("%s%d.%d%%", sign, t/10, t%10)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
