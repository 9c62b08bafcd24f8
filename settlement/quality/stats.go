package quality

import (
	"encoding/json"
	"time"
)

// Stats summarises one window of one key. ASR and NER are percentages
// (0..100) of Attempts, ShortRatio of the answered calls; ACD is over
// answered calls; PDD percentiles are the upper
// bound of their histogram bucket (pddBounds) over the attempts that
// reported a post-dial delay (PDDSamples); loss (a percentage of packets)
// and jitter are means over the attempts that reported them.
type Stats struct {
	Attempts      int
	Answered      int
	UserFailures  int
	ShortCalls    int
	ASR           float64
	NER           float64
	ShortRatio    float64 // short calls, % of answered calls
	ACD           time.Duration
	PDD50         time.Duration
	PDD95         time.Duration
	PDDSamples    int
	LossPct       float64
	LossSamples   int
	Jitter        time.Duration
	JitterSamples int
}

// statsJSON is Stats on the wire: durations in milliseconds.
type statsJSON struct {
	Attempts      int     `json:"attempts"`
	Answered      int     `json:"answered"`
	UserFailures  int     `json:"user_failures"`
	ShortCalls    int     `json:"short_calls"`
	ASR           float64 `json:"asr_pct"`
	NER           float64 `json:"ner_pct"`
	ShortRatio    float64 `json:"short_call_pct"`
	ACDMs         int64   `json:"acd_ms"`
	PDD50Ms       int64   `json:"pdd_p50_ms"`
	PDD95Ms       int64   `json:"pdd_p95_ms"`
	PDDSamples    int     `json:"pdd_samples"`
	LossPct       float64 `json:"loss_pct"`
	LossSamples   int     `json:"loss_samples"`
	JitterMs      float64 `json:"jitter_ms"`
	JitterSamples int     `json:"jitter_samples"`
}

// MarshalJSON writes durations as milliseconds (acd_ms, pdd_p50_ms, …).
func (s Stats) MarshalJSON() ([]byte, error) {
	return json.Marshal(statsJSON{s.Attempts, s.Answered, s.UserFailures, s.ShortCalls, s.ASR, s.NER, s.ShortRatio,
		s.ACD.Milliseconds(), s.PDD50.Milliseconds(), s.PDD95.Milliseconds(), s.PDDSamples, s.LossPct, s.LossSamples,
		float64(s.Jitter.Microseconds()) / 1000, s.JitterSamples})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Stats) UnmarshalJSON(b []byte) error {
	var j statsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Stats{j.Attempts, j.Answered, j.UserFailures, j.ShortCalls, j.ASR, j.NER, j.ShortRatio,
		time.Duration(j.ACDMs) * time.Millisecond, time.Duration(j.PDD50Ms) * time.Millisecond,
		time.Duration(j.PDD95Ms) * time.Millisecond, j.PDDSamples, j.LossPct, j.LossSamples,
		time.Duration(j.JitterMs * float64(time.Millisecond)), j.JitterSamples}
	return nil
}

// pddBounds are the upper bounds of the PDD histogram's buckets (the last
// bucket is everything above the last bound): fine where thresholds are
// usually set (1–5 s), coarse beyond.
var pddBounds = [...]time.Duration{
	100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 500 * time.Millisecond,
	750 * time.Millisecond, time.Second, 1500 * time.Millisecond, 2 * time.Second,
	2500 * time.Millisecond, 3 * time.Second, 4 * time.Second, 5 * time.Second, 6 * time.Second,
	8 * time.Second, 10 * time.Second, 15 * time.Second, 20 * time.Second, 30 * time.Second,
}

const pddBuckets = len(pddBounds) + 1

func pddBucket(d time.Duration) uint8 {
	for i, b := range pddBounds {
		if d <= b {
			return uint8(i)
		}
	}
	return uint8(len(pddBounds))
}

// counts are the running sums of a window: added to as attempts come in,
// subtracted from as they leave, never rescanned.
type counts struct {
	attempts, answered, user, short int64
	durMs                           int64
	pdd                             [pddBuckets]int64
	pddN                            int64
	lossPPM, lossN                  int64
	jitUs, jitN                     int64
}

// sample is one attempt as the last-N ring keeps it: what the counts need
// to take it out again.
type sample struct {
	kind    uint8
	pdd     uint8 // bucket + 1; 0: not reported
	short   bool
	durMs   uint32
	lossPPM int32 // -1: not reported
	jitUs   int32 // -1: not reported
}

func (c *counts) add(s *sample, sign int64) {
	c.attempts += sign
	switch s.kind {
	case Answered:
		c.answered += sign
		c.durMs += sign * int64(s.durMs)
		if s.short {
			c.short += sign
		}
	case UserFailure:
		c.user += sign
	}
	if s.pdd > 0 {
		c.pdd[s.pdd-1] += sign
		c.pddN += sign
	}
	if s.lossPPM >= 0 {
		c.lossPPM += sign * int64(s.lossPPM)
		c.lossN += sign
	}
	if s.jitUs >= 0 {
		c.jitUs += sign * int64(s.jitUs)
		c.jitN += sign
	}
}

func (c *counts) merge(o *counts) {
	c.attempts += o.attempts
	c.answered += o.answered
	c.user += o.user
	c.short += o.short
	c.durMs += o.durMs
	for i := range c.pdd {
		c.pdd[i] += o.pdd[i]
	}
	c.pddN += o.pddN
	c.lossPPM += o.lossPPM
	c.lossN += o.lossN
	c.jitUs += o.jitUs
	c.jitN += o.jitN
}

func (c *counts) stats() Stats {
	st := Stats{Attempts: int(c.attempts), Answered: int(c.answered), UserFailures: int(c.user),
		ShortCalls: int(c.short), PDDSamples: int(c.pddN), LossSamples: int(c.lossN), JitterSamples: int(c.jitN)}
	if c.attempts > 0 {
		st.ASR = float64(c.answered*100) / float64(c.attempts)
		st.NER = float64((c.answered+c.user)*100) / float64(c.attempts)
	}
	if c.answered > 0 {
		st.ACD = time.Duration(c.durMs/c.answered) * time.Millisecond
		st.ShortRatio = float64(c.short*100) / float64(c.answered)
	}
	if c.pddN > 0 {
		st.PDD50 = c.percentile(50)
		st.PDD95 = c.percentile(95)
	}
	if c.lossN > 0 {
		st.LossPct = float64(c.lossPPM) / float64(c.lossN) / 1e4
	}
	if c.jitN > 0 {
		st.Jitter = time.Duration(c.jitUs/c.jitN) * time.Microsecond
	}
	return st
}

// percentile returns the upper bound of the bucket holding the p-th
// percentile (the last bucket reports the last bound).
func (c *counts) percentile(p int64) time.Duration {
	rank := (c.pddN*p + 99) / 100 // nearest rank, 1-based
	if rank < 1 {
		rank = 1
	}
	var seen int64
	for i, n := range c.pdd {
		seen += n
		if seen >= rank {
			if i < len(pddBounds) {
				return pddBounds[i]
			}
			break
		}
	}
	return pddBounds[len(pddBounds)-1]
}
