package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ospnode/ospnode/federation"
	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

// fedRuntime is the federation machinery for one (network id, peers
// generation): the live peers and the forwarder. It is immutable once
// published; fedState replaces it when the ledger's peers or network move.
type fedRuntime struct {
	netID    string
	netGen   uint64
	peersGen uint64
	reg      *federation.Registry // nil when federation is off (no network id)
	fwd      *federation.Forwarder
}

// fedState wires package federation into the node (see DESIGN.md,
// "Federation"): a Registry synced from the ledger's peer records, a
// Forwarder, and the leader-only Cascader that drains the outbox. Safe for
// concurrent use.
type fedState struct {
	n    *Node
	mu   sync.Mutex // serialises rebuilds
	rt   atomic.Pointer[fedRuntime]
	casc *federation.Cascader

	cancel context.CancelFunc
	wg     sync.WaitGroup

	forwarded sync.Map // outcome string → *atomic.Uint64
}

// newFedState builds the federation state and its (stopped) cascader.
func newFedState(n *Node) (*fedState, error) {
	f := &fedState{n: n}
	c, err := federation.NewCascader(federation.CascaderConfig{
		Outbox:     n.store,
		Proposer:   n,
		Leader:     n.cons,
		Peers:      fedPeers{f},
		Interval:   n.cfg.Cascade.Interval,
		Budget:     n.cfg.Cascade.Budget,
		MinBackoff: n.cfg.Cascade.MinBackoff,
		MaxBackoff: n.cfg.Cascade.MaxBackoff,
		Logger:     n.log.With("component", "cascade"),
	})
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	f.casc = c
	return f, nil
}

// start runs the cascader and a leadership watcher that kicks it when this
// node becomes leader (consensus exposes IsLeader, not a leadership
// channel; a rising edge seen within a heartbeat is soon enough, the
// cascader also polls on its interval).
func (f *fedState) start() {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.casc.Start(ctx)
	every := f.n.cfg.Raft.HeartbeatTimeout
	if every <= 0 || every > time.Second {
		every = time.Second
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		was := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			is := f.n.cons.IsLeader()
			if is && !was {
				f.casc.Kick()
			}
			was = is
		}
	}()
}

// stop ends the cascader (waiting for deliveries in flight) and the
// watcher. Items in flight are delivered again by the next leader.
func (f *fedState) stop() {
	if f.cancel != nil {
		f.cancel()
	}
	f.casc.Stop()
	f.wg.Wait()
	if rt := f.rt.Load(); rt != nil && rt.reg != nil {
		_ = rt.reg.Sync(nil) // closes idle connections
	}
}

// kick wakes the cascader (after a usage enqueued an outbox item).
func (f *fedState) kick() { f.casc.Kick() }

// runtime returns the federation runtime for the ledger's current peers
// and network, rebuilding it when either moved. Peers whose records did not
// change keep their circuit breakers and connections (Registry.Sync).
func (f *fedState) runtime() *fedRuntime {
	g := f.n.store.Generations()
	if rt := f.rt.Load(); rt != nil && rt.peersGen == g.Peers && rt.netGen == g.Network {
		return rt
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g = f.n.store.Generations()
	old := f.rt.Load()
	if old != nil && old.peersGen == g.Peers && old.netGen == g.Network {
		return old
	}
	netID := f.n.cfg.NetworkID
	if netID == "" {
		if nw, err := f.n.store.Network(); err == nil {
			netID = nw.ID
		}
	}
	rt := &fedRuntime{netID: netID, netGen: g.Network, peersGen: g.Peers}
	if old != nil && old.netID == netID {
		rt.reg, rt.fwd = old.reg, old.fwd
	} else {
		if old != nil && old.reg != nil {
			_ = old.reg.Sync(nil)
		}
		if netID != "" {
			rt.reg = federation.NewRegistry(federation.LedgerOptions{
				NetworkID:     netID,
				SourceAddress: f.n.cfg.FederationSourceAddress,
				Budget:        f.n.cfg.ForwardBudget,
			}, federation.PeerOptions{
				Breaker: f.n.cfg.PeerBreaker,
				Logger:  f.n.log.With("component", "federation"),
			})
			fwd, err := federation.NewForwarder(federation.ForwarderConfig{
				NetworkID:    netID,
				VerifyTokens: !f.n.cfg.UpstreamTokensUnverified,
				Logger:       f.n.log.With("component", "federation"),
			})
			if err != nil { // only without a network id, excluded above
				f.n.log.Error("federation: forwarder", "err", err)
				rt.reg = nil
			}
			rt.fwd = fwd
		}
	}
	if rt.reg != nil {
		peers, err := f.n.store.Peers()
		if err != nil {
			f.n.log.Warn("federation: read peers", "err", err)
		} else if err := rt.reg.Sync(peers); err != nil {
			f.n.log.Warn("federation: some peers are not usable", "err", err)
		}
	}
	f.rt.Store(rt)
	return rt
}

// fedPeers gives the cascader the current registry's peers.
type fedPeers struct{ f *fedState }

func (p fedPeers) Peer(id string) (*federation.Peer, bool) {
	rt := p.f.runtime()
	if rt.reg == nil {
		return nil, false
	}
	return rt.reg.Peer(id)
}

func (p fedPeers) IDs() []string {
	rt := p.f.runtime()
	if rt.reg == nil {
		return nil
	}
	return rt.reg.IDs()
}

// countForward counts one forwarding attempt by outcome (for /metrics).
func (f *fedState) countForward(outcome string) {
	v, _ := f.forwarded.LoadOrStore(outcome, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
}

// forwardOutcome names err for the forwarding counter.
func forwardOutcome(err error) string {
	for _, c := range []struct {
		err  error
		name string
	}{
		{federation.ErrLoop, "loop"}, {federation.ErrHopLimit, "hop_limit"},
		{federation.ErrPeerDisabled, "disabled"}, {federation.ErrPeerBusy, "busy"},
		{federation.ErrBudgetExceeded, "budget"}, {federation.ErrPeerUnavailable, "unavailable"},
		{federation.ErrRefused, "refused"}, {federation.ErrBadResponse, "bad_response"},
		{federation.ErrBadRequest, "bad_request"},
	} {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	if err != nil {
		return "error"
	}
	return "ok"
}

// PendingOutbox returns up to limit (0: all) usage records waiting to be
// cascaded to peer ("" : every peer), oldest first, from this node's
// replica. For the admin API and operators. Safe for concurrent use.
func (n *Node) PendingOutbox(peer string, limit int) ([]ledger.OutboxItem, error) {
	return n.store.PendingOutbox(peer, limit)
}

// PeerHealth returns every configured peer's health (status, forwarded
// calls in flight, each service point's circuit breaker), ordered by id.
// Empty when the node has no network id (federation off). Safe for
// concurrent use.
func (n *Node) PeerHealth() []federation.PeerHealth {
	rt := n.fed.runtime()
	if rt.reg == nil {
		return nil
	}
	return rt.reg.Health()
}

// CascadeMetrics returns the usage cascader's counters (this node's; only
// the leader drains, so Sent/Acked grow on the leader).
func (n *Node) CascadeMetrics() federation.CascadeMetrics { return n.fed.casc.Metrics() }

// CascadeFailing returns the outbox items that failed at least once and
// are still pending, with their last error (the leader's memory; empty on
// followers).
func (n *Node) CascadeFailing() []federation.ItemStatus { return n.fed.casc.Failing() }

// KickCascade wakes the usage cascader now (e.g. an operator fixed a
// peer). It never blocks.
func (n *Node) KickCascade() { n.fed.kick() }

// NetworkID returns the network id this node federates under: Config's,
// else the ledger Network's ("" when neither is set: federation off).
func (n *Node) NetworkID() string { return n.fed.runtime().netID }

// ---- authorisation through a peer ----

// choice is one ranked route candidate: a local trunk (peer nil) or a peer
// network, with the ledger destination it becomes.
type choice struct {
	dest ledger.Destination
	peer *federation.Peer
}

// upstream is one authorisation's federation step ("try upstream"). It
// owns what crosses to other networks: loop prevention (rq.upstream, before
// routing), which peers the policy may rank (peers), and forwarding to the
// ranked peer candidates with failover within the forwarding budget,
// capping the answer at our limit and recording it (try). node's pipeline
// calls it at those two points and nowhere else.
type upstream struct {
	rq      *request
	rt      *fedRuntime
	peersOK bool // federation on and the hop limit not spent
}

// upstream applies loop prevention to req (federation.CheckLoop): a
// request that already went through our network is refused outright (the
// LoopError's status, 404, nothing recorded); one whose hop limit is spent
// may still use local trunks. A request from our own member without a hop
// limit starts with Config.HopLimit.
func (rq *request) upstream(req *osp.AuthorizationRequest) (*upstream, *refusal) {
	u := &upstream{rq: rq, rt: rq.n.fed.runtime()}
	if u.rt.reg == nil {
		return u, nil // federation off
	}
	err := federation.CheckLoop(rq.withHopLimit(req), u.rt.netID)
	var le *federation.LoopError
	if errors.As(err, &le) {
		if errors.Is(err, federation.ErrLoop) {
			st := le.Status()
			rq.n.fed.countForward("loop_refused")
			return nil, &refusal{st.Code, st.Description}
		}
		return u, nil // hop limit: local trunks only
	}
	u.peersOK = true
	return u, nil
}

// peers returns the runtime whose peers the routing policy may rank, nil
// when none may be (federation off, or the hop limit spent).
func (u *upstream) peers() *fedRuntime {
	if !u.peersOK {
		return nil
	}
	return u.rt
}

// try walks the ranked choices while they are peers (one source at a
// time, see DESIGN.md "Federation": peers ranked before the first local
// trunk are tried in turn, each within what is left of the forwarding
// budget; a hung, dead, busy or refusing peer moves on to the next). The
// first peer that answers makes the whole answer: try records it and
// returns it with answered true. Otherwise answered is false and err is
// the last forwarding failure (nil when no peer was tried): the caller
// answers with its local trunks.
func (u *upstream) try(ctx context.Context, in *authIn, choices []choice, r *reservation) (ans osp.Component, answered bool, err error) {
	deadline := time.Now().Add(u.rq.n.cfg.ForwardBudget)
	for _, ch := range choices {
		if ch.peer == nil {
			break
		}
		fr, ferr := u.rq.forward(ctx, u.rt, in, ch, deadline)
		if ferr != nil {
			err = ferr
			continue
		}
		return u.rq.authorizeForwarded(ctx, in, ch, fr, r), true, nil
	}
	return osp.Component{}, false, err
}

// withHopLimit returns req, or a shallow copy carrying Config.HopLimit when
// req has none (it came from our own member, not from a peer).
func (rq *request) withHopLimit(req *osp.AuthorizationRequest) *osp.AuthorizationRequest {
	if req.HopLimit > 0 {
		return req
	}
	c := *req
	c.HopLimit = rq.n.cfg.HopLimit
	return &c
}

// forwardRequest is req as forwarded to a peer candidate: the called
// number translated for it (untouched, byte for byte, when the candidate
// does not translate) and our hop limit when the member sent none.
func (rq *request) forwardRequest(req *osp.AuthorizationRequest, called, num string) *osp.AuthorizationRequest {
	c := *rq.withHopLimit(req)
	if num != called {
		tv := make(osp.TypedValues, 0, len(req.DestinationInfo)+1)
		done := false
		for _, x := range req.DestinationInfo {
			if x.Type == osp.TypeE164 || x.Type == "" {
				if !done {
					tv = append(tv, osp.TypedValue{Type: osp.TypeE164, Value: num})
					done = true
				}
				continue
			}
			tv = append(tv, x)
		}
		if !done {
			tv = append(tv, osp.TypedValue{Type: osp.TypeE164, Value: num})
		}
		c.DestinationInfo = tv
	}
	return &c
}

// forward sends the authorisation in to one peer candidate within what is
// left of the forwarding budget.
func (rq *request) forward(ctx context.Context, rt *fedRuntime, in *authIn, ch choice, deadline time.Time) (*federation.ForwardResult, error) {
	left := time.Until(deadline)
	if left <= 0 {
		rq.n.fed.countForward("budget")
		return nil, &federation.ForwardError{Peer: ch.peer.ID(), Code: osp.StatusTransientProblem, Err: federation.ErrBudgetExceeded}
	}
	fr, err := rt.fwd.Forward(ctx, ch.peer, federation.Request{
		SourceMember: in.member.ID, MessageID: rq.msg.MessageID, Auth: rq.forwardRequest(in.req, string(in.called), ch.dest.Called),
	}, left)
	rq.n.fed.countForward(forwardOutcome(err))
	if err != nil {
		rq.n.log.Info("federation: forward failed", "peer", ch.peer.ID(), "member", in.member.ID, "err", err)
	}
	return fr, err
}

// forwardedAnswer builds the answer from one upstream result: our
// TransactionId, the upstream's destinations (tokens untouched) with the
// time limit capped at limit (the chain's minimum), at most max.
func (rq *request) forwardedAnswer(id string, txID uint64, fr *federation.ForwardResult, num string, limit, max int) osp.Component {
	resp := &osp.AuthorizationResponse{Timestamp: rq.now, Status: osp.NewStatus(osp.StatusOK), TransactionID: txID}
	for _, d := range fr.Offer(max, limit) {
		if d.TranslatedCalled == "" && num != "" {
			// Our translation: the member's proxy must dial what the
			// upstream signed the token for.
			d.TranslatedCalled = num
		}
		resp.Destinations = append(resp.Destinations, d)
	}
	return osp.Component{ID: id, AuthorizationResponse: resp}
}

// authorizeForwarded records a forwarded authorisation (ours ↔ upstream
// TransactionId, the chain's time limit) and answers with the upstream's
// destinations. The hold stays at what our limit costs: the chained limit
// is at most that, so it errs on the safe side.
func (rq *request) authorizeForwarded(ctx context.Context, in *authIn, ch choice, fr *federation.ForwardResult, r *reservation) osp.Component {
	if our := rq.v.network.TxIDNetwork; our != 0 && ledger.TransactionNetwork(fr.TransactionID) == our {
		// Two networks numbering their calls alike is what the number is
		// there to prevent (reconciliation still tells them apart by the
		// network column): a derived number collided, or the peer copies it.
		rq.n.log.Warn("federation: the peer's TransactionId carries our network number; give one of the two networks another txid network",
			"peer", fr.Peer, "txid_network", our, "peer_tx", fr.TransactionID)
	}
	chain := federation.ChainLimit(r.Limit(), fr.TimeLimit)
	offered := fr.Offer(in.want, chain)
	dests := make([]ledger.Destination, 0, len(offered))
	for _, o := range offered {
		d := ch.dest
		d.Address = o.SignalAddress
		d.PeerTransactionID = fr.TransactionID
		dests = append(dests, d)
	}
	t, no := rq.record(ctx, rq.authorizeCmd(in, dests, chain, r, fr), r)
	if no != nil {
		return rq.refuse(in.id, no)
	}
	if t.UpstreamTransactionID != fr.TransactionID {
		// A concurrent duplicate committed first with another upstream
		// answer: answer from the recorded one.
		return rq.reforward(ctx, in, t)
	}
	return rq.forwardedAnswer(in.id, t.ID, fr, ch.dest.Called, int(t.TimeLimit), in.want)
}

// reforward answers a retried request whose transaction t was forwarded:
// the same request goes upstream again (same upstream MessageId, so the
// peer answers its own first TransactionId with fresh tokens) and the
// answer carries our recorded TransactionId.
func (rq *request) reforward(ctx context.Context, in *authIn, t *ledger.Transaction) osp.Component {
	rt := rq.n.fed.runtime()
	var p *federation.Peer
	if rt.reg != nil {
		p, _ = rt.reg.Peer(t.UpstreamPeer)
	}
	if p == nil || rt.fwd == nil {
		return rq.authRefusal(in.id, osp.StatusTransientProblem, "upstream peer "+t.UpstreamPeer+" not configured")
	}
	num := t.Called
	if len(t.Destinations) > 0 && t.Destinations[0].Called != "" {
		num = t.Destinations[0].Called
	}
	ch := choice{dest: ledger.Destination{Kind: ledger.DestPeer, ID: p.ID(), Called: num}, peer: p}
	fr, err := rq.forward(ctx, rt, in, ch, time.Now().Add(rq.n.cfg.ForwardBudget))
	if err != nil {
		return rq.authRefusal(in.id, forwardStatus(err), "")
	}
	if fr.TransactionID != t.UpstreamTransactionID {
		rq.n.log.Warn("federation: upstream answered a retry with another transaction id",
			"peer", p.ID(), "recorded", t.UpstreamTransactionID, "answered", fr.TransactionID)
	}
	return rq.forwardedAnswer(in.id, t.ID, fr, num, int(t.TimeLimit), max(len(t.Destinations), 1))
}

// forwardStatus is the OSP code a failed forward is answered with when no
// other candidate remains.
func forwardStatus(err error) int {
	var fe *federation.ForwardError
	if errors.As(err, &fe) && fe.Code > 0 {
		return fe.Code
	}
	return osp.StatusTransientProblem
}
