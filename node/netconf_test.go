package node

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/osp"
)

// openEmpty opens a bootstrapped node without the demo: no network.
func openEmpty(t *testing.T) *Node {
	t.Helper()
	cfg := testConfig(t, "n1")
	cfg.Bootstrap = true
	return openNode(t, cfg)
}

// TestNetworkInit: GET /v1/network is 404 before init; POST creates it
// (201), the same network again is 200 created=false, another one is 409;
// invalid settings are 400.
func TestNetworkInit(t *testing.T) {
	n := openEmpty(t)
	if code, b := admReq(t, n, n.AdminToken(), http.MethodGet, "/v1/network", ""); code != http.StatusNotFound || !strings.Contains(admErr(t, b), "network init") {
		t.Fatalf("before init: %d %s", code, b)
	}
	purple := `{"id":"PURPLE","name":"Purple peering","currency":"USD","txid_epoch":3,"billing_basis":"shorter"}`
	steps := []struct {
		name, body string
		code       int
		created    bool
		errPart    string
	}{
		{"create", purple, http.StatusCreated, true, ""},
		{"same again", purple, http.StatusOK, false, ""},
		{"another network", `{"id":"YELLOW","name":"y","currency":"EUR"}`, http.StatusConflict, false, "already initialised: PURPLE"},
		{"bad currency", `{"id":"X","currency":"dollars"}`, http.StatusBadRequest, false, "ISO 4217"},
		{"bad basis", `{"id":"X","currency":"USD","billing_basis":"longest"}`, http.StatusBadRequest, false, "billing_basis"},
		{"unknown field", `{"id":"X","currency":"USD","colour":"red"}`, http.StatusBadRequest, false, "colour"},
	}
	for _, s := range steps {
		code, b := admReq(t, n, n.AdminToken(), http.MethodPost, "/v1/network", s.body)
		if code != s.code {
			t.Fatalf("%s: HTTP %d, want %d: %s", s.name, code, s.code, b)
		}
		if s.errPart != "" {
			if !strings.Contains(admErr(t, b), s.errPart) {
				t.Fatalf("%s: error %s, want %q", s.name, b, s.errPart)
			}
			continue
		}
		if got := admJSON[NetworkInit](t, b); got.Created != s.created {
			t.Fatalf("%s: created %v", s.name, got.Created)
		}
	}
	got := admJSON[ledger.Network](t, adm(t, n, http.StatusOK, http.MethodGet, "/v1/network", ""))
	want := ledger.Network{ID: "PURPLE", Name: "Purple peering", Currency: "USD", TxIDEpoch: 3, BillingBasis: ledger.BasisShorter}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("network %+v, want %+v", got, want)
	}
}

// TestNetworkWithoutDemoServes: a network created with init and configured
// with ApplyConfig (no --demo) answers the toolkit's AuthorizationRequest.
func TestNetworkWithoutDemoServes(t *testing.T) {
	n := openEmpty(t)
	cfg := DemoConfig(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg.Network = &ledger.Network{ID: "PURPLE", Name: "Purple", Currency: "USD"}
	adm(t, n, http.StatusCreated, http.MethodPost, "/v1/network", `{"id":"PURPLE","name":"Purple","currency":"USD"}`)
	body, _ := json.Marshal(cfg)
	plan := admJSON[Plan](t, adm(t, n, http.StatusOK, http.MethodPost, "/v1/config/apply", string(body)))
	if !plan.Applied || plan.Routes.Add != 4 {
		t.Fatalf("plan %+v", plan)
	}
	code, resp, _ := post(t, client(""), n.OSPURL(), readCapture(t, "01-AuthorizationRequest.minimal.http"))
	if code != http.StatusOK {
		t.Fatalf("OSP %d: %s", code, resp)
	}
	msg, err := osp.Decode(resp, osp.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := msg.Components[0].Status(); st.Code != osp.StatusOK || !strings.Contains(string(resp), "127.0.0.3") {
		t.Fatalf("answer %s", resp)
	}
}

// TestDemoNeverOverwrites: --demo on a ledger with configuration but no
// network refuses to start; --demo on a demo ledger (a restart) changes
// nothing.
func TestDemoNeverOverwrites(t *testing.T) {
	t.Run("config without network", func(t *testing.T) {
		cfg := testConfig(t, "n1")
		cfg.Bootstrap = true
		n := openNode(t, cfg)
		put(t, n, ledger.PutMember{Member: ledger.Member{ID: "mine", Status: ledger.MemberActive,
			Credentials: ledger.Credentials{SourceAddrs: []string{"127.0.0.9"}}}})
		put(t, n, ledger.PutRoutes{Routes: []ledger.Route{{Prefix: "33", Blocked: true}}})
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		cfg.Bootstrap, cfg.Demo = false, true
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		n2, err := Open(ctx, cfg)
		if err == nil {
			n2.Close()
			t.Fatal("demo seeded over an existing configuration")
		}
		if !errors.Is(err, ErrDemoWouldClash) || !strings.Contains(err.Error(), "1 member(s), 1 route(s)") || !strings.Contains(err.Error(), "network init") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("restart of a demo ledger", func(t *testing.T) {
		cfg := testConfig(t, "n1")
		cfg.Bootstrap, cfg.Demo = true, true
		n := openNode(t, cfg)
		if !n.DemoSeeded() {
			t.Fatal("first start did not seed")
		}
		put(t, n, ledger.PutRoutes{Routes: []ledger.Route{{Prefix: "1", Blocked: true}}})
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		cfg.Bootstrap = false
		n = openNode(t, cfg)
		if n.DemoSeeded() {
			t.Fatal("restart seeded again")
		}
		if r, err := n.store.Route("1"); err != nil || !r.Blocked {
			t.Fatalf("operator's route replaced: %+v %v", r, err)
		}
	})
}

func put(t *testing.T, n *Node, cmd ledger.Command) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := n.Propose(ctx, cmd)
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		t.Fatalf("%s: %v", cmd.Type(), err)
	}
}

// TestApplyConfig: apply is declarative and idempotent: each step's plan
// and the state after it; an invalid document writes nothing.
func TestApplyConfig(t *testing.T) {
	n := openEmpty(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := func() *NetworkConfig { return DemoConfig(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)) }
	type step struct {
		name    string
		cfg     func() *NetworkConfig
		opts    ApplyOptions
		changes []string // "action kind id [fields]"
		routes  RoutePlan
		problem []string // ConfigError substrings; nothing written
	}
	steps := []step{
		{name: "no network", cfg: func() *NetworkConfig { c := base(); c.Network = nil; return c },
			problem: []string{"network: this ledger has no network yet"}},
		{name: "dry run", cfg: base, opts: ApplyOptions{DryRun: true},
			changes: []string{"add network DEMO", "add deck sell-carrier-a@2020-01-01T00:00:00Z", "add deck sell-carrier-b@2020-01-01T00:00:00Z",
				"add deck buy-carrier-a@2020-01-01T00:00:00Z", "add deck buy-carrier-b@2020-01-01T00:00:00Z",
				"add member carrier-a", "add member carrier-b", "add trunk a-1", "add trunk b-1",
				"add route 1", "add route 1678", "add route 44", "add route 49"},
			routes: RoutePlan{InFile: 4, Add: 4}},
		{name: "create", cfg: base,
			changes: []string{"add network DEMO", "add deck sell-carrier-a@2020-01-01T00:00:00Z", "add deck sell-carrier-b@2020-01-01T00:00:00Z",
				"add deck buy-carrier-a@2020-01-01T00:00:00Z", "add deck buy-carrier-b@2020-01-01T00:00:00Z",
				"add member carrier-a", "add member carrier-b", "add trunk a-1", "add trunk b-1",
				"add route 1", "add route 1678", "add route 44", "add route 49"},
			routes: RoutePlan{InFile: 4, Add: 4}},
		{name: "again", cfg: base, routes: RoutePlan{InFile: 4, Unchanged: 4}},
		{name: "change", cfg: func() *NetworkConfig {
			c := base()
			c.Network.BillingBasis = ledger.BasisShorter
			c.Members[0].CreditLimit, c.Members[0].Credentials.SourceAddrs = money.MustNew("500", "USD"), []string{"127.0.0.2"}
			c.Decks[0].Rows[0].Rate = money.MustNew("0.0210", "USD")
			c.Routes = append(c.Routes[:1], c.Routes[2:]...) // drop 44: kept without prune
			c.Routes[0].Candidates = c.Routes[0].Candidates[:1]
			c.Trunks = c.Trunks[:1] // drop b-1: kept without prune, routes still name it
			return c
		},
			changes: []string{"change network DEMO [billing_basis]", "change deck sell-carrier-a@2020-01-01T00:00:00Z [rows]",
				"change member carrier-a [credentials.source_addrs credit_limit]", "change route 1"},
			routes: RoutePlan{InFile: 3, Change: 1, Unchanged: 2}},
		{name: "unknown trunk", cfg: func() *NetworkConfig {
			c := base()
			c.Trunks = c.Trunks[:1]
			c.Routes[0].Candidates[1].ID = "b-9"
			c.Members[1].TokenKind = "jwt"
			c.Decks[1].Currency = "EUR"
			return c
		}, problem: []string{`route "1" candidate 2: trunk "b-9": no such trunk`, `member carrier-b: token_kind "jwt"`,
			"deck sell-carrier-b version 2020-01-01T00:00:00Z: counterparty, direction, currency"}},
		{name: "billing identity out of bounds", cfg: func() *NetworkConfig {
			c := base()
			terms := 400
			c.Network.PaymentTermsDays = &terms
			c.Members[0].Address = []string{"1 Quay St", "line\nforged"}
			c.Peers = append(c.Peers, ledger.Peer{ID: "YELLOW", ServicePoints: []ledger.ServicePoint{{URL: "https://y.example/osp"}},
				BillingIdentity: ledger.BillingIdentity{BillingEmail: "nobody"}})
			return c
		}, problem: []string{"network payment_terms_days 400: want 0..366", `member carrier-a: address line 2: "line\nforged" holds a control character`,
			`peer YELLOW: billing_email "nobody"`}},
		{name: "prune, a route names a dropped trunk", cfg: func() *NetworkConfig {
			c := base()
			c.Trunks = c.Trunks[:1]
			return c
		}, opts: ApplyOptions{Prune: true}, problem: []string{`route "1" candidate 2: trunk "b-1": no such trunk in the file (with --prune`}},
		{name: "prune", cfg: func() *NetworkConfig {
			c := base()
			c.Trunks = c.Trunks[:1]
			c.Routes = []ledger.Route{{Prefix: "1", Candidates: c.Routes[0].Candidates[:1]}}
			return c
		}, opts: ApplyOptions{Prune: true},
			changes: []string{"change network DEMO [billing_basis]", "change deck sell-carrier-a@2020-01-01T00:00:00Z [rows]",
				"change member carrier-a [credentials.source_addrs credit_limit]", "remove route 1678", "remove route 44", "remove route 49", "remove trunk b-1"},
			routes: RoutePlan{InFile: 1, Remove: 3, Unchanged: 1}},
	}
	for _, s := range steps {
		before := n.store.Generations()
		plan, err := n.ApplyConfig(ctx, s.cfg(), s.opts)
		if s.problem != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("%s: err %v, want a ConfigError", s.name, err)
			}
			for _, p := range s.problem {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("%s: %v\nlacks %q", s.name, err, p)
				}
			}
			if after := n.store.Generations(); after != before {
				t.Fatalf("%s: an invalid document wrote something", s.name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		var got []string
		for _, c := range plan.Changes {
			line := c.Action + " " + c.Kind + " " + c.ID
			if len(c.Fields) > 0 {
				line += " [" + strings.Join(c.Fields, " ") + "]"
			}
			got = append(got, line)
		}
		if strings.Join(got, "\n") != strings.Join(s.changes, "\n") {
			t.Fatalf("%s: changes\n%s\nwant\n%s", s.name, strings.Join(got, "\n"), strings.Join(s.changes, "\n"))
		}
		if plan.Routes != s.routes {
			t.Fatalf("%s: routes %+v, want %+v", s.name, plan.Routes, s.routes)
		}
		if plan.Applied == (s.opts.DryRun || plan.Empty()) {
			t.Fatalf("%s: applied %v", s.name, plan.Applied)
		}
		if s.opts.DryRun {
			if _, err := n.store.Network(); !isNotFound(err) {
				t.Fatalf("%s: dry run wrote the network", s.name)
			}
		}
	}
	// export → apply is a no-op.
	exp, err := n.ExportConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(exp)
	var again NetworkConfig
	if err := json.Unmarshal(b, &again); err != nil {
		t.Fatal(err)
	}
	plan, err := n.ApplyConfig(ctx, &again, ApplyOptions{Prune: true})
	if err != nil || !plan.Empty() || plan.Commands != 0 {
		t.Fatalf("export → apply: %+v %v", plan, err)
	}
}

// TestApplyConfigLargeDeck: a deck version larger than one command is
// proposed as PutDeckVersion + AppendRows chunks, and reads back equal (a
// second apply proposes nothing).
func TestApplyConfigLargeDeck(t *testing.T) {
	n := openEmpty(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := &NetworkConfig{Network: &ledger.Network{ID: "P", Currency: "EUR"}}
	dv := ledger.DeckVersion{DeckID: "big", Counterparty: "member:x", Direction: ledger.DirectionSell, Currency: "EUR",
		Decimals: 5, RoundingMode: money.HalfEven, DurationRounding: "down", EffectiveFrom: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	for i := 0; i < 2*deckChunk+17; i++ {
		dv.Rows = append(dv.Rows, ledger.DeckRow{Prefix: strconv.Itoa(30000 + i), Rate: money.MustNew("0.0123", "EUR"), FirstIncrement: 1, NextIncrement: 1})
	}
	cfg.Decks = []ledger.DeckVersion{dv}
	plan, err := n.ApplyConfig(ctx, cfg, ApplyOptions{})
	if err != nil || plan.Commands != 4 {
		t.Fatalf("first apply: %+v %v", plan, err)
	}
	if vs, err := n.store.DeckVersions("big"); err != nil || len(vs) != 1 || len(vs[0].Rows) != len(dv.Rows) {
		t.Fatalf("stored: %v", err)
	}
	exp, err := n.ExportConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*NetworkConfig{cfg, exp} {
		if plan, err := n.ApplyConfig(ctx, c, ApplyOptions{Prune: true}); err != nil || !plan.Empty() {
			t.Fatalf("again: %+v %v", plan, err)
		}
	}
}

// TestApplyKeepsTxIDNetwork: a document that leaves txid_network out
// (a hand-written file after `network init` derived a number) keeps the
// running network's number; a document that names another is refused.
func TestApplyKeepsTxIDNetwork(t *testing.T) {
	n := openEmpty(t)
	adm(t, n, http.StatusCreated, http.MethodPost, "/v1/network", `{"id":"PURPLE","name":"Purple peering","currency":"USD","txid_network":99}`)
	ctx := context.Background()
	doc := func(num uint8) *NetworkConfig {
		return &NetworkConfig{Network: &ledger.Network{ID: "PURPLE", Name: "Purple peering", Currency: "USD", TxIDNetwork: num}}
	}
	if _, err := n.ApplyConfig(ctx, doc(0), ApplyOptions{}); err != nil {
		t.Fatalf("document without txid_network: %v", err)
	}
	if _, err := n.ApplyConfig(ctx, doc(98), ApplyOptions{}); err == nil || !strings.Contains(err.Error(), "txid_network") {
		t.Fatalf("document with another txid_network: %v", err)
	}
	got := admJSON[ledger.Network](t, adm(t, n, http.StatusOK, http.MethodGet, "/v1/network", ""))
	if got.TxIDNetwork != 99 {
		t.Fatalf("txid_network %d after apply, want 99", got.TxIDNetwork)
	}
}
