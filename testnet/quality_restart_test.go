package testnet

import (
	"reflect"
	"testing"
	"time"

	"github.com/ospnode/ospnode/node"
)

// TestQualityDemotionSurvivesRestart: on a 3-node network where trunk b-1
// degrades and is demoted, a follower restarted from its data directory
// holds the same quality windows as the nodes that kept running as soon
// as it opens (rebuilt from its ledger, before any new call), so b-1 is
// demoted there too: the calls sent to it alone offer b-1 first only in
// the probe share, as the others do, instead of routing to it as if it
// were healthy until 20 new attempts judged it again.
func TestQualityDemotionSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-node scenario")
	}
	ctx := ctxFor(t, 5*time.Minute)
	nw := startQualityNetwork(t, ctx)
	bad, good := degradedCarrier, healthyCarrier
	run := func(urls []string, calls int, seed uint64) *LoadResult {
		t.Helper()
		o := nw.LoadOptions(LoadOptions{URLs: urls, Calls: calls, Concurrency: 8, Seed: seed, CalledCountries: []string{"44"},
			Durations: DurationDist{Mean: 40 * time.Second}, Timeout: 20 * time.Second,
			Carriers: map[string]CarrierProfile{"127.0.0.3": bad, "[127.0.0.4]": good}})
		res, err := RunLoad(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if res.CallErrors > uint64(calls/10) {
			t.Fatalf("%d call errors of %d: %+v", res.CallErrors, calls, res.Types)
		}
		return res
	}
	series := func(n *node.Node) []qualityRow {
		rep, err := n.QualityStats("series")
		if err != nil {
			t.Fatal(err)
		}
		return lastWindows(rep)
	}
	demoted := func(rows []qualityRow) bool {
		for _, r := range rows {
			if r.group == "trunk:b-1 44" {
				return r.demoted > 0
			}
		}
		return false
	}

	run(nil, 80, 1)
	if _, err := nw.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	before := series(nw.Leader())
	if !demoted(before) {
		t.Fatalf("b-1 at 10%% ASR is not demoted: %+v", before)
	}
	fi := (nw.LeaderIndex() + 1) % nw.Size()
	if err := nw.Kill(fi); err != nil {
		t.Fatal(err)
	}
	if err := nw.Restart(ctx, fi); err != nil {
		t.Fatal(err)
	}
	restarted := nw.Node(fi)
	if after := series(restarted); !reflect.DeepEqual(after, before) {
		t.Fatalf("the restarted node's windows:\n%+v\nthe leader's:\n%+v", after, before)
	}
	for !restarted.CaughtUp() {
		if err := pause(ctx, 10*time.Millisecond); err != nil {
			t.Fatalf("the restarted node did not catch up: %v", err)
		}
	}
	res := run([]string{restarted.OSPURL()}, 50, 2)
	var b1 uint64
	for _, d := range res.Destinations {
		if d.Address == "127.0.0.3" {
			b1 = d.Offered
		}
	}
	if b1 > 25 { // the probe share: ~10 of 50; healthy, it would be first in all 50
		t.Fatalf("the restarted node offered the demoted b-1 first %d times in 50 calls, want about 10 (the probe share)", b1)
	}
}
