package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
)

// Demo network identifiers (SeedDemo).
const (
	DemoNetwork  = "DEMO"
	DemoCarrierA = "carrier-a"
	DemoCarrierB = "carrier-b"
)

// DemoConfig returns the demo network as a configuration document: network
// DEMO (USD); carrier-a, recognised from 127.0.0.0/8 (and DeviceId/CustomerId
// 1000, as the toolkit's test client sends), with a trunk [127.0.0.2]:5060;
// carrier-b, recognised from 127.0.0.3, with a trunk [127.0.0.3]:5060;
// a sell deck per carrier and a buy deck per carrier (USD, 4 decimals,
// half-up, 60/60 increments for 1 and 1678, 30/6 for 44 and 49); routes 1,
// 44, 49 and 1678 to both trunks (carrier-b preferred at equal priority
// only by cost). effective is the decks' EffectiveFrom.
func DemoConfig(effective time.Time) *NetworkConfig {
	usd := func(s string) money.Amount { return money.MustNew(s, "USD") }
	row := func(prefix, desc, rate, fee string, a, b int) ledger.DeckRow {
		return ledger.DeckRow{Prefix: prefix, Description: desc, Rate: usd(rate), ConnectFee: usd(fee), FirstIncrement: a, NextIncrement: b}
	}
	deck := func(id, counterparty, dir string, rows ...ledger.DeckRow) ledger.DeckVersion {
		return ledger.DeckVersion{DeckID: id, Counterparty: counterparty, Direction: dir,
			Currency: "USD", Decimals: 4, RoundingMode: money.HalfUp, EffectiveFrom: effective.UTC().Truncate(time.Second), Rows: slices.Clone(rows)}
	}
	sellRows := []ledger.DeckRow{
		row("1", "North America", "0.0200", "0", 60, 60),
		row("1678", "US test range", "0.0300", "0", 60, 60),
		row("44", "United Kingdom", "0.0400", "0.0100", 30, 6),
		row("49", "Germany", "0.0500", "0", 30, 6),
	}
	buyA := []ledger.DeckRow{
		row("1", "North America", "0.0120", "0", 60, 60),
		row("1678", "US test range", "0.0150", "0", 60, 60),
		row("44", "United Kingdom", "0.0250", "0", 30, 6),
		row("49", "Germany", "0.0300", "0", 30, 6),
	}
	buyB := []ledger.DeckRow{
		row("1", "North America", "0.0100", "0", 60, 60),
		row("1678", "US test range", "0.0180", "0", 60, 60),
		row("44", "United Kingdom", "0.0200", "0", 30, 6),
		row("49", "Germany", "0.0350", "0", 30, 6),
	}
	cands := []ledger.RouteCandidate{
		{Kind: ledger.CandidateTrunk, ID: "a-1", Weight: 1},
		{Kind: ledger.CandidateTrunk, ID: "b-1", Weight: 1},
	}
	var routes []ledger.Route
	for _, p := range []string{"1", "44", "49", "1678"} {
		routes = append(routes, ledger.Route{Prefix: p, Candidates: cands})
	}
	return &NetworkConfig{
		Network: &ledger.Network{ID: DemoNetwork, Name: "ospnode demo network", Currency: "USD"},
		Decks: []ledger.DeckVersion{
			deck("sell-carrier-a", ledger.MemberAccount(DemoCarrierA), ledger.DirectionSell, sellRows...),
			deck("sell-carrier-b", ledger.MemberAccount(DemoCarrierB), ledger.DirectionSell, sellRows...),
			deck("buy-carrier-a", ledger.MemberAccount(DemoCarrierA), ledger.DirectionBuy, buyA...),
			deck("buy-carrier-b", ledger.MemberAccount(DemoCarrierB), ledger.DirectionBuy, buyB...),
		},
		Members: []ledger.Member{
			{ID: DemoCarrierA, Name: "Carrier A", Status: ledger.MemberActive,
				Credentials: ledger.Credentials{SourceAddrs: []string{"127.0.0.0/8", "::1"}, DeviceIDs: []string{"1000"}, CustomerIDs: []string{"1000"},
					IdentifyByIDs: true}, // the stock toolkit test client's ids: from any address (the node warns)
				SellDeckID: "sell-carrier-a", BuyDeckID: "buy-carrier-a", TokenKind: ledger.TokenSigned},
			{ID: DemoCarrierB, Name: "Carrier B", Status: ledger.MemberActive,
				Credentials: ledger.Credentials{SourceAddrs: []string{"127.0.0.3"}},
				SellDeckID:  "sell-carrier-b", BuyDeckID: "buy-carrier-b", TokenKind: ledger.TokenSigned},
		},
		Trunks: []ledger.Trunk{
			{ID: "a-1", MemberID: DemoCarrierA, Address: "[127.0.0.2]:5060", Protocol: "udp", Weight: 1},
			{ID: "b-1", MemberID: DemoCarrierB, Address: "[127.0.0.3]:5060", Protocol: "udp", Weight: 1},
		},
		Routes: routes,
	}
}

// ErrDemoWouldClash is returned by SeedDemo for a ledger that has no
// network but already has configuration.
var ErrDemoWouldClash = errors.New("the demo would clash with this ledger's configuration")

// SeedDemo creates the demo network (DemoConfig) through the same path as
// `ospnode network init` and `ospnode apply`, after waiting for a leader.
// It never overwrites anything: a ledger that already has a network is
// left as it is (seeded false), and a ledger with no network but with
// members, trunks, peers, routes or decks is refused with an error
// wrapping ErrDemoWouldClash (the demo's members claim all of 127.0.0.0/8,
// and a demo route table would mix with the operator's). The CA and
// token-signing key are created by Open (under DataDir/pki) whether or not
// the demo is seeded.
func SeedDemo(ctx context.Context, n *Node) (seeded bool, err error) {
	if err := n.cons.WaitForLeader(ctx); err != nil {
		return false, err
	}
	if err := n.cons.Barrier(ctx); err != nil {
		return false, err
	}
	if _, err := n.store.Network(); err == nil {
		return false, nil
	} else if !isNotFound(err) {
		return false, err
	}
	has, err := n.ledgerConfigSummary()
	if err != nil {
		return false, err
	}
	if has != "" {
		return false, fmt.Errorf("--demo: %w: it has no network but already has %s; start without --demo and create the network with `ospnode network init` (or `ospnode apply -f FILE`), or use an empty --data-dir for the demo",
			ErrDemoWouldClash, has)
	}
	cfg := DemoConfig(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	if _, err := n.InitNetwork(ctx, *cfg.Network); err != nil {
		return false, fmt.Errorf("demo network: %w", err)
	}
	if _, err := n.ApplyConfig(ctx, cfg, ApplyOptions{}); err != nil {
		return false, fmt.Errorf("demo configuration: %w", err)
	}
	n.log.Info("demo network seeded", "network", DemoNetwork)
	return true, nil
}
