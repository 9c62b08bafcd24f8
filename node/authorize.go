package node

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/osp"
	"github.com/ospnode/ospnode/settlement"
)

// Status codes chosen for the node's own refusals (osp's constants; the
// toolkit maps each to its own error, see DESIGN.md):
const (
	codeUnknownMember = osp.StatusUnauthorized           // 401: no member identified
	codeSuspended     = osp.StatusMayNotOriginate        // 405: member suspended
	codeBlocked       = osp.StatusRouteBlocked           // 403: blocked prefix (route or member)
	codeNoRoute       = osp.StatusNoRoute                // 404: no route, or no usable candidate
	codeCPS           = osp.StatusCallRateExceeded       // 441: calls per second exceeded
	codeConcurrent    = osp.StatusDecline                // 603: concurrent-call limit or credit exhausted
	codeBadCalled     = osp.StatusDestinationInfoInvalid // 489: called number missing or not digits
)

// defaultMaxDestinations applies when a request does not say (the Kamailio
// module's default); maxDestinations caps what a request may ask for.
const (
	defaultMaxDestinations = 5
	maxDestinations        = 16
)

func (rq *request) authRefusal(id string, code int, desc string) osp.Component {
	st := osp.NewStatus(code)
	if desc != "" {
		st.Description = desc
	}
	return osp.Component{ID: id, AuthorizationResponse: &osp.AuthorizationResponse{Timestamp: rq.now, Status: st}}
}

// normalizeNumber returns the E.164 digits of a called number ("+" and
// the toolkit's surrounding whitespace removed), or "" when it is not one.
func normalizeNumber(s string) string {
	s = strings.TrimPrefix(strings.TrimSpace(s), "+")
	if s == "" || len(s) > settlement.MaxPrefixDigits+5 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return ""
		}
	}
	return s
}

// authorize answers an AuthorizationRequest: identify, check policy and
// limits, route, propose Authorize, sign a token per destination.
func (rq *request) authorize(ctx context.Context, c *osp.Component) osp.Component {
	n, v, req := rq.n, rq.v, c.AuthorizationRequest
	m := v.identify(rq.c, req.DeviceID, req.CustomerID, req.SourceDevice())
	if m == nil {
		return rq.authRefusal(c.ID, codeUnknownMember, "unknown member")
	}
	if m.Status != ledger.MemberActive {
		return rq.authRefusal(c.ID, codeSuspended, "member "+string(m.Status))
	}
	called := normalizeNumber(req.Called())
	if called == "" {
		return rq.authRefusal(c.ID, codeBadCalled, "called number missing or not E.164 digits")
	}
	if refusal, ok := rq.checkAuthInput(c.ID, req); !ok {
		return refusal
	}
	callID := ""
	if len(req.CallIDs) > 0 {
		callID = string(req.CallIDs[0])
	}

	// A retry of the same request (same member, messageId, Call-ID) gets
	// the transaction it already has; the ledger enforces the same key on
	// propose, this read just saves the round trip.
	if tx, err := n.store.TransactionByKey(m.ID, rq.msg.MessageID, callID); err == nil {
		if tx.UpstreamPeer != "" {
			return rq.reforward(ctx, c.ID, m, req, tx)
		}
		return rq.authAnswer(c.ID, req, tx)
	}

	// Loop prevention first: a request that already went through our
	// network is refused outright (federation.LoopStatus, 404); one whose
	// hop limit is spent may still use local trunks.
	rt, peersOK, loop := rq.fedCheck(req)
	if loop != nil {
		return rq.authRefusal(c.ID, loop.Code, loop.Description)
	}

	if bl := v.blocked[m.ID]; bl != nil {
		if _, p, ok := bl.Lookup(called); ok {
			return rq.authRefusal(c.ID, codeBlocked, "destination "+p+" blocked for this member")
		}
	}
	route, _, ok := v.routes.Lookup(called)
	if !ok {
		return rq.authRefusal(c.ID, codeNoRoute, "")
	}
	if route.Blocked {
		return rq.authRefusal(c.ID, codeBlocked, "destination "+route.Prefix+" blocked")
	}
	credit := n.cfg.policy.Credit(rq.rater(m.SellDeckID), called, rq.now)
	var peers *fedRuntime
	if peersOK {
		peers = rt
	}
	choices := rq.rankChoices(m, route, called, credit.Sell, credit.SellOK, callID, peers)
	want := req.MaximumDestinations
	if want <= 0 {
		want = defaultMaxDestinations
	}
	want = min(want, maxDestinations)
	if len(choices) == 0 {
		return rq.authRefusal(c.ID, codeNoRoute, "no usable route")
	}
	r, refused := n.adm.Reserve(rq.now, m, credit)
	if refused != nil {
		return rq.authRefusal(c.ID, refused.code, refused.desc)
	}
	defer r.Release()
	limit := r.Limit()

	// One source at a time (DESIGN.md, "Federation"): walk the ranked
	// candidates; peers ranked before the first local trunk are tried in
	// turn within the forwarding budget, and the first that answers makes
	// the whole answer. Once a local trunk is reached (or every peer
	// failed), the answer is the local trunks only.
	var lastErr error
	deadline := time.Now().Add(n.cfg.ForwardBudget)
	for _, ch := range choices {
		if ch.peer == nil {
			break
		}
		fr, err := rq.forward(ctx, rt, m, req, called, ch, deadline)
		if err != nil {
			lastErr = err
			continue
		}
		return rq.authorizeForwarded(ctx, c.ID, m, req, callID, called, ch, fr, r, want)
	}
	var dests []ledger.Destination
	for _, ch := range choices {
		if ch.peer == nil && len(dests) < want {
			dests = append(dests, ch.dest)
		}
	}
	if len(dests) == 0 {
		if lastErr != nil {
			return rq.authRefusal(c.ID, forwardStatus(lastErr), "no usable route: upstream failed")
		}
		return rq.authRefusal(c.ID, codeNoRoute, "no usable route")
	}
	cmd := &ledger.Authorize{
		At:            rq.now,
		SourceMember:  m.ID,
		MessageID:     rq.msg.MessageID,
		CallID:        callID,
		Calling:       req.Calling(),
		Called:        called,
		Destinations:  dests,
		TimeLimit:     uint32(limit),
		UsageDeadline: rq.now.Add(n.cfg.TokenValidity + n.cfg.UsageGrace).Add(secondsDur(limit)),
	}
	cmd.ActiveUntil, cmd.Hold = r.ActiveUntil(), r.Hold()
	res, err := n.Propose(ctx, cmd)
	if err != nil {
		n.log.Warn("osp: authorize not committed", "member", m.ID, "err", err)
		return rq.authRefusal(c.ID, StatusFor(err), "")
	}
	if err := res.Err(); err != nil || res.Transaction == nil {
		code, desc := refusalStatus(res)
		return rq.authRefusal(c.ID, code, desc)
	}
	t := res.Transaction
	// A concurrent duplicate gets the first attempt's transaction back:
	// Commit keeps that one's slot and hold and drops this one.
	r.Commit(t.ID, rq.holdUntil(int(t.TimeLimit)))
	return rq.authAnswer(c.ID, req, t)
}

// refusalStatus maps a refused or rejected Authorize result to the OSP
// status and description of the answer.
func refusalStatus(res *ledger.Result) (int, string) {
	switch res.Code {
	case ledger.RefusedCPS:
		return codeCPS, ""
	case ledger.RefusedConcurrent:
		return codeConcurrent, "concurrent call limit reached"
	case ledger.RefusedCredit:
		return codeConcurrent, "credit limit reached"
	case ledger.Rejected:
		return codeSuspended, res.Message
	}
	return osp.StatusBadRequest, res.Message
}

// candidates returns the destinations of route for a call from m, ranked
// as rankChoices does with the peers currently configured (peer
// destinations have no address: it is the upstream's answer). For route
// explanations; authorize uses rankChoices.
func (rq *request) candidates(m *ledger.Member, route *ledger.Route, called string, sell money.Amount, sellOK bool, callID string) []ledger.Destination {
	chs := rq.rankChoices(m, route, called, sell, sellOK, callID, rq.n.fed.runtime())
	out := make([]ledger.Destination, 0, len(chs))
	for _, ch := range chs {
		out = append(out, ch.dest)
	}
	return out
}

// rankChoices returns the choices of route for a call from m, ranked by
// the routing policy (settlement.Policy.Rank): trunks of other active
// members and, when peers is not nil, active peer networks, each kept only
// when its buy deck (the member's or the peer's, on the translated number)
// rates the call and leaves the configured minimum margin under m's sell
// rate. node only resolves the candidates; the policy decides.
func (rq *request) rankChoices(m *ledger.Member, route *ledger.Route, called string, sell money.Amount, sellOK bool, callID string, peers *fedRuntime) []choice {
	v := rq.v
	chs := make([]choice, 0, len(route.Candidates))
	cands := make([]settlement.Candidate, 0, len(route.Candidates))
	for _, rc := range route.Candidates {
		num := settlement.Translate(called, rc.Strip, rc.AddPrefix)
		c := settlement.Candidate{ID: rc.ID, RoutePriority: rc.Priority, RouteWeight: rc.Weight}
		var ch choice
		switch rc.Kind {
		case ledger.CandidatePeer:
			if peers == nil || peers.reg == nil {
				continue // federation off, or hop limit spent
			}
			p, ok := peers.reg.Peer(rc.ID)
			if !ok || p.Config().Status != ledger.PeerActive {
				continue
			}
			c.ID, c.Peer = p.ID(), true
			ch = choice{peer: p, dest: ledger.Destination{Kind: ledger.DestPeer, ID: p.ID(), Called: num,
				SellDeckID: m.SellDeckID, BuyDeckID: p.Config().BuyDeckID}}
		case ledger.CandidateTrunk:
			tr := v.trunks[rc.ID]
			if tr == nil {
				continue
			}
			tm := v.members[tr.MemberID]
			if tm == nil || tm.Status != ledger.MemberActive || tm.ID == m.ID {
				continue // unknown, suspended, or back to the caller
			}
			c.ID, c.TrunkPriority, c.TrunkWeight = tr.ID, tr.Priority, tr.Weight
			ch = choice{dest: ledger.Destination{Kind: ledger.DestTrunk, ID: tr.ID, Address: tr.Address, Called: num,
				SellDeckID: m.SellDeckID, BuyDeckID: tm.BuyDeckID}}
		default:
			continue
		}
		if deck := ch.dest.BuyDeckID; deck != "" {
			c.BuyDeck = true
			c.Cost, c.Rated = rq.minuteCost(deck, num)
		}
		chs = append(chs, ch)
		cands = append(cands, c)
	}
	pol := &rq.n.cfg.policy
	order := pol.Rank(cands, sell, sellOK, pol.Seed(m.ID, rq.msg.MessageID, callID))
	out := make([]choice, 0, len(order))
	for _, i := range order {
		out = append(out, chs[i])
	}
	return out
}

// minuteCost rates a one-minute call to number on deck now: the figure
// least-cost routing compares (settlement.MinuteCost).
func (rq *request) minuteCost(deckID, number string) (money.Amount, bool) {
	return settlement.MinuteCost(rq.rater(deckID), number, rq.now)
}

// rater returns deck's compiled rater, nil when there is no such deck or
// it does not compile.
func (rq *request) rater(deckID string) *settlement.Rater {
	if deckID == "" {
		return nil
	}
	r, err := rq.v.decks.rater(deckID)
	if err != nil {
		return nil
	}
	return r
}

// holdUntil is when a call authorised now for limit seconds can no longer
// be in progress: its token's validity plus the limit (the concurrent-call
// slot's lifetime too).
func (rq *request) holdUntil(limit int) time.Time {
	return rq.now.Add(rq.n.cfg.TokenValidity).Add(secondsDur(limit))
}

// authAnswer builds the AuthorizationResponse for transaction t: one
// destination per offered route, each with a fresh token of the kind the
// terminating member's proxy accepts.
func (rq *request) authAnswer(id string, req *osp.AuthorizationRequest, t *ledger.Transaction) osp.Component {
	n, v := rq.n, rq.v
	if len(t.Destinations) == 0 {
		return osp.Component{ID: id, AuthorizationResponse: &osp.AuthorizationResponse{
			Timestamp: rq.now, Status: osp.NewStatus(codeNoRoute), TransactionID: t.ID}}
	}
	callID := []byte(t.CallID)
	if len(callID) == 0 {
		callID = []byte(osp.TokenCallIDUndefined)
	}
	after := rq.now.Add(-n.cfg.TokenSkew).Truncate(timeSecond)
	until := rq.now.Add(n.cfg.TokenValidity).Truncate(timeSecond)
	resp := &osp.AuthorizationResponse{Timestamp: rq.now, Status: osp.NewStatus(osp.StatusOK), TransactionID: t.ID}
	// Tokens of shared-token members (ledger.Member.SharedToken), by kind
	// and called number: issued once per call, without the `d` key.
	type sharedKey struct {
		kind   osp.TokenKind
		called string
	}
	var shared map[sharedKey][]byte
	for _, d := range t.Destinations {
		kind := n.cfg.TokenKind
		share := false
		if tr := v.trunks[d.ID]; tr != nil {
			if tm := v.members[tr.MemberID]; tm != nil {
				share = tm.SharedToken
				if tm.TokenKind != "" {
					if k, err := osp.ParseTokenKind(tm.TokenKind); err == nil {
						kind = k
					}
				}
			}
		}
		called := d.Called
		if called == "" {
			called = t.Called
		}
		key := sharedKey{kind, called}
		if tok, ok := shared[key]; ok && share {
			resp.Destinations = append(resp.Destinations, rq.destination(d, tok, callID, after, until, t, called))
			continue
		}
		dest := d.Address
		if share {
			dest = ""
		}
		claims := &osp.TokenClaims{
			Random:             strconv.FormatUint(uint64(rand.Uint32()), 10),
			Calling:            req.Calling(),
			Called:             called,
			CallID:             callID,
			ValidAfter:         after,
			ValidUntil:         until,
			TransactionID:      t.ID,
			AuthorisedSeconds:  int(t.TimeLimit),
			DestinationAddress: dest,
			Protocol:           "sip",
		}
		tok, err := n.tokens.signer.Issue(kind, claims)
		if err != nil {
			n.log.Error("osp: issue token", "tx", t.ID, "dest", d.ID, "err", err)
			continue
		}
		if share {
			if shared == nil {
				shared = make(map[sharedKey][]byte, 1)
			}
			shared[key] = tok
		}
		resp.Destinations = append(resp.Destinations, rq.destination(d, tok, callID, after, until, t, called))
	}
	if len(resp.Destinations) == 0 {
		resp.Status = osp.NewStatus(osp.StatusInternalError)
	}
	return osp.Component{ID: id, AuthorizationResponse: resp}
}

// destination is one offered destination of an AuthorizationResponse.
func (rq *request) destination(d ledger.Destination, tok, callID []byte, after, until time.Time, t *ledger.Transaction, called string) osp.Destination {
	return osp.Destination{
		SignalAddress:    d.Address,
		Token:            tok,
		CallID:           callID,
		ValidAfter:       after,
		ValidUntil:       until,
		UsageDetail:      osp.TimeLimit(int(t.TimeLimit)),
		TranslatedCalled: called,
		Protocol:         "sip",
	}
}

const timeSecond = time.Second

func secondsDur(s int) time.Duration { return time.Duration(s) * time.Second }
