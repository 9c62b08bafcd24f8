package fraud

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// A detector reset and fed the same events again (the recent ones, told
// when the history began) holds what the one that ran holds: the keys,
// windows, baselines, quiet times, calls in progress and learning state.
func TestRebuildMatchesRunning(t *testing.T) {
	type ev struct {
		auth  *Auth
		usage *Usage
	}
	var events []ev
	at := t0
	for i := range 400 {
		at = at.Add(47 * time.Second)
		called := []string{"8816212345", "12125550100", "442075550100"}[i%3]
		tx := uint64(i + 1)
		events = append(events, ev{auth: &Auth{Member: fmt.Sprint("m", i%4), Calling: fmt.Sprint("1555000", i%5), Called: called,
			At: at, Tx: tx, Until: at.Add(10 * time.Minute)}})
		if i%3 != 0 {
			events = append(events, ev{usage: &Usage{Member: fmt.Sprint("m", i%4), Tx: tx, Called: called, At: at.Add(time.Second),
				Duration: time.Duration(i%9) * time.Second}})
		}
	}
	run := func(d *Detector, evs []ev) {
		for _, e := range evs {
			if e.auth != nil {
				d.Authorize(*e.auth)
			} else {
				d.Usage(*e.usage)
			}
		}
	}
	for _, tc := range []struct {
		name     string
		learn    time.Duration
		from     int  // the first event the rebuild is fed
		same     bool // the whole history: identical state
		learning bool // after the rebuild
	}{
		{name: "whole history", learn: time.Hour, from: 0, same: true},
		{name: "whole history, still learning", learn: 24 * time.Hour, from: 0, same: true, learning: true},
		{name: "recent half, history began earlier", learn: time.Hour, from: 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Learn = tc.learn
			running := New(cfg)
			run(running, events)
			rebuilt := New(cfg)
			run(rebuilt, events[:50]) // whatever it held before is forgotten
			rebuilt.Reset()
			rebuilt.HistoryBegan(events[0].auth.At)
			run(rebuilt, events[tc.from:])
			rl, ru := running.Learning()
			bl, bu := rebuilt.Learning()
			if rl != bl || !ru.Equal(bu) || bl != tc.learning {
				t.Fatalf("learning: rebuilt %v until %s, running %v until %s; want %v", bl, bu, rl, ru, tc.learning)
			}
			if !tc.same {
				if len(rebuilt.Keys()) == 0 {
					t.Fatal("rebuilt from the recent events: no keys")
				}
				return
			}
			if g, w := rebuilt.Keys(), running.Keys(); !reflect.DeepEqual(g, w) {
				t.Fatalf("keys differ:\nrebuilt %+v\nrunning %+v", g, w)
			}
			if g, w := rebuilt.Calls(), running.Calls(); !reflect.DeepEqual(g, w) || len(w) == 0 {
				t.Fatalf("calls in progress differ (or none):\nrebuilt %+v\nrunning %+v", g, w)
			}
			if g, w := rebuilt.Stats(), running.Stats(); g != w {
				t.Fatalf("stats: rebuilt %+v, running %+v", g, w)
			}
		})
	}
}

// Without HistoryBegan a fresh detector learns from its first event; an
// earlier history start ends the learning period sooner, a later one
// changes nothing.
func TestHistoryBegan(t *testing.T) {
	cfg := DefaultConfig()
	for _, tc := range []struct {
		name  string
		began time.Time
		want  bool
	}{
		{"no history", time.Time{}, true},
		{"a day of history", t0.Add(-24 * time.Hour), false},
		{"later than the first event", t0.Add(time.Minute), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := New(cfg)
			if l, until := d.Learning(); !l || !until.IsZero() {
				t.Fatalf("before any event: %v until %s", l, until)
			}
			d.HistoryBegan(tc.began)
			fs, _ := feed(d, "acme", "", "8816212345", t0, 12, time.Second)
			if l, _ := d.Learning(); l != tc.want {
				t.Fatalf("learning %v, want %v", l, tc.want)
			}
			hr := only(t, fs, RuleHighRisk)
			if len(hr) != 1 || hr[0].Learning != tc.want || (hr[0].Action == ActionBlock) == tc.want {
				t.Fatalf("high-risk findings %+v: want one, learning %v", hr, tc.want)
			}
		})
	}
}
