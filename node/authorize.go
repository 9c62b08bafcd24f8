package node

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/ospnode/ospnode/federation"
	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/e164"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/osp"
	"github.com/ospnode/ospnode/settlement"
	"github.com/ospnode/ospnode/settlement/quality"
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

// normalizeNumber returns the digits of an E.164 number (e164.Parse: "+"
// and surrounding whitespace dropped), or "" when s is not one. For the
// paths that keep numbers as strings; authorisation keeps an e164.Number.
func normalizeNumber(s string) string {
	n, err := e164.Parse(s)
	if err != nil {
		return ""
	}
	return string(n)
}

// authorize answers an AuthorizationRequest. It is the pipeline of
// ARCHITECTURE.md, top to bottom; each step either passes its result on or
// refuses, with the OSP status of the answer:
//
//	identify, check input   authInput      401, 405, 489, 428, 400
//	fraud blocks            adm.Screen     403 (admission.go)
//	a retry?                TransactionByKey: answered from the ledger
//	loop prevention         rq.upstream    404 for a loop (federation step)
//	plan                    rq.plan        403, 404 (settlement's policy)
//	admit                   adm.Reserve    441, 603 (admission.go)
//	one federation step     up.try         peers ranked before the first trunk
//	or local trunks         plan.local     404, or the last upstream failure
//	one command, answer     rq.record, authAnswer
func (rq *request) authorize(ctx context.Context, c *osp.Component) osp.Component {
	in, no := rq.authInput(c)
	if no != nil {
		return rq.refuse(c.ID, no)
	}
	if no := rq.n.adm.Screen(rq.v.fraud, in.member.ID, callingDigits(in.req.Calling()), string(in.called)); no != nil {
		return rq.refuse(in.id, no)
	}
	// A retry of the same request (same member, messageId, Call-ID) gets
	// the transaction it already has and takes no limit; the ledger
	// enforces the same key on propose, this read saves the round trip.
	if t, err := rq.n.store.TransactionByKey(in.member.ID, rq.msg.MessageID, in.callID); err == nil {
		return rq.answerRetry(ctx, in, t)
	}
	up, no := rq.upstream(in.req)
	if no != nil {
		return rq.refuse(in.id, no)
	}
	plan, no := rq.plan(in, up.peers())
	if no != nil {
		return rq.refuse(in.id, no)
	}
	r, no := rq.n.adm.Reserve(rq.now, in.member, plan.credit)
	if no != nil {
		return rq.refuse(in.id, no)
	}
	defer r.Release()
	ans, answered, upErr := up.try(ctx, in, plan.choices, r)
	if answered {
		return ans
	}
	dests := plan.local(in.want)
	if len(dests) == 0 {
		if upErr != nil {
			return rq.refuse(in.id, &refusal{forwardStatus(upErr), "no usable route: upstream failed"})
		}
		return rq.refuse(in.id, &refusal{codeNoRoute, "no usable route"})
	}
	t, no := rq.record(ctx, rq.authorizeCmd(in, dests, r.Limit(), r, nil), r)
	if no != nil {
		return rq.refuse(in.id, no)
	}
	return rq.authAnswer(in.id, in.req, t)
}

// authIn is an AuthorizationRequest past identification and the input
// checks: who asks, for which number, under which Call-ID, for how many
// destinations.
type authIn struct {
	id     string // componentId
	req    *osp.AuthorizationRequest
	member *ledger.Member
	called e164.Number // parsed once, here
	callID string      // the first Call-ID, "" when none
	want   int         // destinations asked for (MaximumDestinations, defaulted and capped)
}

// authInput identifies the member (401 unknown, 405 not active) and checks
// the input: the called number is E.164 digits (489), the calling number
// and Call-IDs fit a token (checkAuthInput).
func (rq *request) authInput(c *osp.Component) (*authIn, *refusal) {
	req := c.AuthorizationRequest
	m := rq.v.identify(rq.c, req.DeviceID, req.CustomerID, req.SourceDevice())
	if m == nil {
		return nil, &refusal{codeUnknownMember, "unknown member"}
	}
	if m.Status != ledger.MemberActive {
		return nil, &refusal{codeSuspended, "member " + string(m.Status)}
	}
	called, err := e164.Parse(req.Called())
	if err != nil {
		return nil, &refusal{codeBadCalled, "called number missing or not E.164 digits"}
	}
	if no := checkAuthInput(req); no != nil {
		return nil, no
	}
	in := &authIn{id: c.ID, req: req, member: m, called: called, want: req.MaximumDestinations}
	if len(req.CallIDs) > 0 {
		in.callID = string(req.CallIDs[0])
	}
	if in.want <= 0 {
		in.want = defaultMaxDestinations
	}
	in.want = min(in.want, maxDestinations)
	return in, nil
}

// answerRetry answers a retried request from its recorded transaction t:
// forwarded again upstream when it was forwarded (reforward), else fresh
// tokens for the recorded destinations.
func (rq *request) answerRetry(ctx context.Context, in *authIn, t *ledger.Transaction) osp.Component {
	if why := ledger.AuthorizeKeyReuse(t, string(in.called), in.req.Calling()); why != "" {
		// The same messageId and Call-ID for another number is not a
		// retry: answering it with t's tokens would authorise a number
		// nobody asked for.
		return rq.refuse(in.id, &refusal{osp.StatusBadRequest, why})
	}
	if t.UpstreamPeer != "" {
		return rq.reforward(ctx, in, t)
	}
	return rq.authAnswer(in.id, in.req, t)
}

// authPlan is the routing and credit policy's plan for one call
// (settlement.Policy): the ranked choices, peers and local trunks, and the
// credit side that admission sizes the time limit and hold with.
type authPlan struct {
	choices []choice
	credit  settlement.CallCredit
}

// plan finds the route of the call (403 for a prefix blocked for the
// member or a blocked route, 404 for none) and asks the policy for the
// ranked choices (404 when none is usable) and the credit side. peers is
// the federation runtime whose peers may be ranked (nil: none).
func (rq *request) plan(in *authIn, peers *fedRuntime) (*authPlan, *refusal) {
	v, m, called := rq.v, in.member, string(in.called)
	if bl := v.blocked[m.ID]; bl != nil {
		if _, p, ok := bl.Lookup(called); ok {
			return nil, &refusal{codeBlocked, "destination " + p + " blocked for this member"}
		}
	}
	route, _, ok := v.routes.Lookup(called)
	if !ok {
		return nil, &refusal{codeNoRoute, ""}
	}
	if route.Blocked {
		return nil, &refusal{codeBlocked, "destination " + route.Prefix + " blocked"}
	}
	credit := rq.n.cfg.policy.Credit(rq.rater(m.SellDeckID), called, rq.now)
	choices := rq.rankChoices(m, route, called, credit.Sell, credit.SellOK, in.callID, peers, true)
	if len(choices) == 0 {
		return nil, &refusal{codeNoRoute, "no usable route"}
	}
	return &authPlan{choices: choices, credit: credit}, nil
}

// local returns the plan's local trunks in rank order, at most want.
func (p *authPlan) local(want int) []ledger.Destination {
	var dests []ledger.Destination
	for _, ch := range p.choices {
		if ch.peer == nil && len(dests) < want {
			dests = append(dests, ch.dest)
		}
	}
	return dests
}

// authorizeCmd is the one place an Authorize is built: the call in, its
// destinations and time limit (limit, seconds), what admission reserved
// for it (r: ActiveUntil and the credit Hold, so the ledger admits it
// cluster-wide) and, for a forwarded call, the upstream's answer fr.
func (rq *request) authorizeCmd(in *authIn, dests []ledger.Destination, limit int, r *reservation, fr *federation.ForwardResult) *ledger.Authorize {
	cmd := &ledger.Authorize{
		At:            rq.now,
		SourceMember:  in.member.ID,
		MessageID:     rq.msg.MessageID,
		CallID:        in.callID,
		Calling:       in.req.Calling(),
		Called:        string(in.called),
		Destinations:  dests,
		TimeLimit:     uint32(limit),
		UsageDeadline: rq.now.Add(rq.n.cfg.TokenValidity + rq.n.cfg.UsageGrace).Add(secondsDur(limit)),
		ActiveUntil:   r.ActiveUntil(),
		Hold:          r.Hold(),
	}
	if fr != nil {
		cmd.UpstreamPeer, cmd.UpstreamTransactionID = fr.Peer, fr.TransactionID
	}
	return cmd
}

// record proposes cmd and commits the reservation r to the transaction the
// ledger returns (for a concurrent duplicate: the first attempt's, which
// keeps its own slot and hold). A consensus failure is answered with
// StatusFor's code (503: another service point may commit it), a ledger
// refusal with refusalStatus's.
func (rq *request) record(ctx context.Context, cmd *ledger.Authorize, r *reservation) (*ledger.Transaction, *refusal) {
	res, err := rq.n.Propose(ctx, cmd)
	if err != nil {
		rq.n.log.Warn("osp: authorize not committed", "member", cmd.SourceMember, "peer", cmd.UpstreamPeer, "err", err)
		return nil, &refusal{StatusFor(err), ""}
	}
	if err := res.Err(); err != nil || res.Transaction == nil {
		code, desc := refusalStatus(res)
		return nil, &refusal{code, desc}
	}
	t := res.Transaction
	r.Commit(t.ID, rq.holdUntil(int(t.TimeLimit)))
	return t, nil
}

// refuse answers with a refusal.
func (rq *request) refuse(id string, no *refusal) osp.Component {
	return rq.authRefusal(id, no.code, no.desc)
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
	chs := rq.rankChoices(m, route, called, sell, sellOK, callID, rq.n.fed.runtime(), false)
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
// rate, each with its route-quality verdict (probe: this ranking is an
// authorisation's, which takes a turn of a demoted candidate's probe
// share; an explanation's does not). node only resolves the candidates;
// the policy decides.
func (rq *request) rankChoices(m *ledger.Member, route *ledger.Route, called string, sell money.Amount, sellOK bool, callID string, peers *fedRuntime, probe bool) []choice {
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
		if th := v.quality[route.Prefix]; th != nil {
			c.Quality = rq.n.quality.tr.Judge(quality.Key{Candidate: candidateKey(ch.dest.Kind, c.ID), Prefix: route.Prefix}, th, probe)
			c.Quality.Probe = c.Quality.Probe && probe // an explanation shows the usual order
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
		dest := signalAddress(d.Address, v.members[t.SourceMember]) // as offered
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
		SignalAddress:    signalAddress(d.Address, rq.v.members[t.SourceMember]),
		Token:            tok,
		CallID:           callID,
		ValidAfter:       after,
		ValidUntil:       until,
		UsageDetail:      osp.TimeLimit(int(t.TimeLimit)),
		TranslatedCalled: called,
		Protocol:         "sip",
	}
}

// signalAddress is addr as the calling member's proxy takes it: "[ip]"
// for SIP's default port unless the member keeps ports
// (ledger.Member.SignalAddressPort).
func signalAddress(addr string, caller *ledger.Member) string {
	if caller != nil && caller.SignalAddressPort {
		return addr
	}
	if b, ok := strings.CutSuffix(addr, ":5060"); ok && strings.HasPrefix(b, "[") && strings.HasSuffix(b, "]") {
		return b
	}
	return addr
}

const timeSecond = time.Second

func secondsDur(s int) time.Duration { return time.Duration(s) * time.Second }
