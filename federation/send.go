package federation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ospnode/ospnode/osp"
)

// errUnavailable503 marks an attempt answered with OSP 503.
var errUnavailable503 = errors.New("osp status 503 (unavailable)")

// exchange is the outcome of send.
type exchange struct {
	resp     *osp.Message
	url      string // the point that answered
	attempts []Attempt
	tried    int   // points in the order
	lastErr  error // last attempt's error
	gaveUp   bool  // the caller's context ended (not our deadline)
}

// send delivers msg to the first service point (in p's order) that answers
// it usefully before deadline: one whose answer has no 503 component and
// passes check. Each attempt gets an equal share of the remaining time
// (capped by Limits.AttemptTimeout). Failures count against the point's
// circuit, except when the caller's ctx (not the deadline) ended.
func (p *Peer) send(ctx context.Context, deadline time.Time, msg *osp.Message, check func(*osp.Message) error) exchange {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	order := p.order()
	x := exchange{tried: len(order)}
	next := 0
	defer func() {
		// Return the probe slots of half-open points we did not get to.
		for _, c := range order[next:] {
			if c.probe {
				c.pt.breaker.cancelProbe()
			}
		}
	}()
	for i, c := range order {
		remaining := time.Until(deadline)
		if remaining <= 0 || ctx.Err() != nil {
			break
		}
		next = i + 1
		share := remaining / time.Duration(len(order)-i)
		if at := p.cfg.Limits.AttemptTimeout; at > 0 && at < share {
			share = at
		}
		t0 := time.Now()
		resp, err := attempt(ctx, c.pt, msg, share, check)
		a := Attempt{URL: c.pt.sp.URL, Elapsed: time.Since(t0)}
		if resp != nil {
			a.Code = firstStatus(resp)
		}
		if err != nil {
			a.Err = err.Error()
		}
		x.attempts = append(x.attempts, a)
		if err == nil {
			c.pt.breaker.success()
			x.resp, x.url = resp, c.pt.sp.URL
			return x
		}
		x.lastErr = err
		if pe := ctx.Err(); pe != nil && !errors.Is(pe, context.DeadlineExceeded) {
			// The caller gave up: not the point's fault.
			if c.probe {
				c.pt.breaker.cancelProbe()
			}
			x.gaveUp = true
			return x
		}
		c.pt.breaker.failure(err)
		p.log.Debug("federation: service point failed", "peer", p.cfg.ID, "url", c.pt.sp.URL, "err", err)
	}
	return x
}

// attempt sends msg to one point within share. A transport failure, a
// timeout, a 503 component or a failed check is an error (the answer is
// still returned when there was one).
func attempt(ctx context.Context, pt *point, msg *osp.Message, share time.Duration, check func(*osp.Message) error) (*osp.Message, error) {
	actx, cancel := context.WithTimeout(ctx, share)
	defer cancel()
	m, err := pt.client.Do(actx, msg)
	if err != nil {
		if actx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("%s: attempt timed out after %v: %w", pt.sp.URL, share, err)
		}
		return nil, err
	}
	for i := range m.Components {
		if st, ok := m.Components[i].Status(); ok && st.Code == osp.StatusUnavailable {
			return m, fmt.Errorf("%s: %w", pt.sp.URL, errUnavailable503)
		}
	}
	if check != nil {
		if err := check(m); err != nil {
			return m, fmt.Errorf("%s: %w", pt.sp.URL, err)
		}
	}
	return m, nil
}

func firstStatus(m *osp.Message) int {
	for i := range m.Components {
		if st, ok := m.Components[i].Status(); ok {
			return st.Code
		}
	}
	return 0
}
