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

func TestOffer(t *testing.T) {
	yellow := &ForwardResult{Peer: "yellow", TransactionID: 11, Destinations: []osp.Destination{
		dest("[203.0.113.1]:5060", 600), dest("[192.0.2.2]:5060", 60), dest("[203.0.113.1]:5060", 30), dest("[203.0.113.9]:5060", 0)}}
	type want struct {
		addr  string
		limit int
	}
	cases := []struct {
		name string
		max  int
		ours int
		want []want
	}{
		{"upstream order, no limit of ours; duplicate address keeps the first", 0, 0, []want{
			{"[203.0.113.1]:5060", 600}, {"[192.0.2.2]:5060", 60}, {"[203.0.113.9]:5060", 0}}},
		{"our credit limit caps everything", 0, 90, []want{
			{"[203.0.113.1]:5060", 90}, {"[192.0.2.2]:5060", 60}, {"[203.0.113.9]:5060", 90}}},
		{"max", 2, 3600, []want{{"[203.0.113.1]:5060", 600}, {"[192.0.2.2]:5060", 60}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := yellow.Offer(tc.max, tc.ours)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d destinations: %+v", len(got), got)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.SignalAddress != w.addr || g.TimeLimit() != w.limit {
					t.Fatalf("%d: got %s limit %d, want %+v", i, g.SignalAddress, g.TimeLimit(), w)
				}
				if string(g.Token) != "tok-"+w.addr {
					t.Fatalf("%d: token changed", i)
				}
			}
		})
	}
	// Input untouched.
	if yellow.Destinations[0].TimeLimit() != 600 {
		t.Fatal("Offer modified its input")
	}
	var none *ForwardResult
	if none.Offer(0, 0) != nil {
		t.Fatal("nil result offers something")
	}
}

func TestChainLimit(t *testing.T) {
	for _, c := range [][3]int{{0, 0, 0}, {0, 60, 60}, {60, 0, 60}, {30, 60, 30}, {90, 60, 60}, {-1, 5, 5}} {
		if got := ChainLimit(c[0], c[1]); got != c[2] {
			t.Errorf("ChainLimit(%d, %d) = %d, want %d", c[0], c[1], got, c[2])
		}
	}
}
