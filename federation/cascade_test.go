package federation

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// newTestLedger opens a real ledger with network PURPLE, member a and peer
// yellow at url, and records n forwarded calls with their source usage, so
// that n outbox items are pending for yellow. It returns the ledger and
// the upstream TransactionIds.
func newTestLedger(t *testing.T, url string, n int) (*testLedger, []uint64) {
	t.Helper()
	s, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l := &testLedger{store: s}
	must := func(cmd ledger.Command) *ledger.Result {
		t.Helper()
		r, err := l.apply(cmd)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Err(); err != nil {
			t.Fatalf("%T: %v", cmd, err)
		}
		return r
	}
	must(ledger.SetNetwork{Network: ledger.Network{ID: "purple", Currency: "USD"}})
	must(ledger.PutMember{Member: ledger.Member{ID: "a"}})
	must(ledger.PutPeer{Peer: ledger.Peer{ID: "yellow", Status: ledger.PeerActive, ServicePoints: []ledger.ServicePoint{{URL: url}}, OurMemberID: "purple"}})
	var ups []uint64
	for i := range n {
		up := uint64(9000 + i)
		tx := must(ledger.Authorize{At: t0, SourceMember: "a", MessageID: fmt.Sprint(i), CallID: fmt.Sprintf("call-%d", i),
			Calling: "14045550100", Called: "441632960000", UpstreamPeer: "yellow", UpstreamTransactionID: up,
			Destinations: []ledger.Destination{{Kind: ledger.DestPeer, ID: "yellow", PeerTransactionID: up}}}).TransactionID
		r := must(ledger.RecordUsage{At: t0.Add(time.Hour), TransactionID: tx, Role: ledger.RoleSource, ComponentID: "1",
			Reporter: ledger.MemberAccount("a"), Calling: "14045550100", Called: "441632960000", CallID: fmt.Sprintf("call-%d", i),
			Start: t0, Connect: t0.Add(2 * time.Second), End: t0.Add(62 * time.Second), DurationMillis: 60250, TerminationCause: 16})
		if r.OutboxID == 0 {
			t.Fatalf("usage %d enqueued nothing", i)
		}
		ups = append(ups, up)
	}
	return l, ups
}

func newTestCascader(t *testing.T, l *testLedger, reg *Registry, leader Leadership) *Cascader {
	t.Helper()
	c, err := NewCascader(CascaderConfig{
		Outbox: l, Proposer: l, Leader: leader, Peers: reg,
		Concurrency: 2, MaxComponents: 3, Interval: 20 * time.Millisecond,
		Budget: 2 * time.Second, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func registryFor(t *testing.T, l *testLedger) *Registry {
	t.Helper()
	reg := NewRegistry(LedgerOptions{NetworkID: "purple", SourceAddress: "[198.51.100.1]:5060"}, PeerOptions{
		// Keep the single point usable through the injected failures.
		Breaker: BreakerConfig{Failures: 1000},
	})
	peers, err := l.store.Peers()
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Sync(peers); err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestCascaderDeliversAndAcksOnce: the upstream fails the first attempts
// (HTTP 500, then OSP 503); every item is delivered, confirmed and acked
// exactly once, and the outbox ends empty.
func TestCascaderDeliversAndAcksOnce(t *testing.T) {
	yellow := newNetwork(t, "yellow")
	yellow.failUsageHTTP.Store(2)
	yellow.fail503.Store(2)
	l, ups := newTestLedger(t, yellow.url(), 7)
	reg := registryFor(t, l)
	leader := &leaderFlag{}
	leader.v.Store(true)
	c := newTestCascader(t, l, reg, leader)
	c.Start(context.Background())
	defer c.Stop()
	c.Kick()
	waitFor(t, "outbox drained", 10*time.Second, func() bool {
		items, _ := l.store.PendingOutbox("", 0)
		return len(items) == 0 && c.Metrics().Acked == 7
	})
	c.Stop()

	m := c.Metrics()
	if m.Failed == 0 || m.Sent <= 7 {
		t.Fatalf("metrics %+v: the injected failures should show", m)
	}
	// Each item acked exactly once.
	l.mu.Lock()
	seen := map[uint64]int{}
	for _, ids := range l.acks {
		for _, id := range ids {
			seen[id]++
		}
	}
	l.mu.Unlock()
	if len(seen) != 7 {
		t.Fatalf("acked %d items, want 7: %v", len(seen), seen)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("item %d acked %d times", id, n)
		}
	}
	// The upstream got each usage under ITS TransactionId, role source.
	yellow.mu.Lock()
	got := append([]uint64(nil), yellow.usageTx...)
	keys := len(yellow.usage)
	yellow.mu.Unlock()
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	if fmt.Sprint(got) != fmt.Sprint(ups) || keys != 7 {
		t.Fatalf("upstream recorded %v (%d keys), want %v", got, keys, ups)
	}
	if len(c.Failing()) != 0 {
		t.Fatalf("failing after drain: %+v", c.Failing())
	}
}

// TestCascaderUsageFields checks the UsageIndication an item becomes.
func TestCascaderUsageFields(t *testing.T) {
	l, _ := newTestLedger(t, "http://127.0.0.1:1/osp", 1)
	items, err := l.store.PendingOutbox("yellow", 0)
	if err != nil || len(items) != 1 {
		t.Fatal(items, err)
	}
	ui := UsageIndicationFor(items[0], Identity{DeviceID: "purple", CustomerID: "purple", SourceAddress: "[198.51.100.1]:5060", NetworkID: "purple"})
	ud := ui.UsageDetail
	if ui.TransactionID != 9000 || ui.Role != "source" || string(ui.CallID) != "call-0" || ui.Calling() != "14045550100" ||
		ui.Called() != "441632960000" || ui.DeviceID != "purple" || ui.SourceDevice() != "[198.51.100.1]:5060" || ui.SourceNetworkID() != "purple" {
		t.Fatalf("indication %+v", ui)
	}
	if ud.Amount != "60.250" || ud.Unit != "s" || ud.Increment != 1 || !ud.ConnectTime.Equal(t0.Add(2*time.Second)) ||
		!ud.EndTime.Equal(t0.Add(62*time.Second)) || len(ud.TerminationCause) != 1 || ud.TerminationCause[0].Code != 16 {
		t.Fatalf("usage detail %+v", ud)
	}
}

// TestCascaderDuplicateHarmless: a leader that delivered but lost its
// leadership before the ack applied leaves the items pending; the next
// leader delivers them again, the upstream answers 2xx to the duplicate,
// and the items are acked.
func TestCascaderDuplicateHarmless(t *testing.T) {
	yellow := newNetwork(t, "yellow")
	l, _ := newTestLedger(t, yellow.url(), 3)
	reg := registryFor(t, l)
	leader := &leaderFlag{}
	leader.v.Store(true)

	first := newTestCascader(t, l, reg, leader)
	l.failAcks.Store(1)
	if _, err := first.DrainOnce(context.Background()); err == nil {
		t.Fatal("the ack proposal should have failed")
	}
	if items, _ := l.store.PendingOutbox("", 0); len(items) != 3 {
		t.Fatalf("pending %d after a failed ack", len(items))
	}
	// The same leader re-proposes the ack without sending again.
	sent := first.Metrics().Sent
	if _, err := first.DrainOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if first.Metrics().Sent != sent {
		t.Fatal("confirmed items were sent again")
	}
	if items, _ := l.store.PendingOutbox("", 0); len(items) != 0 {
		t.Fatalf("pending %d after the ack", len(items))
	}

	// Now a leader change between delivery and ack: the items stay, a new
	// leader redelivers, the upstream sees duplicates and confirms them.
	l2, _ := newTestLedger(t, yellow.url(), 3)
	reg2 := registryFor(t, l2)
	old := newTestCascader(t, l2, reg2, leader)
	l2.failAcks.Store(1)
	_, _ = old.DrainOnce(context.Background())
	next := newTestCascader(t, l2, reg2, leader)
	if _, err := next.DrainOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if items, _ := l2.store.PendingOutbox("", 0); len(items) != 0 {
		t.Fatalf("pending %d after the new leader's pass", len(items))
	}
	yellow.mu.Lock()
	dups := 0
	for _, n := range yellow.usage {
		if n > 1 {
			dups++
		}
	}
	yellow.mu.Unlock()
	if dups != 3 {
		t.Fatalf("%d duplicate deliveries, want 3 (every item redelivered)", dups)
	}
}

// TestCascaderOnlyLeaderDrains: a follower sends nothing; on becoming
// leader it drains.
func TestCascaderOnlyLeaderDrains(t *testing.T) {
	yellow := newNetwork(t, "yellow")
	l, _ := newTestLedger(t, yellow.url(), 2)
	reg := registryFor(t, l)
	leader := &leaderFlag{}
	c := newTestCascader(t, l, reg, leader)
	c.Start(context.Background())
	defer c.Stop()
	waitFor(t, "a few follower wake-ups", 5*time.Second, func() bool {
		c.Kick()
		return c.Metrics().Skipped >= 3
	})
	if c.Metrics().Sent != 0 || c.Metrics().Passes != 0 || yellow.requests.Load() != 0 {
		t.Fatalf("follower drained: %+v", c.Metrics())
	}
	leader.v.Store(true)
	c.Kick()
	waitFor(t, "leader drains", 10*time.Second, func() bool { return c.Metrics().Acked == 2 })
}

// TestCascaderBatchesAndBackoff: more items than a batch are drained over
// several passes; an upstream that refuses usage leaves items pending with
// their error for operators, and no pass spins on them.
func TestCascaderBatchesAndBackoff(t *testing.T) {
	yellow := newNetwork(t, "yellow")
	l, _ := newTestLedger(t, yellow.url(), 5)
	reg := registryFor(t, l)
	leader := &leaderFlag{}
	leader.v.Store(true)
	c, err := NewCascader(CascaderConfig{Outbox: l, Proposer: l, Leader: leader, Peers: reg,
		BatchSize: 2, MaxComponents: 1, MinBackoff: time.Hour, MaxBackoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for pass := 1; ; pass++ {
		more, err := c.DrainOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			break
		}
		if pass > 5 {
			t.Fatal("too many passes")
		}
	}
	if items, _ := l.store.PendingOutbox("", 0); len(items) != 0 || c.Metrics().Acked != 5 {
		t.Fatalf("pending %d, metrics %+v", len(items), c.Metrics())
	}

	// Refused usage: every item fails, backs off an hour, stays pending.
	l2, _ := newTestLedger(t, yellow.url(), 3)
	yellow.fail503.Store(1 << 20)
	c2, err := NewCascader(CascaderConfig{Outbox: l2, Proposer: l2, Leader: leader, Peers: registryFor(t, l2),
		BatchSize: 2, MinBackoff: time.Hour, MaxBackoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	more, err := c2.DrainOnce(context.Background())
	if err != nil || !more {
		t.Fatalf("first pass: more %v err %v", more, err)
	}
	if more, _ = c2.DrainOnce(context.Background()); more {
		t.Fatal("a full batch of items in backoff asks for another pass at once")
	}
	f := c2.Failing()
	if len(f) != 2 || f[0].Attempts != 1 || f[0].Peer != "yellow" || f[0].NextAttempt.IsZero() ||
		!strings.Contains(f[0].LastError, "503") {
		t.Fatalf("failing %+v", f)
	}
	if m := c2.Metrics(); m.Pending != 2 || m.Acked != 0 || m.Failed != 2 {
		t.Fatalf("metrics %+v", m)
	}
}
