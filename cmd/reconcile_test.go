package cmd

import (
	"encoding/json"
	"strings"
	"testing"
)

const oursRated = `transaction_id,call_id,calling,called,connect_time,duration,billable_seconds,amount,currency
T1,c1,1212,4930,2026-11-01T10:00:00Z,60.000,60,0.1000,USD
T2,c2,1212,4931,2026-11-01T10:01:00Z,61.200,62,0.1034,USD
T3,c3,1212,4932,2026-10-31T23:59:00Z,30.000,30,0.0500,USD
`

// theirsSame: the same calls in the carrier's own layout (seconds, no ids for T2).
const theirsSame = `txn;a;b;start;secs;billed;charge
T1;1212;4930;01/11/2026 10:00:00;60;60;0.1000
;1212;4931;01/11/2026 10:01:01;62;63;0.1034
`

func TestReconcileCommand(t *testing.T) {
	dir := t.TempDir()
	ours := writeFile(t, dir, "ours.csv", oursRated)
	theirs := writeFile(t, dir, "theirs.csv", strings.ReplaceAll(theirsSame, ";", ","))
	common := []string{"reconcile", "--ours", ours, "--theirs", theirs, "--period", "2026-11", "--currency", "USD",
		"--columns-theirs", "transaction_id=txn,calling=a,called=b,connect_time=start,duration=secs,billable_seconds=billed,amount=charge",
		"--time-layout-theirs", "02/01/2006 15:04:05"}
	code, out, errOut := run(t, common...)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	if !strings.Contains(out, "DECISION: no dispute") || !strings.Contains(out, "partial") {
		t.Fatalf("text report:\n%s", out)
	}
	// Zero tolerance: the 62/63 pair becomes a mismatch; still no money dispute.
	code, out, _ = run(t, append(common, "--tolerance", "0s", "--output", "json")...)
	if code != 0 {
		t.Fatalf("tolerance 0: exit %d", code)
	}
	var rep struct {
		Classes []struct {
			Class string
			Count int
		}
		Disputed bool
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Classes[2].Class != "mismatch" || rep.Classes[2].Count != 1 || rep.Disputed {
		t.Fatalf("json report: %+v", rep)
	}
	// Their amount for T1 differs: a rate dispute, exit 3.
	theirsRate := writeFile(t, dir, "theirs-rate.csv", strings.ReplaceAll(strings.Replace(theirsSame, "60;0.1000", "60;0.1200", 1), ";", ","))
	args := append([]string{}, common...)
	args[4] = theirsRate
	code, out, _ = run(t, append(args, "--output", "csv")...)
	if code != 3 || !strings.HasPrefix(out, "class,key,") {
		t.Fatalf("rate dispute: exit %d\n%s", code, out)
	}
}

func TestReconcileCommandBadInput(t *testing.T) {
	dir := t.TempDir()
	ours := writeFile(t, dir, "ours.csv", oursRated)
	bad := writeFile(t, dir, "theirs.csv", "called,connect_time,duration\n4930,2026-11-01T10:00:00Z,sixty\n")
	code, _, errOut := run(t, "reconcile", "--ours", ours, "--theirs", bad)
	if code != 1 || !strings.Contains(errOut, "theirs.csv") || !strings.Contains(errOut, "line 2, field duration") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, args := range [][]string{
		{"reconcile", "--ours", ours, "--theirs", ours, "--output", "xml"},
		{"reconcile", "--ours", ours},
		{"reconcile", "--ours", ours, "--theirs", ours, "--volume-ratio", "-1"},
		{"reconcile", "--ours", ours, "--theirs", ours, "--columns-ours", "colour=red"},
	} {
		if code, _, errOut := run(t, args...); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, errOut)
		}
	}
	// Internal mode needs roles.
	if code, _, errOut := run(t, "reconcile", "--ours", ours, "--internal"); code != 1 || !strings.Contains(errOut, "role") {
		t.Errorf("internal without roles: exit %d %q", code, errOut)
	}
	roles := writeFile(t, dir, "roles.csv", "transaction_id,called,connect_time,duration,role\nX,49,2026-11-01T00:00:00Z,60,source\nX,49,2026-11-01T00:00:00Z,60.4,destination\n")
	// 60 s vs 61 s, unrated: 1 s is 1.64% of the destination's seconds.
	if code, out, errOut := run(t, "reconcile", "--ours", roles, "--internal"); code != 3 || !strings.Contains(out, "(internal)") ||
		!strings.Contains(out, "Volume difference: 1 s (1.64%)") {
		t.Errorf("internal: exit %d %q\n%s", code, errOut, out)
	}
	if code, out, _ := run(t, "reconcile", "--ours", roles, "--internal", "--volume-ratio", "0.02"); code != 0 || !strings.Contains(out, "partial") {
		t.Errorf("internal below a 2%% ratio: exit %d\n%s", code, out)
	}
}

// Two networks' exports of the same two calls (PURPLE forwarded them to
// HUB): PURPLE's lines carry HUB's ids in peer_transaction_id, and both
// networks issue the id 100 to another call.
const (
	purpleForHub = `transaction_id,call_id,calling,called,connect_time,duration,billable_seconds,amount,currency,network,peer_transaction_id
100,c1,1212,3314,2026-11-01T10:00:00Z,61.000,66,0.0495,USD,PURPLE,900
101,c2,1212,3315,2026-11-01T10:05:00Z,30.000,30,0.0225,USD,PURPLE,901
`
	hubForPurple = `transaction_id,call_id,calling,called,connect_time,duration,billable_seconds,amount,currency,network,peer_transaction_id
900,c1,1212,3314,2026-11-01T10:00:00.300Z,61.000,66,0.0495,USD,HUB,
901,c2,1212,3315,2026-11-01T10:05:00.200Z,30.000,30,0.0225,USD,HUB,
100,c9,1212,3314,2026-11-01T12:00:00Z,61.000,66,0.0495,USD,HUB,
`
)

// TestReconcileCommandAcrossNetworks: offline, both ways round, the two
// exports pair on the id each network knows the other's call by; HUB's
// own id 100 (another call) is not paired with PURPLE's id 100 but
// reported, and the extra invoice line is a dispute (exit 3).
func TestReconcileCommandAcrossNetworks(t *testing.T) {
	dir := t.TempDir()
	purple := writeFile(t, dir, "purple.csv", purpleForHub)
	hub := writeFile(t, dir, "hub.csv", hubForPurple)
	for _, tc := range []struct{ ours, theirs, want string }{
		{purple, hub, "theirs-only"},
		{hub, purple, "ours-only"},
	} {
		code, out, errOut := run(t, "reconcile", "--ours", tc.ours, "--theirs", tc.theirs, "--output", "json")
		if code != 3 {
			t.Fatalf("exit %d, want 3 (the extra line is a dispute): %s\n%s", code, errOut, out)
		}
		var rep struct {
			Classes []struct {
				Class string
				Count int
			}
			Matches []struct {
				Class string
				Key   string
			}
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		counts := map[string]int{}
		for _, c := range rep.Classes {
			counts[c.Class] = c.Count
		}
		if counts["exact"] != 2 || counts[tc.want] != 1 || counts["mismatch"] != 0 {
			t.Fatalf("%s vs %s: %+v", tc.ours, tc.theirs, rep.Classes)
		}
		for _, m := range rep.Matches {
			if m.Class == "exact" && m.Key != "peer_transaction_id" {
				t.Fatalf("paired by %s: %+v", m.Key, rep.Matches)
			}
		}
	}
}
