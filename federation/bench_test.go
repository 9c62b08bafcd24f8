package federation

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkForward: one forwarded authorisation over loopback HTTP to an
// OSP responder (encode, POST, decode on both sides, keep-alive).
func BenchmarkForward(b *testing.B) {
	yellow := newNetwork(b, "yellow")
	p, err := NewPeer(PeerConfig{ID: "yellow", ServicePoints: []ServicePoint{{URL: yellow.url(), Weight: 1}}, Identity: Identity{DeviceID: "purple"}}, PeerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	f, _ := NewForwarder(ForwarderConfig{NetworkID: "purple"})
	req := authReq("bench-call")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := f.Forward(context.Background(), p, Request{SourceMember: "a", MessageID: fmt.Sprint(i), Auth: req}, time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckLoop(b *testing.B) {
	req := authReq("c")
	req.Via = []string{"green", "blue", "hub"}
	b.ReportAllocs()
	for b.Loop() {
		if CheckLoop(req, "purple") != nil {
			b.Fatal("loop")
		}
	}
}

func BenchmarkOffer(b *testing.B) {
	r := &ForwardResult{Peer: "peer", TransactionID: 1}
	for i := range 10 {
		r.Destinations = append(r.Destinations, dest(fmt.Sprintf("[203.0.113.%d]:5060", i), 3600))
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(r.Offer(5, 1800)) != 5 {
			b.Fatal("offer")
		}
	}
}
