package federation

import (
	"errors"
	"strings"
	"testing"

	"github.com/ospnode/ospnode/osp"
)

func TestCheckLoop(t *testing.T) {
	cases := []struct {
		name string
		via  []string
		hop  int
		want error
	}{
		{"fresh from a member", nil, 0, nil},
		{"other networks in path", []string{"green", "blue"}, 5, nil},
		{"we are in the path", []string{"green", "purple"}, 5, ErrLoop},
		{"we are first in the path", []string{"purple"}, 0, ErrLoop},
		{"hop limit 1: may reach us, not beyond", []string{"green"}, 1, ErrHopLimit},
		{"hop limit 2", []string{"green"}, 2, nil},
		{"negative hop limit means absent", nil, -4, nil},
		{"loop wins over hop limit", []string{"purple"}, 1, ErrLoop},
		{"path longer than MaxVia", make([]string, MaxVia+1), 0, ErrLoop},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := &osp.AuthorizationRequest{Via: tc.via, HopLimit: tc.hop}
			err := CheckLoop(req, "purple")
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err != nil {
				var le *LoopError
				if !errors.As(err, &le) || le.Code() != osp.StatusNoRoute || le.Status().Code != osp.StatusNoRoute {
					t.Fatalf("not a LoopError with 404: %#v", err)
				}
				if !strings.Contains(le.Status().Description, map[error]string{ErrLoop: "loop", ErrHopLimit: "hop limit"}[tc.want]) {
					t.Fatalf("description %q", le.Status().Description)
				}
			}
		})
	}
	if EffectiveHopLimit(&osp.AuthorizationRequest{HopLimit: 1000}) != MaxHopLimit {
		t.Fatal("a peer's huge hop limit is not capped")
	}
}

func TestUpstreamRequestKeepsOthersFields(t *testing.T) {
	in := authReq("c")
	in.SourceAlternate = osp.TypedValues{{Type: osp.TypeNetwork, Value: "member-trunk-group"}, {Type: osp.TypeSubscriber, Value: "sub"}}
	in.Via = []string{"green"}
	in.HopLimit = 4
	up := UpstreamRequest(in, Identity{DeviceID: "d"}, "purple", t0)
	if up.SourceAlternate.Get(osp.TypeNetwork) != "purple" || up.SourceAlternate.Get(osp.TypeSubscriber) != "sub" ||
		in.SourceAlternate.Get(osp.TypeNetwork) != "member-trunk-group" {
		t.Fatalf("source alternates: up %v in %v", up.SourceAlternate, in.SourceAlternate)
	}
	if up.SourceDevice() != "[10.0.0.2]:5060" || up.CustomerID != "" || up.DeviceID != "d" {
		t.Fatalf("identity: %+v", up.CallInfo)
	}
	if up.HopLimit != 3 || len(up.Via) != 2 || len(in.Via) != 1 || !up.Timestamp.Equal(t0) {
		t.Fatalf("via %v hop %d", up.Via, up.HopLimit)
	}
	// Appending to the result's path never writes into the input's array.
	in.Via = make([]string, 1, 8)
	in.Via[0] = "green"
	up = UpstreamRequest(in, Identity{}, "purple", t0)
	_ = append(in.Via, "x")
	if up.Via[1] != "purple" {
		t.Fatal("path aliases the input")
	}
}

func dest(addr string, limit int) osp.Destination {
	d := osp.Destination{SignalAddress: addr, Token: osp.Binary("tok-" + addr), CallID: osp.Binary("c")}
	if limit > 0 {
		d.UsageDetail = osp.TimeLimit(limit)
	}
	return d
}

func TestMerge(t *testing.T) {
	local := []osp.Destination{dest("[192.0.2.1]:5060", 0), dest("[192.0.2.2]:5060", 7200)}
	yellow := &ForwardResult{Peer: "yellow", TransactionID: 11, Destinations: []osp.Destination{dest("[203.0.113.1]:5060", 600), dest("[192.0.2.2]:5060", 60)}}
	hub := &ForwardResult{Peer: "hub", TransactionID: 22, Destinations: []osp.Destination{dest("[203.0.113.9]:5060", 0)}}
	peersFirst := func(a, b *Candidate) int {
		return map[bool]int{true: 0, false: 1}[a.Peer != ""] - map[bool]int{true: 0, false: 1}[b.Peer != ""]
	}
	type want struct {
		addr  string
		peer  string
		tx    uint64
		limit int
	}
	cases := []struct {
		name   string
		policy Policy
		max    int
		ours   int
		want   []want
	}{
		{"input order, no limit of ours", nil, 0, 0, []want{
			{"[192.0.2.1]:5060", "", 0, 0}, {"[192.0.2.2]:5060", "", 0, 7200},
			{"[203.0.113.1]:5060", "yellow", 11, 600}, {"[203.0.113.9]:5060", "hub", 22, 0}}},
		{"our credit limit caps everything", nil, 0, 900, []want{
			{"[192.0.2.1]:5060", "", 0, 900}, {"[192.0.2.2]:5060", "", 0, 900},
			{"[203.0.113.1]:5060", "yellow", 11, 600}, {"[203.0.113.9]:5060", "hub", 22, 900}}},
		{"policy puts peers first; duplicate address keeps the first", peersFirst, 0, 0, []want{
			{"[203.0.113.1]:5060", "yellow", 11, 600}, {"[192.0.2.2]:5060", "yellow", 11, 60},
			{"[203.0.113.9]:5060", "hub", 22, 0}, {"[192.0.2.1]:5060", "", 0, 0}}},
		{"max", peersFirst, 2, 3600, []want{
			{"[203.0.113.1]:5060", "yellow", 11, 600}, {"[192.0.2.2]:5060", "yellow", 11, 60}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Merge(local, []*ForwardResult{yellow, nil, hub}, tc.policy, tc.max, tc.ours)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d candidates: %+v", len(got), got)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Destination.SignalAddress != w.addr || g.Peer != w.peer || g.UpstreamTransactionID != w.tx || g.Destination.TimeLimit() != w.limit {
					t.Fatalf("%d: got %s %q %d limit %d, want %+v", i, g.Destination.SignalAddress, g.Peer, g.UpstreamTransactionID, g.Destination.TimeLimit(), w)
				}
				if string(g.Destination.Token) != "tok-"+w.addr {
					t.Fatalf("%d: token changed", i)
				}
			}
		})
	}
	// Inputs untouched.
	if local[1].TimeLimit() != 7200 || yellow.Destinations[0].TimeLimit() != 600 {
		t.Fatal("Merge modified its input")
	}
}

func TestChainLimit(t *testing.T) {
	for _, c := range [][3]int{{0, 0, 0}, {0, 60, 60}, {60, 0, 60}, {30, 60, 30}, {90, 60, 60}, {-1, 5, 5}} {
		if got := ChainLimit(c[0], c[1]); got != c[2] {
			t.Errorf("ChainLimit(%d, %d) = %d, want %d", c[0], c[1], got, c[2])
		}
	}
}

func TestUpstreamOfAnswer(t *testing.T) {
	y := &ForwardResult{Peer: "yellow", TransactionID: 11, Destinations: []osp.Destination{dest("[203.0.113.1]:5060", 0), dest("[203.0.113.2]:5060", 0)}}
	h := &ForwardResult{Peer: "hub", TransactionID: 22, Destinations: []osp.Destination{dest("[203.0.113.9]:5060", 0)}}
	local := []osp.Destination{dest("[192.0.2.1]:5060", 0)}
	cases := []struct {
		name  string
		local []osp.Destination
		up    []*ForwardResult
		peer  string
		tx    uint64
		ok    bool
	}{
		{"empty", nil, nil, "", 0, false},
		{"local only", local, nil, "", 0, false},
		{"one peer", nil, []*ForwardResult{y}, "yellow", 11, true},
		{"two peers", nil, []*ForwardResult{y, h}, "", 0, false},
		{"local and peer", local, []*ForwardResult{y}, "", 0, false},
	}
	for _, tc := range cases {
		peer, tx, ok := Upstream(Merge(tc.local, tc.up, nil, 0, 0))
		if peer != tc.peer || tx != tc.tx || ok != tc.ok {
			t.Errorf("%s: got %q %d %v", tc.name, peer, tx, ok)
		}
	}
}
