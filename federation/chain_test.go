package federation

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ospnode/ospnode/osp"
)

// TestTwoHopChain: a member asks PURPLE, which forwards to HUB, which
// forwards to YELLOW, which terminates. Three OSP servers, two forwarders,
// real HTTP between them.
func TestTwoHopChain(t *testing.T) {
	yellow := newNetwork(t, "yellow")
	hub := newNetwork(t, "hub")
	hub.fwd = mustForwarder(t, "hub")
	hub.upstream = mustPeer(t, PeerConfig{ID: "yellow", ServicePoints: []ServicePoint{{URL: yellow.url()}},
		Identity: Identity{DeviceID: "hub-at-yellow", NetworkID: "hub"}}, PeerOptions{})
	purple := newNetwork(t, "purple")
	purple.fwd = mustForwarder(t, "purple")
	purple.upstream = mustPeer(t, PeerConfig{ID: "hub", ServicePoints: []ServicePoint{{URL: hub.url()}},
		Identity: Identity{DeviceID: "purple-at-hub", NetworkID: "purple"}}, PeerOptions{})

	// The member is an OSP client of PURPLE.
	member, err := osp.NewClient(osp.ClientConfig{ServicePoints: []string{purple.url()}})
	if err != nil {
		t.Fatal(err)
	}
	defer member.CloseIdleConnections()
	resp, err := member.Do(context.Background(), &osp.Message{MessageID: "1", Components: []osp.Component{{ID: "1", AuthorizationRequest: authReq("chain-call")}}})
	if err != nil {
		t.Fatal(err)
	}
	ar := resp.Components[0].AuthorizationResponse
	if ar == nil || !ar.Status.OK() || len(ar.Destinations) != 1 {
		t.Fatalf("member got %+v", resp.Components[0])
	}
	// Each network answers with its own TransactionId.
	if ar.TransactionID == 0 || ar.TransactionID>>40 != uint64(len("purple")) {
		t.Fatalf("member's transaction id %d is not PURPLE's", ar.TransactionID)
	}
	d := ar.Destinations[0]
	yellow.mu.Lock()
	tok := yellow.tokens[d.SignalAddress]
	yellow.mu.Unlock()
	if !bytes.Equal(d.Token, tok) {
		t.Fatal("YELLOW's token did not reach the member untouched")
	}
	if d.TimeLimit() != 1800 {
		t.Fatalf("time limit %d, want min over the chain 1800", d.TimeLimit())
	}
	// The path grew hop by hop.
	if got := hub.lastAuth(); !slices.Equal(got.Via, []string{"purple"}) || got.HopLimit != DefaultHopLimit-1 || got.DeviceID != "purple-at-hub" {
		t.Fatalf("hub saw via %v hop %d device %q", got.Via, got.HopLimit, got.DeviceID)
	}
	if got := yellow.lastAuth(); !slices.Equal(got.Via, []string{"purple", "hub"}) || got.HopLimit != DefaultHopLimit-2 || got.DeviceID != "hub-at-yellow" {
		t.Fatalf("yellow saw via %v hop %d device %q", got.Via, got.HopLimit, got.DeviceID)
	}
	if got := yellow.lastAuth(); got.Calling() != "14045550100" || got.Called() != "441632960000" || string(got.CallIDs[0]) != "chain-call" {
		t.Fatal("call data changed along the chain")
	}
}

// TestChainLoopRefused: HUB is misconfigured to forward back to PURPLE;
// PURPLE sees itself in the path and refuses, and the refusal travels back.
func TestChainLoopRefused(t *testing.T) {
	purple := newNetwork(t, "purple")
	hub := newNetwork(t, "hub")
	hub.fwd = mustForwarder(t, "hub")
	hub.upstream = mustPeer(t, PeerConfig{ID: "purple", ServicePoints: []ServicePoint{{URL: purple.url()}}}, PeerOptions{})
	purple.fwd = mustForwarder(t, "purple")
	purple.upstream = mustPeer(t, PeerConfig{ID: "hub", ServicePoints: []ServicePoint{{URL: hub.url()}}}, PeerOptions{})

	f := mustForwarder(t, "purple")
	res, err := f.Forward(context.Background(), purple.upstream, Request{SourceMember: "a", MessageID: "1", Auth: authReq("loop")}, 2*time.Second)
	if !errors.Is(err, ErrRefused) || res.Status.Code != osp.StatusNoRoute {
		t.Fatalf("err %v status %+v", err, res.Status)
	}
	if got := purple.lastAuth(); !slices.Equal(got.Via, []string{"purple", "hub"}) {
		t.Fatalf("purple saw via %v", got.Via)
	}
	if purple.authCount() != 1 {
		t.Fatalf("purple saw %d requests, want exactly 1 (no ping-pong)", purple.authCount())
	}
}
