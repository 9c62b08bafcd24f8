package node

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

func (rq *request) usageAnswer(id string, code int, desc string) osp.Component {
	st := osp.NewStatus(code)
	if desc != "" {
		st.Description = desc
	}
	return osp.Component{ID: id, UsageConfirmation: &osp.UsageConfirmation{Timestamp: rq.now, Status: st}}
}

// usage answers one UsageIndication component. It confirms (2xx) only
// after the ledger committed the record: an unavailable cluster answers
// 503 and the toolkit retries, which the ledger's idempotency key
// (TransactionId, role, componentId) makes harmless.
func (rq *request) usage(ctx context.Context, c *osp.Component) osp.Component {
	n, v, ui := rq.n, rq.v, c.UsageIndication
	m := v.identify(rq.c, ui.DeviceID, ui.CustomerID, ui.SourceDevice())
	if m == nil {
		return rq.usageAnswer(c.ID, codeUnknownMember, "unknown member")
	}
	var role ledger.Role
	switch ui.Role {
	case osp.RoleSource:
		role = ledger.RoleSource
	case osp.RoleDestination:
		role = ledger.RoleDestination
	default:
		return rq.usageAnswer(c.ID, osp.StatusBadRequest, "role must be source or destination")
	}
	var durMs int64
	var start, connect, end time.Time
	var cause uint16
	if ud := ui.UsageDetail; ud != nil {
		var err error
		if durMs, err = durationMillis(ud.Amount, ud.Increment); err != nil {
			return rq.usageAnswer(c.ID, osp.StatusBadRequest, err.Error())
		}
		start, connect, end = ud.StartTime, ud.ConnectTime, ud.EndTime
		for _, tc := range ud.TerminationCause {
			if tc.Type == "q850" && tc.Code >= 0 && tc.Code < 1<<16 {
				cause = uint16(tc.Code)
				break
			}
		}
	}
	called := normalizeNumber(ui.Called())
	if called == "" {
		called = strings.TrimSpace(ui.Called())
	}
	cmd := &ledger.RecordUsage{
		At:               rq.now,
		TransactionID:    ui.TransactionID,
		Role:             role,
		ComponentID:      c.ID,
		Reporter:         ledger.MemberAccount(m.ID),
		Calling:          ui.Calling(),
		Called:           called,
		CallID:           string(ui.CallID),
		Start:            start,
		Connect:          connect,
		End:              end,
		DurationMillis:   durMs,
		TerminationCause: cause,
	}
	// releases: this report ends the call's hold on the originating
	// member's concurrency slot and credit. Only the source side's own
	// report does: a destination-role report (or one from a party that is
	// not the caller) must not free the caller's credit without posting.
	releases := false
	if ui.TransactionID == 0 {
		// No transaction: key the record by what the reporter sent.
		cmd.ReporterKey = rq.msg.MessageID + "/" + c.ID
	} else if t := rq.transaction(ctx, ui.TransactionID); t != nil {
		releases = role == ledger.RoleSource && t.SourceMember == m.ID
		// Rate at most the authorised time (billableMillis); the call
		// still starts where the reported duration says.
		billMs, over := billableMillis(t, durMs)
		rateConnect := connect
		if rateConnect.IsZero() && !end.IsZero() {
			rateConnect = end.Add(-time.Duration(durMs) * time.Millisecond)
		}
		if over {
			cmd.OverLimit = true
			n.log.Warn("osp: usage over the authorised time limit, rated capped", "member", m.ID, "tx", t.ID,
				"reported_ms", durMs, "limit_s", t.TimeLimit, "billed_ms", billMs)
		}
		cmd.Rating = rq.rate(t, role, m, rateConnect, end, billMs)
	}
	res, err := n.Propose(ctx, cmd)
	if err != nil {
		n.log.Warn("osp: usage not committed", "member", m.ID, "tx", ui.TransactionID, "err", err)
		return rq.usageAnswer(c.ID, StatusFor(err), "")
	}
	if err := res.Err(); err != nil {
		return rq.usageAnswer(c.ID, osp.StatusBadRequest, res.Message)
	}
	if releases {
		n.adm.End(ui.TransactionID)
	}
	if res.OutboxID != 0 {
		// Committed with an outbox item: cascade it upstream now rather
		// than at the cascader's next poll (only the leader drains).
		n.fed.kick()
	}
	return rq.usageAnswer(c.ID, osp.StatusOK, "")
}

// transaction reads a transaction, waiting for this replica to catch up
// when it is not there yet: a follower may answer the usage of a call
// authorised a moment ago through another node. The id names the log entry
// that created it (ledger.TransactionIndex), so the wait is for that one
// entry to be applied here, not a Barrier's round trip to the leader.
func (rq *request) transaction(ctx context.Context, id uint64) *ledger.Transaction {
	// The applied index is read before the lookup: an entry applied by
	// then is found by it (Store.Transaction reads the pending
	// transactions, then the file). Read after, it could count an entry
	// applied during a lookup that had missed it, and a call authorised a
	// moment ago would be recorded as unknown and never rated (a cascaded
	// usage at a network whose leader had just changed hit this).
	applied := rq.n.store.AppliedIndex()
	t, err := rq.n.store.Transaction(id)
	if err == nil {
		return t
	}
	if !errors.Is(err, ledger.ErrNotFound) {
		return nil
	}
	idx := ledger.TransactionIndex(id)
	if idx == 0 || applied >= idx {
		return nil // applied here before the lookup: no such transaction
	}
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if rq.n.cons.WaitApplied(wctx, idx) != nil {
		return nil
	}
	t, _ = rq.n.store.Transaction(id)
	return t
}

// rate rates the usage of transaction t reported by m in role: the source
// side with the originating member's sell deck, the destination side with
// the terminating member's buy deck. Each side posts its own balanced
// entry, so the two reports never double count. nil when the reporter is
// not a party of that side (recorded, not posted) or no rate applies.
func (rq *request) rate(t *ledger.Transaction, role ledger.Role, m *ledger.Member, connect, end time.Time, durMs int64) *ledger.Rating {
	at := connect
	if at.IsZero() && !end.IsZero() {
		at = end.Add(-time.Duration(durMs) * time.Millisecond)
	}
	if at.IsZero() {
		at = rq.now
	}
	switch role {
	case ledger.RoleSource:
		if m.ID != t.SourceMember {
			rq.n.log.Warn("osp: source usage from a member that did not originate the call", "member", m.ID, "tx", t.ID)
			return nil
		}
		deck := m.SellDeckID
		for _, d := range t.Destinations {
			if d.SellDeckID != "" {
				deck = d.SellDeckID
				break
			}
		}
		var rating *ledger.Rating
		if r, err := rq.v.decks.rater(deck); err == nil {
			if rt, err := r.Rate(t.Called, at, durMs); err == nil {
				rating = &ledger.Rating{BillableSeconds: rt.BillableSeconds, Sell: rt.Amount,
					SellCounterparty: ledger.MemberAccount(m.ID), SellDeckID: deck}
			} else {
				rq.n.log.Warn("osp: usage not rated", "tx", t.ID, "deck", deck, "err", err)
			}
		}
		if t.UpstreamPeer != "" {
			// Forwarded: nobody of ours terminates it, so the source's
			// report also carries what the upstream peer will bill us.
			rating = rq.rateUpstream(t, at, durMs, rating)
		}
		return rating
	case ledger.RoleDestination:
		for _, d := range t.Destinations {
			tr := rq.v.trunks[d.ID]
			if d.Kind != ledger.DestTrunk || tr == nil || tr.MemberID != m.ID || d.BuyDeckID == "" {
				continue
			}
			r, err := rq.v.decks.rater(d.BuyDeckID)
			if err != nil {
				return nil
			}
			num := d.Called
			if num == "" {
				num = t.Called
			}
			rt, err := r.Rate(num, at, durMs)
			if err != nil {
				rq.n.log.Warn("osp: usage not rated", "tx", t.ID, "deck", d.BuyDeckID, "err", err)
				return nil
			}
			return &ledger.Rating{BillableSeconds: rt.BillableSeconds, Buy: rt.Amount,
				BuyCounterparty: ledger.MemberAccount(m.ID), BuyDeckID: d.BuyDeckID}
		}
	}
	return nil
}

// rateUpstream adds to rating (nil: a new one) the buy side of a forwarded
// transaction: the peer's buy deck (stamped into the destination at
// authorisation; the peer record's current one otherwise) on the number we
// sent upstream, owed to the peer's account. This is the same call the
// upstream rates with its sell deck for us, so the two sides of the hop
// agree when the decks do.
func (rq *request) rateUpstream(t *ledger.Transaction, at time.Time, durMs int64, rating *ledger.Rating) *ledger.Rating {
	deck, num := "", t.Called
	for _, d := range t.Destinations {
		if d.Kind == ledger.DestPeer && d.ID == t.UpstreamPeer {
			deck = d.BuyDeckID
			if d.Called != "" {
				num = d.Called
			}
			break
		}
	}
	if deck == "" {
		if p, err := rq.n.store.Peer(t.UpstreamPeer); err == nil {
			deck = p.BuyDeckID
		}
	}
	if deck == "" {
		return rating
	}
	r, err := rq.v.decks.rater(deck)
	if err != nil {
		rq.n.log.Warn("osp: upstream buy deck unusable", "tx", t.ID, "deck", deck, "err", err)
		return rating
	}
	rt, err := r.Rate(num, at, durMs)
	if err != nil {
		rq.n.log.Warn("osp: usage not rated (upstream)", "tx", t.ID, "deck", deck, "err", err)
		return rating
	}
	if rating == nil {
		rating = &ledger.Rating{BillableSeconds: rt.BillableSeconds}
	}
	rating.Buy, rating.BuyCounterparty, rating.BuyDeckID = rt.Amount, ledger.PeerAccount(t.UpstreamPeer), deck
	return rating
}

// validate answers an AuthorizationIndication: the token is checked as the
// terminating toolkit would (signature, trust in our CA, numbers, Call-ID,
// validity), then against the ledger's transaction (checkClaims). Only a
// member configured for unsigned tokens may present one; an unidentified
// sender is refused 401.
func (rq *request) validate(ctx context.Context, c *osp.Component) osp.Component {
	ai := c.AuthorizationIndication
	st := osp.NewStatus(osp.StatusOK)
	cnf := &osp.AuthorizationConfirmation{Timestamp: rq.now}
	m := rq.v.identify(rq.c, "", "", ai.SourceDevice())
	if m == nil {
		cnf.Status = osp.NewStatus(codeUnknownMember)
		return osp.Component{ID: c.ID, AuthorizationConfirmation: cnf}
	}
	claims, err := osp.VerifyToken(ai.Token, osp.TokenVerifyOptions{
		Roots: rq.n.tokens.poolNow(), Now: rq.now, Calling: ai.Calling(), Called: ai.Called(),
		CallID: ai.CallID, AcceptUnsigned: acceptsUnsigned(m), Revoked: rq.n.trust.tokenRevoked,
	})
	if err == nil {
		if code, desc := rq.checkClaims(ctx, claims); code != osp.StatusOK {
			err = errors.New(desc)
			st = osp.NewStatus(code)
		}
	} else {
		st = osp.NewStatus(tokenErrorStatus(err))
	}
	if err != nil {
		st.Description = err.Error()
	} else {
		cnf.ValidAfter, cnf.ValidUntil = claims.ValidAfter, claims.ValidUntil
		if claims.AuthorisedSeconds > 0 {
			cnf.UsageDetail = osp.TimeLimit(claims.AuthorisedSeconds)
		}
	}
	cnf.Status = st
	return osp.Component{ID: c.ID, AuthorizationConfirmation: cnf}
}

// tokenErrorStatus maps a failed token check to an OSP status.
func tokenErrorStatus(err error) int {
	var te *osp.TokenError
	if !errors.As(err, &te) {
		return osp.StatusBadRequest
	}
	switch te.Check {
	case osp.TokenCheckSignature:
		return osp.StatusSignatureInvalid
	case osp.TokenCheckTrust:
		return osp.StatusCertificateInvalid
	case osp.TokenCheckRevoked:
		return osp.StatusCertificateRevoked
	case osp.TokenCheckCalling:
		return osp.StatusCallingInvalid
	case osp.TokenCheckCalled, osp.TokenCheckCallID:
		return osp.StatusDestinationInfoInvalid
	case osp.TokenCheckNotYetValid:
		return osp.StatusValidTimeTooSoon
	case osp.TokenCheckExpired:
		return osp.StatusTimeProblem
	}
	return osp.StatusBadRequest
}
