package quality

import (
	"errors"
	"fmt"
	"math"
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
// authorisations still offers a demoted candidate first (ProbePct), so
// that a carrier that recovered gets traffic to show it. A zero field is
// off. Percentages are 0..100. Build it with Normalize.
type Thresholds struct {
	MinSamples int           `json:"min_samples,omitempty"`
	MinASR     float64       `json:"min_asr_pct,omitempty"`
	RecoverASR float64       `json:"recover_asr_pct,omitempty"`
	MinNER     float64       `json:"min_ner_pct,omitempty"`
	RecoverNER float64       `json:"recover_ner_pct,omitempty"`
	MaxPDD     time.Duration `json:"max_pdd,omitempty"`
	RecoverPDD time.Duration `json:"recover_pdd,omitempty"`
	Exclude    bool          `json:"exclude,omitempty"`
	ProbePct   float64       `json:"probe_pct,omitempty"`
	// WeightCost orders candidates of equal priority by cost per answered
	// call (cost ÷ ASR over the last-N window, once it holds MinSamples)
	// instead of cost alone: a cheap carrier that answers half its calls
	// costs twice its rate.
	WeightCost bool `json:"weight_cost,omitempty"`
}

// Enabled reports whether any threshold is set.
func (th *Thresholds) Enabled() bool {
	return th != nil && (th.MinASR > 0 || th.MinNER > 0 || th.MaxPDD > 0 || th.WeightCost)
}

// Normalize validates th and fills its defaults: MinSamples 0 is
// DefaultMinSamples, a Recover threshold left at 0 is its entering one (no
// hysteresis). Errors wrap ErrBadThresholds: a percentage outside 0..100
// (or not a number), a negative duration or sample size, a recovery
// threshold on the wrong side of its entering one.
func (th Thresholds) Normalize() (Thresholds, error) {
	for _, f := range []struct {
		name string
		v    float64
	}{{"min ASR", th.MinASR}, {"recover ASR", th.RecoverASR}, {"min NER", th.MinNER},
		{"recover NER", th.RecoverNER}, {"probe share", th.ProbePct}} {
		if math.IsNaN(f.v) || f.v < 0 || f.v > 100 {
			return th, fmt.Errorf("%w: %s %v%% is not between 0 and 100", ErrBadThresholds, f.name, f.v)
		}
	}
	if th.MinSamples < 0 || th.MaxPDD < 0 || th.RecoverPDD < 0 {
		return th, fmt.Errorf("%w: sample size and delays must not be negative", ErrBadThresholds)
	}
	if th.MinSamples == 0 {
		th.MinSamples = DefaultMinSamples
	}
	if th.RecoverASR == 0 {
		th.RecoverASR = th.MinASR
	}
	if th.RecoverNER == 0 {
		th.RecoverNER = th.MinNER
	}
	if th.RecoverPDD == 0 {
		th.RecoverPDD = th.MaxPDD
	}
	if th.RecoverASR < th.MinASR {
		return th, fmt.Errorf("%w: recover ASR %v%% is below min ASR %v%% (recovery must ask at least as much)", ErrBadThresholds, th.RecoverASR, th.MinASR)
	}
	if th.RecoverNER < th.MinNER {
		return th, fmt.Errorf("%w: recover NER %v%% is below min NER %v%%", ErrBadThresholds, th.RecoverNER, th.MinNER)
	}
	if th.MaxPDD > 0 && th.RecoverPDD > th.MaxPDD {
		return th, fmt.Errorf("%w: recover PDD %v is above max PDD %v", ErrBadThresholds, th.RecoverPDD, th.MaxPDD)
	}
	return th, nil
}

// breach returns why st enters the demoted state ("" when it does not).
func (th *Thresholds) breach(st *Stats) string {
	switch {
	case th.MinASR > 0 && st.ASR < th.MinASR:
		return fmt.Sprintf("ASR %s < %s", pct(st.ASR), pct(th.MinASR))
	case th.MinNER > 0 && st.NER < th.MinNER:
		return fmt.Sprintf("NER %s < %s", pct(st.NER), pct(th.MinNER))
	case th.MaxPDD > 0 && st.PDDSamples > 0 && st.PDD50 > th.MaxPDD:
		return fmt.Sprintf("PDD p50 %s > %s", secs(st.PDD50), secs(th.MaxPDD))
	}
	return ""
}

// unhealthy returns what keeps st in the demoted state ("" when every
// recovery threshold is met).
func (th *Thresholds) unhealthy(st *Stats) string {
	switch {
	case th.MinASR > 0 && st.ASR < th.RecoverASR:
		return fmt.Sprintf("ASR %s < %s to recover", pct(st.ASR), pct(th.RecoverASR))
	case th.MinNER > 0 && st.NER < th.RecoverNER:
		return fmt.Sprintf("NER %s < %s to recover", pct(st.NER), pct(th.RecoverNER))
	case th.MaxPDD > 0 && st.PDDSamples > 0 && st.PDD50 > th.RecoverPDD:
		return fmt.Sprintf("PDD p50 %s > %s to recover", secs(st.PDD50), secs(th.RecoverPDD))
	}
	return ""
}

// probePeriod is one in how many verdicts on a demoted key probes it (0:
// never).
func (th *Thresholds) probePeriod() uint64 {
	if th.ProbePct <= 0 {
		return 0
	}
	return uint64(math.Max(1, math.Round(100/th.ProbePct)))
}

func pct(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f%%", v)
	}
	return fmt.Sprintf("%.1f%%", v)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
