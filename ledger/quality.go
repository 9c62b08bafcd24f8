package ledger

import (
	"math"
	"time"
)

// UsageQuality is what a usage report says about the quality of the
// attempt, for route quality (settlement/quality): which route candidate
// carried it, as the proposing node resolved it from the transaction and
// the report ("trunk:ID" or "peer:ID"; "" when it could not tell), the SIP
// status reported as such, the alert time, and the post-dial delay, packet
// loss and jitter where the reporter gave them (-1: not reported). It is
// informational: nothing is rated or posted from it, and it is not part of
// a report's content hash (two reports that differ only here are the same
// report).
type UsageQuality struct {
	Candidate    string    `json:"candidate,omitempty"`
	SIPCode      uint16    `json:"sip_code,omitempty"`
	Alert        time.Time `json:"alert,omitzero"`
	PDDMillis    int64     `json:"pdd_ms"`
	LossPPM      int32     `json:"loss_ppm"`
	JitterMicros int32     `json:"jitter_us"`
}

// maxCandidateLen bounds UsageQuality.Candidate ("trunk:" + an id).
const maxCandidateLen = 6 + 128

// checkQuality refuses a quality block that is out of range.
func checkQuality(q *UsageQuality) *Result {
	if q == nil {
		return nil
	}
	switch {
	case len(q.Candidate) > maxCandidateLen:
		return invalid("usage: candidate of %d bytes (at most %d)", len(q.Candidate), maxCandidateLen)
	case q.PDDMillis < -1 || q.PDDMillis > int64(24*time.Hour/time.Millisecond):
		return invalid("usage: post-dial delay %d ms out of range", q.PDDMillis)
	case q.LossPPM < -1 || q.LossPPM > 1_000_000:
		return invalid("usage: loss %d ppm out of range", q.LossPPM)
	case q.JitterMicros < -1:
		return invalid("usage: jitter %d µs out of range", q.JitterMicros)
	case !nanoSafe(q.Alert):
		return invalid("usage: alert time out of range")
	}
	return nil
}

func encodeQuality(w *wbuf, q *UsageQuality) {
	w.str(q.Candidate)
	w.u(uint64(q.SIPCode))
	w.time(q.Alert)
	w.i(q.PDDMillis)
	w.i(int64(q.LossPPM))
	w.i(int64(q.JitterMicros))
}

func decodeQuality(r *rbuf) *UsageQuality {
	q := &UsageQuality{}
	q.Candidate = r.str()
	sip := r.u()
	if sip > math.MaxUint16 {
		r.fail()
	}
	q.SIPCode = uint16(sip)
	q.Alert = r.time()
	q.PDDMillis = r.i()
	loss, jit := r.i(), r.i()
	if loss < math.MinInt32 || loss > math.MaxInt32 || jit < math.MinInt32 || jit > math.MaxInt32 {
		r.fail()
	}
	q.LossPPM, q.JitterMicros = int32(loss), int32(jit)
	return q
}

// RouteQuality is a route's quality policy (settlement/quality
// Thresholds): a candidate whose last attempts fall below MinASRBps or
// MinNERBps, or whose median post-dial delay exceeds MaxPDDMillis, over at
// least MinSamples attempts, is demoted (offered after the healthy ones)
// or, with Exclude, not offered; it leaves that state once every Recover
// threshold is met (0: the entering one). ProbeBps of the authorisations
// still offer a demoted candidate first, so a carrier that recovered gets
// traffic back. Shares are integer basis points, 0..10000 (3000 is
// 30.00 %): integers, so every replica holds and compares the same values
// on any CPU. Stored with the route (PutRoutes version 2), so every node
// routes alike.
type RouteQuality struct {
	MinSamples       int   `json:"min_samples,omitempty"`
	MinASRBps        int   `json:"min_asr_bps,omitempty"`
	RecoverASRBps    int   `json:"recover_asr_bps,omitempty"`
	MinNERBps        int   `json:"min_ner_bps,omitempty"`
	RecoverNERBps    int   `json:"recover_ner_bps,omitempty"`
	MaxPDDMillis     int64 `json:"max_pdd_ms,omitempty"`
	RecoverPDDMillis int64 `json:"recover_pdd_ms,omitempty"`
	Exclude          bool  `json:"exclude,omitempty"`
	ProbeBps         int   `json:"probe_bps,omitempty"`
	// WeightCost ranks candidates of equal priority by cost per answered
	// call (rate ÷ ASR) instead of rate alone.
	WeightCost bool `json:"weight_cost,omitempty"`
}

// MaxBps is 100 % in basis points, the largest share a RouteQuality holds.
const MaxBps = 10000

// check returns why q is out of range ("" when it is not): the ledger
// keeps only values the quality package accepts (node validates the same
// with a friendlier message first).
func (q *RouteQuality) check() string {
	for _, v := range []int{q.MinASRBps, q.RecoverASRBps, q.MinNERBps, q.RecoverNERBps, q.ProbeBps} {
		if v < 0 || v > MaxBps {
			return "quality shares must be between 0 and 10000 basis points (0 to 100 %)"
		}
	}
	if q.MinSamples < 0 || q.MaxPDDMillis < 0 || q.RecoverPDDMillis < 0 {
		return "quality sample size and delays must not be negative"
	}
	return ""
}

// routesVersion is the PutRoutes version c needs: 2 when a route carries a
// quality policy, else 1 (the same bytes as before quality existed, so a
// log without it replays byte for byte on older builds).
func routesVersion(c *PutRoutes) byte {
	for i := range c.Routes {
		if c.Routes[i].Quality != nil {
			return PutRoutesVersionQuality
		}
	}
	return CommandVersion
}

// PutRoutesVersionQuality is the PutRoutes version whose routes may carry
// a RouteQuality. An older build does not apply it (it would reject the
// unknown field as Invalid and diverge; an unknown version stops it
// instead).
const PutRoutesVersionQuality = 2

// RecordUsageVersionQuality is the RecordUsage version with a
// UsageQuality: version 5's payload (RecordUsageVersionPerSide: version 4
// plus both ratings' buy-side seconds flags), then the quality block.
// Written only for a usage that has one; a usage without one keeps its
// version 4 or 5 bytes.
const RecordUsageVersionQuality = 6

// usageRecordQuality is the stored Usage version with a UsageQuality:
// usageRecordPerSide's fields (version 3's plus the rating's buy-side
// seconds flag), then the quality block.
const usageRecordQuality = 5
