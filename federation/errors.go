package federation

import (
	"errors"
	"fmt"

	"github.com/ospnode/ospnode/osp"
)

// Sentinel causes carried by *ForwardError and *LoopError; test with
// errors.Is.
var (
	// ErrLoop: our network id is already in the request's forwarding path
	// (or the path is longer than MaxVia).
	ErrLoop = errors.New("forwarding loop")
	// ErrHopLimit: the request may not be forwarded any further.
	ErrHopLimit = errors.New("hop limit exhausted")
	// ErrPeerDisabled: the peer's administrative status is not active.
	ErrPeerDisabled = errors.New("peer disabled")
	// ErrPeerBusy: the peer's concurrent forwarded-call limit is reached.
	ErrPeerBusy = errors.New("peer concurrency limit reached")
	// ErrBudgetExceeded: the forwarding budget ran out before a service
	// point answered.
	ErrBudgetExceeded = errors.New("forwarding budget exceeded")
	// ErrPeerUnavailable: every usable service point failed (network
	// error, HTTP error, undecodable answer, OSP 503) or every circuit is
	// open.
	ErrPeerUnavailable = errors.New("peer unavailable")
	// ErrRefused: the upstream answered with a refusal status (above 299,
	// other than 503). ForwardError.Code is its code.
	ErrRefused = errors.New("upstream refused")
	// ErrBadResponse: the upstream answered 2xx with something we cannot
	// pass on (no AuthorizationResponse, TransactionId 0, a destination
	// the toolkit would reject, a token that fails verification).
	ErrBadResponse = errors.New("bad upstream response")
	// ErrBadRequest: the request cannot be forwarded (nil, no Call-ID,
	// unencodable).
	ErrBadRequest = errors.New("request cannot be forwarded")
)

// ForwardError is the error Forward returns. Err is one of the sentinels
// above (reachable with errors.Is); Cause is the underlying error, if any.
// Code is the OSP status code node may answer its member with when no
// other candidate remains (see DESIGN.md, "Status codes").
type ForwardError struct {
	Peer  string
	Code  int
	Err   error
	Cause error
}

// Error implements error.
func (e *ForwardError) Error() string {
	s := fmt.Sprintf("federation: forward to peer %q: %v", e.Peer, e.Err)
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap returns the sentinel and the cause.
func (e *ForwardError) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

// Status returns the OSP Status to answer with.
func (e *ForwardError) Status() osp.Status { return osp.NewStatus(e.Code) }
