package node

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/settlement/fraud"
)

// TestFraudObserve: the FSM hook feeds the detector only what the ledger
// admitted or recorded — OK results, not refusals, duplicates or
// re-applied entries (nil results) — and usage only from the source
// side's final records; a short-call burst reported as usage and a
// simultaneous-call flood authorised reach the events.
func TestFraudObserve(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	fc := newFraudControl(&Node{log: slog.New(slog.DiscardHandler), cfg: Config{NodeID: "n1"}})
	cfg := fraud.DefaultConfig()
	cfg.Learn = 0
	fc.det.SetConfig(cfg)
	enc := func(c ledger.Command) []byte {
		b, err := ledger.Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	result := func(code ledger.ResultCode, tx uint64) []byte {
		return ledger.EncodeResult(&ledger.Result{Code: code, TransactionID: tx})
	}
	auth := func(i int) []byte {
		return enc(ledger.Authorize{At: t0.Add(time.Duration(i) * time.Second), SourceMember: "acme", MessageID: fmt.Sprint(i),
			Calling: "+15550001", Called: "12125550100", TimeLimit: 3600})
	}
	// 11 calls from one calling number: refused, duplicate and re-applied
	// ones do not count, so only the OK ones can fire simultaneous.
	var cmds, results [][]byte
	for i := range 11 {
		cmds = append(cmds, auth(i), auth(100+i), auth(200+i), auth(300+i))
		results = append(results, result(ledger.RefusedCPS, 0), result(ledger.Duplicate, 5), nil, result(ledger.OK, uint64(1000+i)))
	}
	fc.observe(cmds[:40], results[:40]) // 10 OK calls: at the limit
	if ev := fc.Events(10); len(ev) != 0 {
		t.Fatalf("10 admitted calls: %+v", ev)
	}
	fc.observe(cmds[40:], results[40:])
	ev := fc.Events(10)
	if len(ev) != 1 || ev[0].Rule != fraud.RuleSimultaneous || ev[0].Calling != "15550001" || ev[0].Outcome != "alert" {
		t.Fatalf("11th admitted call: %+v", ev)
	}

	// 40 short source finals: wangiri. Destination-role and setup records
	// of the same calls do not count.
	cmds, results = nil, nil
	for i := range 40 {
		u := ledger.RecordUsage{At: t0.Add(time.Minute + time.Duration(i)*time.Second), TransactionID: uint64(5000 + i), Role: ledger.RoleSource,
			ComponentID: "1", Reporter: ledger.MemberAccount("acme"), Called: "4930555012", DurationMillis: 1500, Phase: ledger.PhaseFinal, Matched: true}
		dst, setup := u, u
		dst.Role, dst.Reporter = ledger.RoleDestination, ledger.MemberAccount("globex")
		setup.Phase, setup.DurationMillis = ledger.PhaseSetup, 0
		cmds = append(cmds, enc(dst), enc(setup), enc(u))
		results = append(results, result(ledger.OK, 0), result(ledger.OK, 0), result(ledger.OK, 0))
	}
	fc.observe(cmds[:29*3], results[:29*3])
	if ev := fc.Events(10); len(ev) != 1 {
		t.Fatalf("29 short calls (min 30), and the other roles' records: %+v", ev)
	}
	fc.observe(cmds[29*3:], results[29*3:])
	ev = fc.Events(10)
	if len(ev) != 2 || ev[0].Rule != fraud.RuleShortCalls || ev[0].Member != "acme" || ev[0].Prefix != "49305" {
		t.Fatalf("30 short calls: %+v", ev)
	}
	if got := fc.findings[ruleIndex(fraud.RuleShortCalls)][actionIndex(fraud.ActionAlert)].Load(); got != 1 {
		t.Fatalf("short_calls alerts counted %d", got)
	}
}

// TestFraudScreen: admission's check of the ledger's blocks, including a
// member formatting its calling number to step around a block.
func TestFraudScreen(t *testing.T) {
	for in, want := range map[string]string{
		"15550001234": "15550001234", "+1 (555) 000-1234": "15550001234", "tel:+15550001234": "15550001234",
		"sip:15550001234@192.0.2.7:5060;user=phone": "15550001234", "anonymous": "", "": "",
	} {
		if got := callingDigits(in); got != want {
			t.Errorf("callingDigits(%q) = %q, want %q", in, got, want)
		}
	}
	rel := ledger.FraudBlockRecord{FraudBlock: ledger.FraudBlock{ID: "old", Member: "acme", Prefix: "1"}, ReleasedAt: time.Now()}
	blocks := newFraudBlocks([]ledger.FraudBlockRecord{
		{FraudBlock: ledger.FraudBlock{ID: "irsf", Member: "acme", Prefix: "881", Rule: "high_risk"}},
		{FraudBlock: ledger.FraudBlock{ID: "cli", Calling: "15550001234", Rule: "operator"}},
		{FraudBlock: ledger.FraudBlock{ID: "both", Member: "globex", Calling: "15559999999", Prefix: "44", Rule: "operator"}},
		rel,
	})
	a := &admission{}
	tests := []struct {
		member, calling, called, block string
	}{
		{"acme", "", "8816212345", "irsf"},
		{"globex", "", "8816212345", ""},
		{"acme", "", "12125550100", ""}, // the released block
		{"acme", callingDigits("+1 555 000 1234"), "12125550100", "cli"},
		{"globex", "15550001234", "4420", "cli"},
		{"globex", "15559999999", "4420", "both"},
		{"globex", "15559999999", "3320", ""},
		{"acme", "15559999999", "4420", ""},
	}
	for _, tc := range tests {
		no := a.Screen(blocks, tc.member, tc.calling, tc.called)
		switch {
		case tc.block == "" && no != nil:
			t.Errorf("%+v: refused %+v", tc, no)
		case tc.block != "" && (no == nil || no.code != codeBlocked || !strings.Contains(no.desc, "block "+tc.block+",")):
			t.Errorf("%+v: %+v, want 403 naming block %s", tc, no, tc.block)
		}
	}
	if a.fraudRefused.Load() != 4 {
		t.Errorf("refusals counted %d, want 4", a.fraudRefused.Load())
	}
	if (*fraudBlocks)(nil).match("acme", "1", "881") != nil {
		t.Error("no blocks matched something")
	}
}

// TestFraudStaleBlockNotProposed: a block finding on evidence older than
// staleFinding (a replica replaying old entries) is reported, not
// proposed; a live one is queued for proposal.
func TestFraudStaleBlockNotProposed(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		now     time.Time
		outcome string
		queued  int
	}{
		{"live", t0.Add(time.Minute), "proposing", 1},
		{"replayed an hour later", t0.Add(time.Hour), "not proposed: evidence older than 10m0s (replica catching up)", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := newFraudControl(&Node{log: slog.New(slog.DiscardHandler), cfg: Config{NodeID: "n1"}, now: func() time.Time { return tc.now }})
			cfg := fraud.DefaultConfig()
			cfg.Learn = 0
			fc.det.SetConfig(cfg)
			var cmds, results [][]byte
			for i := range 10 {
				raw, err := ledger.Encode(ledger.Authorize{At: t0.Add(time.Duration(i) * time.Second), SourceMember: "acme", MessageID: fmt.Sprint(i),
					Called: "8816212345", TimeLimit: 60})
				if err != nil {
					t.Fatal(err)
				}
				cmds = append(cmds, raw)
				results = append(results, ledger.EncodeResult(&ledger.Result{Code: ledger.OK, TransactionID: uint64(i + 1)}))
			}
			fc.observe(cmds, results)
			ev := fc.Events(10)
			if len(ev) != 1 || ev[0].Action != fraud.ActionBlock || ev[0].Outcome != tc.outcome || len(fc.blocks) != tc.queued {
				t.Fatalf("events %+v, %d queued; want outcome %q, %d queued", ev, len(fc.blocks), tc.outcome, tc.queued)
			}
		})
	}
}
