package cmd

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"

	"github.com/ospnode/ospnode/node"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// exampleFile is the shipped example configuration.
const exampleFile = "../docs/examples/network.yaml"

// openEmptyNode opens a bootstrapped node without the demo: no network.
func openEmptyNode(t *testing.T) *node.Node {
	t.Helper()
	cfg := testNodeConfig(t)
	cfg.Demo = false
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := node.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open node: %v", err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd -run %s -update)", err, t.Name())
	}
	if got != string(want) {
		t.Fatalf("%s differs from the golden file (rerun with -update if intended):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestNetworkCLI: network init creates the network once; a second init
// (same or different) is a clear error; bad flags are usage errors.
func TestNetworkCLI(t *testing.T) {
	n := openEmptyNode(t)
	if code, _, errb := adminCLI(t, n, []string{"network", "show"}); code != 1 || !strings.Contains(errb, "network init") {
		t.Fatalf("show before init: %d %s", code, errb)
	}
	cases := []struct {
		name string
		args []string
		code int
		out  string // stdout (code 0) or stderr part
	}{
		{"bad currency", []string{"--id", "PURPLE", "--currency", "dollars"}, 2, "--currency"},
		{"bad basis", []string{"--id", "PURPLE", "--currency", "USD", "--billing-basis", "longest"}, 2, "--billing-basis"},
		{"bad epoch", []string{"--id", "PURPLE", "--currency", "USD", "--txid-epoch", "200"}, 2, "--txid-epoch"},
		{"argument", []string{"--id", "PURPLE", "--currency", "USD", "extra"}, 2, "no arguments"},
		{"bad txid network", []string{"--id", "PURPLE", "--currency", "USD", "--txid-network", "256"}, 2, "--txid-network"},
		{"epoch over 3 bits with a number", []string{"--id", "PURPLE", "--currency", "USD", "--txid-epoch", "8"}, 2, "--txid-epoch 8: want 0..7"},
		// The network number is derived from the id: 99 for PURPLE.
		{"create", []string{"--id", "PURPLE", "--name", "Purple peering", "--currency", "usd", "--billing-basis", "shorter", "--txid-epoch", "2"}, 0, "PURPLE  Purple peering  USD       2           99            shorter"},
		{"same again", []string{"--id", "PURPLE", "--name", "Purple peering", "--currency", "USD", "--billing-basis", "shorter", "--txid-epoch", "2"}, 1, "already initialised (with these same settings)"},
		{"another", []string{"--id", "YELLOW", "--currency", "EUR"}, 1, "network init refused: node answered 409 Conflict: a network is already initialised: PURPLE"},
	}
	for _, c := range cases {
		code, out, errb := adminCLI(t, n, []string{"network", "init"}, c.args...)
		got := errb
		if c.code == 0 {
			got = out
		}
		if code != c.code || !strings.Contains(got, c.out) {
			t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s\nwant exit %d and %q", c.name, code, out, errb, c.code, c.out)
		}
	}
	if out := mustCLI(t, n, []string{"network", "show"}, "--output", "json"); !strings.Contains(out, `"billing_basis": "shorter"`) {
		t.Fatalf("show: %s", out)
	}
}

// TestApplyExample: the shipped example validates and its dry-run plan is
// the golden one; nothing is written by the dry run; the apply then writes
// it, a second apply changes nothing, and the export is the golden file
// whose apply (from a file and from stdin, with --prune) changes nothing.
func TestApplyExample(t *testing.T) {
	n := openEmptyNode(t)
	out := mustCLI(t, n, []string{"apply"}, "-f", exampleFile, "--dry-run")
	golden(t, "apply/example-dry-run.txt", out)
	if code, _, _ := adminCLI(t, n, []string{"network", "show"}); code != 1 {
		t.Fatal("the dry run wrote the network")
	}
	if out := mustCLI(t, n, []string{"apply"}, "-f", exampleFile); !strings.Contains(out, "applied: 17 added, 0 changed, 0 removed") {
		t.Fatalf("apply: %s", out)
	}
	again := mustCLI(t, n, []string{"apply"}, "-f", exampleFile)
	golden(t, "apply/example-again.txt", again)

	exported := mustCLI(t, n, []string{"export"})
	golden(t, "apply/example-export.yaml", exported)
	file := filepath.Join(t.TempDir(), "exported.yaml")
	mustCLI(t, n, []string{"export"}, "--file", file)
	if b, err := os.ReadFile(file); err != nil || string(b) != exported {
		t.Fatalf("export --file: %v\n%s", err, b)
	}
	if out := mustCLI(t, n, []string{"apply"}, "-f", file, "--prune"); !strings.Contains(out, "no changes") {
		t.Fatalf("export → apply --prune: %s", out)
	}
	// the route table as a CSV beside the file
	csvDir := t.TempDir()
	mustCLI(t, n, []string{"export"}, "--file", filepath.Join(csvDir, "net.yaml"), "--routes-csv", filepath.Join(csvDir, "routes.csv"))
	if b, _ := os.ReadFile(filepath.Join(csvDir, "net.yaml")); !strings.Contains(string(b), "route_files:\n  - routes.csv\n") ||
		!strings.Contains(string(b), "\nroutes:\n  - {prefix: \"1\", candidates: [{kind: trunk, id: globex-1}, {kind: trunk, id: globex-2}], quality: {") ||
		strings.Contains(string(b), "{prefix: \"44\", candidates") { // only the route with a quality policy stays inline
		t.Fatalf("export --routes-csv:\n%s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(csvDir, "routes.csv")); !strings.Contains(string(b), "1900,,,,,,,true\n") || !strings.Contains(string(b), "4930,trunk,acme-1,0,0,2,0049,false\n") {
		t.Fatalf("routes.csv:\n%s", b)
	}
	if out := mustCLI(t, n, []string{"apply"}, "-f", filepath.Join(csvDir, "net.yaml"), "--prune"); !strings.Contains(out, "no changes") {
		t.Fatalf("export --routes-csv → apply --prune: %s", out)
	}
	var stdout, stderr bytes.Buffer
	app := NewApp(&stdout, &stderr)
	app.Reader = strings.NewReader(exported)
	if err := app.Run([]string{"ospnode", "apply", "--node", n.AdminURL(), "--token", n.AdminToken(), "-f", "-", "--prune"}); err != nil || !strings.Contains(stdout.String(), "no changes") {
		t.Fatalf("export | apply -f -: %v\n%s%s", err, stdout.String(), stderr.String())
	}
}

// TestApplyPlanChanges: editing the file shows what changes, field by
// field; --prune removes what the file dropped (golden plan).
func TestApplyPlanChanges(t *testing.T) {
	n := openEmptyNode(t)
	mustCLI(t, n, []string{"apply"}, "-f", exampleFile)
	b, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	edited := string(b)
	for _, r := range []struct{ old, new string }{
		{"credit_limit: 5000 USD", "credit_limit: 7500 USD"},
		{"cps_limit: 50 ", "cps_limit: 60 "},
		{"payment_terms_days: 15 ", "payment_terms_days: 20 "},
		{"tax_id: NL123456789B01\n", "tax_id: NL123456789B01\n    payment_terms_days: 45\n"},
		{`rate: "0.0500"`, `rate: "0.0550"`},
		{"  - {id: acme-1, member: acme, address: \"[192.0.2.11]:5060\", protocol: tcp}\n", ""},
		{"  - {prefix: \"4930\", candidates: [{kind: trunk, id: acme-1, strip: 2, add_prefix: \"0049\"}]}\n", ""},
		{"  - {prefix: \"1900\", blocked: true}\n", "  - {prefix: \"1900\", blocked: true}\n  - {prefix: \"33\", candidates: [{kind: peer, id: YELLOW}]}\n"},
	} {
		if !strings.Contains(edited, r.old) {
			t.Fatalf("example lacks %q", r.old)
		}
		edited = strings.Replace(edited, r.old, r.new, 1)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "decks"), 0o755); err != nil {
		t.Fatal(err)
	}
	deck, _ := os.ReadFile("../docs/examples/decks/buy-globex.csv")
	_ = os.WriteFile(filepath.Join(dir, "decks", "buy-globex.csv"), deck, 0o644)
	file := filepath.Join(dir, "network.yaml")
	if err := os.WriteFile(file, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := mustCLI(t, n, []string{"apply"}, "-f", file, "--dry-run")
	prune := mustCLI(t, n, []string{"apply"}, "-f", file, "--dry-run", "--prune")
	golden(t, "apply/edited-dry-run.txt", plan+"--- with --prune\n"+prune)
	mustCLI(t, n, []string{"apply"}, "-f", file, "--prune")
	if out := mustCLI(t, n, []string{"apply"}, "-f", file, "--prune"); !strings.Contains(out, "no changes") {
		t.Fatalf("second apply --prune: %s", out)
	}
	if out := mustCLI(t, n, []string{"trunk", "list"}); strings.Contains(out, "acme-1") || !strings.Contains(out, "globex-1") {
		t.Fatalf("trunks after --prune: %s", out)
	}
}

// TestYAMLScalars: every string the hand-written parts of export write
// reads back as itself.
func TestYAMLScalars(t *testing.T) {
	for _, s := range []string{"a-1", "North America", "Côte d'Ivoire", "yes", "No", "null", "1", "0049", "-1", "a: b", "a:b",
		"x #y", "[127.0.0.1]:5060", "{x}", "a,b", " lead", "trail ", "two  spaces", "tab\there", "line\nbreak", `quote"d`, "back\\slash",
		"@at", "*star", "&amp", "!bang", "%pct", "|pipe", ">gt", "'single'", "~", "", "2026-01-01", "1e3", ".inf", "0x1F"} {
		f := &confFile{Trunks: []confTrunk{{ID: s, Member: s, Address: s}},
			Routes: []confRoute{{Prefix: s, Candidates: []confCandidate{{Kind: s, ID: s, AddPrefix: s}}}}}
		var b bytes.Buffer
		if err := writeConfFile(&b, f); err != nil {
			t.Fatal(err)
		}
		var back confFile
		if err := yaml.Unmarshal(b.Bytes(), &back); err != nil {
			t.Fatalf("%q: %v\n%s", s, err, b.String())
		}
		tr, rt := back.Trunks[0], back.Routes[0]
		if tr.ID != s || tr.Member != s || tr.Address != s || rt.Prefix != s || rt.Candidates[0].ID != s || rt.Candidates[0].AddPrefix != s {
			t.Fatalf("%q came back as %+v %+v from\n%s", s, tr, rt, b.String())
		}
	}
}

// TestApplyBadFile: a bad file exits 2 with every problem, naming the item
// and the field, and writes nothing.
func TestApplyBadFile(t *testing.T) {
	n := openEmptyNode(t)
	cases := []struct {
		name, file string
		want       []string
	}{
		{"empty", "", []string{"the file is empty"}},
		{"unknown key", "network: {id: P, currency: USD}\nmembers:\n  - id: a\n    sorce_addrs: [192.0.2.1]\n",
			[]string{"line 4: field sorce_addrs not found"}},
		{"not yaml", "network: [", []string{"configuration rejected"}},
		{"two documents", "network: {id: P, currency: USD}\n---\nnetwork: {id: Q, currency: USD}\n", []string{"more than one YAML document"}},
		{"file-level values", `network: {id: P, currency: USD}
members:
  - {id: a, credit_limit: lots}
decks:
  - {id: d, counterparty: nobody, direction: sell, currency: USD, versions: [{effective_from: yesterday, rows: [{prefix: "1", rate: cheap, first_increment: 1, next_increment: 1}]}]}
`, []string{`member a: credit_limit "lots"`, `deck d: counterparty "nobody"`, `deck d version 1: effective_from "yesterday"`,
			`deck d version 1 row 1 (prefix "1"): rate "cheap"`}},
		{"node-level checks", `network: {id: P, currency: USD, billing_basis: longest}
members:
  - {id: a, source_addrs: [300.1.1.1], token_kind: jwt, sell_deck: missing}
  - {id: a}
trunks:
  - {id: t1, member: ghost, address: "[192.0.2.1]:5060", protocol: sctp}
peers:
  - {id: Y, service_points: [{url: "ftp://y"}]}
routes:
  - {prefix: "44", candidates: [{kind: trunk, id: t9}, {kind: carrier, id: x}]}
  - {prefix: "4x"}
`, []string{`network billing_basis "longest"`, `member a: source_addrs "300.1.1.1"`, `member a: token_kind "jwt"`,
			`member a: sell_deck "missing": no such deck`, "member a: listed twice (#1 and #2)",
			`trunk t1: protocol "sctp"`, `trunk t1: member "ghost": no such member`, `peer Y: service_points "ftp://y"`,
			`route "44" candidate 1: trunk "t9": no such trunk`, `route "44" candidate 2: kind "carrier"`, `route #2: prefix "4x"`}},
		{"route quality", `network: {id: P, currency: USD}
routes:
  - {prefix: "44", blocked: true, quality: {min_asr: 30, recover_asr: 20}}
  - {prefix: "45", blocked: true, quality: {min_ner: 130}}
`, []string{`route "44": quality: bad thresholds: recover ASR 20% is below min ASR 30%`,
			`route "45": quality: bad thresholds: min NER 130% is not between 0 and 100`}},
		{"route quality decimals", "network: {id: P, currency: USD}\nroutes:\n  - {prefix: \"48\", blocked: true, quality: {min_asr: 12.345, probe: 2.5}}\n",
			[]string{`route "48": quality: min_asr "12.345": want a percentage such as 30 or 12.5 (at most 2 decimals`}},
		{"route quality delay", "network: {id: P, currency: USD}\nroutes:\n  - {prefix: \"46\", blocked: true, quality: {max_pdd: soon}}\n",
			[]string{`route "46": quality: max_pdd "soon": want a duration`}},
		{"route quality key", "network: {id: P, currency: USD}\nroutes:\n  - {prefix: \"47\", blocked: true, quality: {min_asr: 30, minimum_asr: 3}}\n",
			[]string{"line 3: field minimum_asr not found"}},
		{"fraud settings", `network:
  id: P
  currency: USD
  fraud:
    learn: 90ms
    high_risk_ranges: [{prefix: "88x"}]
    rules:
      - {rule: telepathy}
      - {rule: high_risk, window: soon}
`, []string{`network fraud learn "90ms"`, `network fraud high_risk window "soon"`}},
		{"fraud rules", "network: {id: P, currency: USD, fraud: {rules: [{rule: high_risk, action: shout}, {rule: short_calls, ratio: 2}]}}\n",
			[]string{`action "shout"`, "ratio"}},
		{"fraud decimals beyond their unit", "network: {id: P, currency: USD, fraud: {rules: [{rule: high_risk, factor: 3.0005}, " +
			"{rule: short_calls, ratio: 0.8x}, {rule: new_destination, min_minutes: 0.01}]}}\n",
			[]string{`network fraud high_risk factor: "3.0005" is more precise than the unit holds`,
				`network fraud short_calls ratio: "0.8x" is not a decimal number`,
				`network fraud new_destination min_minutes: "0.01" is more precise than the unit holds (whole seconds)`}},
		{"missing csv", "network: {id: P, currency: USD}\ndecks:\n  - {id: d, counterparty: member:a, direction: sell, currency: USD, csv: nothere.csv}\nroute_files: [nothere.csv]\n",
			[]string{"deck d: csv nothere.csv:", "route_files:"}},
	}
	for _, c := range cases {
		file := filepath.Join(t.TempDir(), "bad.yaml")
		if err := os.WriteFile(file, []byte(c.file), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errb := adminCLI(t, n, []string{"apply"}, "-f", file)
		if code != 2 {
			t.Fatalf("%s: exit %d, want 2\nstdout: %s\nstderr: %s", c.name, code, out, errb)
		}
		for _, w := range c.want {
			if !strings.Contains(errb, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", c.name, w, errb)
			}
		}
	}
	if code, _, _ := adminCLI(t, n, []string{"network", "show"}); code != 1 {
		t.Fatal("a bad file wrote the network")
	}
	if code, _, errb := adminCLI(t, n, []string{"apply"}, "-f", filepath.Join(t.TempDir(), "none.yaml")); code != 2 || !strings.Contains(errb, "--file") {
		t.Fatalf("missing file: %d %s", code, errb)
	}
}

// TestConfigCommandsEnvVars: every flag of network, apply and export reads
// an OSPNODE_* variable, and apply takes its file and --dry-run from them.
func TestConfigCommandsEnvVars(t *testing.T) {
	var walk func(c *cli.Command)
	walk = func(c *cli.Command) {
		for _, f := range c.Flags {
			ev, ok := f.(interface{ GetEnvVars() []string })
			if !ok || len(ev.GetEnvVars()) == 0 || !strings.HasPrefix(ev.GetEnvVars()[0], "OSPNODE_") {
				t.Errorf("%s --%s has no OSPNODE_* variable", c.Name, f.Names()[0])
			}
		}
		for _, s := range c.Subcommands {
			walk(s)
		}
	}
	for _, c := range []*cli.Command{networkCommand(), applyCommand(), exportCommand()} {
		walk(c)
	}
	n := openEmptyNode(t)
	t.Setenv("OSPNODE_APPLY_FILE", exampleFile)
	t.Setenv("OSPNODE_APPLY_DRY_RUN", "true")
	if out := mustCLI(t, n, []string{"apply"}); !strings.Contains(out, "dry run: 17 to add") {
		t.Fatalf("apply from the environment: %s", out)
	}
}
