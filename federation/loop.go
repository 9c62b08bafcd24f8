package federation

import (
	"fmt"
	"slices"

	"github.com/ospnode/ospnode/osp"
)

// Loop-prevention bounds.
const (
	// DefaultHopLimit is the hop limit a request without one is treated as
	// carrying: at most this many networks, counting the receiving one,
	// may handle it. Eight covers any realistic transit chain (IPX chains
	// are two or three hops) while cutting a misconfigured cycle short.
	DefaultHopLimit = 8
	// MaxHopLimit caps a hop limit received from a peer, so that a peer
	// cannot grant a request unbounded forwarding through us.
	MaxHopLimit = 32
	// MaxVia bounds the forwarding path we accept; a longer path is treated
	// as a loop (it cannot be legitimate under MaxHopLimit).
	MaxVia = MaxHopLimit
)

// LoopStatus is the OSP status code a loop or an exhausted hop limit is
// answered with: 404 (no route). The previous hop reads it as "no route
// through this peer" and moves on to its next candidate; 503 would instead
// make an OSP client retry our other service points, which would refuse
// the same request again, and 401/403 would send an operator looking at
// member credentials or policy. The Status Description says which of the
// two it was.
const LoopStatus = osp.StatusNoRoute

// LoopError is what CheckLoop returns. Err is ErrLoop or ErrHopLimit.
type LoopError struct {
	NetworkID string   // our network id
	Via       []string // the path received
	HopLimit  int      // the effective hop limit received
	Err       error
}

// Error implements error.
func (e *LoopError) Error() string {
	if e.Err == ErrHopLimit {
		return fmt.Sprintf("federation: hop limit exhausted (hop limit %d, path %v)", e.HopLimit, e.Via)
	}
	return fmt.Sprintf("federation: loop: network %q already in path %v", e.NetworkID, e.Via)
}

// Unwrap returns ErrLoop or ErrHopLimit.
func (e *LoopError) Unwrap() error { return e.Err }

// Code returns the OSP status code to answer with (LoopStatus).
func (e *LoopError) Code() int { return LoopStatus }

// Status returns the OSP Status to answer with, its Description naming the
// cause.
func (e *LoopError) Status() osp.Status {
	d := "no route: forwarding loop"
	if e.Err == ErrHopLimit {
		d = "no route: hop limit exhausted"
	}
	return osp.Status{Code: LoopStatus, Description: d}
}

// EffectiveHopLimit returns the hop limit req carries as we honour it: the
// received value capped at MaxHopLimit, or DefaultHopLimit when absent (0)
// or negative.
func EffectiveHopLimit(req *osp.AuthorizationRequest) int {
	h := req.HopLimit
	if h <= 0 {
		return DefaultHopLimit
	}
	return min(h, MaxHopLimit)
}

// CheckLoop reports whether req may be forwarded by the network
// ourNetworkID. It returns a *LoopError wrapping ErrLoop when ourNetworkID
// already appears in req.Via (or the path is longer than MaxVia), and one
// wrapping ErrHopLimit when the effective hop limit is 1 or less (the
// request may reach us but no network beyond us). It returns nil otherwise.
//
// The hop limit counts networks that may still handle the request,
// including the receiving one: a network receiving h may forward with h-1
// only when h-1 ≥ 1 (0 cannot be sent, it means "absent").
//
// node calls it on every AuthorizationRequest it receives: on ErrLoop it
// refuses the request outright (with e.Status()); on ErrHopLimit it may
// still answer with local trunks but must drop peer candidates. Forward
// calls it again and never sends a request it refuses. Safe for concurrent
// use; req is not modified.
func CheckLoop(req *osp.AuthorizationRequest, ourNetworkID string) error {
	if req == nil {
		return nil
	}
	if len(req.Via) > MaxVia || (ourNetworkID != "" && slices.Contains(req.Via, ourNetworkID)) {
		return &LoopError{NetworkID: ourNetworkID, Via: slices.Clone(req.Via), HopLimit: EffectiveHopLimit(req), Err: ErrLoop}
	}
	if h := EffectiveHopLimit(req); h <= 1 {
		return &LoopError{NetworkID: ourNetworkID, Via: slices.Clone(req.Via), HopLimit: h, Err: ErrHopLimit}
	}
	return nil
}
