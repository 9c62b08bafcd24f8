package quality

import (
	"container/list"
	"hash/fnv"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Config sizes a Tracker. The zero value takes every default.
type Config struct {
	// Window is N of the last-N-attempts window (default 200, at most
	// 100,000). Thresholds are judged on it.
	Window int
	// MaxKeys caps the (candidate, prefix) series kept (default 4096);
	// past it the least recently updated is dropped.
	MaxKeys int
	// ShortCall is the duration under which an answered call is short
	// (default 10 s).
	ShortCall time.Duration
	// Dedupe is how many recent (transaction, candidate) pairs are
	// remembered so that one transaction counts once per candidate
	// (default 65,536).
	Dedupe int
}

// Defaults of Config.
const (
	DefaultWindow    = 200
	DefaultMaxKeys   = 4096
	DefaultShortCall = 10 * time.Second
	DefaultDedupe    = 1 << 16
	maxWindow        = 100_000
)

// Hour-window geometry: HourBuckets buckets of HourBucket each. A query at
// t sums the buckets whose span starts after t − 1 h: the last 55 to 60
// minutes, by where t falls in its bucket.
const (
	HourBucket  = 5 * time.Minute
	HourBuckets = 12
)

// Key names one series: a route candidate ("trunk:ID" or "peer:ID") under
// one route prefix.
type Key struct {
	Candidate string `json:"candidate"`
	Prefix    string `json:"prefix"`
}

// Outcome is one call attempt as the tracker counts it.
type Outcome struct {
	// At is the record's own time (the ledger's RecordedAt): it places the
	// attempt in the hour window, so every node buckets it alike.
	At time.Time
	// Transaction (with the key's candidate) deduplicates: an attempt of a
	// transaction already counted for this candidate is ignored. 0: not
	// deduplicated.
	Transaction uint64
	// Kind is Answered, UserFailure or NetworkFailure (Classify).
	Kind int
	// Duration of an answered call.
	Duration time.Duration
	// PDD, Loss (parts per million of packets) and Jitter where reported;
	// negative: not reported.
	PDD     time.Duration
	LossPPM int32
	Jitter  time.Duration
}

// State of a series under its route's thresholds.
type State uint8

// States.
const (
	StateOK      State = iota // no thresholds, too few samples, or healthy
	StateDemoted              // entered the demoted state and not yet recovered
)

// series is one key's windows and state.
type series struct {
	key  Key
	ring []sample // the last Window attempts; grows to Window, then wraps
	next int
	last counts // sums over ring
	hour [HourBuckets]hourBucket
	bad  bool
	why  string // the breach that entered the demoted state
	// probes counts verdicts on this key while demoted (Verdict).
	probes atomic.Uint64
	elem   *list.Element
}

type hourBucket struct {
	slot int64 // At / HourBucket; 0: empty
	c    counts
}

// Tracker keeps the windows of every key. Safe for concurrent use.
type Tracker struct {
	cfg Config

	mu      sync.RWMutex
	keys    map[Key]*series
	lru     list.List // front: most recently updated
	evicted uint64
	seen    map[uint64]struct{}
	seenQ   []uint64
	seenAt  int
	dups    uint64
}

// New returns an empty Tracker sized by cfg.
func New(cfg Config) *Tracker {
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	cfg.Window = min(cfg.Window, maxWindow)
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.ShortCall <= 0 {
		cfg.ShortCall = DefaultShortCall
	}
	if cfg.Dedupe <= 0 {
		cfg.Dedupe = DefaultDedupe
	}
	return &Tracker{cfg: cfg, keys: make(map[Key]*series), seen: make(map[uint64]struct{})}
}

// Config returns the tracker's configuration with its defaults filled.
func (t *Tracker) Config() Config { return t.cfg }

// Observe counts one attempt of k and, when th has thresholds, moves k's
// state: into demoted when the last-N window (of at least th.MinSamples
// attempts) breaches a minimum, out of it when every recovery threshold is
// met. th nil: k is not judged (its state is OK). O(1): one sample in, one
// out, a histogram bucket each; no scan.
func (t *Tracker) Observe(k Key, o Outcome, th *Thresholds) {
	s := sampleOf(&o, t.cfg.ShortCall)
	t.mu.Lock()
	defer t.mu.Unlock()
	if o.Transaction != 0 && t.duplicate(o.Transaction, k.Candidate) {
		t.dups++
		return
	}
	sr := t.series(k)
	if len(sr.ring) < t.cfg.Window {
		sr.ring = append(sr.ring, s)
	} else {
		sr.last.add(&sr.ring[sr.next], -1)
		sr.ring[sr.next] = s
		sr.next = (sr.next + 1) % len(sr.ring)
	}
	sr.last.add(&s, 1)
	if !o.At.IsZero() {
		slot := o.At.UnixNano() / int64(HourBucket)
		b := &sr.hour[slot%HourBuckets]
		switch {
		case b.slot == slot:
			b.c.add(&s, 1)
		case b.slot < slot:
			*b = hourBucket{slot: slot}
			b.c.add(&s, 1)
		}
		// b.slot > slot: older than the bucket's span (an attempt recorded
		// more than an hour out of order): last-N only.
	}
	sr.judge(th)
}

func (sr *series) judge(th *Thresholds) {
	if !th.Enabled() || sr.last.attempts < int64(th.MinSamples) {
		sr.bad, sr.why = false, ""
		return
	}
	st := sr.last.stats()
	if !sr.bad {
		if why := th.breach(&st); why != "" {
			sr.bad, sr.why = true, why
			sr.probes.Store(0)
		}
		return
	}
	if th.unhealthy(&st) == "" {
		sr.bad, sr.why = false, ""
	}
}

// duplicate reports whether (tx, candidate) was counted recently, and
// remembers it if not.
func (t *Tracker) duplicate(tx uint64, cand string) bool {
	h := fnv.New64a()
	var b [8]byte
	for i := range b {
		b[i] = byte(tx >> (8 * i))
	}
	h.Write(b[:])
	h.Write([]byte(cand))
	id := h.Sum64()
	if _, ok := t.seen[id]; ok {
		return true
	}
	if len(t.seenQ) < t.cfg.Dedupe {
		t.seenQ = append(t.seenQ, id)
	} else {
		delete(t.seen, t.seenQ[t.seenAt])
		t.seenQ[t.seenAt] = id
		t.seenAt = (t.seenAt + 1) % len(t.seenQ)
	}
	t.seen[id] = struct{}{}
	return false
}

// series returns k's series, making it (and evicting the least recently
// updated one past MaxKeys) when new.
func (t *Tracker) series(k Key) *series {
	if sr := t.keys[k]; sr != nil {
		t.lru.MoveToFront(sr.elem)
		return sr
	}
	if len(t.keys) >= t.cfg.MaxKeys {
		old := t.lru.Back().Value.(*series)
		t.lru.Remove(old.elem)
		delete(t.keys, old.key)
		t.evicted++
	}
	sr := &series{key: k}
	sr.elem = t.lru.PushFront(sr)
	t.keys[k] = sr
	return sr
}

func sampleOf(o *Outcome, short time.Duration) sample {
	s := sample{kind: uint8(o.Kind), lossPPM: -1, jitUs: -1}
	if s.kind < Answered || s.kind > NetworkFailure {
		s.kind = NetworkFailure
	}
	if s.kind == Answered {
		d := max(o.Duration, 0)
		s.durMs = uint32(min(d.Milliseconds(), 1<<32-1))
		s.short = d < short
	}
	if o.PDD >= 0 {
		s.pdd = pddBucket(o.PDD) + 1
	}
	if o.LossPPM >= 0 {
		s.lossPPM = min(o.LossPPM, 1_000_000)
	}
	if o.Jitter >= 0 {
		s.jitUs = int32(min(o.Jitter.Microseconds(), 1<<31-1))
	}
	return s
}

// Verdict is what routing makes of one candidate (Judge).
type Verdict struct {
	// Demoted: the candidate is in the demoted state under the route's
	// thresholds; Exclude says it is not to be offered at all.
	Demoted bool
	Exclude bool
	// Probe: this authorisation is one of the probe share that still
	// offers the demoted candidate first.
	Probe bool
	// Reason explains a demotion: "ASR 12% < 30% over the last 200
	// attempts".
	Reason string
	// Samples is the last-N window's size.
	Samples int
	// Weighted: the thresholds weight cost by ASR (Thresholds.WeightCost)
	// and the window holds MinSamples; ASRBps is then its ASR in basis
	// points, truncated (answered*10000/attempts).
	Weighted bool
	ASRBps   int
}

// Judge returns k's verdict under th (nil or no thresholds: not
// demoted). probe says whether this call consumes the probe counter: an
// authorisation does, an explanation does not (it reports whether the next
// authorisation would probe). Every 10000/ProbeBps-th probing call on a demoted
// key gets Probe. Cheap: a map lookup and, for a demoted key, the window's
// summary.
func (t *Tracker) Judge(k Key, th *Thresholds, probe bool) Verdict {
	if !th.Enabled() {
		return Verdict{}
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	sr := t.keys[k]
	if sr == nil {
		return Verdict{}
	}
	v := Verdict{Samples: int(sr.last.attempts)}
	if th.WeightCost && sr.last.attempts >= int64(max(th.MinSamples, 1)) {
		v.Weighted, v.ASRBps = true, bps(sr.last.answered, sr.last.attempts)
	}
	if !sr.bad {
		return v
	}
	v.Demoted, v.Exclude = true, th.Exclude
	st := sr.last.stats()
	// Below an entering threshold: that one; in the hysteresis band: the
	// recovery threshold not yet met.
	why := th.breach(&st)
	if why == "" {
		why = th.unhealthy(&st)
	}
	if why == "" {
		why = sr.why // thresholds changed since the last attempt: the breach that demoted it
	}
	v.Reason = why + " over the last " + strconv.Itoa(v.Samples) + " attempts"
	if p := th.probePeriod(); p > 0 {
		var n uint64
		if probe {
			n = sr.probes.Add(1) - 1
		} else {
			n = sr.probes.Load()
		}
		v.Probe = n%p == 0
	}
	return v
}

// KeyStats is one key's windows, for stats and metrics.
type KeyStats struct {
	Key
	Last    Stats  `json:"last_n"`
	Hour    Stats  `json:"last_hour"`
	Demoted bool   `json:"demoted,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Snapshot returns every key's windows as of at (the hour window's end),
// sorted by candidate then prefix. It scans every key: for stats pages and
// metric scrapes, not for routing.
func (t *Tracker) Snapshot(at time.Time) []KeyStats {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]KeyStats, 0, len(t.keys))
	for _, sr := range t.keys {
		ks := KeyStats{Key: sr.key, Last: sr.last.stats(), Demoted: sr.bad, Reason: sr.why}
		h := sr.hourCounts(at)
		ks.Hour = h.stats()
		out = append(out, ks)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Candidate != out[j].Candidate {
			return out[i].Candidate < out[j].Candidate
		}
		return out[i].Prefix < out[j].Prefix
	})
	return out
}

// hourCounts sums the buckets of the hour before at.
func (sr *series) hourCounts(at time.Time) counts {
	var c counts
	now := at.UnixNano() / int64(HourBucket)
	for i := range sr.hour {
		b := &sr.hour[i]
		if b.slot != 0 && b.slot <= now && b.slot > now-HourBuckets {
			c.merge(&b.c)
		}
	}
	return c
}

// Counters reports the tracker's bookkeeping: series kept, series
// evicted past MaxKeys, attempts ignored as duplicates.
func (t *Tracker) Counters() (keys int, evicted, duplicates uint64) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.keys), t.evicted, t.dups
}

// Reset forgets everything (before a rebuild from the ledger).
func (t *Tracker) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.keys = make(map[Key]*series)
	t.lru.Init()
	t.seen = make(map[uint64]struct{})
	t.seenQ, t.seenAt = t.seenQ[:0], 0
	t.evicted, t.dups = 0, 0
}

// GroupStats is the windows of a group of keys added together (Group).
type GroupStats struct {
	Group   string `json:"group"`
	Series  int    `json:"series"`
	Demoted int    `json:"demoted"`
	Last    Stats  `json:"last_n"`
	Hour    Stats  `json:"last_hour"`
}

// Group adds up the windows of the keys that group names (false: leave
// the key out) as of at, sorted by group. The sums are exact: counts and
// histograms add, so a group's ASR or PDD p95 is over all its attempts.
// It scans every key: for stats and metrics, not for routing.
func (t *Tracker) Group(at time.Time, group func(Key) (string, bool)) []GroupStats {
	type acc struct {
		g          GroupStats
		last, hour counts
	}
	t.mu.RLock()
	m := map[string]*acc{}
	for _, sr := range t.keys {
		name, ok := group(sr.key)
		if !ok {
			continue
		}
		a := m[name]
		if a == nil {
			a = &acc{g: GroupStats{Group: name}}
			m[name] = a
		}
		a.g.Series++
		if sr.bad {
			a.g.Demoted++
		}
		a.last.merge(&sr.last)
		h := sr.hourCounts(at)
		a.hour.merge(&h)
	}
	t.mu.RUnlock()
	out := make([]GroupStats, 0, len(m))
	for _, a := range m {
		a.g.Last, a.g.Hour = a.last.stats(), a.hour.stats()
		out = append(out, a.g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}
