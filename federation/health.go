package federation

import (
	"sync"
	"time"
)

// BreakerConfig tunes the circuit breaker of each service point. Zero
// fields take the defaults.
type BreakerConfig struct {
	// Failures is how many consecutive failures open the circuit
	// (default 3).
	Failures int
	// Cooldown is how long an open circuit stays open before one probe is
	// let through (default 5s); it doubles after each failed probe up to
	// MaxCooldown (default 1m).
	Cooldown    time.Duration
	MaxCooldown time.Duration
}

func (c BreakerConfig) withDefaults() BreakerConfig {
	if c.Failures <= 0 {
		c.Failures = 3
	}
	if c.Cooldown <= 0 {
		c.Cooldown = 5 * time.Second
	}
	if c.MaxCooldown <= 0 {
		c.MaxCooldown = time.Minute
	}
	if c.MaxCooldown < c.Cooldown {
		c.MaxCooldown = c.Cooldown
	}
	return c
}

// BreakerState is the state of a service point's circuit.
type BreakerState string

// Breaker states.
const (
	// BreakerClosed: the point is used normally.
	BreakerClosed BreakerState = "closed"
	// BreakerOpen: the point failed repeatedly and is skipped until its
	// cooldown ends.
	BreakerOpen BreakerState = "open"
	// BreakerHalfOpen: the cooldown ended; the next request is a probe
	// whose outcome closes or re-opens the circuit.
	BreakerHalfOpen BreakerState = "half-open"
)

type allowance int

const (
	allowNo allowance = iota
	allowYes
	allowProbe
)

// breaker is a consecutive-failure circuit breaker with one half-open
// probe at a time. Safe for concurrent use.
type breaker struct {
	cfg BreakerConfig
	now func() time.Time

	mu          sync.Mutex
	state       BreakerState
	consecutive int
	cooldown    time.Duration
	openUntil   time.Time
	probing     bool
	// counters for operators
	successes, failures uint64
	lastErr             string
	lastFailure         time.Time
	lastSuccess         time.Time
}

func newBreaker(cfg BreakerConfig, now func() time.Time) *breaker {
	cfg = cfg.withDefaults()
	return &breaker{cfg: cfg, now: now, state: BreakerClosed, cooldown: cfg.Cooldown}
}

// allow says whether a request may go to the point: yes when closed, once
// (a probe) when the cooldown of an open circuit has ended and no other
// probe is in flight, no otherwise.
func (b *breaker) allow() allowance {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerClosed:
		return allowYes
	case BreakerOpen:
		if b.now().Before(b.openUntil) {
			return allowNo
		}
		b.state = BreakerHalfOpen
		fallthrough
	default: // half-open
		if b.probing {
			return allowNo
		}
		b.probing = true
		return allowProbe
	}
}

// cancelProbe returns an unused probe slot.
func (b *breaker) cancelProbe() {
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// success records a good answer: the circuit closes.
func (b *breaker) success() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.successes++
	b.lastSuccess = b.now()
	b.consecutive = 0
	b.probing = false
	b.state = BreakerClosed
	b.cooldown = b.cfg.Cooldown
}

// failure records a failed attempt: a failed probe re-opens the circuit
// with a doubled cooldown; Failures consecutive failures open a closed one.
func (b *breaker) failure(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.failures++
	b.lastFailure = now
	if err != nil {
		b.lastErr = err.Error()
	}
	b.consecutive++
	switch {
	case b.state == BreakerHalfOpen:
		b.probing = false
		b.cooldown = min(2*b.cooldown, b.cfg.MaxCooldown)
		b.state = BreakerOpen
		b.openUntil = now.Add(b.cooldown)
	case b.state == BreakerClosed && b.consecutive >= b.cfg.Failures:
		b.state = BreakerOpen
		b.openUntil = now.Add(b.cooldown)
	}
}

// ServicePointHealth is one service point's health, for `ospnode peer
// list` and the admin API.
type ServicePointHealth struct {
	URL                 string       `json:"url"`
	Weight              int          `json:"weight"`
	State               BreakerState `json:"state"`
	ConsecutiveFailures int          `json:"consecutive_failures"`
	Successes           uint64       `json:"successes"`
	Failures            uint64       `json:"failures"`
	LastError           string       `json:"last_error,omitempty"`
	LastFailure         time.Time    `json:"last_failure,omitzero"`
	LastSuccess         time.Time    `json:"last_success,omitzero"`
	// OpenUntil is when an open circuit lets its next probe through.
	OpenUntil time.Time `json:"open_until,omitzero"`
}

// PeerHealth is a peer's health: its status, calls in flight and every
// service point's circuit.
type PeerHealth struct {
	ID            string               `json:"id"`
	Name          string               `json:"name,omitempty"`
	Status        string               `json:"status"`
	InFlight      int                  `json:"in_flight"`
	MaxConcurrent int                  `json:"max_concurrent,omitempty"`
	ServicePoints []ServicePointHealth `json:"service_points"`
}

// Health returns a snapshot of the peer's health. An open circuit whose
// cooldown has ended is reported half-open. Safe for concurrent use.
func (p *Peer) Health() PeerHealth {
	h := PeerHealth{
		ID: p.cfg.ID, Name: p.cfg.Name, Status: string(p.cfg.Status),
		InFlight: p.InFlight(), MaxConcurrent: p.cfg.Limits.MaxConcurrent,
	}
	for _, pt := range p.points {
		b := pt.breaker
		b.mu.Lock()
		s := ServicePointHealth{
			URL: pt.sp.URL, Weight: pt.sp.Weight, State: b.state,
			ConsecutiveFailures: b.consecutive, Successes: b.successes, Failures: b.failures,
			LastError: b.lastErr, LastFailure: b.lastFailure, LastSuccess: b.lastSuccess,
		}
		if b.state == BreakerOpen {
			s.OpenUntil = b.openUntil
			if !b.now().Before(b.openUntil) {
				s.State = BreakerHalfOpen
			}
		}
		b.mu.Unlock()
		h.ServicePoints = append(h.ServicePoints, s)
	}
	return h
}
