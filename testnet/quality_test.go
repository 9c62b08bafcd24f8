package testnet

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node"
)

// qualitySpec is the default network with route 44 served by two trunks
// of carrier B: b-1 at 127.0.0.3 (preferred: priority 0) and b-2 at
// 127.0.0.4, under a quality policy (demote below 40 % ASR over at least
// 20 attempts, recover at 60 %, 20 % of the calls probe a demoted trunk).
func qualitySpec(nodes int) NetworkSpec {
	members, trunks, routes, decks := DefaultSeed("USD")
	trunks = append(trunks, ledger.Trunk{ID: "b-2", MemberID: CarrierB, Address: "[127.0.0.4]:5060", Protocol: "udp", Weight: 1})
	for i := range routes {
		if routes[i].Prefix == "44" {
			routes[i].Candidates = []ledger.RouteCandidate{
				{Kind: ledger.CandidateTrunk, ID: "b-1", Weight: 1},
				{Kind: ledger.CandidateTrunk, ID: "b-2", Priority: 1, Weight: 1},
			}
			routes[i].Quality = &ledger.RouteQuality{MinSamples: 20, MinASRBps: 4000, RecoverASRBps: 6000, ProbeBps: 2000}
		}
	}
	return NetworkSpec{Nodes: nodes, Members: members, Trunks: trunks, Routes: routes, Decks: decks}
}

// The simulated carriers of the quality scenarios: one answering 10 % of
// its calls slowly, one answering 90 %.
var (
	degradedCarrier = CarrierProfile{AnswerRatio: 0.1, PDD: 4 * time.Second, PDDSpread: time.Second,
		Failures: []FailureCause{{SIP: 503, Weight: 3}, {SIP: 486, Weight: 1}}}
	healthyCarrier = CarrierProfile{AnswerRatio: 0.9, PDD: 2 * time.Second, PDDSpread: time.Second,
		Failures: []FailureCause{{SIP: 486, Weight: 1}}}
)

// startQualityNetwork starts the 3-node network of the quality scenarios
// on disk, judging each route over its last 40 attempts.
func startQualityNetwork(t *testing.T, ctx context.Context) *Network {
	t.Helper()
	opts := testOpts()
	opts.Dir = t.TempDir()
	opts.Configure = func(c *node.Config) { c.Quality.Window = 40 }
	nw, err := StartNetwork(ctx, qualitySpec(3), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nw.Close() })
	return nw
}

// TestQualityShiftsTrafficAndBack is issue 17's scenario on a 3-node
// network, driven by the load generator's simulated carriers: trunk b-1
// answers 10 % of its calls and loses its traffic to b-2 (which answers
// 90 %); once b-1 answers again the probe share brings its ASR back over
// the recovery threshold and it gets its traffic back. Every node holds
// the same quality windows (they come from the replicated usage).
func TestQualityShiftsTrafficAndBack(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-node scenario")
	}
	ctx := ctxFor(t, 5*time.Minute)
	nw := startQualityNetwork(t, ctx)
	bad, good := degradedCarrier, healthyCarrier
	var seed uint64
	run := func(calls int, b1 CarrierProfile) *LoadResult {
		t.Helper()
		seed++
		o := nw.LoadOptions(LoadOptions{Calls: calls, Concurrency: 8, Seed: seed, CalledCountries: []string{"44"},
			Durations: DurationDist{Mean: 40 * time.Second}, Timeout: 20 * time.Second,
			Carriers: map[string]CarrierProfile{"127.0.0.3": b1, "[127.0.0.4]": good}})
		res, err := RunLoad(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		// A busy machine (this is 3 nodes on loopback, maybe under -race)
		// can answer a usage 503 while a follower catches up: a few such
		// calls only blur the counts.
		if res.CallErrors > uint64(calls/10) {
			t.Fatalf("%d call errors of %d: %+v", res.CallErrors, calls, res.Types)
		}
		return res
	}
	offered := func(res *LoadResult) (b1, b2 uint64) {
		for _, d := range res.Destinations {
			switch d.Address {
			case "127.0.0.3":
				b1 = d.Offered
			case "127.0.0.4":
				b2 = d.Offered
			}
		}
		return b1, b2
	}
	b1Demoted := func() bool {
		rep, err := nw.Leader().QualityStats("trunk")
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range rep.Groups {
			if g.Group == "b-1" {
				return g.Demoted > 0
			}
		}
		return false
	}

	// b-1 degrades: after its first 20 attempts it is demoted, and gets
	// only the probe share (20 %) of the calls first.
	res := run(200, bad)
	b1, b2 := offered(res)
	t.Logf("b-1 at 10%% ASR: first offers b-1 %d, b-2 %d of %d", b1, b2, res.Calls)
	if !b1Demoted() {
		t.Fatal("b-1 at 10% ASR is not demoted")
	}
	if b1 > 90 || b2 < 110 { // ~20 + 20% of 180 = 56 expected
		t.Fatalf("b-1 kept %d of 200 first offers (b-2 %d): traffic did not shift", b1, b2)
	}
	res = run(100, bad)
	if b1, _ := offered(res); b1 < 8 || b1 > 35 { // the probe share: 20 of 100
		t.Fatalf("demoted b-1 was offered first %d times in 100 calls, want about 20 (the probe share)", b1)
	}

	// b-1 recovers: its probes succeed, its ASR climbs past 60 % and it is
	// first again.
	recovered := 0
	for round := 1; round <= 20 && recovered == 0; round++ {
		run(100, good)
		if !b1Demoted() {
			recovered = round * 100
		}
	}
	if recovered == 0 {
		t.Fatal("b-1 answering 90% was not restored after 2000 calls")
	}
	res = run(100, good)
	b1, b2 = offered(res)
	t.Logf("b-1 recovered within %d calls; then first offers b-1 %d, b-2 %d of %d", recovered, b1, b2, res.Calls)
	if b1 < 80 {
		t.Fatalf("recovered b-1 got %d of 100 first offers (b-2 %d), want nearly all", b1, b2)
	}

	// Every node holds the same windows.
	if _, err := nw.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	var first []qualityRow
	for i, n := range nw.Nodes() {
		rep, err := n.QualityStats("series")
		if err != nil {
			t.Fatal(err)
		}
		rows := lastWindows(rep)
		if i == 0 {
			first = rows
		} else if !reflect.DeepEqual(rows, first) {
			t.Fatalf("node %d's quality windows differ from node 0's:\n%+v\n%+v", i, rows, first)
		}
	}
}

type qualityRow struct {
	group            string
	demoted          int
	attempts, answer int
}

func lastWindows(rep *node.StatsReport) []qualityRow {
	var out []qualityRow
	for _, g := range rep.Groups {
		out = append(out, qualityRow{g.Group, g.Demoted, g.Last.Attempts, g.Last.Answered})
	}
	return out
}

func TestCarrierProfiles(t *testing.T) {
	for _, bad := range []CarrierProfile{{AnswerRatio: 1.5}, {AnswerRatio: -0.1}, {AnswerRatio: 0.5, PDD: time.Second, PDDSpread: 2 * time.Second},
		{AnswerRatio: 0.5, Failures: []FailureCause{{SIP: 200, Weight: 1}}}, {AnswerRatio: 0.5, Failures: []FailureCause{{SIP: 486}}},
		{AnswerRatio: 0.5, Durations: DurationDist{Kind: "uniform"}}} {
		o := LoadOptions{URLs: []string{"http://127.0.0.1:1/osp"}, Calls: 1, Carriers: map[string]CarrierProfile{"127.0.0.3": bad}}
		if _, err := o.withDefaults(); err == nil {
			t.Errorf("profile %+v accepted", bad)
		}
	}
	// Keys are normalised to the IP: "[ip]:port", "[ip]" and "ip" alike.
	o := LoadOptions{URLs: []string{"http://127.0.0.1:1/osp"}, Calls: 1, Carriers: map[string]CarrierProfile{"[127.0.0.3]:5060": {AnswerRatio: 1}}}
	c, err := o.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Carriers[carrierKey("[127.0.0.3]")]; !ok {
		t.Fatalf("carriers %v not keyed by IP", c.Carriers)
	}
	// Draws are per call, reproducible, and follow the ratios.
	p := CarrierProfile{AnswerRatio: 0.3, PDD: 3 * time.Second, PDDSpread: time.Second, Failures: []FailureCause{{SIP: 486, Weight: 1}, {SIP: 503, Weight: 3}}}
	answered, busy := 0, 0
	for seq := range uint64(2000) {
		a, b := p.draw(7, seq, DurationDist{}), p.draw(7, seq, DurationDist{})
		if a != b {
			t.Fatalf("call %d drew %+v then %+v", seq, a, b)
		}
		if a.pdd < 2*time.Second || a.pdd > 4*time.Second || a.duration < time.Second {
			t.Fatalf("call %d: %+v", seq, a)
		}
		if a.answered {
			answered++
		} else if a.sip == 486 {
			busy++
		}
	}
	if answered < 520 || answered > 680 || busy < 280 || busy > 420 { // 600 and 350 expected
		t.Fatalf("%d answered, %d busy of 2000 at 30%% and 1:3", answered, busy)
	}
}
