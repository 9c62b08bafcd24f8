package testnet

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

var lifecycleSeed = flag.Uint64("lifecycle.seed", 0, "seed of TestUsageLifecycleRandomized (0: from the clock)")

// lifeEvent is one usage report a proxy sends for a call.
type lifeEvent struct {
	role  string // osp.RoleSource or osp.RoleDestination
	kind  string // setup, interim, final
	ms    int64  // reported duration (final, interim)
	msgID string // the toolkit's ids: shared by a role's setup and final
}

// TestUsageLifecycleRandomized drives random interleavings of the usage
// reports real proxies send (setup, interim, final, retries, and finals
// that contradict the first) from both roles of many calls, to random nodes
// of a 3-node network whose leader is killed and restarted midway, retrying
// elsewhere as the toolkit does when a node does not answer. Then, on
// every node: for each transaction and role at most one record is paid, for
// at most the authorised time; every role that had a final confirmed has
// its paid final (none lost); the books balance, the audit passes and the
// digests converge. The seed is printed; rerun with -lifecycle.seed.
func TestUsageLifecycleRandomized(t *testing.T) {
	seed := *lifecycleSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -lifecycle.seed %d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1|1))
	ctx := ctxFor(t, 150*time.Second)
	nw := NewTestNetwork(t, NetworkSpec{Name: "LIFE", Nodes: 3}, testOpts())
	a, b := CarrierAParty(), Party{Bind: CarrierBSource}
	// Half the runs settle both sides on one duration (a shared billing
	// basis), where a final can be refused Stale and re-rated, and the
	// first side's record is adjusted when the second arrives.
	basis := []ledger.BillingBasis{ledger.BasisOwn, ledger.BasisShorter, ledger.BasisSource, ledger.BasisDestination}[rng.IntN(4)]
	t.Logf("billing basis %s", basis)
	netCfg, err := nw.Node(0).Store().Network()
	if err != nil {
		t.Fatal(err)
	}
	netCfg.BillingBasis = basis
	if res, err := nw.Propose(ctx, ledger.SetNetwork{Network: netCfg}); err != nil || res.Err() != nil {
		t.Fatalf("set billing basis: %v %v", err, res)
	}

	calls := 40
	if testing.Short() {
		calls = 12
	}
	type call struct {
		tx     uint64
		callID string
		called string
		limit  int
	}
	var cs []call
	var events []struct {
		c int
		e lifeEvent
	}
	for i := range calls {
		called := []string{"33", "44", "49"}[i%3] + fmt.Sprintf("%09d", rng.IntN(1e9))
		ar, err := Authorize(ctx, nw.OSPURLs()[rng.IntN(3)], a, "14048724799", called)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, call{tx: ar.TransactionID, callID: string(ar.Destinations[0].CallID), called: called, limit: ar.Destinations[0].TimeLimit()})
		for _, role := range []string{osp.RoleSource, osp.RoleDestination} {
			id := strconv.FormatUint(ar.TransactionID, 10) + role[:1]
			dur := int64(1000 + rng.IntN(600_000))
			var evs []lifeEvent
			if rng.IntN(4) != 0 {
				evs = append(evs, lifeEvent{role, "setup", 0, id})
			}
			if rng.IntN(4) == 0 {
				evs = append(evs, lifeEvent{role, "interim", dur / 2, id})
			}
			if rng.IntN(8) != 0 { // sometimes no final at all
				evs = append(evs, lifeEvent{role, "final", dur, id})
				if rng.IntN(3) == 0 { // a contradicting final (a replay for more)
					evs = append(evs, lifeEvent{role, "final", int64(cs[i].limit) * 1000 * 2, id + "x"})
				}
			}
			for _, e := range evs {
				events = append(events, struct {
					c int
					e lifeEvent
				}{i, e})
				if rng.IntN(3) == 0 { // a retry of the same bytes
					events = append(events, struct {
						c int
						e lifeEvent
					}{i, e})
				}
			}
		}
	}
	rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })

	confirmedFinal := map[string]bool{} // tx/role → a final was confirmed
	killAt, restartAt := len(events)/3, 2*len(events)/3
	killed := -1
	for i, ev := range events {
		switch i {
		case killAt:
			killed = nw.LeaderIndex()
			if err := nw.Kill(killed); err != nil {
				t.Fatal(err)
			}
		case restartAt:
			if err := nw.Restart(ctx, killed); err != nil {
				t.Fatal(err)
			}
		}
		c := cs[ev.c]
		from := a
		if ev.e.role == osp.RoleDestination {
			from = b
		}
		m := lifecycleUsage(c.tx, c.callID, c.called, ev.e)
		if err := sendUntilConfirmed(ctx, nw, rng, from, m); err != nil {
			t.Fatalf("call %d %s %s: %v", ev.c, ev.e.role, ev.e.kind, err)
		}
		if ev.e.kind == "final" {
			confirmedFinal[fmt.Sprintf("%d/%s", c.tx, ev.e.role)] = true
		}
	}

	if _, err := nw.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	if err := nw.AssertBooksBalance(); err != nil {
		t.Fatal(err)
	}
	for _, n := range nw.Nodes() {
		rep, err := n.Store().Audit()
		if err != nil || !rep.OK {
			t.Fatalf("%s: audit %+v: %v", n.ID(), rep, err)
		}
		us, err := n.Store().ListUsage(ledger.UsageFilter{Limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		paid := map[string]int{}
		for _, u := range us {
			if u.Unmatched {
				t.Fatalf("%s: usage %d of transaction %d unmatched: %s", n.ID(), u.ID, u.TransactionID, u.Mismatch)
			}
			if u.Phase != ledger.PhaseFinal || u.Conflict {
				if u.PostingID != 0 {
					t.Fatalf("%s: usage %d (%s, conflict %v) posted", n.ID(), u.ID, u.Phase, u.Conflict)
				}
				continue
			}
			k := fmt.Sprintf("%d/%s", u.TransactionID, u.Role)
			paid[k]++
			var limit int
			for _, c := range cs {
				if c.tx == u.TransactionID {
					limit = c.limit
				}
			}
			if u.Rating == nil || u.Rating.BillableSeconds > int64(limit) {
				t.Fatalf("%s: usage %d paid %+v for a call authorised %d s", n.ID(), u.ID, u.Rating, limit)
			}
		}
		for k, p := range paid {
			if p != 1 {
				t.Fatalf("%s: transaction/role %s paid %d times", n.ID(), k, p)
			}
		}
		for k := range confirmedFinal {
			if paid[k] != 1 {
				for _, u := range us {
					if fmt.Sprintf("%d/%s", u.TransactionID, u.Role) == k {
						t.Logf("%+v", u)
					}
				}
				t.Logf("%d records in all; confirmed %d finals; paid %d", len(us), len(confirmedFinal), len(paid))
				t.Fatalf("%s: transaction/role %s: a final was confirmed but none is paid", n.ID(), k)
			}
		}
	}
}

// lifecycleUsage is the UsageIndication a proxy sends for event e of the
// call (tx, callID, called), shaped as Kamailio's records are.
func lifecycleUsage(tx uint64, callID, called string, e lifeEvent) *osp.Message {
	connect := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(tx%3600) * time.Second)
	ud := &osp.UsageDetail{Amount: "0.000", Increment: 1, Unit: osp.UnitSeconds, StartTime: connect, ConnectTime: connect,
		TerminationCause: []osp.TerminationCause{{Type: "q850", Code: 200}}}
	var ri *osp.RoleInfo
	switch e.kind {
	case "interim":
		ri = &osp.RoleInfo{State: "interim"}
		ud.Amount = fmt.Sprintf("%d.%03d", e.ms/1000, e.ms%1000)
	case "final":
		ud.Amount = fmt.Sprintf("%d.%03d", e.ms/1000, e.ms%1000)
		ud.ConnectTime = time.Time{}
		ud.EndTime = connect.Add(time.Duration(e.ms) * time.Millisecond).Truncate(time.Second)
		ud.TerminationCause = []osp.TerminationCause{{Type: "q850", Code: 10016}}
	}
	return &osp.Message{MessageID: e.msgID, Random: "1", Components: []osp.Component{{ID: e.msgID + "0",
		UsageIndication: &osp.UsageIndication{
			Timestamp: time.Now().UTC().Truncate(time.Second), Role: e.role, RoleInfo: ri, TransactionID: tx, CallID: osp.Binary(callID),
			CallInfo: osp.CallInfo{
				SourceInfo:      osp.TypedValues{{Type: osp.TypeE164, Value: "14048724799"}},
				DestinationInfo: osp.TypedValues{{Type: osp.TypeE164, Value: called}},
				CustomerID:      map[bool]string{true: CarrierADevice}[e.role == osp.RoleSource],
				DeviceID:        map[bool]string{true: CarrierADevice}[e.role == osp.RoleSource],
			},
			UsageDetail: ud,
		}}}}
}

// sendUntilConfirmed sends m from src to random running nodes until one
// confirms it (2xx), as a toolkit retries the same bytes on its service
// points; a 4xx answer is an error.
func sendUntilConfirmed(ctx context.Context, nw *Network, rng *rand.Rand, src Party, m *osp.Message) error {
	var last error
	for ctx.Err() == nil {
		urls := nw.OSPURLs()
		c, done, err := partyClient(urls[rng.IntN(len(urls))], src)
		if err != nil {
			return err
		}
		resp, err := c.Do(ctx, m)
		done()
		if err == nil && len(resp.Components) == 1 && resp.Components[0].UsageConfirmation != nil {
			code := resp.Components[0].UsageConfirmation.Status.Code
			if code/100 == 2 {
				return nil
			}
			if code/100 == 4 {
				return fmt.Errorf("refused %d: %s", code, resp.Components[0].UsageConfirmation.Status.Description)
			}
			err = fmt.Errorf("status %d", code)
		}
		last = err
	}
	return fmt.Errorf("not confirmed before the deadline: %v", last)
}
