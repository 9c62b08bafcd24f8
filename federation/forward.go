package federation

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

// ForwarderConfig configures a Forwarder.
type ForwarderConfig struct {
	// NetworkID is our network id: appended to the forwarding path and
	// checked against it. Required.
	NetworkID string
	// VerifyTokens checks every upstream token against the peer's trusted
	// CAs (signature and trust only: calling, called and Call-ID must also
	// match the request) before passing it on; a destination whose token
	// fails is dropped. Peers without trusted CAs are not checked.
	VerifyTokens bool
	// AcceptUnsignedTokens lets unsigned (text, XML) upstream tokens pass
	// VerifyTokens.
	AcceptUnsignedTokens bool
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Logger (nil: discard).
	Logger *slog.Logger
}

// Forwarder forwards authorisations to peer networks as an OSP client.
// Safe for concurrent use.
type Forwarder struct {
	cfg ForwarderConfig
	now func() time.Time
	log *slog.Logger
}

// NewForwarder returns a Forwarder; it fails without a NetworkID.
func NewForwarder(cfg ForwarderConfig) (*Forwarder, error) {
	if cfg.NetworkID == "" {
		return nil, errors.New("federation: forwarder needs our network id")
	}
	f := &Forwarder{cfg: cfg, now: cfg.Now, log: cfg.Logger}
	if f.now == nil {
		f.now = time.Now
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f, nil
}

// Request is an authorisation to forward, as node received it.
type Request struct {
	// SourceMember is our member that asked; with MessageID and the first
	// Call-ID it makes the upstream MessageId, so that a retried request
	// is a retry upstream too.
	SourceMember string
	// MessageID is the member's Message messageId.
	MessageID string
	// Auth is the member's (or previous peer's) request, with the called
	// number already translated for this peer candidate. It is not
	// modified.
	Auth *osp.AuthorizationRequest
}

// Attempt is one try at one service point.
type Attempt struct {
	URL     string        `json:"url"`
	Elapsed time.Duration `json:"elapsed"`
	// Code is the OSP status answered (0: none, the attempt failed).
	Code int    `json:"code,omitempty"`
	Err  string `json:"err,omitempty"`
}

// ForwardResult is the upstream's answer.
type ForwardResult struct {
	Peer string
	// ServicePoint is the URL that answered.
	ServicePoint string
	// MessageID, Via and HopLimit are what we sent.
	MessageID string
	Via       []string
	HopLimit  int
	// Status is the upstream's AuthorizationResponse status.
	Status osp.Status
	// TransactionID is the upstream's (stamp it into ledger.Authorize as
	// UpstreamTransactionID).
	TransactionID uint64
	// Destinations are the upstream's routes, tokens untouched.
	Destinations []osp.Destination
	// TimeLimit is the smallest positive time limit among Destinations, in
	// seconds (0: the upstream set none).
	TimeLimit int
	// Dropped counts destinations removed because their token failed
	// VerifyTokens or the toolkit would reject them.
	Dropped  int
	Attempts []Attempt
	Elapsed  time.Duration
}

// UpstreamMessageID returns the MessageId we send upstream for a request
// (member, messageID, callID): a decimal below 2^63 derived from a hash,
// so that the same request retried by the member is the same request
// upstream (the peer's Authorize idempotency key is (us, MessageId,
// Call-ID)), while requests of different members never collide.
func UpstreamMessageID(networkID, member, messageID string, callID []byte) string {
	h := sha256.New()
	for _, s := range [][]byte{[]byte(networkID), []byte(member), []byte(messageID), callID} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write(s)
	}
	sum := h.Sum(nil)
	v := binary.BigEndian.Uint64(sum[:8]) &^ (1 << 63)
	if v == 0 {
		v = 1
	}
	return strconv.FormatUint(v, 10)
}

// UpstreamRequest returns the AuthorizationRequest sent to peer p for req:
// a copy with our identity at the peer (DeviceId, CustomerId, source
// device, SourceAlternate network), Via = req.Via + networkID, HopLimit =
// the effective hop limit − 1, and the current timestamp. Calling, called
// and Call-IDs are kept as they are: the terminating side compares them
// with the INVITE. req is not modified.
func UpstreamRequest(req *osp.AuthorizationRequest, id Identity, networkID string, now time.Time) *osp.AuthorizationRequest {
	up := *req
	up.Timestamp = now.UTC().Truncate(time.Second)
	up.Via = append(slices.Clip(slices.Clone(req.Via)), networkID)
	up.HopLimit = EffectiveHopLimit(req) - 1
	if id.DeviceID != "" {
		up.DeviceID = id.DeviceID
	}
	if id.CustomerID != "" {
		up.CustomerID = id.CustomerID
	}
	if id.SourceAddress != "" {
		up.DeviceInfo = setTyped(req.DeviceInfo, osp.TypeTransport, id.SourceAddress)
	}
	if nid := id.NetworkID; nid != "" || networkID != "" {
		if nid == "" {
			nid = networkID
		}
		up.SourceAlternate = setTyped(req.SourceAlternate, osp.TypeNetwork, nid)
	}
	return &up
}

// setTyped returns a copy of tv with the value of type typ replaced (or
// appended).
func setTyped(tv osp.TypedValues, typ, v string) osp.TypedValues {
	out := make(osp.TypedValues, 0, len(tv)+1)
	done := false
	for _, x := range tv {
		if x.Type == typ {
			if !done {
				out = append(out, osp.TypedValue{Type: typ, Value: v})
				done = true
			}
			continue
		}
		out = append(out, x)
	}
	if !done {
		out = append(out, osp.TypedValue{Type: typ, Value: v})
	}
	return out
}

// Forward sends req to peer p and returns its answer. The call never lasts
// beyond budget (lowered to p's Limits.Budget; 0 means that or
// DefaultBudget) nor beyond ctx.
//
// Service points are tried in p's order (a half-open probe, then weighted
// points, then backups; see DESIGN.md); each attempt gets an equal share of the remaining
// budget (capped by Limits.AttemptTimeout), so a slow first point leaves
// time for the next. A network or HTTP error, an undecodable answer, an
// OSP 503 or an attempt timeout moves on to the next point and counts
// against that point's circuit.
//
// Errors are *ForwardError wrapping: ErrLoop/ErrHopLimit (also a
// *LoopError; nothing sent), ErrPeerDisabled, ErrPeerBusy, ErrBadRequest,
// ErrBudgetExceeded, ErrPeerUnavailable, ErrRefused (the result is returned
// too, with the upstream's Status) and ErrBadResponse. A successful result
// has a 2xx Status, a non-zero TransactionID and at least one destination.
func (f *Forwarder) Forward(ctx context.Context, p *Peer, req Request, budget time.Duration) (*ForwardResult, error) {
	start := f.now()
	if p == nil {
		return nil, &ForwardError{Code: osp.StatusInternalError, Err: ErrBadRequest, Cause: errors.New("nil peer")}
	}
	ferr := func(sentinel error, code int, cause error) *ForwardError {
		return &ForwardError{Peer: p.ID(), Code: code, Err: sentinel, Cause: cause}
	}
	if req.Auth == nil || len(req.Auth.CallIDs) == 0 {
		return nil, ferr(ErrBadRequest, osp.StatusBadRequest, errors.New("no authorisation request or no call-id"))
	}
	if err := CheckLoop(req.Auth, f.cfg.NetworkID); err != nil {
		return nil, ferr(errors.Unwrap(err), LoopStatus, err)
	}
	if p.cfg.Status != ledger.PeerActive {
		return nil, ferr(ErrPeerDisabled, osp.StatusTransientProblem, nil)
	}
	if lb := p.cfg.Limits.Budget; lb > 0 && (budget <= 0 || lb < budget) {
		budget = lb
	}
	if budget <= 0 {
		budget = DefaultBudget
	}
	if !p.acquire() {
		return nil, ferr(ErrPeerBusy, osp.StatusTransientProblem, nil)
	}
	defer p.release()

	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	deadline, _ := ctx.Deadline()

	up := UpstreamRequest(req.Auth, p.cfg.Identity, f.cfg.NetworkID, f.now())
	res := &ForwardResult{
		Peer:      p.ID(),
		MessageID: UpstreamMessageID(f.cfg.NetworkID, req.SourceMember, req.MessageID, req.Auth.CallIDs[0]),
		Via:       up.Via,
		HopLimit:  up.HopLimit,
	}
	msg := &osp.Message{MessageID: res.MessageID, Components: []osp.Component{{ID: "1", AuthorizationRequest: up}}}
	if _, err := osp.Encode(msg); err != nil {
		return nil, ferr(ErrBadRequest, osp.StatusBadRequest, err)
	}

	x := p.send(ctx, deadline, msg, func(m *osp.Message) error {
		if authResponse(m) == nil {
			return errors.New("answer holds no AuthorizationResponse")
		}
		return nil
	})
	res.Attempts = x.attempts
	res.Elapsed = f.now().Sub(start)
	if x.resp == nil {
		switch {
		case x.tried == 0:
			return res, ferr(ErrPeerUnavailable, osp.StatusTransientProblem, errors.New("every service point's circuit is open"))
		case x.gaveUp:
			return res, ferr(ErrPeerUnavailable, osp.StatusTransientProblem, context.Cause(ctx))
		case !time.Now().Before(deadline):
			return res, ferr(ErrBudgetExceeded, osp.StatusTransientProblem, x.lastErr)
		}
		return res, ferr(ErrPeerUnavailable, osp.StatusTransientProblem, x.lastErr)
	}
	ar := authResponse(x.resp)
	res.ServicePoint = x.url
	res.Status = ar.Status
	res.TransactionID = ar.TransactionID
	if !ar.Status.OK() {
		return res, ferr(ErrRefused, refusalCode(ar.Status.Code),
			fmt.Errorf("status %d %s", ar.Status.Code, ar.Status.Description))
	}
	if res.TransactionID == 0 || res.TransactionID >= 1<<63 {
		return res, ferr(ErrBadResponse, osp.StatusTransientProblem, fmt.Errorf("transaction id %d", res.TransactionID))
	}
	res.Destinations, res.Dropped = f.acceptDestinations(p, req.Auth, ar.Destinations)
	if len(res.Destinations) == 0 {
		return res, ferr(ErrBadResponse, osp.StatusTransientProblem, fmt.Errorf("no usable destination (%d dropped)", res.Dropped))
	}
	res.TimeLimit = minTimeLimit(res.Destinations)
	return res, nil
}

// authResponse returns the first AuthorizationResponse of m, or nil.
func authResponse(m *osp.Message) *osp.AuthorizationResponse {
	for i := range m.Components {
		if ar := m.Components[i].AuthorizationResponse; ar != nil {
			return ar
		}
	}
	return nil
}

// acceptDestinations returns the destinations node may pass on, tokens
// untouched: each must carry what the toolkit requires (signal address,
// token, Call-ID) and, with VerifyTokens and peer CAs, a token that
// verifies for this call.
func (f *Forwarder) acceptDestinations(p *Peer, req *osp.AuthorizationRequest, ds []osp.Destination) ([]osp.Destination, int) {
	out := make([]osp.Destination, 0, len(ds))
	dropped := 0
	for _, d := range ds {
		if d.SignalAddress == "" || len(d.Token) == 0 || len(d.CallID) == 0 {
			dropped++
			continue
		}
		if f.cfg.VerifyTokens && p.roots != nil {
			called := req.Called()
			if d.TranslatedCalled != "" {
				called = d.TranslatedCalled
			}
			_, err := osp.VerifyToken(d.Token, osp.TokenVerifyOptions{
				Roots: p.roots, Now: f.now(), Calling: req.Calling(), Called: called,
				CallID: d.CallID, AcceptUnsigned: f.cfg.AcceptUnsignedTokens,
			})
			if err != nil {
				f.log.Warn("federation: upstream token refused", "peer", p.ID(), "dest", d.SignalAddress, "err", err)
				dropped++
				continue
			}
		}
		out = append(out, d)
	}
	return out, dropped
}

// refusalCode maps an upstream refusal to the code we answer our member
// with: the upstream's own code, except that an authentication or security
// refusal (401, 42x) is about us at the peer, not about the member, and
// becomes 520 (long-term problem) so that the member's operator is not
// sent looking at its own credentials.
func refusalCode(c int) int {
	switch {
	case c == osp.StatusUnauthorized, c >= 420 && c <= 425:
		return osp.StatusLongTermProblem
	case c < 300:
		return osp.StatusGenericFailure
	}
	return c
}

// minTimeLimit returns the smallest positive time limit of ds (0: none).
func minTimeLimit(ds []osp.Destination) int {
	m := 0
	for i := range ds {
		if t := ds[i].TimeLimit(); t > 0 && (m == 0 || t < m) {
			m = t
		}
	}
	return m
}
