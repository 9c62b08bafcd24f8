package fraud

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Auth is one admitted authorisation, as the ledger recorded it.
type Auth struct {
	Member  string // source member
	Calling string // calling number ("" : not tracked by simultaneous)
	Called  string // E.164 digits
	At      time.Time
	Tx      uint64    // its transaction (0: its end cannot be reported)
	Until   time.Time // when it can no longer be in progress (its time limit)
}

// Usage is one final usage record of the source side of a call.
type Usage struct {
	Member   string // the reporting (source) member
	Tx       uint64 // the call's transaction (0: none)
	Called   string
	At       time.Time
	Duration time.Duration
}

// Finding is what a rule found: a scope (a member and a destination
// prefix, or a member and a calling number), the action the rule asks
// for, and the evidence. ID is a function of the rule, scope and the time
// of the event that fired it (FindingID): replicas fed the same events
// find the same IDs, so a block proposed by several of them is one block.
type Finding struct {
	ID       string    `json:"id"`
	Rule     Rule      `json:"rule"`
	Action   Action    `json:"action"`
	Member   string    `json:"member"`
	Prefix   string    `json:"prefix,omitempty"`
	Calling  string    `json:"calling,omitempty"`
	At       time.Time `json:"at"`
	Observed float64   `json:"observed"`
	// Threshold is what Observed had to reach (after the baseline).
	Threshold float64 `json:"threshold"`
	Baseline  float64 `json:"baseline"`
	// Learning: the rule asks to block, but the detector is still
	// learning its baselines, so this finding only alerts.
	Learning bool   `json:"learning,omitempty"`
	Evidence string `json:"evidence"`
}

// FindingID is the deterministic ID of a finding of rule on the scope
// (member, prefix, calling) fired by an event at at.
func FindingID(rule Rule, member, prefix, calling string, at time.Time) string {
	h := sha256.New()
	for _, s := range []string{string(rule), member, prefix, calling, strconv.FormatInt(at.UnixNano(), 10)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "fr-" + hex.EncodeToString(h.Sum(nil)[:8])
}

// Stats is the detector's size, for metrics.
type Stats struct {
	DestinationKeys int    `json:"destination_keys"`
	CallingKeys     int    `json:"calling_keys"`
	Calls           int    `json:"calls"`
	Evicted         uint64 `json:"evicted"` // keys and calls dropped at a cap
}

// Detector applies the rules to a stream of events. Build it with New;
// safe for concurrent use.
type Detector struct {
	mu     sync.Mutex
	cfg    Config
	ranges rangeIndex
	first  time.Time // first event: the learning period starts here
	now    time.Time // latest event time

	dests   *table[destKey, *destState]
	calling *table[callingKey, *callingState]
	calls   *table[uint64, callingKey]
}

type destKey struct{ member, prefix string }

type destState struct {
	first       time.Time
	established bool // first seen while learning: never "new"
	hrCalls     window
	ndCalls     window
	ndMinutes   window
	scFinals    window
	scShort     window
	quiet       [4]time.Time // per rule (ruleIndex): no finding before this
}

type callingKey struct{ member, calling string }

type callingState struct {
	calls []callRef // in authorisation order
	quiet time.Time
}

type callRef struct {
	tx    uint64
	until time.Time
}

// New returns a detector with cfg (Validate it first: New does not).
func New(cfg Config) *Detector {
	d := &Detector{}
	d.setConfigLocked(cfg)
	d.dests = newTable[destKey, *destState](cfg.MaxKeys)
	d.calling = newTable[callingKey, *callingState](cfg.MaxKeys)
	d.calls = newTable[uint64, callingKey](cfg.MaxCalls)
	d.calling.onEvict = func(_ callingKey, st *callingState) {
		for _, c := range st.calls {
			d.calls.remove(c.tx)
		}
	}
	d.calls.onEvict = func(tx uint64, k callingKey) {
		if st, ok := d.calling.get(k, false, nil); ok {
			st.drop(tx)
		}
	}
	return d
}

// SetConfig replaces the configuration, keeping what was learnt (caps
// apply from the next new key).
func (d *Detector) SetConfig(cfg Config) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.setConfigLocked(cfg)
	d.dests.max, d.calling.max, d.calls.max = cfg.MaxKeys, cfg.MaxKeys, cfg.MaxCalls
}

func (d *Detector) setConfigLocked(cfg Config) {
	d.cfg = cfg
	d.ranges = newRangeIndex(cfg.Ranges)
}

// Config returns the configuration in force.
func (d *Detector) Config() Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// Stats returns the detector's size.
func (d *Detector) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Stats{DestinationKeys: d.dests.len(), CallingKeys: d.calling.len(), Calls: d.calls.len(),
		Evicted: d.dests.evicted + d.calling.evicted + d.calls.evicted}
}

// Authorize observes an admitted authorisation and returns the findings
// it fires (usually none).
func (d *Detector) Authorize(ev Auth) []Finding {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cfg.Disabled || ev.Member == "" || ev.Called == "" {
		return nil
	}
	at := d.tick(ev.At)
	var out []Finding
	st, prefix, rg := d.dest(ev.Member, ev.Called, at)
	if hr := &d.cfg.HighRisk; rg != nil && hr.Action != ActionOff {
		st.hrCalls.roll(at, hr.Window, hr.BaselineWindows)
		st.hrCalls.count++
		if th := max(float64(hr.MinCalls), hr.Factor*st.hrCalls.base); st.hrCalls.count >= th && st.hrCalls.count > hr.Factor*st.hrCalls.base {
			out = d.fire(out, st, RuleHighRisk, ev.Member, prefix, "", at, st.hrCalls.count, th, st.hrCalls.base,
				fmt.Sprintf("%.0f authorisations to %s (%s) within %s; baseline %.2f per window, threshold %.2f", st.hrCalls.count, prefix, rg.Name, hr.Window, st.hrCalls.base, th))
		}
	}
	if nd := &d.cfg.NewDestination; nd.Action != ActionOff {
		st.ndCalls.roll(at, nd.Window, 0)
		st.ndCalls.count++
		if d.isNew(st, at) && nd.MinCalls > 0 && st.ndCalls.count >= float64(nd.MinCalls) {
			out = d.fire(out, st, RuleNewDestination, ev.Member, prefix, "", at, st.ndCalls.count, float64(nd.MinCalls), 0,
				fmt.Sprintf("%.0f authorisations within %s to %s, a destination first seen %s before", st.ndCalls.count, nd.Window, prefix, at.Sub(st.first).Round(time.Second)))
		}
	}
	if sim := &d.cfg.Simultaneous; sim.Action != ActionOff && ev.Calling != "" {
		out = d.simultaneous(out, ev, at)
	}
	return out
}

// Usage observes a final usage record of a call's source side and
// returns the findings it fires. It also ends the call Tx for the
// simultaneous rule.
func (d *Detector) Usage(ev Usage) []Finding {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ev.Tx != 0 {
		if k, ok := d.calls.get(ev.Tx, false, nil); ok {
			d.calls.remove(ev.Tx)
			if st, ok := d.calling.get(k, false, nil); ok {
				st.drop(ev.Tx)
			}
		}
	}
	if d.cfg.Disabled || ev.Member == "" || ev.Called == "" {
		return nil
	}
	at := d.tick(ev.At)
	var out []Finding
	st, prefix, _ := d.dest(ev.Member, ev.Called, at)
	if sc := &d.cfg.ShortCalls; sc.Action != ActionOff {
		st.scFinals.roll(at, sc.Window, sc.BaselineWindows)
		st.scShort.roll(at, sc.Window, sc.BaselineWindows)
		st.scFinals.count++
		if ev.Duration < time.Duration(sc.ShortSeconds)*time.Second {
			st.scShort.count++
			short, all := st.scShort.count, st.scFinals.count
			th := max(float64(sc.MinCalls), sc.Factor*st.scShort.base)
			if short >= th && short > sc.Factor*st.scShort.base && short/all >= sc.Ratio {
				out = d.fire(out, st, RuleShortCalls, ev.Member, prefix, "", at, short, th, st.scShort.base,
					fmt.Sprintf("%.0f of %.0f calls to %s within %s shorter than %ds (ratio %.2f ≥ %.2f); baseline %.2f short calls per window",
						short, all, prefix, sc.Window, sc.ShortSeconds, short/all, sc.Ratio, st.scShort.base))
			}
		}
	}
	if nd := &d.cfg.NewDestination; nd.Action != ActionOff && nd.MinMinutes > 0 {
		st.ndMinutes.roll(at, nd.Window, 0)
		st.ndMinutes.count += ev.Duration.Minutes()
		if d.isNew(st, at) && st.ndMinutes.count >= nd.MinMinutes {
			out = d.fire(out, st, RuleNewDestination, ev.Member, prefix, "", at, st.ndMinutes.count, nd.MinMinutes, 0,
				fmt.Sprintf("%.1f minutes within %s to %s, a destination first seen %s before", st.ndMinutes.count, nd.Window, prefix, at.Sub(st.first).Round(time.Second)))
		}
	}
	return out
}

// tick moves the detector's time to at (never back) and returns the time
// the event counts at: its own, or now when it is older (a late event
// counts in the current window).
func (d *Detector) tick(at time.Time) time.Time {
	if d.first.IsZero() {
		d.first = at
	}
	if at.After(d.now) {
		d.now = at
	}
	return d.now
}

func (d *Detector) learning(at time.Time) bool { return at.Before(d.first.Add(d.cfg.Learn)) }

// dest returns the state of (member, destination of called), creating
// it, with the destination prefix and its high-risk range (nil: none).
func (d *Detector) dest(member, called string, at time.Time) (*destState, string, *Range) {
	prefix := called
	rg := d.ranges.lookup(called)
	if rg != nil {
		prefix = rg.Prefix
	} else if len(prefix) > d.cfg.DestinationDigits {
		prefix = prefix[:d.cfg.DestinationDigits]
	}
	st, ok := d.dests.get(destKey{member, prefix}, false, nil)
	if !ok {
		// A new key keeps its own copies: the event's strings may share
		// memory with a whole decoded command.
		st, _ = d.dests.get(destKey{strings.Clone(member), strings.Clone(prefix)}, true, func() *destState {
			return &destState{first: at, established: d.learning(at)}
		})
	}
	return st, prefix, rg
}

func (d *Detector) isNew(st *destState, at time.Time) bool {
	return !st.established && at.Sub(st.first) < d.cfg.NewDestination.NewFor
}

func (d *Detector) simultaneous(out []Finding, ev Auth, at time.Time) []Finding {
	sim := &d.cfg.Simultaneous
	k := callingKey{ev.Member, ev.Calling}
	st, ok := d.calling.get(k, false, nil)
	if !ok {
		k = callingKey{strings.Clone(ev.Member), strings.Clone(ev.Calling)}
		st, _ = d.calling.get(k, true, func() *callingState { return &callingState{} })
	}
	// Calls past their time limit are over, whether or not usage came.
	kept := st.calls[:0]
	for _, c := range st.calls {
		if c.until.After(at) {
			kept = append(kept, c)
		} else {
			d.calls.remove(c.tx)
		}
	}
	clear(st.calls[len(kept):])
	st.calls = kept
	until := ev.Until
	if until.IsZero() {
		until = at.Add(time.Hour)
	}
	if ev.Tx != 0 {
		if _, dup := d.calls.get(ev.Tx, false, nil); dup {
			return out
		}
		// Keep at most a few times the limit per number: past it the rule
		// has fired anyway, and one number cannot take all the memory.
		if len(st.calls) >= 4*sim.MaxConcurrent+16 {
			d.calls.remove(st.calls[0].tx)
			st.calls = append(st.calls[:0], st.calls[1:]...)
		}
		st.calls = append(st.calls, callRef{tx: ev.Tx, until: until})
		d.calls.get(ev.Tx, true, func() callingKey { return k })
	}
	if n := len(st.calls); n > sim.MaxConcurrent && !at.Before(st.quiet) {
		st.quiet = at.Add(sim.Window)
		out = append(out, d.finding(RuleSimultaneous, ev.Member, "", ev.Calling, at, float64(n), float64(sim.MaxConcurrent), 0,
			fmt.Sprintf("%d calls in progress from calling number %s (limit %d)", n, ev.Calling, sim.MaxConcurrent)))
	}
	return out
}

// fire appends rule's finding for st unless st is quiet for rule (one
// finding per key and rule per window).
func (d *Detector) fire(out []Finding, st *destState, rule Rule, member, prefix, calling string, at time.Time, observed, threshold, base float64, evidence string) []Finding {
	i := ruleIndex(rule)
	if at.Before(st.quiet[i]) {
		return out
	}
	st.quiet[i] = at.Add(d.cfg.Rule(rule).Window)
	return append(out, d.finding(rule, member, prefix, calling, at, observed, threshold, base, evidence))
}

func (d *Detector) finding(rule Rule, member, prefix, calling string, at time.Time, observed, threshold, base float64, evidence string) Finding {
	f := Finding{ID: FindingID(rule, member, prefix, calling, at), Rule: rule, Action: d.cfg.Rule(rule).Action,
		Member: member, Prefix: prefix, Calling: calling, At: at, Observed: observed, Threshold: threshold,
		Baseline: base, Evidence: evidence}
	if f.Action == ActionBlock && d.learning(at) {
		f.Action, f.Learning = ActionAlert, true
	}
	return f
}

func ruleIndex(r Rule) int {
	for i, x := range Rules {
		if x == r {
			return i
		}
	}
	return 0
}

func (st *callingState) drop(tx uint64) {
	for i, c := range st.calls {
		if c.tx == tx {
			st.calls = append(st.calls[:i], st.calls[i+1:]...)
			return
		}
	}
}

// window counts events in the current fixed window and keeps a baseline:
// the exponentially weighted mean of the counts of past windows (empty
// ones included).
type window struct {
	start time.Time
	count float64
	base  float64
}

// roll moves w to the window holding at (windows of size, aligned on the
// first event), folding each completed window into the baseline with
// α = 2/(n+1) (n ≤ 0: no baseline kept).
func (w *window) roll(at time.Time, size time.Duration, n int) {
	if w.start.IsZero() {
		w.start = at
		return
	}
	if at.Before(w.start.Add(size)) {
		return
	}
	done := int64(at.Sub(w.start) / size)
	if n > 0 {
		alpha := 2 / float64(n+1)
		w.base = alpha*w.count + (1-alpha)*w.base
		w.base *= math.Pow(1-alpha, float64(done-1)) // the empty windows since
	}
	w.count = 0
	w.start = w.start.Add(time.Duration(done) * size)
}
