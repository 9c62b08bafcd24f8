package node

import (
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

// TestPipelineOrder: the authorisation pipeline plans before it admits,
// so a call that cannot be routed (404) spends no CPS token, like the
// ledger's bucket, which only sees the calls proposed to it; and every
// refusal after admission gives back its concurrent-call slot (the
// reservation's deferred Release), so a member at its limit is not locked
// out by calls that were refused.
func TestPipelineOrder(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	cfg := testConfig(t, "n1")
	cfg.Bootstrap, cfg.Demo, cfg.Clock = true, true, clk.now
	n := openNode(t, cfg)
	ma, err := n.Store().Member(DemoCarrierA)
	if err != nil {
		t.Fatal(err)
	}
	ma.CPSLimit, ma.ConcurrentLimit = 1, 1
	mustPropose(t, n,
		ledger.PutMember{Member: ma},
		// 999: only carrier-a's own trunk, never offered back to it.
		ledger.PutRoutes{Routes: []ledger.Route{{Prefix: "999", Candidates: []ledger.RouteCandidate{
			{Kind: ledger.CandidateTrunk, ID: "a-1", Weight: 1}}}}},
	)
	a := client("127.0.0.1")
	auth := func(msgID, callID, to string) osp.Status {
		t.Helper()
		return authResponse(t, exchange(t, a, n.OSPURL(), authRequest(msgID, callID, to, 5))).Status
	}
	steps := []struct {
		msgID, to string
		want      int
	}{
		{"1", "9991234", osp.StatusNoRoute}, // no usable route: no token spent
		{"2", "9991235", osp.StatusNoRoute},
		{"3", called, osp.StatusOK},               // the second's one token
		{"4", called, osp.StatusCallRateExceeded}, // none left this second
		{"5", "9991236", osp.StatusNoRoute},       // planning refuses before admission
		{"6", called, osp.StatusCallRateExceeded}, // still none
	}
	for _, s := range steps {
		if got := auth(s.msgID, "call-"+s.msgID, s.to); got.Code != s.want {
			t.Fatalf("message %s to %s: %+v, want %d", s.msgID, s.to, got, s.want)
		}
	}
	clk.add(time.Second)
	if got := auth("7", "call-7", called); got.Code != osp.StatusDecline || got.Description != "concurrent call limit reached" {
		t.Fatalf("second call in progress: %+v, want 603 concurrent call limit reached", got)
	}
	n.adm.mu.Lock()
	counted := len(n.adm.calls[DemoCarrierA])
	n.adm.mu.Unlock()
	if counted > 1 {
		t.Fatalf("%d calls counted here after a refusal, want at most the one in progress", counted)
	}
}
