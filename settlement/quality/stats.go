package quality

import (
	"encoding/json"
	"time"
)

// Stats summarises one window of one key. ASRBps and NERBps are shares
// of Attempts, ShortBps of the answered calls, in integer basis points
// (0..10000; 7500 is 75.00 %), truncated: answered*10000/attempts. ACD is
// over answered calls; PDD percentiles are the upper bound of their
// histogram bucket (pddBounds) over the attempts that reported a post-dial
// delay (PDDSamples); loss (LossPPM, parts per million of packets) and
// jitter are means over the attempts that reported them, truncated. All
// integers, so every node computes the same figures on any CPU.
type Stats struct {
	Attempts      int
	Answered      int
	UserFailures  int
	ShortCalls    int
	ASRBps        int
	NERBps        int
	ShortBps      int // short calls, basis points of answered calls
	ACD           time.Duration
	PDD50         time.Duration
	PDD95         time.Duration
	PDDSamples    int
	LossPPM       int
	LossSamples   int
	Jitter        time.Duration
	JitterSamples int
}

// statsJSON is Stats on the wire: durations in milliseconds, jitter in
// microseconds, shares in basis points, loss in ppm.
type statsJSON struct {
	Attempts      int   `json:"attempts"`
	Answered      int   `json:"answered"`
	UserFailures  int   `json:"user_failures"`
	ShortCalls    int   `json:"short_calls"`
	ASRBps        int   `json:"asr_bps"`
	NERBps        int   `json:"ner_bps"`
	ShortBps      int   `json:"short_call_bps"`
	ACDMs         int64 `json:"acd_ms"`
	PDD50Ms       int64 `json:"pdd_p50_ms"`
	PDD95Ms       int64 `json:"pdd_p95_ms"`
	PDDSamples    int   `json:"pdd_samples"`
	LossPPM       int   `json:"loss_ppm"`
	LossSamples   int   `json:"loss_samples"`
	JitterUs      int64 `json:"jitter_us"`
	JitterSamples int   `json:"jitter_samples"`
}

// MarshalJSON writes durations as milliseconds (acd_ms, pdd_p50_ms, …) and
// jitter as microseconds (jitter_us).
func (s Stats) MarshalJSON() ([]byte, error) {
	return json.Marshal(statsJSON{s.Attempts, s.Answered, s.UserFailures, s.ShortCalls, s.ASRBps, s.NERBps, s.ShortBps,
		s.ACD.Milliseconds(), s.PDD50.Milliseconds(), s.PDD95.Milliseconds(), s.PDDSamples, s.LossPPM, s.LossSamples,
		s.Jitter.Microseconds(), s.JitterSamples})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Stats) UnmarshalJSON(b []byte) error {
	var j statsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Stats{j.Attempts, j.Answered, j.UserFailures, j.ShortCalls, j.ASRBps, j.NERBps, j.ShortBps,
		time.Duration(j.ACDMs) * time.Millisecond, time.Duration(j.PDD50Ms) * time.Millisecond,
		time.Duration(j.PDD95Ms) * time.Millisecond, j.PDDSamples, j.LossPPM, j.LossSamples,
		time.Duration(j.JitterUs) * time.Microsecond, j.JitterSamples}
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
		st.ASRBps = bps(c.answered, c.attempts)
		st.NERBps = bps(c.answered+c.user, c.attempts)
	}
	if c.answered > 0 {
		st.ACD = time.Duration(c.durMs/c.answered) * time.Millisecond
		st.ShortBps = bps(c.short, c.answered)
	}
	if c.pddN > 0 {
		st.PDD50 = c.percentile(50)
		st.PDD95 = c.percentile(95)
	}
	if c.lossN > 0 {
		st.LossPPM = int(c.lossPPM / c.lossN)
	}
	if c.jitN > 0 {
		st.Jitter = time.Duration(c.jitUs/c.jitN) * time.Microsecond
	}
	return st
}

// bps is n as a share of of, in basis points, truncated (of > 0).
func bps(n, of int64) int { return int(n * 10000 / of) }

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
