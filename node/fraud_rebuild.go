package node

import (
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/settlement/fraud"
)

// Rebuilding the fraud detector from the ledger on start (and after a
// snapshot restore) instead of relearning: the detector's state is a
// function of the admitted authorisations and source finals in log order,
// and the ledger keeps both (its transactions and usage records), so a
// restarted node feeds the recent ones again, with their own times, and
// holds what a node that never stopped holds.

// fraudRebuildSpans is how many baseline spans (a rule's Window ×
// BaselineWindows) of history a rebuild reads. A baseline is an EWMA with
// α = 2/(N+1) over N windows: the windows older than one span still weigh
// (1−α)^N ≈ e⁻² ≈ 13.5% of it, older than two e⁻⁴ ≈ 1.8%. Two spans keep
// a rebuilt baseline within about 2% of a running node's (exactly equal
// when the ledger's history fits in them); the default rules' span is a
// day, so a rebuild reads two days.
const fraudRebuildSpans = 2

// fraudRebuildSpan is how far back from the newest record a rebuild
// reads for cfg: fraudRebuildSpans baseline spans of the rules that keep
// one, at least new_destination's NewFor (a destination first seen
// within it is new; one seen only before the span is new again after a
// restart) and every running rule's window.
func fraudRebuildSpan(cfg *fraud.Config) time.Duration {
	var span time.Duration
	for _, r := range fraud.Rules {
		rc := cfg.Rule(r)
		if rc.Action == fraud.ActionOff {
			continue
		}
		span = max(span, rc.Window, fraudRebuildSpans*rc.Window*time.Duration(rc.BaselineWindows))
		if r == fraud.RuleNewDestination {
			span = max(span, rc.NewFor)
		}
	}
	return span
}

// rebuild forgets what the detector learnt and feeds it the ledger's
// authorisations and source finals of the last fraudRebuildSpan before
// the newest record, at most limit of each (the newest), merged in log
// order as far as the records tell it (see fraudHistory). The learning
// period counts from the ledger's first activity. Findings the old events
// fire again are not reported or proposed: the nodes that applied them
// live did that (the quiet times they set are kept, as on those nodes).
// Not concurrent with observe: it runs before consensus starts, or on the
// FSM goroutine after a restore.
func (fc *fraudControl) rebuild(store *ledger.Store, limit int) error {
	start := time.Now()
	fc.loadConfig()
	fc.det.Reset()
	cfg := fc.det.Config()
	if cfg.Disabled || limit <= 0 {
		return nil
	}
	h, err := readFraudHistory(store, fraudRebuildSpan(&cfg), limit)
	if err != nil || h.first.IsZero() {
		return err
	}
	fc.det.HistoryBegan(h.first)
	findings := h.feed(fc.det)
	learning, until := fc.det.Learning()
	st := fc.det.Stats()
	fc.log.Info("fraud baselines rebuilt from the ledger", "authorisations", len(h.calls), "usage", len(h.usage),
		"from", h.from, "truncated", h.truncated, "keys", st.DestinationKeys, "calls_in_progress", st.Calls,
		"findings_replayed", findings, "learning", learning, "learning_until", until, "took", time.Since(start))
	return nil
}

// fraudHistory is what a rebuild feeds the detector.
type fraudHistory struct {
	first     time.Time // the ledger's first activity: learning counts from it
	from      time.Time // the oldest record fed
	calls     []ledger.RecentCall
	usage     []ledger.Usage
	truncated bool // limit records did not reach back the whole span
}

// readFraudHistory reads the last span of authorisations and usage before
// the newest of either, at most limit of each. When one scan stops at
// limit before the span, the other is cut at the same time, so the
// detector never sees usage without the authorisations of its time (or
// the reverse).
func readFraudHistory(store *ledger.Store, span time.Duration, limit int) (fraudHistory, error) {
	var h fraudHistory
	var err error
	if h.first, err = store.FirstActivity(); err != nil || h.first.IsZero() {
		return h, err
	}
	newest := h.first
	lastCall, err := store.RecentCalls(time.Time{}, 1)
	if err != nil {
		return h, err
	}
	lastUse, err := store.UsageSince(time.Time{}, 1, 1)
	if err != nil {
		return h, err
	}
	if len(lastCall) == 1 && lastCall[0].CreatedAt.After(newest) {
		newest = lastCall[0].CreatedAt
	}
	if len(lastUse) == 1 && lastUse[0].RecordedAt.After(newest) {
		newest = lastUse[0].RecordedAt
	}
	h.from = newest.Add(-span)
	if h.calls, err = store.RecentCalls(h.from, limit); err != nil {
		return h, err
	}
	if h.usage, err = store.UsageSince(h.from, 0, limit); err != nil {
		return h, err
	}
	if len(h.calls) == limit && h.calls[0].CreatedAt.After(h.from) {
		h.from, h.truncated = h.calls[0].CreatedAt, true
	}
	if len(h.usage) == limit && h.usage[0].RecordedAt.After(h.from) {
		h.from, h.truncated = h.usage[0].RecordedAt, true
	}
	for len(h.calls) > 0 && h.calls[0].CreatedAt.Before(h.from) {
		h.calls = h.calls[1:]
	}
	for len(h.usage) > 0 && h.usage[0].RecordedAt.Before(h.from) {
		h.usage = h.usage[1:]
	}
	return h, nil
}

// feed gives d the history in log order and returns how many findings it
// fired. Each list is in log order already (transaction ids carry their
// log index, usage ids are dense in apply order); the two are merged by
// the times their proposers stamped, an authorisation first on a tie (a
// call's authorisation precedes its records). Only records proposed on
// nodes whose clocks disagree, within that disagreement of each other,
// can come out in another order than the log's; the detector counts a
// late event in its current window either way.
func (h *fraudHistory) feed(d *fraud.Detector) int {
	findings := 0
	i, j := 0, 0
	for i < len(h.calls) || j < len(h.usage) {
		if j >= len(h.usage) || (i < len(h.calls) && !h.usage[j].RecordedAt.Before(h.calls[i].CreatedAt)) {
			c := &h.calls[i]
			i++
			a := ledger.AuthorizeCall{At: c.CreatedAt, SourceMember: c.SourceMember, Calling: c.Calling, Called: c.Called,
				TimeLimit: c.TimeLimit, ActiveUntil: c.ActiveUntil}
			findings += len(d.Authorize(fraudAuth(&a, c.ID)))
			continue
		}
		u := &h.usage[j]
		j++
		uc := ledger.UsageCall{At: u.RecordedAt, TransactionID: u.TransactionID, Role: u.Role, Reporter: u.Reporter,
			Called: u.Called, DurationMillis: u.DurationMillis, Phase: u.Phase}
		if ev, ok := fraudUsage(&uc); ok {
			findings += len(d.Usage(ev))
		}
	}
	return findings
}
