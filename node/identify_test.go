package node

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

// syncBuffer is a log sink for tests.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestIdentityCannotBeClaimed: a certificate or a source address identifies
// a member; DeviceId/CustomerId only break a tie between members matched by
// address, and identify a member from any address only when it opted in
// (IdentifyByIDs), which the node logs at start. The demo member opts in,
// so the toolkit's test client (1000/1000) keeps working.
func TestIdentityCannotBeClaimed(t *testing.T) {
	logs := &syncBuffer{}
	cfg := testConfig(t, "n1")
	cfg.Bootstrap, cfg.Demo = true, true
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	n := openNode(t, cfg)
	if !strings.Contains(logs.String(), "self-declared DeviceId/CustomerId") || !strings.Contains(logs.String(), "carrier-a") {
		t.Fatalf("no start-up warning naming the demo member:\n%s", logs.String())
	}
	if got := n.ClaimableMembers(); len(got) != 1 || got[0] != DemoCarrierA {
		t.Fatalf("ClaimableMembers = %v", got)
	}
	mustPropose(t, n,
		ledger.PutMember{Member: ledger.Member{ID: "ids-only", Status: ledger.MemberActive, SellDeckID: "sell-carrier-a",
			Credentials: ledger.Credentials{DeviceIDs: []string{"2000"}, CustomerIDs: []string{"2001"}}}},
		ledger.PutMember{Member: ledger.Member{ID: "opted-in", Status: ledger.MemberActive, SellDeckID: "sell-carrier-a",
			Credentials: ledger.Credentials{DeviceIDs: []string{"3000"}, IdentifyByIDs: true}}},
		ledger.PutMember{Member: ledger.Member{ID: "shared-a", Status: ledger.MemberActive, SellDeckID: "sell-carrier-a",
			Credentials: ledger.Credentials{SourceAddrs: []string{"127.0.0.5"}, DeviceIDs: []string{"5a"}}}},
		ledger.PutMember{Member: ledger.Member{ID: "shared-b", Status: ledger.MemberActive, SellDeckID: "sell-carrier-a",
			Credentials: ledger.Credentials{SourceAddrs: []string{"127.0.0.5"}, CustomerIDs: []string{"5b"}}}},
	)
	v, err := n.state.get()
	if err != nil {
		t.Fatal(err)
	}
	stranger := netip.MustParseAddr("192.0.2.9")
	for _, tc := range []struct {
		name             string
		from             netip.Addr
		device, customer string
		want             string // "" = nobody
	}{
		{"ids of a member without the opt-in, from elsewhere", stranger, "2000", "2001", ""},
		{"ids of an opted-in member, from elsewhere", stranger, "3000", "", "opted-in"},
		{"the toolkit's default ids (demo member opted in)", stranger, "1000", "1000", DemoCarrierA},
		{"nothing, from elsewhere", stranger, "", "", ""},
		{"address wins over a claimed id", netip.MustParseAddr("127.0.0.1"), "3000", "", DemoCarrierA},
		{"shared address, DeviceId breaks the tie", netip.MustParseAddr("127.0.0.5"), "5a", "", "shared-a"},
		{"shared address, CustomerId breaks the tie", netip.MustParseAddr("127.0.0.5"), "", "5b", "shared-b"},
		{"shared address, no id: ambiguous", netip.MustParseAddr("127.0.0.5"), "", "", ""},
		{"shared address, an id of another member does not move it", netip.MustParseAddr("127.0.0.5"), "3000", "", ""},
	} {
		got := ""
		if m := v.identify(caller{addr: tc.from}, tc.device, tc.customer, ""); m != nil {
			got = m.ID
		}
		if got != tc.want {
			t.Errorf("%s: identified %q, want %q", tc.name, got, tc.want)
		}
	}
	// The cheap refusal is on unless some member opted in.
	if (&view{claimable: map[string]bool{}}).mayBeMember(caller{addr: stranger}) {
		t.Error("a stranger may be a member though no member accepts self-declared ids")
	}
	if !v.mayBeMember(caller{addr: stranger}) {
		t.Error("a stranger refused early though opted-in members exist")
	}
	// Over HTTP from 127.0.0.1 the demo toolkit client authorises.
	ar := authResponse(t, exchange(t, client("127.0.0.1"), n.OSPURL(), authRequest("id-1", "id-call-1", called, 5)))
	if ar.Status.Code != osp.StatusOK {
		t.Fatalf("demo authorisation: %+v", ar.Status)
	}
	ar = authResponse(t, exchange(t, client("127.0.0.5"), n.OSPURL(), authRequest("id-2", "id-call-2", called, 5)))
	if ar.Status.Code != osp.StatusUnauthorized {
		t.Fatalf("ambiguous source without ids: %+v, want 401", ar.Status)
	}
}
