package fraud

import (
	"sort"
	"time"
)

// What a node needs to rebuild a detector from its ledger after a restart
// instead of relearning (node/fraud_rebuild.go): forget, say when the
// history began, feed the recent events again, and compare.

// Reset forgets everything learnt (keys, baselines, calls in progress,
// the learning period's start), keeping the configuration.
func (d *Detector) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.initState()
}

// HistoryBegan says that the events the detector sees began at first,
// though it may be fed only the recent ones: the learning period counts
// from first when that is earlier than the first event fed. A node that
// rebuilds from the last day of its ledger passes the ledger's first
// activity, so that it is learning only if the network itself is, like a
// node that applied the whole log. A zero first changes nothing.
func (d *Detector) HistoryBegan(first time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !first.IsZero() && (d.first.IsZero() || first.Before(d.first)) {
		d.first = first
	}
}

// Learning reports whether the detector is in its learning period (its
// block findings only alert) at its latest event time, and when that
// period ends (zero: no event yet, so it has not started).
func (d *Detector) Learning() (bool, time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.learningLocked()
}

func (d *Detector) learningLocked() (bool, time.Time) {
	if d.first.IsZero() {
		return true, time.Time{}
	}
	until := d.first.Add(d.cfg.Learn)
	return d.now.Before(until), until.UTC()
}

// WindowState is one counting window of a key: where the current window
// started, its count so far, and the baseline of the past ones.
type WindowState struct {
	Start         time.Time `json:"start"`
	Count         int64     `json:"count"`
	BaselineMilli int64     `json:"baseline_milli"`
}

// KeyState is what the detector learnt about one (member, destination)
// key: when it was first seen, whether that was while learning
// (established), each rule's windows and until when each rule is quiet.
// Times are UTC.
type KeyState struct {
	Member      string      `json:"member"`
	Prefix      string      `json:"prefix"`
	First       time.Time   `json:"first"`
	Established bool        `json:"established"`
	HighRisk    WindowState `json:"high_risk"`
	ShortFinals WindowState `json:"short_calls_finals"`
	ShortCalls  WindowState `json:"short_calls_short"`
	NewCalls    WindowState `json:"new_destination_calls"`
	NewMillis   WindowState `json:"new_destination_millis"`
	// QuietUntil: per rule, in Rules order (zero: not quiet).
	QuietUntil [4]time.Time `json:"quiet_until"`
}

// CallState is one call the simultaneous rule counts as in progress.
type CallState struct {
	Member  string    `json:"member"`
	Calling string    `json:"calling"`
	Tx      uint64    `json:"tx"`
	Until   time.Time `json:"until"`
}

// Keys returns the learnt state of every (member, destination) key,
// ordered by member then prefix.
func (d *Detector) Keys() []KeyState {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]KeyState, 0, d.dests.len())
	for k, e := range d.dests.m {
		st := e.Value.(*entry[destKey, *destState]).v
		ks := KeyState{Member: k.member, Prefix: k.prefix, First: st.first.UTC(), Established: st.established,
			HighRisk: st.hrCalls.state(), ShortFinals: st.scFinals.state(), ShortCalls: st.scShort.state(),
			NewCalls: st.ndCalls.state(), NewMillis: st.ndMillis.state()}
		for i, q := range st.quiet {
			ks.QuietUntil[i] = utcOrZero(q)
		}
		out = append(out, ks)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Member != out[j].Member {
			return out[i].Member < out[j].Member
		}
		return out[i].Prefix < out[j].Prefix
	})
	return out
}

// Calls returns the calls in progress the simultaneous rule counts,
// ordered by member, calling number, then authorisation order.
func (d *Detector) Calls() []CallState {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []CallState
	for k, e := range d.calling.m {
		for _, c := range e.Value.(*entry[callingKey, *callingState]).v.calls {
			out = append(out, CallState{Member: k.member, Calling: k.calling, Tx: c.tx, Until: c.until.UTC()})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Member != out[j].Member {
			return out[i].Member < out[j].Member
		}
		return out[i].Calling < out[j].Calling
	})
	return out
}

func (w *window) state() WindowState {
	return WindowState{Start: utcOrZero(w.start), Count: w.count, BaselineMilli: w.base}
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}
