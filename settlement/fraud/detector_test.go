package fraud

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// testConfig is DefaultConfig without a learning period (tests that
// need one set it), so a rule's own thresholds decide.
func testConfig() Config {
	c := DefaultConfig()
	c.Learn = 0
	return c
}

// feed sends n authorisations from member to called, one every gap from
// start, and returns the findings and the time after the last.
func feed(d *Detector, member, calling, called string, start time.Time, n int, gap time.Duration) ([]Finding, time.Time) {
	var out []Finding
	at := start
	for i := range n {
		out = append(out, d.Authorize(Auth{Member: member, Calling: calling, Called: called, At: at, Tx: uint64(at.UnixNano()) + uint64(i)})...)
		at = at.Add(gap)
	}
	return out, at
}

func only(t *testing.T, fs []Finding, rule Rule) []Finding {
	t.Helper()
	var out []Finding
	for _, f := range fs {
		if f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}

func TestHighRisk(t *testing.T) {
	tests := []struct {
		name    string
		history int // calls per 10-minute window over the 6 hours before
		burst   int // calls in one minute after it
		called  string
		want    bool
	}{
		{"burst to satellite range, no history", 0, 12, "8816212345", true},
		{"under min_calls", 0, 9, "8816212345", false},
		{"steady history absorbs a normal window", 8, 12, "8816212345", false},
		{"far above a small history", 2, 15, "8816212345", true},
		{"same burst outside every range", 0, 12, "12125550100", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := New(testConfig())
			at := t0
			for w := range 36 {
				start := t0.Add(time.Duration(w) * 10 * time.Minute)
				feed(d, "acme", "", tc.called, start, tc.history, 10*time.Minute/time.Duration(tc.history+1))
				at = start.Add(10 * time.Minute)
			}
			fs, _ := feed(d, "acme", "", tc.called, at, tc.burst, 5*time.Second)
			hr := only(t, fs, RuleHighRisk)
			if got := len(hr) > 0; got != tc.want {
				t.Fatalf("fired %v, want %v: %+v", got, tc.want, hr)
			}
			if !tc.want {
				return
			}
			f := hr[0]
			if len(hr) != 1 || f.Action != ActionBlock || f.Member != "acme" || f.Prefix != "881" || f.Calling != "" {
				t.Fatalf("finding %+v (of %d): want one block of acme × 881", f, len(hr))
			}
			if f.ID != FindingID(RuleHighRisk, "acme", "881", "", f.At) || !strings.Contains(f.Evidence, "881") {
				t.Fatalf("finding id %s evidence %q", f.ID, f.Evidence)
			}
			if tc.history > 0 && f.BaselineMilli <= 0 {
				t.Fatalf("baseline %v milli after a history of %d per window", f.BaselineMilli, tc.history)
			}
		})
	}
}

func TestHighRiskOtherMembersAndRangesApart(t *testing.T) {
	d := New(testConfig())
	at := t0
	var fs []Finding
	for i := range 9 { // 9 each: under min_calls for every key
		for _, k := range []struct{ m, n string }{{"acme", "8816212345"}, {"globex", "8816212345"}, {"acme", "9790001"}} {
			fs = append(fs, d.Authorize(Auth{Member: k.m, Called: k.n, At: at.Add(time.Duration(i) * time.Second)})...)
		}
	}
	if hr := only(t, fs, RuleHighRisk); len(hr) != 0 {
		t.Fatalf("keys were summed: %+v", hr)
	}
}

func TestHighRiskOneFindingPerWindow(t *testing.T) {
	d := New(testConfig())
	fs, at := feed(d, "acme", "", "8816212345", t0, 40, time.Second)
	if n := len(only(t, fs, RuleHighRisk)); n != 1 {
		t.Fatalf("%d findings in one window, want 1", n)
	}
	fs, _ = feed(d, "acme", "", "8816212345", at.Add(10*time.Minute), 40, time.Second)
	if n := len(only(t, fs, RuleHighRisk)); n != 1 {
		t.Fatalf("%d findings in the next window, want 1 (40 > 5 × baseline)", n)
	}
}

func TestLearningDowngradesBlocks(t *testing.T) {
	cfg := testConfig()
	cfg.Learn = time.Hour
	d := New(cfg)
	fs, _ := feed(d, "acme", "", "8816212345", t0, 12, time.Second)
	hr := only(t, fs, RuleHighRisk)
	if len(hr) != 1 || hr[0].Action != ActionAlert || !hr[0].Learning {
		t.Fatalf("while learning: %+v, want one alert marked learning", hr)
	}
	fs, _ = feed(d, "globex", "", "8816212345", t0.Add(2*time.Hour), 12, time.Second)
	hr = only(t, fs, RuleHighRisk)
	if len(hr) != 1 || hr[0].Action != ActionBlock || hr[0].Learning {
		t.Fatalf("after learning: %+v, want one block", hr)
	}
}

func usage(d *Detector, member, called string, start time.Time, n int, gap, dur time.Duration) []Finding {
	var out []Finding
	for i := range n {
		out = append(out, d.Usage(Usage{Member: member, Called: called, At: start.Add(time.Duration(i) * gap), Duration: dur})...)
	}
	return out
}

func TestShortCalls(t *testing.T) {
	tests := []struct {
		name         string
		short, long  int
		shortHistory int // short calls per 5-minute window in the day before
		want         bool
	}{
		{"wangiri burst", 40, 0, 0, true},
		{"short calls mixed with real ones (ratio under 0.7)", 40, 30, 0, false},
		{"under min_calls", 29, 0, 0, false},
		{"a call centre's steady short calls", 40, 0, 35, false},
		{"far above the usual short calls", 120, 0, 20, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := New(testConfig())
			at := t0
			for w := range 288 {
				start := t0.Add(time.Duration(w) * 5 * time.Minute)
				usage(d, "acme", "4420755501", start, tc.shortHistory, time.Second, 2*time.Second)
				usage(d, "acme", "4420755501", start, tc.shortHistory*2, time.Second, 3*time.Minute) // ratio stays low
				at = start.Add(5 * time.Minute)
			}
			var fs []Finding
			fs = append(fs, usage(d, "acme", "4420755501", at, tc.long, time.Second, 2*time.Minute)...)
			fs = append(fs, usage(d, "acme", "4420755501", at.Add(time.Minute), tc.short, time.Second, 2*time.Second)...)
			sc := only(t, fs, RuleShortCalls)
			if got := len(sc) > 0; got != tc.want {
				t.Fatalf("fired %v, want %v: %+v", got, tc.want, sc)
			}
			if tc.want && (sc[0].Prefix != "44207" || sc[0].Action != ActionAlert) {
				t.Fatalf("finding %+v: want an alert on acme × 44207", sc[0])
			}
		})
	}
}

func TestNewDestination(t *testing.T) {
	cfg := testConfig()
	cfg.Learn = time.Hour
	tests := []struct {
		name      string
		firstSeen time.Duration // after t0 (the detector's first event)
		calls     int
		minutes   int // 2-minute calls reported
		want      bool
	}{
		{"known since the learning period", 10 * time.Minute, 60, 0, false},
		{"new, calls over min_calls", 2 * time.Hour, 60, 0, true},
		{"new, calls under", 2 * time.Hour, 40, 0, false},
		{"new, minutes over min_minutes", 2 * time.Hour, 0, 70, true},
		{"new, minutes under", 2 * time.Hour, 0, 50, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := New(cfg)
			d.Authorize(Auth{Member: "acme", Called: "12125550100", At: t0}) // starts the clock
			first := t0.Add(tc.firstSeen)
			d.Authorize(Auth{Member: "acme", Called: "3361234567", At: first})
			at := first.Add(6 * time.Minute) // a window later: its own burst
			fs, _ := feed(d, "acme", "", "3361234567", at, tc.calls, time.Second)
			fs = append(fs, usage(d, "acme", "3361234567", at, tc.minutes, time.Second, 2*time.Minute)...)
			nd := only(t, fs, RuleNewDestination)
			if got := len(nd) > 0; got != tc.want {
				t.Fatalf("fired %v, want %v: %+v", got, tc.want, nd)
			}
		})
	}
	t.Run("no longer new after new_for", func(t *testing.T) {
		d := New(cfg)
		d.Authorize(Auth{Member: "acme", Called: "12125550100", At: t0})
		d.Authorize(Auth{Member: "acme", Called: "3361234567", At: t0.Add(2 * time.Hour)})
		fs, _ := feed(d, "acme", "", "3361234567", t0.Add(27*time.Hour), 60, time.Second)
		if nd := only(t, fs, RuleNewDestination); len(nd) != 0 {
			t.Fatalf("%+v", nd)
		}
	})
}

func TestSimultaneous(t *testing.T) {
	d := New(testConfig())
	auth := func(tx uint64, calling string, at time.Time) []Finding {
		return d.Authorize(Auth{Member: "acme", Calling: calling, Called: "12125550100", At: at, Tx: tx, Until: at.Add(time.Hour)})
	}
	var fs []Finding
	for i := range 10 { // at the limit, not over it
		fs = append(fs, auth(uint64(100+i), "15550001", t0)...)
	}
	if len(fs) != 0 {
		t.Fatalf("10 calls (limit 10): %+v", fs)
	}
	// Ended calls stop counting: end one, add one.
	d.Usage(Usage{Member: "acme", Tx: 100, Called: "12125550100", At: t0.Add(time.Minute), Duration: time.Minute})
	if fs := auth(110, "15550001", t0.Add(time.Minute)); len(fs) != 0 {
		t.Fatalf("after an end: %+v", fs)
	}
	// A retry of a call already counted is not another call.
	if fs := auth(110, "15550001", t0.Add(time.Minute)); len(fs) != 0 {
		t.Fatalf("a repeated tx: %+v", fs)
	}
	// Another number does not add up.
	if fs := auth(200, "15550002", t0.Add(time.Minute)); len(fs) != 0 {
		t.Fatalf("another number: %+v", fs)
	}
	fs = auth(111, "15550001", t0.Add(2*time.Minute))
	if len(fs) != 1 || fs[0].Rule != RuleSimultaneous || fs[0].Calling != "15550001" || fs[0].Prefix != "" || fs[0].ObservedMilli != 11*Milli {
		t.Fatalf("11th call: %+v", fs)
	}
	// Calls past their time limit are over.
	if fs := auth(300, "15550001", t0.Add(2*time.Hour)); len(fs) != 0 {
		t.Fatalf("after every call expired: %+v", fs)
	}
}

func TestBoundedMemory(t *testing.T) {
	cfg := testConfig()
	cfg.MaxKeys, cfg.MaxCalls = 100, 150
	d := New(cfg)
	for i := range 10_000 {
		d.Authorize(Auth{Member: fmt.Sprintf("m%d", i%50), Calling: fmt.Sprintf("1555%07d", i), Called: fmt.Sprintf("1%010d", i*7919),
			At: t0.Add(time.Duration(i) * time.Millisecond), Tx: uint64(i + 1), Until: t0.Add(time.Hour)})
		d.Usage(Usage{Member: "m1", Tx: uint64(i / 2), Called: fmt.Sprintf("44%08d", i), At: t0.Add(time.Duration(i) * time.Millisecond)})
	}
	st := d.Stats()
	if st.DestinationKeys > 100 || st.CallingKeys > 100 || st.Calls > 150 || st.Evicted == 0 {
		t.Fatalf("stats %+v: want every table at or under its cap, with evictions", st)
	}
}

func TestDisabledAndOff(t *testing.T) {
	cfg := testConfig()
	cfg.Disabled = true
	if fs, _ := feed(New(cfg), "acme", "1555", "8816212345", t0, 50, time.Second); len(fs) != 0 {
		t.Fatalf("disabled: %+v", fs)
	}
	cfg = testConfig()
	cfg.HighRisk.Action = ActionOff
	if fs, _ := feed(New(cfg), "acme", "", "8816212345", t0, 50, time.Second); len(only(t, fs, RuleHighRisk)) != 0 {
		t.Fatalf("rule off: %+v", fs)
	}
}

func TestDeterministicIDs(t *testing.T) {
	run := func() []Finding {
		d := New(testConfig())
		fs, _ := feed(d, "acme", "1555", "8816212345", t0, 30, time.Second)
		return fs
	}
	a, b := run(), run()
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("%d and %d findings", len(a), len(b))
	}
	for i := range a {
		if a[i].ID != b[i].ID {
			t.Fatalf("finding %d: ids %s and %s from the same events", i, a[i].ID, b[i].ID)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"bad action", func(c *Config) { c.HighRisk.Action = "shout" }, "action"},
		{"no window", func(c *Config) { c.ShortCalls.Window = 0 }, "window"},
		{"ratio over 1", func(c *Config) { c.ShortCalls.RatioPermille = 1500 }, "ratio"},
		{"bad range", func(c *Config) { c.Ranges = append(c.Ranges, Range{Prefix: "88x"}) }, "88x"},
		{"range twice", func(c *Config) { c.Ranges = append(c.Ranges, Range{Prefix: "881"}) }, "twice"},
		{"digits", func(c *Config) { c.DestinationDigits = 0 }, "destination_digits"},
		{"no cap", func(c *Config) { c.MaxKeys = 0 }, "max_keys"},
		{"off needs nothing", func(c *Config) { c.Simultaneous = RuleConfig{Action: ActionOff} }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func BenchmarkObserve(b *testing.B) {
	d := New(DefaultConfig())
	called := make([]string, 1024)
	for i := range called {
		called[i] = fmt.Sprintf("%d%09d", []int{1, 44, 49, 881, 53}[i%5], i*7919)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		d.Authorize(Auth{Member: "acme", Calling: "15550001", Called: called[i%len(called)], At: at, Tx: uint64(i + 1), Until: at.Add(time.Minute)})
		d.Usage(Usage{Member: "acme", Tx: uint64(i + 1), Called: called[i%len(called)], At: at, Duration: 30 * time.Second})
	}
}
