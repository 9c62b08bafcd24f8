package ledger

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var updateFixtures = flag.Bool("update", false, "rewrite testdata/commands from the current encoders")

const (
	fixtureLogFile    = "testdata/commands/log.hex"
	fixtureDigestFile = "testdata/commands/digest.hex"
)

// TestCommandFixtures pins the log format as bytes. testdata/commands
// holds a log with every registered command type at every version this
// build applies (written once by -update, then never rewritten unless the
// format is changed on purpose) and the digest of the state it builds.
// The test fails when a type is renumbered, a payload encoding changes
// (a command of the current version no longer encodes to its stored
// bytes), an old version no longer decodes, or applying the old bytes
// builds another state — what the golden state digests alone cannot see
// (a consistent renumbering keeps them).
func TestCommandFixtures(t *testing.T) {
	if *updateFixtures {
		writeFixtures(t)
	}
	log := readFixtureLog(t)
	seen := map[[2]byte]bool{}
	for _, b := range log {
		for _, raw := range b.cmds {
			seen[[2]byte{raw[0], raw[1]}] = true
			if CommandType(raw[0])&Ignorable != 0 && !knownType(CommandType(raw[0])) {
				continue
			}
			cmd, err := Decode(raw)
			if err != nil {
				t.Fatalf("batch %d: stored %s v%d no longer decodes: %v", b.index, CommandType(raw[0]), raw[1], err)
			}
			if cmd.Type() != CommandType(raw[0]) {
				t.Fatalf("stored type %d decodes as %s", raw[0], cmd.Type())
			}
			if again := enc(t, cmd); again[1] == raw[1] && !bytes.Equal(again, raw) {
				t.Errorf("batch %d: %s v%d encodes differently now:\n stored %x\n now    %x", b.index, cmd.Type(), raw[1], raw, again)
			}
		}
	}
	for typ, spec := range commands {
		for _, v := range spec.versions {
			if !seen[[2]byte{byte(typ), v}] {
				t.Errorf("%s version %d has no fixture: add it to fixtureLog and run with -update", typ, v)
			}
		}
	}
	s := openTest(t)
	for i, rs := range applyLog(t, s, log) {
		for j, r := range rs {
			if r.Code != OK && r.Code != Ignored && !(log[i].index == 10 && r.Code == Duplicate) {
				t.Errorf("batch %d command %d: %s %s (fixtures are meant to apply)", log[i].index, j, r.Code, r.Message)
			}
			if log[i].index == 8 && (r.Unmatched || (j >= 3 && r.UsageID == 0)) {
				t.Errorf("batch 8 command %d: %+v (the usages match their transactions)", j, r)
			}
		}
	}
	got := digest(t, s)
	want, err := os.ReadFile(fixtureDigestFile)
	if err != nil {
		t.Fatal(err)
	}
	if h := hex.EncodeToString(got[:]); h != strings.TrimSpace(string(want)) {
		t.Errorf("replaying the stored log gives digest %s, want %s: an old encoding is applied differently", h, strings.TrimSpace(string(want)))
	}
}

// fixtureLog builds the fixture log: fullLog and its tail, then every
// version the full log does not use (Authorize 1 and 3, RecordUsage 1, 3
// and 4, SetNetwork 2). Older versions are produced from the current encoding where the
// payload is the same (Authorize 1 = 2, RecordUsage 1 = 2).
func fixtureLog(t *testing.T) []batch {
	s := openTest(t)
	head := fullLog(t)
	rs := applyLog(t, s, head)
	last := rs[len(rs)-1]
	log := append(head, fullLogTail(t, last[0].TransactionID, last[1].TransactionID)...)
	version := func(b []byte, v byte) []byte { b[1] = v; return b }
	auth := func(msg string) Authorize {
		return Authorize{At: t0.Add(3 * time.Hour), SourceMember: "a", MessageID: msg, CallID: "call-" + msg, Calling: "15550001",
			Called: "12125550100", Destinations: []Destination{{Kind: DestTrunk, ID: "b1", Address: "[192.0.2.9]:5060"}}, TimeLimit: 600,
			UsageDeadline: t0.Add(6 * time.Hour)}
	}
	admitted := auth("fx-admission")
	admitted.ActiveUntil, admitted.Hold = t0.Add(4*time.Hour), usd("0.5")
	log = append(log, batch{7, [][]byte{
		version(enc(t, auth("fx-v1")), 1),
		enc(t, auth("fx-v2")),
		enc(t, admitted),
	}})
	tx := func(pos int) uint64 { id, _ := TransactionIDFor(1, 7, pos); return id }
	usage := func(tx uint64, comp string) RecordUsage {
		return RecordUsage{At: t0.Add(4 * time.Hour), TransactionID: tx, Role: RoleSource, ComponentID: comp, Reporter: MemberAccount("a"),
			Calling: "15550001", Called: "12125550100", CallID: "call-fx-v2", Connect: t0.Add(3 * time.Hour), End: t0.Add(3*time.Hour + time.Minute),
			DurationMillis: 60000, Rating: &Rating{BillableSeconds: 60, Sell: usd("0.01"), SellCounterparty: MemberAccount("a")}}
	}
	over := usage(tx(0), "over")
	over.OverLimit, over.DurationMillis = true, 900_000
	setup := usage(tx(1), "1")
	setup.Phase, setup.Matched, setup.Rating, setup.End, setup.DurationMillis = PhaseSetup, true, nil, time.Time{}, 0
	final := usage(tx(1), "1")
	final.Phase, final.Matched = PhaseFinal, true
	conflict := usage(tx(1), "2")
	conflict.Phase, conflict.Matched, conflict.DurationMillis = PhaseFinal, true, 600_000
	dst := usage(tx(2), "1")
	dst.Role, dst.Reporter, dst.CallID, dst.Phase, dst.Matched = RoleDestination, MemberAccount("b"), "call-fx-admission", PhaseFinal, true
	dst.Rating = &Rating{BillableSeconds: 60, Buy: usd("0.005"), BuyCounterparty: MemberAccount("b")}
	// Version 5: a source report rated on two decks that bill the call
	// differently (the sell deck 60 s, the buy deck 61 s).
	split := usage(tx(2), "1")
	split.CallID, split.Phase, split.Matched = "call-fx-admission", PhaseFinal, true
	split.Rating = &Rating{BillableSeconds: 60, Sell: usd("0.01"), SellCounterparty: MemberAccount("a"),
		Buy: usd("0.0061"), BuyCounterparty: MemberAccount("b")}
	split.Rating.SetBuySeconds(61)
	log = append(log, batch{8, [][]byte{
		version(enc(t, usage(tx(0), "v1")), 1),
		enc(t, usage(tx(0), "v2")),
		enc(t, over),
		enc(t, setup), enc(t, final), enc(t, conflict), enc(t, dst), enc(t, split),
	}})
	log = append(log, batch{9, [][]byte{
		enc(t, FraudBlock{ID: "fr-fixture9", At: t0.Add(5 * time.Hour), Member: "a", Prefix: "881", Rule: "high_risk", By: "node:fixture",
			Evidence: "12 authorisations to 881 within 10m0s"}),
		enc(t, FraudBlock{ID: "op-fixture", At: t0.Add(5 * time.Hour), Calling: "15550001", Rule: "operator", By: "admin:fixture", Reason: "spoofed"}),
		enc(t, FraudRelease{ID: "fr-fixture9", At: t0.Add(6 * time.Hour), By: "admin:fixture", Reason: "confirmed legitimate"}),
	}})
	// SetNetwork version 2 (CreateNetwork) over the network batch 1 set:
	// the same network is a Duplicate and writes nothing.
	log = append(log, batch{10, [][]byte{
		enc(t, CreateNetwork{Network{ID: "purple", Name: "Purple", Currency: "USD", TxIDEpoch: 1}}),
	}})
	// Route quality: a route with a quality policy (PutRoutes 2) and a
	// failed attempt carrying its quality block (RecordUsage 6: version 5's
	// payload, here without buy-side seconds, then the block).
	routes := PutRoutes{Routes: []Route{{Prefix: "1212", Candidates: []RouteCandidate{{Kind: CandidateTrunk, ID: "b1"}},
		Quality: &RouteQuality{MinSamples: 50, MinASRBps: 3000, RecoverASRBps: 4000, MaxPDDMillis: 5000, ProbeBps: 500}}}}
	failedQ := usage(tx(2), "q")
	failedQ.CallID, failedQ.Phase, failedQ.Matched, failedQ.Rating = "call-fx-admission", PhaseFailed, true, nil
	failedQ.Connect, failedQ.DurationMillis, failedQ.TerminationCause = time.Time{}, 0, 486
	failedQ.Quality = &UsageQuality{Candidate: "trunk:b1", SIPCode: 486, Alert: t0.Add(3*time.Hour + 2*time.Second),
		PDDMillis: 2000, LossPPM: -1, JitterMicros: 1500}
	log = append(log, batch{11, [][]byte{enc(t, routes), enc(t, failedQ)}})
	// Fraud settings in the network record: integers in the units their
	// names state (factor_permille, ratio_permille, min_seconds).
	learn := 1800
	log = append(log, batch{12, [][]byte{
		enc(t, SetNetwork{Network{ID: "purple", Name: "Purple", Currency: "USD", TxIDEpoch: 1, Fraud: &FraudSettings{
			DestinationDigits: 4, LearnSeconds: &learn, HighRiskRanges: []FraudRange{{Prefix: "881", Name: "GMSS", Source: "ITU"}},
			Rules: []FraudRuleSettings{
				{Rule: "high_risk", Action: "block", WindowSeconds: 600, BaselineWindows: 144, MinCalls: 10, FactorPermille: 3500},
				{Rule: "short_calls", ShortSeconds: 6, RatioPermille: 800},
				{Rule: "new_destination", MinSeconds: 1800, NewForSeconds: 86400},
			}}}}),
	}})
	return log
}

func writeFixtures(t *testing.T) {
	log := fixtureLog(t)
	var b strings.Builder
	b.WriteString("# ospnode ledger command log: every command type at every version, as bytes.\n")
	b.WriteString("# Written by `go test ./ledger -run TestCommandFixtures -update`; never edit by hand.\n")
	for _, bt := range log {
		fmt.Fprintf(&b, "batch %d\n", bt.index)
		for _, c := range bt.cmds {
			fmt.Fprintf(&b, "%s v%d %s\n", CommandType(c[0]), c[1], hex.EncodeToString(c))
		}
	}
	if err := os.MkdirAll(filepath.Dir(fixtureLogFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fixtureLogFile, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	s := openTest(t)
	applyLog(t, s, log)
	d := digest(t, s)
	if err := os.WriteFile(fixtureDigestFile, []byte(hex.EncodeToString(d[:])+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFixtureLog(t *testing.T) []batch {
	f, err := os.Open(fixtureLogFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var log []batch
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "batch "):
			i, err := strconv.ParseUint(strings.TrimPrefix(line, "batch "), 10, 64)
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			log = append(log, batch{index: i})
		default:
			fields := strings.Fields(line)
			raw, err := hex.DecodeString(fields[len(fields)-1])
			if err != nil || len(log) == 0 || len(raw) < 2 {
				t.Fatalf("bad fixture line %q: %v", line, err)
			}
			log[len(log)-1].cmds = append(log[len(log)-1].cmds, raw)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return log
}
