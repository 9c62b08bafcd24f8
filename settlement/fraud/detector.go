package fraud

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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
	ID      string    `json:"id"`
	Rule    Rule      `json:"rule"`
	Action  Action    `json:"action"`
	Member  string    `json:"member"`
	Prefix  string    `json:"prefix,omitempty"`
	Calling string    `json:"calling,omitempty"`
	At      time.Time `json:"at"`
	// Unit is what Observed, Threshold and Baseline count: "calls", or
	// "seconds" (new_destination's call time). All three are integers in
	// milli-units of it (11 calls: 11000), so replicas agree bit for bit.
	Unit          string `json:"unit"`
	ObservedMilli int64  `json:"observed_milli"`
	// ThresholdMilli is what ObservedMilli had to reach (after the
	// baseline; rounded up to the milli-unit).
	ThresholdMilli int64 `json:"threshold_milli"`
	BaselineMilli  int64 `json:"baseline_milli"`
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
	// Learning: the detector is in its learning period (block findings
	// only alert) at its latest event, which ends at LearningUntil (zero:
	// no event yet).
	Learning      bool      `json:"learning"`
	LearningUntil time.Time `json:"learning_until,omitzero"`
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
	ndMillis    window // call time in milliseconds
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
	d.initState()
	return d
}

// initState empties what the detector learnt: its tables, sized by the
// configuration, and the learning period's start.
func (d *Detector) initState() {
	cfg := d.cfg
	d.first, d.now = time.Time{}, time.Time{}
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
	learning, until := d.learningLocked()
	return Stats{DestinationKeys: d.dests.len(), CallingKeys: d.calling.len(), Calls: d.calls.len(),
		Evicted: d.dests.evicted + d.calling.evicted + d.calls.evicted, Learning: learning, LearningUntil: until}
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
		if n := st.hrCalls.count; aboveBaseline(n, hr.MinCalls, hr.FactorPermille, st.hrCalls.base) {
			th := threshold(hr.MinCalls, hr.FactorPermille, st.hrCalls.base)
			out = d.fire(out, st, RuleHighRisk, ev.Member, prefix, "", at, unitCalls, n*Milli, th, st.hrCalls.base,
				fmt.Sprintf("%d authorisations to %s (%s) within %s; baseline %s per window, threshold %s", n, prefix, rg.Name, hr.Window,
					Decimal(st.hrCalls.base, Milli), Decimal(th, Milli)))
		}
	}
	if nd := &d.cfg.NewDestination; nd.Action != ActionOff {
		st.ndCalls.roll(at, nd.Window, 0)
		st.ndCalls.count++
		if d.isNew(st, at) && nd.MinCalls > 0 && st.ndCalls.count >= int64(nd.MinCalls) {
			out = d.fire(out, st, RuleNewDestination, ev.Member, prefix, "", at, unitCalls, st.ndCalls.count*Milli, int64(nd.MinCalls)*Milli, 0,
				fmt.Sprintf("%d authorisations within %s to %s, a destination first seen %s before", st.ndCalls.count, nd.Window, prefix, at.Sub(st.first).Round(time.Second)))
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
			// short/all ≥ ratio, exactly: short × 1000 ≥ ratio‰ × all.
			if aboveBaseline(short, sc.MinCalls, sc.FactorPermille, st.scShort.base) && short*Permille >= sc.RatioPermille*all {
				th := threshold(sc.MinCalls, sc.FactorPermille, st.scShort.base)
				out = d.fire(out, st, RuleShortCalls, ev.Member, prefix, "", at, unitCalls, short*Milli, th, st.scShort.base,
					fmt.Sprintf("%d of %d calls to %s within %s shorter than %ds (ratio %s%% ≥ %s%%); baseline %s short calls per window",
						short, all, prefix, sc.Window, sc.ShortSeconds, Decimal(short*1000/all, 10), Decimal(sc.RatioPermille, 10),
						Decimal(st.scShort.base, Milli)))
			}
		}
	}
	if nd := &d.cfg.NewDestination; nd.Action != ActionOff && nd.MinSeconds > 0 {
		// Call time in whole milliseconds (the ledger's unit): a sum of
		// integers, exact on every replica.
		st.ndMillis.roll(at, nd.Window, 0)
		st.ndMillis.count += ev.Duration.Milliseconds()
		if ms := st.ndMillis.count; d.isNew(st, at) && ms >= nd.MinSeconds*1000 {
			out = d.fire(out, st, RuleNewDestination, ev.Member, prefix, "", at, unitSeconds, ms, nd.MinSeconds*Milli, 0,
				fmt.Sprintf("%s minutes within %s to %s, a destination first seen %s before", Decimal(ms/6000, 10), nd.Window, prefix, at.Sub(st.first).Round(time.Second)))
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
		out = append(out, d.finding(RuleSimultaneous, ev.Member, "", ev.Calling, at, unitCalls, int64(n)*Milli, int64(sim.MaxConcurrent)*Milli, 0,
			fmt.Sprintf("%d calls in progress from calling number %s (limit %d)", n, ev.Calling, sim.MaxConcurrent)))
	}
	return out
}

// fire appends rule's finding for st unless st is quiet for rule (one
// finding per key and rule per window).
func (d *Detector) fire(out []Finding, st *destState, rule Rule, member, prefix, calling string, at time.Time, unit string, observed, threshold, base int64, evidence string) []Finding {
	i := ruleIndex(rule)
	if at.Before(st.quiet[i]) {
		return out
	}
	st.quiet[i] = at.Add(d.cfg.Rule(rule).Window)
	return append(out, d.finding(rule, member, prefix, calling, at, unit, observed, threshold, base, evidence))
}

func (d *Detector) finding(rule Rule, member, prefix, calling string, at time.Time, unit string, observed, threshold, base int64, evidence string) Finding {
	f := Finding{ID: FindingID(rule, member, prefix, calling, at), Rule: rule, Action: d.cfg.Rule(rule).Action,
		Member: member, Prefix: prefix, Calling: calling, At: at, Unit: unit, ObservedMilli: observed, ThresholdMilli: threshold,
		BaselineMilli: base, Evidence: evidence}
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

// Finding units.
const (
	unitCalls   = "calls"
	unitSeconds = "seconds"
)

// aboveBaseline reports whether count (in units) reaches minCalls and
// exceeds factor‰ × base (base in milli-units), exactly: both sides in
// micro-units (count × 10⁶ against factor‰ × base‰), integers only.
// Validate's bounds keep the products within int64.
func aboveBaseline(count int64, minCalls int, factorPermille, base int64) bool {
	return count >= int64(minCalls) && count*Milli*Permille > factorPermille*base
}

// threshold is what a count had to reach, in milli-units, for a
// finding: the greater of minCalls and factor × base, the latter rounded
// up to the milli-unit.
func threshold(minCalls int, factorPermille, base int64) int64 {
	return max(int64(minCalls)*Milli, (factorPermille*base+Permille-1)/Permille)
}

// window counts events in the current fixed window and keeps a baseline:
// the exponentially weighted mean of the counts of past windows (empty
// ones included), in milli-units and integer arithmetic only, so that
// every replica holds the same baseline bit for bit.
type window struct {
	start time.Time
	count int64 // in the window's unit (calls; milliseconds for ndMillis)
	base  int64 // milli-units of count
}

// roll moves w to the window holding at (windows of size, aligned on the
// first event), folding each completed window into the baseline with
// α = 2/(n+1) (n ≤ 0: no baseline kept). In integers:
//
//	base ← ⌊(2 × 1000 × count + (n−1) × base) / (n+1)⌋
//
// for the window just completed, then base ← ⌊(n−1) × base / (n+1)⌋ for
// each empty window since (stopping once it is 0). Rounding is always
// down, so an idle baseline decays to exactly 0; a steady count c keeps a
// baseline within (n+1)/2 milli-units below 1000 × c.
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
		nn := int64(n)
		w.base = (2*Milli*w.count + (nn-1)*w.base) / (nn + 1)
		for i := int64(1); i < done && w.base > 0; i++ { // the empty windows since
			w.base = (nn - 1) * w.base / (nn + 1)
		}
	}
	w.count = 0
	w.start = w.start.Add(time.Duration(done) * size)
}
