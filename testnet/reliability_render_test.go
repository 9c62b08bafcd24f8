package testnet

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// RELIABILITY.md is rendered from the scenarios' JSON lines by
// TestRenderReliabilityMarkdown when OSPNODE_RELIABILITY_RENDER names the
// figures file (scripts/reliability.sh does this): Go only, nothing to
// install. Without it the test renders a fixed sample and checks it.

// reliabilityMeta is the header of the record.
type reliabilityMeta struct {
	Date, Machine, Go, Command string
}

// extraLabels explains the scenario-specific figures.
var extraLabels = map[string]string{
	"isolatedRefusesMs":         "isolated node refuses writes after (ms)",
	"newLeaderMs":               "new leader elected after (ms)",
	"oldLeaderStepDownMs":       "old leader stepped down after (ms)",
	"snapshotIndex":             "leader snapshot index the wiped node installed",
	"snapshotInstalledMs":       "wipe → snapshot installed (ms)",
	"forwardedCalls":            "forwarded call attempts (included in calls driven)",
	"forwardedUsagesCascaded":   "forwarded source usages checked once on DOWN and once on UP",
	"outboxPendingDuringOutage": "outbox items pending during the outage",
	"outboxDrainedMs":           "upstream back → outbox drained (ms)",
	"refusedWithinMs":           "slowest refusal of a forwarded call while down / black-holed (ms)",
	"refusedFastestDownMs":      "fastest refusal of a forwarded call while the upstream is down (ms)",
	"refusedFastestBlackHoleMs": "fastest refusal of a forwarded call while the link is black-holed (ms)",
	"slowForwardMaxMs":          "slowest forwarded call over the slow link (ms)",
}

func readFigures(r io.Reader) ([]Figures, error) {
	var out []Figures
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var f Figures
		if err := json.Unmarshal(line, &f); err != nil {
			return nil, fmt.Errorf("figures line %q: %w", line, err)
		}
		out = append(out, f)
	}
	return out, sc.Err()
}

func msList(v []float64) string {
	if len(v) == 0 {
		return "–"
	}
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(s, ", ") + fmt.Sprintf(" (max %.0f)", slices.Max(v))
}

// num prints a whole number as such and anything else to 0.1.
func num(v float64) string {
	if v == float64(int64(v)) {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func renderReliability(w io.Writer, meta reliabilityMeta, figs []Figures) {
	fmt.Fprintf(w, "# Reliability\n\n")
	fmt.Fprintf(w, "Fault-tolerance scenarios of `testnet/reliability_test.go`, run in-process on loopback: each boots a\n"+
		"3-node network, drives the load generator (closed loop, 6 callers, failover across every node's OSP URL,\n"+
		"10%% failed attempts) while injecting its faults, stops the load, and then checks that every usage the\n"+
		"servers confirmed is present exactly once on every node, that every node's books balance (ledger audit)\n"+
		"and that the ledger digests converge. Times are measured by polling (10 ms) from the fault or the repair.\n\n")
	fmt.Fprintf(w, "- date: %s\n- machine: %s\n- go: %s\n- command: `%s`\n- regenerate: `make reliability` (scripts/reliability.sh)\n\n",
		meta.Date, meta.Machine, meta.Go, meta.Command)
	fmt.Fprintf(w, "Write recovery: from the fault to the first successful authorisation (a committed write) through a node\n"+
		"that can commit. Catch-up: from the repair (restart, heal, rejoin) to the repaired node having applied\n"+
		"everything committed at that moment. Converge: from the end of the load to equal digests on every node.\n"+
		"Call errors are calls with some message not answered 2xx (failed over at most once per node), including\n"+
		"the calls in flight when the load is stopped; their usage was not confirmed, so it is not counted.\n\n")
	fmt.Fprintf(w, "| scenario | calls driven | faults | confirmed usages | lost | duplicated |\n|---|---:|---:|---:|---:|---:|\n")
	for _, f := range figs {
		fmt.Fprintf(w, "| %s | %d | %d | %d | **%d** | %d |\n", f.Scenario, f.Calls, len(f.Faults), f.Confirmed, f.Lost, f.Duplicated)
	}
	fmt.Fprintln(w)
	for _, f := range figs {
		fmt.Fprintf(w, "## %s — %s\n\n", f.Scenario, f.Title)
		race := "off"
		if f.Race {
			race = "on"
		}
		fmt.Fprintf(w, "| figure | value |\n|---|---|\n")
		fmt.Fprintf(w, "| nodes / scale / race / GOMAXPROCS | %d / %d / %s / %d |\n", f.Nodes, f.Scale, race, f.GoMaxProcs)
		fmt.Fprintf(w, "| calls driven | %d (completed %d, failed attempts %d, call errors %d) |\n", f.Calls, f.Completed, f.FailedAttempts, f.CallErrors)
		fmt.Fprintf(w, "| faults injected | %d: %s |\n", len(f.Faults), strings.Join(f.Faults, "; "))
		fmt.Fprintf(w, "| confirmed usages | %d |\n", f.Confirmed)
		fmt.Fprintf(w, "| confirmed usage lost | **%d** |\n", f.Lost)
		fmt.Fprintf(w, "| duplicated | %d |\n", f.Duplicated)
		fmt.Fprintf(w, "| write recovery (ms) | %s |\n", msList(f.WriteRecoveryMs))
		fmt.Fprintf(w, "| catch-up (ms) | %s |\n", msList(f.CatchUpMs))
		fmt.Fprintf(w, "| converge after load (ms) | %.0f |\n", f.ConvergeMs)
		keys := make([]string, 0, len(f.Extra))
		for k := range f.Extra {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			label := extraLabels[k]
			if label == "" {
				label = k
			}
			fmt.Fprintf(w, "| %s | %s |\n", label, num(f.Extra[k]))
		}
		fmt.Fprintf(w, "| scenario wall time (ms) | %.0f |\n\n", f.ElapsedMs)
		for _, n := range f.Notes {
			fmt.Fprintf(w, "%s\n\n", n)
		}
	}
}

func TestRenderReliabilityMarkdown(t *testing.T) {
	in := os.Getenv("OSPNODE_RELIABILITY_RENDER")
	if in == "" {
		sample := `{"scenario":"leader-killed","title":"t","nodes":3,"scale":1,"callsDriven":93,"faults":["kill leader a","kill leader b"],"confirmedUsages":165,"confirmedUsageLost":0,"writeRecoveryMs":[518.4,594.1],"extra":{"newLeaderMs":470,"isolatedRefusesMs":0.4}}` + "\n"
		figs, err := readFigures(strings.NewReader(sample))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		renderReliability(&b, reliabilityMeta{Date: "d", Machine: "m", Go: "g", Command: "c"}, figs)
		for _, want := range []string{"| leader-killed | 93 | 2 | 165 | **0** | 0 |", "| write recovery (ms) | 518, 594 (max 594) |",
			"| new leader elected after (ms) | 470 |", "| isolated node refuses writes after (ms) | 0.4 |", "| catch-up (ms) | – |"} {
			if !strings.Contains(b.String(), want) {
				t.Fatalf("rendered record lacks %q:\n%s", want, b.String())
			}
		}
		if _, err := readFigures(strings.NewReader("{bad")); err == nil {
			t.Fatal("a bad line was accepted")
		}
		return
	}
	fh, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	figs, err := readFigures(fh)
	if err != nil {
		t.Fatal(err)
	}
	if len(figs) == 0 {
		t.Fatalf("%s holds no figures", in)
	}
	var b bytes.Buffer
	renderReliability(&b, reliabilityMeta{Date: os.Getenv("OSPNODE_RELIABILITY_DATE"), Machine: os.Getenv("OSPNODE_RELIABILITY_MACHINE"),
		Go: os.Getenv("OSPNODE_RELIABILITY_GO"), Command: os.Getenv("OSPNODE_RELIABILITY_COMMAND")}, figs)
	out := os.Getenv("OSPNODE_RELIABILITY_MD")
	if out == "" {
		t.Fatal("OSPNODE_RELIABILITY_MD (output path) is required with OSPNODE_RELIABILITY_RENDER")
	}
	if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
