package cmd

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestStatsCLI: three answered calls and one failed attempt through the
// demo's trunk b-1 show as 4 attempts at 75 % ASR, by trunk, by member
// and by prefix, in every output format; a bad grouping is a usage error.
func TestStatsCLI(t *testing.T) {
	n := openTestNode(t)
	for i, secs := range []string{"30", "60", "90", "0"} {
		id := string(rune('a' + i))
		callFlow(t, n, "stats-"+id, "stats-call-"+id, secs)
	}
	for _, tc := range []struct{ by, group string }{{"trunk", "b-1"}, {"member", "carrier-b"}, {"series", "trunk:b-1 1678"}} {
		var rep statsReport
		if err := json.Unmarshal([]byte(mustCLI(t, n, []string{"stats"}, "--by", tc.by, "--output", "json")), &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Groups) != 1 {
			t.Fatalf("by %s: groups %+v", tc.by, rep.Groups)
		}
		g := rep.Groups[0]
		if g.Group != tc.group || g.Last.Attempts != 4 || g.Last.Answered != 3 || g.Last.ASRBps != 7500 || g.Hour.Attempts != 4 || g.Last.ACD.Seconds() != 60 {
			t.Fatalf("by %s: %+v", tc.by, g)
		}
	}
	out := mustCLI(t, n, []string{"stats"})
	for _, want := range []string{"route quality by trunk over the last 200 attempts of each series", "TRUNK", "ASR%", "b-1", "75.0", "60.0s"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	csv := mustCLI(t, n, []string{"stats"}, "--window", "hour", "--output", "csv")
	if !strings.HasPrefix(csv, "TRUNK,SERIES,DEMOTED,ATTEMPTS,ASR%,NER%,ACD,PDD P50,PDD P95,SHORT%,LOSS%,JITTER\nb-1,1,0,4,75.0,75.0,60.0s,-,-,0.0,-,-\n") {
		t.Fatalf("csv:\n%s", csv)
	}
	for _, bad := range [][]string{{"--by", "carrier"}, {"--window", "day"}} {
		if code, _, stderr := adminCLI(t, n, []string{"stats"}, bad...); code == 0 || !strings.Contains(stderr, bad[1]) {
			t.Errorf("stats %v: exit %d, stderr %q", bad, code, stderr)
		}
	}
}

// TestRouteQualityCLI: route quality sets a route's policy (route list
// shows it), refuses a bad one, and route lookup explains the demotion
// once the trunk's calls fail; --clear removes it.
func TestRouteQualityCLI(t *testing.T) {
	n := openTestNode(t)
	out := mustCLI(t, n, []string{"route", "quality"}, "1678", "--min-asr", "30", "--recover-asr", "40", "--max-pdd", "5s", "--probe", "10", "--min-samples", "8")
	if want := "route 1678: quality ASR<30% (restore 40%) PDD>5s n≥8: demote, probe 10%\n"; out != want {
		t.Fatalf("route quality: %q, want %q", out, want)
	}
	if out := mustCLI(t, n, []string{"route", "list"}, "--prefix", "1678"); !strings.Contains(out, "ASR<30% (restore 40%) PDD>5s n≥8: demote, probe 10%") {
		t.Fatalf("route list:\n%s", out)
	}
	for _, bad := range [][]string{{"1678"}, {"1678", "--min-asr", "130"}, {"1678", "--min-asr", "30", "--recover-asr", "10"}, {"999", "--min-asr", "30"}} {
		if code, _, stderr := adminCLI(t, n, []string{"route", "quality"}, bad...); code == 0 {
			t.Errorf("route quality %v accepted (%s)", bad, stderr)
		}
	}
	for i := range 8 {
		id := string(rune('a' + i))
		callFlow(t, n, "rq-"+id, "rq-call-"+id, "0")
	}
	if out := mustCLI(t, n, []string{"route", "lookup"}, "16785551234", "--member", "carrier-a"); !strings.Contains(out, "demoted: ASR 0% < 30% over the last 8 attempts") {
		t.Fatalf("route lookup after 8 failed attempts:\n%s", out)
	}
	if out := mustCLI(t, n, []string{"route", "quality"}, "1", "--weight-cost", "--probe", "0"); out != "route 1: quality no thresholds: demote, probe 0%, cost per answered call\n" {
		t.Fatalf("--weight-cost: %q", out)
	}
	// The policies round-trip through the network file.
	exported := mustCLI(t, n, []string{"export"})
	for _, want := range []string{`{prefix: "1", candidates: [`, `quality: {weight_cost: true}}`, `quality: {min_samples: 8, min_asr: 30, recover_asr: 40, max_pdd: "5s", probe: 10}}`} {
		if !strings.Contains(exported, want) {
			t.Fatalf("export lacks %s:\n%s", want, exported)
		}
	}
	file := writeTemp(t, "net.yaml", exported)
	if out := mustCLI(t, n, []string{"apply"}, "-f", file, "--prune"); !strings.Contains(out, "no changes") {
		t.Fatalf("export → apply: %s", out)
	}
	if out := mustCLI(t, n, []string{"route", "quality"}, "1678", "--clear"); out != "route 1678: quality -\n" {
		t.Fatalf("--clear: %q", out)
	}
	if out := mustCLI(t, n, []string{"route", "lookup"}, "16785551234", "--member", "carrier-a"); strings.Contains(out, "demoted") {
		t.Fatalf("route lookup without a policy still demotes:\n%s", out)
	}
}
