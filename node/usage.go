package node

import (
	"context"
	"errors"
	"fmt"
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
// 503 and the toolkit retries, which the ledger's idempotency by content
// makes harmless. Each report carries its phase in the call's life
// (usagePhase): a proxy's setup record and final record share their
// messageId and componentId, and the ledger keeps both, pays the first
// final (capped at the authorised time), and flags a different second
// final as a conflict (ledger/lifecycle.go).
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
	if !usageTimesSane(rq.now, start, connect, end) {
		return rq.usageAnswer(c.ID, osp.StatusBadRequest, "usage time out of range (before 2000 or more than a day ahead)")
	}
	called := normalizeNumber(ui.Called())
	if called == "" {
		called = strings.TrimSpace(ui.Called())
	}
	phase := usagePhase(ui, durMs, connect, end, cause)
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
		Phase:            phase,
		Quality:          usageQuality(rq.v, nil, ui, role, ledger.MemberAccount(m.ID)),
	}
	if ui.TransactionID == 0 {
		// No transaction: key the record by what the reporter sent.
		cmd.ReporterKey = rq.msg.MessageID + "/" + c.ID
	}
	// releases: a final record of the caller's own ends the call's hold on
	// its concurrency slot and credit. A setup record changes nothing but
	// "connected", and a destination-role report (or one from a party
	// that is not the caller) must not free the caller's credit.
	releases := false
	for attempt := 0; ; attempt++ {
		if ui.TransactionID != 0 {
			t, err := rq.usageTransaction(ctx, ui.TransactionID)
			if err != nil {
				// This replica is behind the transaction and could not catch
				// up in time: it cannot rate the usage, so it must not record
				// it. 503 sends the toolkit to its next service point.
				n.met.usageBehind.Add(1)
				n.log.Warn("osp: usage not recorded, replica behind its transaction", "member", m.ID, "tx", ui.TransactionID, "err", err)
				return rq.usageAnswer(c.ID, osp.StatusUnavailable, "node catching up; try another service point")
			}
			cmd.Matched, cmd.Rating, cmd.OverLimit = false, nil, false
			if t != nil {
				cmd.Matched = true
				cmd.Quality.Candidate = usageCandidate(rq.v, t, ui, role, cmd.Reporter)
				releases = role == ledger.RoleSource && t.SourceMember == m.ID && phase.EndsCall()
				if phase == ledger.PhaseFinal {
					rq.rateFinal(cmd, t, m, durMs, attempt > 0)
				}
			}
		}
		res, err := n.Propose(ctx, cmd)
		if err != nil {
			n.log.Warn("osp: usage not committed", "member", m.ID, "tx", ui.TransactionID, "err", err)
			return rq.usageAnswer(c.ID, StatusFor(err), "")
		}
		if res.Code == ledger.Stale && attempt == 0 {
			// The transaction, or the other side's final record under a
			// shared billing basis, was applied after this replica read it:
			// catch up with the leader, read again and rate again, once.
			if err := n.cons.Barrier(ctx); err == nil {
				continue
			}
		}
		if res.Code == ledger.Stale {
			n.met.usageBehind.Add(1)
			return rq.usageAnswer(c.ID, osp.StatusUnavailable, "node catching up; try another service point")
		}
		if err := res.Err(); err != nil {
			return rq.usageAnswer(c.ID, osp.StatusBadRequest, res.Message)
		}
		if res.Conflict {
			n.met.usageConflicts.Add(1)
			n.log.Warn("osp: usage conflicts with the call's final record; kept, not paid", "member", m.ID, "tx", ui.TransactionID, "role", role, "usage", res.UsageID)
		}
		if releases && !res.Conflict {
			n.adm.End(ui.TransactionID)
		}
		if res.OutboxID != 0 {
			// Committed with an outbox item: cascade it upstream now rather
			// than at the cascader's next poll (only the leader drains).
			n.fed.kick()
		}
		return rq.usageAnswer(c.ID, osp.StatusOK, "")
	}
}

// usagePhase tells where in the call's life a report stands, from what it
// carries (the toolkit's ids do not tell: Kamailio sends its setup and
// final records under the same messageId and componentId):
//   - RoleInfo State "interim…": interim;
//   - a duration, or an end time on a connected call: final;
//   - an end time on a call that never connected: failed (its attempt's
//     final record, paying nothing);
//   - connected (a connect time, or a 2xx termination code such as
//     Kamailio's TCCode 200) and not ended: setup;
//   - anything else (a failure code, no times): failed.
func usagePhase(ui *osp.UsageIndication, durMs int64, connect, end time.Time, cause uint16) ledger.UsagePhase {
	if ri := ui.RoleInfo; ri != nil && strings.HasPrefix(strings.ToLower(ri.State), "interim") {
		return ledger.PhaseInterim
	}
	connected := !connect.IsZero() || (cause >= 200 && cause < 300)
	switch {
	case durMs > 0:
		return ledger.PhaseFinal
	case !end.IsZero() && !connect.IsZero():
		return ledger.PhaseFinal
	case !end.IsZero():
		return ledger.PhaseFailed
	case connected:
		return ledger.PhaseSetup
	}
	return ledger.PhaseFailed
}

// rateFinal rates a final record of transaction t reported by m for at
// most t's time limit (billableMillis), rating from the connect time (or
// the end minus the duration), and always leaves cmd.Rating set: a
// matched final is rated, at zero when no rate applies, never left for
// later.
func (rq *request) rateFinal(cmd *ledger.RecordUsage, t *ledger.Transaction, m *ledger.Member, durMs int64, fresh bool) {
	basisMs := durMs
	var other *ledger.Usage
	if basis := rq.v.network.BillingBasis; basis.Shared() {
		// One duration for both sides: the other role's paid final, if
		// it is in, decides it (with this report) and is re-rated on it.
		// The ledger checks that other is still the one it holds.
		if o, err := rq.n.store.PaidFinal(t.ID, otherUsageRole(cmd.Role), fresh); err == nil && o != nil {
			other = o
			cmd.OtherFinal = o.ID
		}
		src, dst, haveSrc, haveDst := durMs, int64(0), true, other != nil
		if other != nil {
			dst = other.DurationMillis
		}
		if cmd.Role == ledger.RoleDestination {
			src, dst, haveSrc, haveDst = dst, durMs, other != nil, true
		}
		basisMs = basis.Duration(cmd.Role, src, dst, haveSrc, haveDst)
	}
	if other != nil {
		if om := rq.v.members[strings.TrimPrefix(other.Reporter, "member:")]; om != nil {
			oBill, _ := billableMillis(t, basisMs)
			oConnect := other.Connect
			if oConnect.IsZero() && !other.End.IsZero() {
				oConnect = other.End.Add(-time.Duration(other.DurationMillis) * time.Millisecond)
			}
			cmd.Adjust = rq.rate(t, other.Role, om, oConnect, other.End, oBill)
			if cmd.Adjust == nil {
				cmd.Adjust = &ledger.Rating{}
			}
		}
	}
	billMs, _ := billableMillis(t, basisMs)
	_, over := billableMillis(t, durMs)
	rateConnect := cmd.Connect
	if rateConnect.IsZero() && !cmd.End.IsZero() {
		rateConnect = cmd.End.Add(-time.Duration(durMs) * time.Millisecond)
	}
	if over {
		cmd.OverLimit = true
		rq.n.log.Warn("osp: usage over the authorised time limit, rated capped", "member", m.ID, "tx", t.ID,
			"reported_ms", durMs, "limit_s", t.TimeLimit, "billed_ms", billMs)
	}
	cmd.Rating = rq.rate(t, cmd.Role, m, rateConnect, cmd.End, billMs)
	if cmd.Rating == nil {
		cmd.Rating = &ledger.Rating{}
	}
}

func otherUsageRole(r ledger.Role) ledger.Role {
	if r == ledger.RoleSource {
		return ledger.RoleDestination
	}
	return ledger.RoleSource
}

// usageTransaction reads the transaction a usage names, waiting for this
// replica to apply the entry that created it (the id names it,
// ledger.TransactionIndex). nil, nil: no such transaction (or it is past
// its usage deadline). An error: this replica is behind the transaction's
// entry and did not catch up within the wait; the usage cannot be rated
// here.
func (rq *request) usageTransaction(ctx context.Context, id uint64) (*ledger.Transaction, error) {
	// The applied index is read before the lookup: an entry applied by
	// then is found by it (Store.Transaction reads the pending
	// transactions, then the file). Read after, it could count an entry
	// applied during a lookup that had missed it.
	applied := rq.n.store.AppliedIndex()
	t, err := rq.n.store.Transaction(id)
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		return nil, err
	}
	if err != nil {
		idx := rq.v.network.TransactionIndex(id)
		if idx == 0 || applied >= idx {
			return nil, nil // applied here before the lookup: no such transaction
		}
		// Usually the entry is a moment away (authorised through another
		// node just now): wait for it. When it does not come soon (this
		// replica is far behind, or the id is no entry of ours), a read
		// barrier settles it: after it this replica has applied everything
		// the leader had committed, which includes every transaction a
		// client can have been told of.
		wctx, cancel := context.WithTimeout(ctx, usageCatchUpWait)
		defer cancel()
		sctx, scancel := context.WithTimeout(wctx, usageShortWait)
		err := rq.n.cons.WaitApplied(sctx, idx)
		scancel()
		if err != nil {
			if err := rq.n.cons.Barrier(wctx); err != nil {
				return nil, fmt.Errorf("catching up to log index %d: %w", idx, err)
			}
		}
		if t, err = rq.n.store.Transaction(id); err != nil {
			if errors.Is(err, ledger.ErrNotFound) {
				return nil, nil
			}
			return nil, err
		}
	}
	if !t.UsageDeadline.IsZero() && rq.now.After(t.UsageDeadline) {
		return nil, nil // expired: the ledger records it unmatched too
	}
	return t, nil
}

// usageCatchUpWait bounds how long a usage waits for this replica to apply
// the transaction it names before answering 503: long enough for a
// follower a few thousand entries behind (a restarted node), short of the
// toolkit's own timeout.
const usageCatchUpWait = 1500 * time.Millisecond

// usageShortWait is how long a usage waits for its transaction's entry
// before asking the leader (a read barrier) instead.
const usageShortWait = 100 * time.Millisecond

// transaction reads a transaction, waiting for this replica to catch up
// when it is not there yet (usageTransaction); nil when it does not exist
// or cannot be read.
func (rq *request) transaction(ctx context.Context, id uint64) *ledger.Transaction {
	t, err := rq.usageTransaction(ctx, id)
	if err != nil {
		return nil
	}
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
	// The peer's deck bills its own seconds (60/60 where our member's is
	// 1/1): kept apart, so what we show the peer is what it invoices.
	rating.SetBuySeconds(rt.BillableSeconds)
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

// transactionIndex is the log index of one of our transaction ids, in the
// network's id layout (ledger.Network.TransactionIndex).
func (n *Node) transactionIndex(id uint64) uint64 {
	if v, err := n.state.get(); err == nil {
		return v.network.TransactionIndex(id)
	}
	return ledger.TransactionIndex(id)
}
