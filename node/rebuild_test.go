package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/settlement/fraud"
	"github.com/ospnode/ospnode/settlement/quality"
)

// proposeHistory writes calls from..to-1 of calls of proxy A through the
// log, call i at start + i × gap: an authorisation and, but for the last
// two (still in progress), the source's record of the attempt a little
// later. Trunk b-1 carries the even calls and fails most of them over the
// last half (a degraded trunk); b-2 answers the odd ones. Called numbers
// spread over five destination prefixes, calling numbers over seven.
func proposeHistory(t *testing.T, n *Node, start time.Time, gap time.Duration, from, to, calls int) {
	t.Helper()
	ctx := context.Background()
	for i := from; i < to; i++ {
		at := start.Add(time.Duration(i) * gap)
		called := fmt.Sprintf("1555%d23456%02d", i%5, i%100)
		callID := fmt.Sprint("hist-", i)
		trunk := []string{"b-1", "b-2"}[i%2]
		res, err := n.Propose(ctx, ledger.Authorize{At: at, SourceMember: DemoCarrierA, MessageID: callID, CallID: callID,
			Calling: fmt.Sprint("1555000000", i%7), Called: called, TimeLimit: 600,
			Destinations: []ledger.Destination{{Kind: ledger.DestTrunk, ID: trunk, Address: "[127.0.0.13]"}}})
		if err != nil || res.Code != ledger.OK {
			t.Fatalf("authorise call %d: %v %+v", i, err, res)
		}
		if i >= calls-2 {
			continue
		}
		u := ledger.RecordUsage{At: at.Add(time.Duration(i%90+5) * time.Second), TransactionID: res.TransactionID, Role: ledger.RoleSource,
			ComponentID: "1", Reporter: ledger.MemberAccount(DemoCarrierA), Calling: fmt.Sprint("1555000000", i%7), Called: called,
			CallID: callID, Matched: true, Quality: &ledger.UsageQuality{Candidate: "trunk:" + trunk, PDDMillis: 2000, LossPPM: -1, JitterMicros: -1}}
		if trunk == "b-1" && (i > calls/2 || i%3 == 0) {
			u.Phase, u.TerminationCause, u.Quality.SIPCode = ledger.PhaseFailed, 503, 503
		} else {
			u.Phase, u.DurationMillis, u.TerminationCause = ledger.PhaseFinal, int64(i%90)*1000, 16
		}
		if res, err := n.Propose(ctx, u); err != nil || res.Code != ledger.OK {
			t.Fatalf("usage of call %d: %v %+v", i, err, res)
		}
	}
}

// derivedState is what a node holds in memory from the log: its route
// quality windows and its fraud detector.
type derivedState struct {
	Quality  []quality.KeyStats
	Keys     []fraud.KeyState
	Calls    []fraud.CallState
	Stats    fraud.Stats
	Learning bool
}

func derived(n *Node, at time.Time) derivedState {
	l, _ := n.fraud.det.Learning()
	return derivedState{Quality: n.quality.tr.Snapshot(at), Keys: n.fraud.det.Keys(), Calls: n.fraud.det.Calls(),
		Stats: n.fraud.det.Stats(), Learning: l}
}

// TestRebuildOnRestart: a node restarted on its data directory holds the
// route-quality windows and the fraud baselines, calls in progress and
// learning state that it held before, rebuilt from its ledger (30 hours
// of history: every record within the rebuild's spans); a degraded trunk
// is demoted again right away. With the fraud rebuild capped below the
// history it still is out of learning (the ledger's history is older
// than the learning period); with it off, the detector relearns.
func TestRebuildOnRestart(t *testing.T) {
	cfg := testConfig(t, "n1")
	// Unsynced: the last case loses ledger.db, as after a crash.
	cfg.Bootstrap, cfg.Demo, cfg.LedgerSync = true, true, LedgerNoFsync
	n := openNode(t, cfg)
	setupKamailio(t, n, ledger.BasisOwn)
	qualityRoute(t, n, &ledger.RouteQuality{MinSamples: 20, MinASRBps: 5000, RecoverASRBps: 6000})
	const calls = 600
	end := time.Now().UTC().Truncate(time.Second)
	start := end.Add(-calls * 3 * time.Minute)
	proposeHistory(t, n, start, 3*time.Minute, 0, 400, calls)
	if err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	proposeHistory(t, n, start, 3*time.Minute, 400, calls, calls) // after the snapshot: only in the log
	idx := n.Store().AppliedIndex()
	at := end.Add(time.Minute)
	before := derived(n, at)
	if before.Learning || len(before.Keys) != 5 || len(before.Calls) != 2 || before.Keys[0].ShortFinals.BaselineMilli == 0 {
		t.Fatalf("before the restart: learning %v, %d keys, %d calls in progress, first key %+v; want 5 keys with baselines, 2 calls, not learning",
			before.Learning, len(before.Keys), len(before.Calls), before.Keys[0])
	}
	if ks := keyStats(t, n, "trunk:b-1", "1555"); !ks.Demoted {
		t.Fatalf("b-1 not demoted before the restart: %+v", ks)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.Bootstrap, cfg.Demo = false, false
	for _, tc := range []struct {
		name         string
		fraudRebuild int
		lostLedger   bool // the snapshot's ledger rebuilt, the log after it replayed
		sameFraud    bool
		learning     bool
	}{
		{name: "default limits", fraudRebuild: 0, sameFraud: true},
		{name: "fraud rebuild capped below the history", fraudRebuild: 100},
		{name: "fraud rebuild off: relearns", fraudRebuild: -1, learning: true},
		{name: "ledger lost: rebuilt after the snapshot restore, continued by the replay", lostLedger: true, sameFraud: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			c.FraudRebuild = tc.fraudRebuild
			if tc.lostLedger {
				// What a crash of an unsynced ledger leaves: the marker.
				if err := os.WriteFile(filepath.Join(c.DataDir, "ledger.db")+ledger.UnsyncedMarkerSuffix, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			n2, err := Open(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			defer n2.Close()
			if tc.lostLedger && n2.Store().Discarded() == "" {
				t.Fatal("the ledger was not discarded")
			}
			waitFor(t, "the log replayed", 30*time.Second, func() bool { return n2.Store().AppliedIndex() >= idx })
			// Before any new traffic: what the rebuild (and the replay
			// of the log above the ledger) made.
			after := derived(n2, at)
			if !reflect.DeepEqual(after.Quality, before.Quality) {
				t.Fatalf("quality windows after the restart:\n%+v\nbefore:\n%+v", after.Quality, before.Quality)
			}
			ex, err := n2.explainRoute("15551234567", DemoCarrierA)
			if err != nil {
				t.Fatal(err)
			}
			if len(ex.Offered) != 2 || ex.Offered[0].ID != "b-2" || ex.Offered[1].ID != "b-1" || ex.Offered[1].Quality == "" {
				t.Fatalf("route lookup right after the restart: %+v; want b-1 demoted behind b-2", ex.Offered)
			}
			if after.Learning != tc.learning {
				t.Fatalf("fraud learning %v after the restart, want %v", after.Learning, tc.learning)
			}
			if tc.sameFraud {
				if !reflect.DeepEqual(after.Keys, before.Keys) {
					t.Fatalf("fraud keys after the restart:\n%+v\nbefore:\n%+v", after.Keys, before.Keys)
				}
				if !reflect.DeepEqual(after.Calls, before.Calls) || after.Stats != before.Stats {
					t.Fatalf("fraud calls/stats after the restart: %+v %+v, before %+v %+v", after.Calls, after.Stats, before.Calls, before.Stats)
				}
			}
			if tc.learning && len(after.Keys) != 0 {
				t.Fatalf("fraud rebuild off: %d keys, want none", len(after.Keys))
			}
		})
	}
}
