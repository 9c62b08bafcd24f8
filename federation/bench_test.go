package federation

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ospnode/ospnode/osp"
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

func BenchmarkMerge(b *testing.B) {
	var local []osp.Destination
	for i := range 5 {
		local = append(local, dest(fmt.Sprintf("[192.0.2.%d]:5060", i), 3600))
	}
	var ups []*ForwardResult
	for j := range 2 {
		r := &ForwardResult{Peer: fmt.Sprint("peer", j), TransactionID: uint64(j + 1)}
		for i := range 5 {
			r.Destinations = append(r.Destinations, dest(fmt.Sprintf("[203.0.%d.%d]:5060", j, i), 600))
		}
		ups = append(ups, r)
	}
	pol := func(a, c *Candidate) int { return a.Destination.TimeLimit() - c.Destination.TimeLimit() }
	b.ReportAllocs()
	for b.Loop() {
		if len(Merge(local, ups, pol, 10, 1800)) != 10 {
			b.Fatal("merge")
		}
	}
}
