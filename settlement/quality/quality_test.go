package quality

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name      string
		connected bool
		sip, code uint16
		want      int
	}{
		{"connected, BYE normal clearing (Kamailio 10016)", true, 0, 10016, Answered},
		{"Kamailio setup record TCCode 200", false, 0, 200, Answered},
		{"SIP 486 busy in the q850 element", false, 0, 486, UserFailure},
		{"SIP 480", false, 0, 480, UserFailure},
		{"SIP 487 cancelled", false, 0, 487, UserFailure},
		{"SIP 603 decline", false, 0, 603, UserFailure},
		{"SIP 503", false, 0, 503, NetworkFailure},
		{"SIP 404", false, 0, 404, NetworkFailure},
		{"Q.850 17 busy", false, 0, 17, UserFailure},
		{"Q.850 18 no user responding", false, 0, 18, UserFailure},
		{"Q.850 19 no answer", false, 0, 19, UserFailure},
		{"Q.850 21 rejected", false, 0, 21, UserFailure},
		{"Q.850 31 normal unspecified", false, 0, 31, UserFailure},
		{"Q.850 34 no circuit", false, 0, 34, NetworkFailure},
		{"Q.850 +10000: 10017 busy", false, 0, 10017, UserFailure},
		{"Q.850 +10000: 10038 network out of order", false, 0, 10038, NetworkFailure},
		{"typed SIP code wins over the q850 element", false, 486, 10038, UserFailure},
		{"typed SIP 200", false, 200, 0, Answered},
		{"nothing reported", false, 0, 0, NetworkFailure},
	} {
		if got := Classify(tc.connected, tc.sip, tc.code); got != tc.want {
			t.Errorf("%s: Classify(%v, %d, %d) = %d, want %d", tc.name, tc.connected, tc.sip, tc.code, got, tc.want)
		}
	}
}

func answered(at time.Time, d time.Duration) Outcome {
	return Outcome{At: at, Kind: Answered, Duration: d, PDD: -1, LossPPM: -1, Jitter: -1}
}

func failed(at time.Time, kind int) Outcome {
	return Outcome{At: at, Kind: kind, PDD: -1, LossPPM: -1, Jitter: -1}
}

var k1 = Key{Candidate: "trunk:acme-1", Prefix: "44"}

func TestLastNWindow(t *testing.T) {
	tr := New(Config{Window: 10})
	// 10 answered calls of 60 s, then 5 network failures: the window keeps
	// the last 10 (5 answered, 5 failed).
	for i := range 10 {
		tr.Observe(k1, answered(t0.Add(time.Duration(i)*time.Second), time.Minute), nil)
	}
	for i := range 5 {
		tr.Observe(k1, failed(t0.Add(time.Duration(10+i)*time.Second), NetworkFailure), nil)
	}
	st := only(t, tr.Snapshot(t0.Add(time.Minute))).Last
	want := Stats{Attempts: 10, Answered: 5, ASRBps: 5000, NERBps: 5000, ACD: time.Minute}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("last-N stats %+v, want %+v", st, want)
	}
	// The hour window has all 15.
	h := only(t, tr.Snapshot(t0.Add(time.Minute))).Hour
	if h.Attempts != 15 || h.Answered != 10 {
		t.Fatalf("hour window %+v, want 15 attempts, 10 answered", h)
	}
}

func only(t *testing.T, ks []KeyStats) KeyStats {
	t.Helper()
	if len(ks) != 1 {
		t.Fatalf("%d keys, want 1", len(ks))
	}
	return ks[0]
}

func TestStatsEveryMeasure(t *testing.T) {
	tr := New(Config{Window: 100, ShortCall: 10 * time.Second})
	obs := []Outcome{
		{At: t0, Kind: Answered, Duration: 5 * time.Second, PDD: 800 * time.Millisecond, LossPPM: 10_000, Jitter: 20 * time.Millisecond},
		{At: t0, Kind: Answered, Duration: 115 * time.Second, PDD: 1200 * time.Millisecond, LossPPM: 30_000, Jitter: 40 * time.Millisecond},
		{At: t0, Kind: UserFailure, PDD: 2200 * time.Millisecond, LossPPM: -1, Jitter: -1},
		{At: t0, Kind: NetworkFailure, PDD: -1, LossPPM: -1, Jitter: -1},
	}
	for _, o := range obs {
		tr.Observe(k1, o, nil)
	}
	st := only(t, tr.Snapshot(t0)).Last
	want := Stats{Attempts: 4, Answered: 2, UserFailures: 1, ShortCalls: 1, ASRBps: 5000, NERBps: 7500, ShortBps: 5000,
		ACD: 60 * time.Second, PDD50: 1500 * time.Millisecond, PDD95: 2500 * time.Millisecond, PDDSamples: 3,
		LossPPM: 20000, LossSamples: 2, Jitter: 30 * time.Millisecond, JitterSamples: 2}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("stats\n got %+v\nwant %+v", st, want)
	}
}

func TestPDDPercentiles(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pdds     []time.Duration
		p50, p95 time.Duration
	}{
		{"one", []time.Duration{450 * time.Millisecond}, 500 * time.Millisecond, 500 * time.Millisecond},
		{"exact bound", []time.Duration{time.Second}, time.Second, time.Second},
		{"over the top bucket", []time.Duration{45 * time.Second}, 30 * time.Second, 30 * time.Second},
		{"19 fast, 1 slow", append(repeat(100*time.Millisecond, 19), 9*time.Second), 100 * time.Millisecond, 100 * time.Millisecond},
		{"18 fast, 2 slow", append(repeat(100*time.Millisecond, 18), 9*time.Second, 9*time.Second), 100 * time.Millisecond, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(Config{})
			for _, d := range tc.pdds {
				tr.Observe(k1, Outcome{At: t0, Kind: Answered, Duration: time.Minute, PDD: d, LossPPM: -1, Jitter: -1}, nil)
			}
			st := only(t, tr.Snapshot(t0)).Last
			if st.PDD50 != tc.p50 || st.PDD95 != tc.p95 {
				t.Fatalf("p50 %v p95 %v, want %v %v", st.PDD50, st.PDD95, tc.p50, tc.p95)
			}
		})
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func TestHourWindowSlides(t *testing.T) {
	tr := New(Config{Window: 1000})
	// One attempt every minute for two hours: 120 attempts; at the end the
	// hour window holds the buckets starting after end−1h.
	for i := range 120 {
		kind := Answered
		if i < 60 {
			kind = NetworkFailure // the first hour was bad
		}
		o := failed(t0.Add(time.Duration(i)*time.Minute), kind)
		if kind == Answered {
			o = answered(o.At, 30*time.Second)
		}
		tr.Observe(k1, o, nil)
	}
	for _, tc := range []struct {
		at       time.Time
		attempts int
		asrBps   int
	}{
		// At 11:59:30 (bucket 11:55) the window is the buckets from
		// 11:00 to 11:55: 60 attempts, all answered.
		{t0.Add(119*time.Minute + 30*time.Second), 60, 10000},
		// Two hours after the last attempt: empty.
		{t0.Add(4 * time.Hour), 0, 0},
	} {
		st := only(t, tr.Snapshot(tc.at)).Hour
		if st.Attempts != tc.attempts || st.ASRBps != tc.asrBps {
			t.Errorf("at %s: hour window %d attempts ASR %d bps, want %d, %d bps", tc.at.Format(time.TimeOnly), st.Attempts, st.ASRBps, tc.attempts, tc.asrBps)
		}
	}
	// Fed up to 11:00 only, at 11:00 the window is 10:05..11:00: 55
	// failed and the one answered at 11:00.
	tr2 := New(Config{Window: 1000})
	for i := range 61 {
		o := failed(t0.Add(time.Duration(i)*time.Minute), NetworkFailure)
		if i == 60 {
			o = answered(o.At, time.Second)
		}
		tr2.Observe(k1, o, nil)
	}
	if st := only(t, tr2.Snapshot(t0.Add(time.Hour))).Hour; st.Attempts != 56 || st.Answered != 1 {
		t.Errorf("at 11:00: hour window %d attempts %d answered, want 56, 1", st.Attempts, st.Answered)
	}
	// The last-N window (1000) has all 120 whatever the time.
	if st := only(t, tr.Snapshot(t0.Add(4*time.Hour))).Last; st.Attempts != 120 {
		t.Fatalf("last-N %d attempts, want 120", st.Attempts)
	}
}

func TestHourWindowOutOfOrder(t *testing.T) {
	tr := New(Config{})
	tr.Observe(k1, answered(t0.Add(2*time.Hour), time.Minute), nil)
	// Recorded two hours late relative to the bucket it would land in
	// (12 buckets on): last-N only, never resurrecting an old bucket.
	tr.Observe(k1, failed(t0, NetworkFailure), nil)
	ks := only(t, tr.Snapshot(t0.Add(2*time.Hour)))
	if ks.Hour.Attempts != 1 || ks.Last.Attempts != 2 {
		t.Fatalf("hour %d last %d, want 1 and 2", ks.Hour.Attempts, ks.Last.Attempts)
	}
}

func TestThresholdsNormalize(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Thresholds
		want Thresholds
		err  string
	}{
		{"defaults", Thresholds{MinASRBps: 3000}, Thresholds{MinSamples: 20, MinASRBps: 3000, RecoverASRBps: 3000}, ""},
		{"hysteresis kept", Thresholds{MinASRBps: 3000, RecoverASRBps: 4000, MaxPDD: 5 * time.Second, RecoverPDD: 3 * time.Second, MinSamples: 50},
			Thresholds{MinSamples: 50, MinASRBps: 3000, RecoverASRBps: 4000, MaxPDD: 5 * time.Second, RecoverPDD: 3 * time.Second}, ""},
		{"recover below min", Thresholds{MinASRBps: 3000, RecoverASRBps: 2000}, Thresholds{}, "recover ASR 20% is below min ASR 30%"},
		{"recover PDD above max", Thresholds{MaxPDD: time.Second, RecoverPDD: 2 * time.Second}, Thresholds{}, "recover PDD"},
		{"percent over 100", Thresholds{MinNERBps: 13000}, Thresholds{}, "min NER 130% is not between 0 and 100"},
		{"negative probe", Thresholds{MinASRBps: 1000, ProbeBps: -100}, Thresholds{}, "probe share"},
		{"negative samples", Thresholds{MinASRBps: 1000, MinSamples: -1}, Thresholds{}, "must not be negative"},
	} {
		got, err := tc.in.Normalize()
		if tc.err != "" {
			if err == nil || !errors.Is(err, ErrBadThresholds) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want one with %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}

// feed observes n attempts of which the first answered are answered.
func feed(tr *Tracker, k Key, th *Thresholds, at time.Time, n, answeredN int) {
	for i := range n {
		o := failed(at, NetworkFailure)
		if i < answeredN {
			o = answered(at, time.Minute)
		}
		tr.Observe(k, o, th)
	}
}

func TestHysteresis(t *testing.T) {
	th, err := Thresholds{MinSamples: 20, MinASRBps: 3000, RecoverASRBps: 4000, ProbeBps: 1000}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	tr := New(Config{Window: 20})
	steps := []struct {
		name        string
		n, answered int
		demoted     bool
		reason      string
	}{
		{"19 failures: below the sample size, not judged", 19, 0, false, ""},
		{"the 20th failure: ASR 0% < 30%", 1, 0, true, "ASR 0% < 30% over the last 20 attempts"},
		{"7 answered: ASR 35%, above the minimum, below recovery: stays", 7, 7, true, "ASR 35% < 40% to recover over the last 20 attempts"},
		{"1 more answered: 40%, recovered", 1, 1, false, ""},
		{"12 failures replace the oldest 12: still 40%", 12, 0, false, ""},
		{"2 failures replace 2 answered: 30%, not below the minimum: stays OK", 2, 0, false, ""},
		{"1 failure: 25% < 30%: demoted again", 1, 0, true, "ASR 25% < 30% over the last 20 attempts"},
	}
	// The window is a ring of 20: each step's numbers are of the last 20.
	for _, s := range steps {
		feed(tr, k1, &th, t0, s.n, s.answered)
		v := tr.Judge(k1, &th, false)
		if v.Demoted != s.demoted || v.Reason != s.reason {
			t.Fatalf("%s: verdict %+v, want demoted %v reason %q", s.name, v, s.demoted, s.reason)
		}
	}
	// Without thresholds nothing is demoted, whatever the numbers.
	if v := tr.Judge(k1, nil, false); v.Demoted {
		t.Fatalf("no thresholds: %+v", v)
	}
}

func TestDemotionReasonNamesTheBreach(t *testing.T) {
	for _, tc := range []struct {
		name string
		th   Thresholds
		o    Outcome
		want string
	}{
		{"NER", Thresholds{MinSamples: 5, MinNERBps: 5000}, failed(t0, NetworkFailure), "NER 0% < 50% over the last 5 attempts"},
		{"PDD", Thresholds{MinSamples: 5, MaxPDD: 3 * time.Second},
			Outcome{At: t0, Kind: Answered, Duration: time.Minute, PDD: 3500 * time.Millisecond, LossPPM: -1, Jitter: -1},
			"PDD p50 4.0 s > 3.0 s over the last 5 attempts"},
		{"user failures keep NER up", Thresholds{MinSamples: 5, MinNERBps: 5000}, failed(t0, UserFailure), ""},
	} {
		th, err := tc.th.Normalize()
		if err != nil {
			t.Fatal(err)
		}
		tr := New(Config{})
		for range 5 {
			tr.Observe(k1, tc.o, &th)
		}
		if v := tr.Judge(k1, &th, false); v.Reason != tc.want {
			t.Errorf("%s: reason %q, want %q", tc.name, v.Reason, tc.want)
		}
	}
}

func TestProbeShare(t *testing.T) {
	th, _ := Thresholds{MinSamples: 5, MinASRBps: 5000, ProbeBps: 500, Exclude: true}.Normalize()
	tr := New(Config{})
	feed(tr, k1, &th, t0, 5, 0)
	probes := 0
	for range 1000 {
		v := tr.Judge(k1, &th, true)
		if !v.Demoted || !v.Exclude {
			t.Fatalf("verdict %+v, want demoted and excluded", v)
		}
		if v.Probe {
			probes++
		}
	}
	if probes != 50 {
		t.Fatalf("%d probes in 1000 authorisations at 5%%, want 50", probes)
	}
	// An explanation does not consume the counter.
	before := tr.Judge(k1, &th, false).Probe
	for range 10 {
		if tr.Judge(k1, &th, false).Probe != before {
			t.Fatal("explaining moved the probe counter")
		}
	}
	th0 := th
	th0.ProbeBps = 0
	if tr.Judge(k1, &th0, true).Probe {
		t.Fatal("probe share 0 probed")
	}
}

func TestMaxKeysEvictsLeastRecentlyUpdated(t *testing.T) {
	tr := New(Config{MaxKeys: 3})
	for i := range 3 {
		tr.Observe(Key{"trunk:t", fmt.Sprint(i)}, answered(t0, time.Minute), nil)
	}
	tr.Observe(Key{"trunk:t", "0"}, answered(t0, time.Minute), nil) // 0 is now the most recent
	tr.Observe(Key{"trunk:t", "3"}, answered(t0, time.Minute), nil) // evicts 1
	var got []string
	for _, ks := range tr.Snapshot(t0) {
		got = append(got, ks.Prefix)
	}
	if want := []string{"0", "2", "3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	if n, ev, _ := tr.Counters(); n != 3 || ev != 1 {
		t.Fatalf("counters %d keys %d evicted, want 3, 1", n, ev)
	}
}

// A member reporting the same transaction's failure again (under other
// component ids, or as a retry) must not push a competitor's trunk down.
func TestOneAttemptPerTransactionAndCandidate(t *testing.T) {
	tr := New(Config{Dedupe: 4})
	o := failed(t0, NetworkFailure)
	o.Transaction = 7
	for range 50 {
		tr.Observe(k1, o, nil)
	}
	other := Key{Candidate: "trunk:other", Prefix: "44"}
	tr.Observe(other, o, nil) // the same transaction on another candidate counts
	ks := tr.Snapshot(t0)
	if len(ks) != 2 || ks[0].Last.Attempts != 1 || ks[1].Last.Attempts != 1 {
		t.Fatalf("snapshot %+v, want one attempt each", ks)
	}
	if _, _, dups := tr.Counters(); dups != 49 {
		t.Fatalf("%d duplicates, want 49", dups)
	}
	// The memory is bounded: after 4 other transactions, 7 is forgotten.
	for i := range 4 {
		o2 := o
		o2.Transaction = uint64(100 + i)
		tr.Observe(k1, o2, nil)
	}
	tr.Observe(k1, o, nil)
	if st := tr.Snapshot(t0)[0].Last; st.Attempts != 6 {
		t.Fatalf("%d attempts, want 6 (1 + 4 + the forgotten one again)", st.Attempts)
	}
}

// Two trackers fed the same records in the same order agree, whatever
// the wall clock: every node holds the same windows.
func TestDeterministic(t *testing.T) {
	th, _ := Thresholds{MinSamples: 10, MinASRBps: 4000, RecoverASRBps: 5000}.Normalize()
	a, b := New(Config{Window: 50, MaxKeys: 8}), New(Config{Window: 50, MaxKeys: 8})
	seed := uint64(1)
	for i := range 5000 {
		seed = seed*6364136223846793005 + 1442695040888963407
		k := Key{Candidate: fmt.Sprintf("trunk:%d", seed>>60), Prefix: fmt.Sprint(seed >> 62)}
		o := Outcome{At: t0.Add(time.Duration(i) * time.Second), Transaction: uint64(i), Kind: int(seed>>40)%3 + 1,
			Duration: time.Duration(seed>>50) * time.Millisecond, PDD: time.Duration(seed>>52) * time.Millisecond, LossPPM: -1, Jitter: -1}
		a.Observe(k, o, &th)
		b.Observe(k, o, &th)
	}
	at := t0.Add(5000 * time.Second)
	if sa, sb := a.Snapshot(at), b.Snapshot(at); !reflect.DeepEqual(sa, sb) {
		t.Fatal("two trackers fed alike disagree")
	}
}

func TestReset(t *testing.T) {
	tr := New(Config{})
	o := failed(t0, NetworkFailure)
	o.Transaction = 1
	tr.Observe(k1, o, nil)
	tr.Reset()
	tr.Observe(k1, o, nil) // not a duplicate after a reset
	if st := only(t, tr.Snapshot(t0)).Last; st.Attempts != 1 {
		t.Fatalf("%d attempts after reset, want 1", st.Attempts)
	}
}

func BenchmarkObserve(b *testing.B) {
	th, _ := Thresholds{MinASRBps: 3000, RecoverASRBps: 4000, MaxPDD: 5 * time.Second}.Normalize()
	tr := New(Config{})
	keys := make([]Key, 64)
	for i := range keys {
		keys[i] = Key{Candidate: fmt.Sprintf("trunk:%d", i%8), Prefix: fmt.Sprint(i)}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		o := Outcome{At: t0.Add(time.Duration(i) * time.Millisecond), Transaction: uint64(i), Kind: i%3 + 1,
			Duration: time.Minute, PDD: time.Second, LossPPM: -1, Jitter: -1}
		tr.Observe(keys[i%len(keys)], o, &th)
	}
}

func BenchmarkJudge(b *testing.B) {
	th, _ := Thresholds{MinASRBps: 3000, RecoverASRBps: 4000, ProbeBps: 500}.Normalize()
	tr := New(Config{})
	feed(tr, k1, &th, t0, 200, 150)
	b.ReportAllocs()
	for b.Loop() {
		tr.Judge(k1, &th, true)
	}
}

func TestGroupAddsCounts(t *testing.T) {
	tr := New(Config{})
	th, _ := Thresholds{MinSamples: 2, MinASRBps: 6000}.Normalize()
	a, b := Key{"trunk:a", "44"}, Key{"trunk:a", "49"}
	tr.Observe(a, answered(t0, 10*time.Second), &th)
	tr.Observe(a, answered(t0, 30*time.Second), &th)
	tr.Observe(b, failed(t0, NetworkFailure), &th)
	tr.Observe(b, answered(t0, 20*time.Second), &th) // 50% < 60%: demoted
	tr.Observe(Key{"peer:y", "44"}, failed(t0, UserFailure), nil)
	got := tr.Group(t0, func(k Key) (string, bool) { return k.Candidate, strings.HasPrefix(k.Candidate, "trunk:") })
	if len(got) != 1 {
		t.Fatalf("groups %+v, want trunk:a only", got)
	}
	g := got[0]
	if g.Group != "trunk:a" || g.Series != 2 || g.Demoted != 1 || g.Last.Attempts != 4 || g.Last.Answered != 3 ||
		g.Last.ACD != 20*time.Second || g.Last.ASRBps != 7500 || g.Hour.Attempts != 4 {
		t.Fatalf("group %+v", g)
	}
}

func TestStatsJSONInMilliseconds(t *testing.T) {
	st := Stats{Attempts: 3, Answered: 2, ASRBps: 6667, ACD: 61500 * time.Millisecond, PDD50: time.Second, PDD95: 3 * time.Second,
		PDDSamples: 2, Jitter: 12500 * time.Microsecond, JitterSamples: 1}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"acd_ms":61500`, `"pdd_p95_ms":3000`, `"jitter_us":12500`, `"asr_bps":6667`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	var back Stats
	if err := json.Unmarshal(b, &back); err != nil || back != st {
		t.Fatalf("round trip %+v (%v), want %+v", back, err, st)
	}
}
