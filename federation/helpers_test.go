package federation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

// network is a minimal OSP server for one test network, speaking real OSP
// over HTTP through package osp: it answers AuthorizationRequests from
// local trunks or by forwarding upstream with a real Forwarder, and
// records UsageIndications idempotently, as a peer ospnode would.
type network struct {
	t   testing.TB
	id  string
	srv *httptest.Server

	// upstream, when set, is where authorisations are forwarded.
	fwd      *Forwarder
	upstream *Peer

	// signer, when set, signs the tokens (else unsigned text tokens).
	signer atomic.Pointer[osp.TokenSigner]

	txSeq    atomic.Uint64
	requests atomic.Int32 // HTTP requests received
	// fail503 answers the next N requests (any kind) with 503.
	fail503 atomic.Int32
	// failUsageHTTP answers the next N usage requests with HTTP 500.
	failUsageHTTP atomic.Int32
	// slow makes every request wait until the client gives up.
	slow        atomic.Bool
	release     chan struct{}
	releaseOnce sync.Once

	mu      sync.Mutex
	auths   []*osp.AuthorizationRequest
	msgIDs  []string
	tokens  map[string][]byte // signal address -> token issued
	usage   map[string]int    // "txid/role/component" -> times received
	usageTx []uint64
}

func newNetwork(t testing.TB, id string) *network {
	t.Helper()
	n := &network{t: t, id: id, release: make(chan struct{}), tokens: map[string][]byte{}, usage: map[string]int{}}
	n.txSeq.Store(uint64(len(id)) << 40)
	n.srv = httptest.NewServer(httpHandler(n))
	t.Cleanup(func() {
		n.unblock()
		n.srv.Close()
	})
	return n
}

// unblock releases every request held by slow (once).
func (n *network) unblock() { n.releaseOnce.Do(func() { close(n.release) }) }

func httpHandler(n *network) http.Handler { return http.HandlerFunc(n.serve) }

func (n *network) url() string { return n.srv.URL + "/osp" }

func (n *network) serve(w http.ResponseWriter, r *http.Request) {
	m, err := osp.ReadRequest(r, osp.Limits{})
	if err != nil {
		n.t.Errorf("%s: read request: %v", n.id, err)
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	n.requests.Add(1)
	if n.slow.Load() {
		select {
		case <-r.Context().Done():
		case <-n.release:
		}
		return
	}
	isUsage := len(m.Components) > 0 && m.Components[0].UsageIndication != nil
	if isUsage && n.failUsageHTTP.Add(-1) >= 0 {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	unavailable := n.fail503.Add(-1) >= 0
	out := &osp.Message{MessageID: m.MessageID, Random: m.Random}
	for _, c := range m.Components {
		rc := osp.Component{ID: c.ID}
		switch {
		case c.AuthorizationRequest != nil:
			rc.AuthorizationResponse = n.authorize(r.Context(), m.MessageID, c.AuthorizationRequest, unavailable)
		case c.UsageIndication != nil:
			st := osp.NewStatus(osp.StatusOK)
			if unavailable {
				st = osp.NewStatus(osp.StatusUnavailable)
			} else {
				n.recordUsage(c.ID, c.UsageIndication)
			}
			rc.UsageConfirmation = &osp.UsageConfirmation{Timestamp: time.Now().UTC(), Status: st}
		default:
			n.t.Errorf("%s: unexpected component %v", n.id, c.Kind())
			continue
		}
		out.Components = append(out.Components, rc)
	}
	if err := osp.WriteMessage(w, out); err != nil {
		n.t.Logf("%s: write: %v", n.id, err)
	}
}

func (n *network) authorize(ctx context.Context, msgID string, ar *osp.AuthorizationRequest, unavailable bool) *osp.AuthorizationResponse {
	n.mu.Lock()
	n.auths = append(n.auths, ar)
	n.msgIDs = append(n.msgIDs, msgID)
	n.mu.Unlock()
	now := time.Now().UTC().Truncate(time.Second)
	refuse := func(st osp.Status) *osp.AuthorizationResponse {
		return &osp.AuthorizationResponse{Timestamp: now, Status: st}
	}
	if unavailable {
		return refuse(osp.NewStatus(osp.StatusUnavailable))
	}
	var le *LoopError
	if err := CheckLoop(ar, n.id); errors.As(err, &le) && (le.Err == ErrLoop || n.upstream != nil) {
		return refuse(le.Status())
	}
	tx := n.txSeq.Add(1)
	if n.upstream != nil {
		res, err := n.fwd.Forward(ctx, n.upstream, Request{SourceMember: ar.DeviceID, MessageID: msgID, Auth: ar}, 0)
		if err != nil {
			var fe *ForwardError
			errors.As(err, &fe)
			return refuse(osp.Status{Code: fe.Code, Description: fe.Error()})
		}
		ds := res.Offer(0, 1800)
		return &osp.AuthorizationResponse{Timestamp: now, Status: osp.NewStatus(osp.StatusOK), TransactionID: tx, Destinations: ds}
	}
	addr := fmt.Sprintf("[192.0.2.%d]:5060", len(n.id))
	callID := []byte(ar.CallIDs[0])
	kind := osp.TokenText
	signer := n.signer.Load()
	if signer != nil {
		kind = osp.TokenSigned
	}
	tok, err := signer.Issue(kind, &osp.TokenClaims{
		Random: "r" + strconv.FormatUint(tx, 10), Calling: ar.Calling(), Called: ar.Called(), CallID: callID,
		ValidAfter: now.Add(-time.Minute), ValidUntil: now.Add(10 * time.Minute), TransactionID: tx,
		AuthorisedSeconds: 3600, DestinationAddress: addr,
	})
	if err != nil {
		n.t.Errorf("issue token: %v", err)
	}
	n.mu.Lock()
	n.tokens[addr] = tok
	n.mu.Unlock()
	return &osp.AuthorizationResponse{
		Timestamp: now, Status: osp.NewStatus(osp.StatusOK), TransactionID: tx,
		Destinations: []osp.Destination{{
			SignalAddress: addr, Token: tok, CallID: callID,
			ValidAfter: now.Add(-time.Minute), ValidUntil: now.Add(10 * time.Minute),
			UsageDetail: osp.TimeLimit(3600), Protocol: "sip", OSPVersion: "True", NetworkID: n.id,
		}},
	}
}

func (n *network) recordUsage(component string, ui *osp.UsageIndication) {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := fmt.Sprintf("%d/%s/%s", ui.TransactionID, ui.Role, component)
	n.usage[k]++
	if n.usage[k] == 1 {
		n.usageTx = append(n.usageTx, ui.TransactionID)
	}
}

func (n *network) authCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.auths)
}

func (n *network) lastAuth() *osp.AuthorizationRequest {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.auths) == 0 {
		return nil
	}
	return n.auths[len(n.auths)-1]
}

// deadURL returns the URL of a loopback port nobody listens on any more.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/osp"
}

func mustPeer(t *testing.T, cfg PeerConfig, o PeerOptions) *Peer {
	t.Helper()
	if cfg.Identity.DeviceID == "" {
		cfg.Identity.DeviceID = "purple-at-" + cfg.ID
	}
	p, err := NewPeer(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func mustForwarder(t *testing.T, id string) *Forwarder {
	t.Helper()
	f, err := NewForwarder(ForwarderConfig{NetworkID: id})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// authReq is a member's AuthorizationRequest as the toolkit sends it.
func authReq(callID string) *osp.AuthorizationRequest {
	return &osp.AuthorizationRequest{
		Timestamp: time.Now().UTC().Truncate(time.Second),
		CallIDs:   []osp.Binary{osp.Binary(callID)},
		CallInfo: osp.CallInfo{
			SourceInfo:      osp.TypedValues{{Type: osp.TypeE164, Value: "14045550100"}},
			DeviceInfo:      osp.TypedValues{{Type: osp.TypeTransport, Value: "[10.0.0.2]:5060"}},
			DestinationInfo: osp.TypedValues{{Type: osp.TypeE164, Value: "441632960000"}},
			DeviceID:        "carrier-a",
		},
		Service:             &osp.Service{},
		MaximumDestinations: 5,
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// testLedger is a real ledger.Store driven by a one-node "consensus": each
// proposal is applied as the next log entry.
type testLedger struct {
	mu    sync.Mutex
	store *ledger.Store
	acks  [][]uint64 // every AckOutbox proposed
	// failAcks fails the next N AckOutbox proposals (leadership lost).
	failAcks atomic.Int32
}

func (l *testLedger) Propose(_ context.Context, cmd ledger.Command) (*ledger.Result, error) {
	if a, ok := cmd.(ledger.AckOutbox); ok {
		if l.failAcks.Add(-1) >= 0 {
			return nil, errors.New("not the leader")
		}
		l.mu.Lock()
		l.acks = append(l.acks, a.IDs)
		l.mu.Unlock()
	}
	return l.apply(cmd)
}

func (l *testLedger) apply(cmd ledger.Command) (*ledger.Result, error) {
	b, err := ledger.Encode(cmd)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	raw := l.store.ApplyBatch(l.store.AppliedIndex()+1, [][]byte{b})
	return ledger.DecodeResult(raw[0])
}

func (l *testLedger) PendingOutbox(peer string, limit int) ([]ledger.OutboxItem, error) {
	return l.store.PendingOutbox(peer, limit)
}

type leaderFlag struct{ v atomic.Bool }

func (f *leaderFlag) IsLeader() bool { return f.v.Load() }
