package federation

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestCircuitBreaker walks one service point through closed → open →
// half-open (failed probe) → open with a doubled cooldown → half-open
// (good probe) → closed, over real HTTP, with an injected clock.
func TestCircuitBreaker(t *testing.T) {
	sick, good := newNetwork(t, "sick"), newNetwork(t, "good")
	sick.fail503.Store(1 << 20)
	clk := &fakeClock{t: t0}
	p := mustPeer(t, PeerConfig{ID: "yellow", ServicePoints: []ServicePoint{{URL: sick.url(), Weight: 1}, {URL: good.url()}}},
		PeerOptions{Now: clk.Now, Breaker: BreakerConfig{Failures: 2, Cooldown: time.Minute, MaxCooldown: 10 * time.Minute}})
	f := mustForwarder(t, "purple")
	fwd := func() []Attempt {
		t.Helper()
		res, err := f.Forward(context.Background(), p, Request{Auth: authReq("c")}, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return res.Attempts
	}
	state := func() ServicePointHealth { return p.Health().ServicePoints[0] }
	steps := []struct {
		name     string
		advance  time.Duration
		heal     bool
		attempts int
		state    BreakerState
	}{
		{"first failure, still closed", 0, false, 2, BreakerClosed},
		{"second failure opens", 0, false, 2, BreakerOpen},
		{"open: skipped", 30 * time.Second, false, 1, BreakerOpen},
		{"cooldown over: probe fails, re-opens", 30 * time.Second, false, 2, BreakerOpen},
		{"doubled cooldown not over: skipped", time.Minute, false, 1, BreakerOpen},
		{"probe succeeds: closed", time.Minute, true, 1, BreakerClosed},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		if s.heal {
			sick.fail503.Store(0)
		}
		if n := len(fwd()); n != s.attempts {
			t.Fatalf("%s: %d attempts, want %d", s.name, n, s.attempts)
		}
		if st := state(); st.State != s.state {
			t.Fatalf("%s: state %s, want %s (%+v)", s.name, st.State, s.state, st)
		}
	}
	if st := state(); st.Failures != 3 || st.Successes != 1 || st.ConsecutiveFailures != 0 {
		t.Fatalf("counters %+v", st)
	}
}

func TestAllCircuitsOpen(t *testing.T) {
	clk := &fakeClock{t: t0}
	p := mustPeer(t, PeerConfig{ID: "yellow", ServicePoints: []ServicePoint{{URL: deadURL(t)}}},
		PeerOptions{Now: clk.Now, Breaker: BreakerConfig{Failures: 1, Cooldown: time.Minute}})
	f := mustForwarder(t, "purple")
	if _, err := f.Forward(context.Background(), p, Request{Auth: authReq("c")}, time.Second); !errors.Is(err, ErrPeerUnavailable) {
		t.Fatalf("dead: %v", err)
	}
	res, err := f.Forward(context.Background(), p, Request{Auth: authReq("c")}, time.Second)
	if !errors.Is(err, ErrPeerUnavailable) || len(res.Attempts) != 0 {
		t.Fatalf("open circuit should fail fast without an attempt: %v %+v", err, res)
	}
	if h := p.Health(); h.ServicePoints[0].State != BreakerOpen || !h.ServicePoints[0].OpenUntil.Equal(t0.Add(time.Minute)) {
		t.Fatalf("health %+v", h)
	}
	clk.Advance(time.Minute)
	if h := p.Health(); h.ServicePoints[0].State != BreakerHalfOpen {
		t.Fatalf("after cooldown %+v", h)
	}
}

func TestWeightedOrder(t *testing.T) {
	p := mustPeer(t, PeerConfig{ID: "y", ServicePoints: []ServicePoint{
		{URL: "http://a/osp", Weight: 3}, {URL: "http://b/osp", Weight: 1}, {URL: "http://backup1/osp"}, {URL: "http://backup2/osp"},
	}}, PeerOptions{Rand: rand.New(rand.NewPCG(20261126, 1))})
	first := map[string]int{}
	const n = 4000
	for range n {
		o := p.order()
		if len(o) != 4 || o[2].pt.sp.URL != "http://backup1/osp" || o[3].pt.sp.URL != "http://backup2/osp" {
			t.Fatalf("order %v", o)
		}
		first[o[0].pt.sp.URL]++
	}
	// a has 3/4 of first attempts (fixed seed; the band allows any seed).
	if a := first["http://a/osp"]; a < n*70/100 || a > n*80/100 {
		t.Fatalf("a first %d of %d, want about 75%%", a, n)
	}
}
