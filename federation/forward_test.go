package federation

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

func TestForwardPassesTokensUntouched(t *testing.T) {
	yellow := newNetwork(t, "yellow")
	p := mustPeer(t, PeerConfig{ID: "yellow", ServicePoints: []ServicePoint{{URL: yellow.url(), Weight: 1}},
		Identity: Identity{DeviceID: "purple", CustomerID: "cust-purple", SourceAddress: "[198.51.100.1]:5060", NetworkID: "purple"}}, PeerOptions{})
	f := mustForwarder(t, "purple")
	in := authReq("call-1")
	inCopy := *in
	res, err := f.Forward(context.Background(), p, Request{SourceMember: "a", MessageID: "77", Auth: in}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.TransactionID == 0 || !res.Status.OK() || len(res.Destinations) != 1 || res.ServicePoint != yellow.url() {
		t.Fatalf("result %+v", res)
	}
	d := res.Destinations[0]
	yellow.mu.Lock()
	issued := yellow.tokens[d.SignalAddress]
	yellow.mu.Unlock()
	if !bytes.Equal(d.Token, issued) || len(issued) == 0 {
		t.Fatalf("token changed:\n got %q\nwant %q", d.Token, issued)
	}
	if string(d.CallID) != "call-1" || d.TimeLimit() != 3600 || res.TimeLimit != 3600 {
		t.Fatalf("destination %+v, limit %d", d, res.TimeLimit)
	}
	// What the upstream saw: our identity, our path, the hop limit spent.
	up := yellow.lastAuth()
	if !slices.Equal(up.Via, []string{"purple"}) || up.HopLimit != DefaultHopLimit-1 {
		t.Fatalf("via %v hop %d", up.Via, up.HopLimit)
	}
	if up.DeviceID != "purple" || up.CustomerID != "cust-purple" || up.SourceDevice() != "[198.51.100.1]:5060" || up.SourceNetworkID() != "purple" {
		t.Fatalf("identity sent: device %q customer %q source %q network %q", up.DeviceID, up.CustomerID, up.SourceDevice(), up.SourceNetworkID())
	}
	if up.Calling() != "14045550100" || up.Called() != "441632960000" || string(up.CallIDs[0]) != "call-1" {
		t.Fatalf("call data changed: %+v", up.CallInfo)
	}
	// The member's request is not modified.
	if in.DeviceID != inCopy.DeviceID || len(in.Via) != 0 || in.HopLimit != 0 || in.SourceDevice() != "[10.0.0.2]:5060" {
		t.Fatalf("input modified: %+v", in)
	}
	// A retried member request is the same request upstream.
	res2, err := f.Forward(context.Background(), p, Request{SourceMember: "a", MessageID: "77", Auth: authReq("call-1")}, time.Second)
	if err != nil || res2.MessageID != res.MessageID {
		t.Fatalf("retry message id %q vs %q (%v)", res2.MessageID, res.MessageID, err)
	}
	if other := UpstreamMessageID("purple", "b", "77", []byte("call-1")); other == res.MessageID {
		t.Fatal("two members' requests share an upstream message id")
	}
}

func TestForwardFailover(t *testing.T) {
	good := newNetwork(t, "good")
	slow := newNetwork(t, "slow")
	slow.slow.Store(true)
	busy := newNetwork(t, "busy")
	busy.fail503.Store(1 << 20)
	cases := []struct {
		name     string
		first    string
		wantErr0 string
	}{
		{"dead listener", deadURL(t), "connect"},
		{"slow beyond its share", slow.url(), "timed out"},
		{"osp 503", busy.url(), "503"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Weight 0 makes the good point a backup: the order is
			// deterministic, the failing point first.
			p := mustPeer(t, PeerConfig{ID: "yellow", ServicePoints: []ServicePoint{{URL: tc.first, Weight: 1}, {URL: good.url()}}}, PeerOptions{})
			f := mustForwarder(t, "purple")
			budget := 2 * time.Second
			deadline := time.Now().Add(budget + 500*time.Millisecond)
			res, err := f.Forward(context.Background(), p, Request{SourceMember: "a", MessageID: "1", Auth: authReq("c-" + tc.name)}, budget)
			if time.Now().After(deadline) {
				t.Fatalf("forward overran its budget")
			}
			if err != nil {
				t.Fatalf("%v (attempts %+v)", err, res.Attempts)
			}
			if res.ServicePoint != good.url() || len(res.Attempts) != 2 {
				t.Fatalf("answered by %s after %+v", res.ServicePoint, res.Attempts)
			}
			if a := res.Attempts[0]; a.URL != tc.first || !bytes.Contains([]byte(a.Err), []byte(tc.wantErr0)) {
				t.Fatalf("first attempt %+v, want error containing %q", a, tc.wantErr0)
			}
			h := p.Health()
			if h.ServicePoints[0].Failures != 1 || h.ServicePoints[1].Successes != 1 {
				t.Fatalf("health %+v", h)
			}
		})
	}
}

func TestForwardBudgetRespected(t *testing.T) {
	slow1, slow2 := newNetwork(t, "s1"), newNetwork(t, "s2")
	slow1.slow.Store(true)
	slow2.slow.Store(true)
	p := mustPeer(t, PeerConfig{ID: "yellow", ServicePoints: []ServicePoint{{URL: slow1.url(), Weight: 1}, {URL: slow2.url(), Weight: 1}}}, PeerOptions{})
	f := mustForwarder(t, "purple")
	budget := 300 * time.Millisecond
	deadline := time.Now().Add(budget + 400*time.Millisecond)
	res, err := f.Forward(context.Background(), p, Request{SourceMember: "a", MessageID: "1", Auth: authReq("c")}, budget)
	if time.Now().After(deadline) {
		t.Fatal("forward returned after budget + margin")
	}
	var fe *ForwardError
	if !errors.Is(err, ErrBudgetExceeded) || !errors.As(err, &fe) || fe.Code != osp.StatusTransientProblem {
		t.Fatalf("err %v", err)
	}
	if len(res.Attempts) != 2 {
		t.Fatalf("attempts %+v: both points should get a share", res.Attempts)
	}
	// The peer's own budget lowers a larger one.
	p2 := mustPeer(t, PeerConfig{ID: "y2", ServicePoints: []ServicePoint{{URL: slow1.url()}}, Limits: Limits{Budget: 100 * time.Millisecond}}, PeerOptions{})
	deadline = time.Now().Add(100*time.Millisecond + 400*time.Millisecond)
	_, err = f.Forward(context.Background(), p2, Request{Auth: authReq("c")}, time.Hour)
	if !errors.Is(err, ErrBudgetExceeded) || time.Now().After(deadline) {
		t.Fatalf("peer budget not applied: %v", err)
	}
	// A caller that gives up is not the peer's fault.
	p3 := mustPeer(t, PeerConfig{ID: "y3", ServicePoints: []ServicePoint{{URL: slow1.url()}}}, PeerOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	before := slow1.requests.Load()
	go func() {
		for slow1.requests.Load() == before {
			// Poll until the request is in flight at s1.
			select {
			case <-time.After(time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
		cancel()
	}()
	_, err = f.Forward(ctx, p3, Request{Auth: authReq("c")}, time.Minute)
	cancel()
	if !errors.Is(err, ErrPeerUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if h := p3.Health().ServicePoints[0]; h.Failures != 0 {
		t.Fatalf("caller's cancellation counted against the point: %+v", h)
	}
}

func TestForwardRefusals(t *testing.T) {
	yellow := newNetwork(t, "yellow")
	p := mustPeer(t, PeerConfig{ID: "yellow", ServicePoints: []ServicePoint{{URL: yellow.url()}}}, PeerOptions{})
	f := mustForwarder(t, "purple")
	viaUs := authReq("c")
	viaUs.Via = []string{"green", "purple", "blue"}
	hop1 := authReq("c")
	hop1.HopLimit = 1
	hop2 := authReq("c")
	hop2.HopLimit = 2
	long := authReq("c")
	for i := 0; i <= MaxVia; i++ {
		long.Via = append(long.Via, "n"+string(rune('a'+i%26)))
	}
	disabled := mustPeer(t, PeerConfig{ID: "off", Status: ledger.PeerDisabled, ServicePoints: []ServicePoint{{URL: yellow.url()}}}, PeerOptions{})
	cases := []struct {
		name string
		peer *Peer
		req  *osp.AuthorizationRequest
		want error
		code int
	}{
		{"our id in via", p, viaUs, ErrLoop, osp.StatusNoRoute},
		{"path too long", p, long, ErrLoop, osp.StatusNoRoute},
		{"hop limit exhausted", p, hop1, ErrHopLimit, osp.StatusNoRoute},
		{"no call-id", p, &osp.AuthorizationRequest{}, ErrBadRequest, osp.StatusBadRequest},
		{"disabled peer", disabled, authReq("c"), ErrPeerDisabled, osp.StatusTransientProblem},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := yellow.authCount()
			_, err := f.Forward(context.Background(), tc.peer, Request{Auth: tc.req}, time.Second)
			var fe *ForwardError
			if !errors.Is(err, tc.want) || !errors.As(err, &fe) || fe.Code != tc.code {
				t.Fatalf("err %v, want %v code %d", err, tc.want, tc.code)
			}
			if yellow.authCount() != before {
				t.Fatal("a refused request was sent upstream")
			}
		})
	}
	// Hop limit 2 may be forwarded once more, arriving with 1.
	if _, err := f.Forward(context.Background(), p, Request{Auth: hop2}, time.Second); err != nil {
		t.Fatal(err)
	}
	if h := yellow.lastAuth().HopLimit; h != 1 {
		t.Fatalf("hop limit sent %d", h)
	}
}

func TestForwardUpstreamRefusalAndBusy(t *testing.T) {
	// An upstream that refuses (its own loop check here) is a refusal with
	// the upstream's code, not a failover.
	yellow := newNetwork(t, "yellow")
	p := mustPeer(t, PeerConfig{ID: "yellow", ServicePoints: []ServicePoint{{URL: yellow.url()}}}, PeerOptions{})
	f := mustForwarder(t, "purple")
	req := authReq("c")
	req.Via = []string{"yellow"}
	res, err := f.Forward(context.Background(), p, Request{Auth: req}, time.Second)
	var fe *ForwardError
	if !errors.Is(err, ErrRefused) || !errors.As(err, &fe) || fe.Code != osp.StatusNoRoute || res.Status.Code != osp.StatusNoRoute {
		t.Fatalf("err %v res %+v", err, res)
	}
	if p.Health().ServicePoints[0].Successes != 1 {
		t.Fatal("a refusal is an answer, the point is healthy")
	}

	// Concurrency limit: a slot held by a slow call makes the next fail fast.
	slow := newNetwork(t, "slow")
	slow.slow.Store(true)
	lim := mustPeer(t, PeerConfig{ID: "lim", ServicePoints: []ServicePoint{{URL: slow.url()}}, Limits: Limits{MaxConcurrent: 1}}, PeerOptions{})
	done := make(chan error, 1)
	go func() {
		_, err := f.Forward(context.Background(), lim, Request{Auth: authReq("c1")}, 10*time.Second)
		done <- err
	}()
	waitFor(t, "first call in flight", 5*time.Second, func() bool { return slow.requests.Load() == 1 })
	if _, err := f.Forward(context.Background(), lim, Request{Auth: authReq("c2")}, time.Second); !errors.Is(err, ErrPeerBusy) {
		t.Fatalf("second call: %v", err)
	}
	slow.unblock()
	<-done
	if lim.InFlight() != 0 {
		t.Fatalf("in flight %d", lim.InFlight())
	}
}
