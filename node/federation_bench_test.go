package node_test

import (
	"strconv"
	"testing"
)

// BenchmarkForwardedAuthorization measures one AuthorizationRequest from a
// PURPLE member answered through YELLOW (one node each, real loopback HTTP
// and Raft on disk): PURPLE identifies, routes, forwards, YELLOW
// authorises and signs, PURPLE verifies YELLOW's token and commits the
// mapped transaction. Sequential: the latency of one forwarded call.
func BenchmarkForwardedAuthorization(b *testing.B) {
	purple, _ := onehop(b, 1, nil)
	p := purple.node(b, 0)
	a := client(addrSource)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		id := strconv.Itoa(i)
		resp := authResponse(b, exchange(b, a, p.OSPURL(), fedAuth(id, "bench-"+id+"@a", fedCalled)))
		if !resp.Status.OK() {
			b.Fatalf("status %+v", resp.Status)
		}
	}
}

// BenchmarkLocalAuthorizationSameSetup is the same call answered by
// YELLOW directly (its member b's trunk), for comparison: the difference
// is the cost of the hop.
func BenchmarkLocalAuthorizationSameSetup(b *testing.B) {
	_, yellow := onehop(b, 1, nil)
	y := yellow.node(b, 0)
	c := client(addrPeer) // YELLOW's member "purple"
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		id := strconv.Itoa(i)
		m := fedAuth(id, "bench-"+id+"@a", fedCalled)
		m.Components[0].AuthorizationRequest.DeviceID = "purple"
		resp := authResponse(b, exchange(b, c, y.OSPURL(), m))
		if !resp.Status.OK() {
			b.Fatalf("status %+v", resp.Status)
		}
	}
}
