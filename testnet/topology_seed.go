package testnet

import (
	"strings"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
)

// deckRow builds a rate row in currency cur.
func deckRow(cur, prefix, desc, rate, fee string, first, next int) ledger.DeckRow {
	return ledger.DeckRow{Prefix: prefix, Description: desc, Rate: money.MustNew(rate, cur),
		ConnectFee: money.MustNew(fee, cur), FirstIncrement: first, NextIncrement: next}
}

func deck(id, counterparty, dir, cur string, rows []ledger.DeckRow) ledger.DeckVersion {
	return ledger.DeckVersion{DeckID: id, Counterparty: counterparty, Direction: dir, Currency: cur,
		Decimals: 4, RoundingMode: money.HalfUp, EffectiveFrom: SeedEffective, Rows: rows}
}

// sellRows are the default prices a network charges (per minute).
func sellRows(cur string) []ledger.DeckRow {
	return []ledger.DeckRow{
		deckRow(cur, "1", "North America", "0.0200", "0", 60, 60),
		deckRow(cur, "1678", "US test range", "0.0300", "0", 60, 60),
		deckRow(cur, "33", "France", "0.0450", "0", 30, 6),
		deckRow(cur, "44", "United Kingdom", "0.0400", "0.0100", 30, 6),
		deckRow(cur, "49", "Germany", "0.0500", "0", 30, 6),
	}
}

// buyRows are the default costs of termination, below sellRows.
func buyRows(cur string) []ledger.DeckRow {
	return []ledger.DeckRow{
		deckRow(cur, "1", "North America", "0.0100", "0", 60, 60),
		deckRow(cur, "1678", "US test range", "0.0150", "0", 60, 60),
		deckRow(cur, "33", "France", "0.0300", "0", 30, 6),
		deckRow(cur, "44", "United Kingdom", "0.0200", "0", 30, 6),
		deckRow(cur, "49", "Germany", "0.0300", "0", 30, 6),
	}
}

// DefaultPrefixes are the destinations DefaultSeed routes.
var DefaultPrefixes = []string{"1", "1678", "33", "44", "49"}

// DefaultSeed returns the default content of a network (after SetNetwork):
// carrier A (source address CarrierASource, DeviceId/CustomerId
// CarrierADevice, trunk a-1 at [127.0.0.2]:5060) and carrier B (source
// address CarrierBSource, trunk b-1 at [127.0.0.3]:5060), a sell and a buy
// deck per carrier (4 decimals, half-up; 60/60 for 1 and 1678, 30/6 for 33,
// 44 and 49) and routes for DefaultPrefixes to both trunks. It mirrors
// node.DemoConfig, except that carrier A is recognised from 127.0.0.2
// only, so that 127.0.0.1 (a peer network's nodes) is not carrier A.
func DefaultSeed(cur string) (members []ledger.Member, trunks []ledger.Trunk, routes []ledger.Route, decks []ledger.DeckVersion) {
	decks = []ledger.DeckVersion{
		deck("sell-carrier-a", ledger.MemberAccount(CarrierA), ledger.DirectionSell, cur, sellRows(cur)),
		deck("sell-carrier-b", ledger.MemberAccount(CarrierB), ledger.DirectionSell, cur, sellRows(cur)),
		deck("buy-carrier-a", ledger.MemberAccount(CarrierA), ledger.DirectionBuy, cur, buyRows(cur)),
		deck("buy-carrier-b", ledger.MemberAccount(CarrierB), ledger.DirectionBuy, cur, buyRows(cur)),
	}
	members = []ledger.Member{
		{ID: CarrierA, Name: "Carrier A", Status: ledger.MemberActive,
			Credentials: ledger.Credentials{SourceAddrs: []string{CarrierASource}, DeviceIDs: []string{CarrierADevice}, CustomerIDs: []string{CarrierADevice}},
			SellDeckID:  "sell-carrier-a", BuyDeckID: "buy-carrier-a", TokenKind: ledger.TokenSigned},
		{ID: CarrierB, Name: "Carrier B", Status: ledger.MemberActive,
			Credentials: ledger.Credentials{SourceAddrs: []string{CarrierBSource}},
			SellDeckID:  "sell-carrier-b", BuyDeckID: "buy-carrier-b", TokenKind: ledger.TokenSigned},
	}
	trunks = []ledger.Trunk{
		{ID: "a-1", MemberID: CarrierA, Address: "[" + CarrierASource + "]:5060", Protocol: "udp", Weight: 1},
		{ID: "b-1", MemberID: CarrierB, Address: "[" + CarrierBSource + "]:5060", Protocol: "udp", Weight: 1},
	}
	cands := []ledger.RouteCandidate{
		{Kind: ledger.CandidateTrunk, ID: "a-1", Weight: 1},
		{Kind: ledger.CandidateTrunk, ID: "b-1", Weight: 1},
	}
	for _, p := range DefaultPrefixes {
		routes = append(routes, ledger.Route{Prefix: p, Candidates: cands})
	}
	return members, trunks, routes, decks
}

// Commands returns the ledger commands that set up the network of s (s
// normalised): SetNetwork, decks, members, trunks, routes (the first chunk
// with ReplaceAll), peers.
func (s *NetworkSpec) Commands() []ledger.Command {
	members, trunks, routes, decks := s.Members, s.Trunks, s.Routes, s.Decks
	if !s.NoDefaults && len(members)+len(trunks)+len(routes)+len(decks) == 0 {
		members, trunks, routes, decks = DefaultSeed(s.Currency)
	}
	// The network number `ospnode network init` derives: every testnet
	// network numbers its TransactionIds apart, as real ones do.
	cmds := []ledger.Command{ledger.SetNetwork{Network: ledger.Network{ID: s.Name, Name: s.Name + " (testnet)", Currency: s.Currency,
		TxIDNetwork: ledger.DeriveTxIDNetwork(s.Name)}}}
	for _, d := range decks {
		cmds = append(cmds, ledger.PutDeckVersion{Version: d})
	}
	for _, m := range members {
		cmds = append(cmds, ledger.PutMember{Member: m})
	}
	for _, t := range trunks {
		cmds = append(cmds, ledger.PutTrunk{Trunk: t})
	}
	if len(routes) > 0 {
		cmds = append(cmds, ledger.PutRoutes{Routes: routes, ReplaceAll: true})
	}
	for _, p := range s.Peers {
		cmds = append(cmds, ledger.PutPeer{Peer: p})
	}
	return cmds
}

// PeerID is the ledger Peer id a downstream network gives the network
// named name ("YELLOW" → "yellow").
func PeerID(name string) string { return strings.ToLower(name) }

// NetworkMemberID is the ledger Member id an upstream network gives the
// downstream network named name ("PURPLE" → "net-purple").
func NetworkMemberID(name string) string { return "net-" + strings.ToLower(name) }

// LinkCommands returns the commands wiring l on each side (see Link):
// downstream for the From network, upstream for the To network.
// upstreamURLs are To's OSP URLs; upstreamCAs are the CA certificates
// (PEM) From must trust for tokens coming back through To: To's own and
// those of every network beyond it (TopologySpec.Beyond), because a
// forwarded answer carries the terminating network's tokens unchanged.
// cur* are the networks' currencies.
func LinkCommands(l Link, upstreamURLs []string, upstreamCAs [][]byte, curFrom, curTo string) (downstream, upstream []ledger.Command) {
	peer := PeerID(l.To)
	buyPeer := "buy-peer-" + peer
	p := ledger.Peer{ID: peer, Name: l.To, Status: ledger.PeerActive, OurMemberID: l.From, BuyDeckID: buyPeer}
	for _, u := range upstreamURLs {
		p.ServicePoints = append(p.ServicePoints, ledger.ServicePoint{URL: u, Weight: 1})
	}
	for _, ca := range upstreamCAs {
		if len(ca) > 0 {
			p.TrustedCAs = append(p.TrustedCAs, string(ca))
		}
	}
	var routes []ledger.Route
	for _, pre := range l.Prefixes {
		routes = append(routes, ledger.Route{Prefix: pre, Candidates: []ledger.RouteCandidate{{Kind: ledger.CandidatePeer, ID: peer, Weight: 1}}})
	}
	downstream = []ledger.Command{
		ledger.PutDeckVersion{Version: deck(buyPeer, ledger.PeerAccount(peer), ledger.DirectionBuy, curFrom, sellRows(curFrom))},
		ledger.PutPeer{Peer: p},
		ledger.PutRoutes{Routes: routes},
	}

	mem := NetworkMemberID(l.From)
	sell, buy := "sell-"+mem, "buy-"+mem
	upstream = []ledger.Command{
		ledger.PutDeckVersion{Version: deck(sell, ledger.MemberAccount(mem), ledger.DirectionSell, curTo, sellRows(curTo))},
		ledger.PutDeckVersion{Version: deck(buy, ledger.MemberAccount(mem), ledger.DirectionBuy, curTo, buyRows(curTo))},
		ledger.PutMember{Member: ledger.Member{ID: mem, Name: l.From + " network", Status: ledger.MemberActive,
			Credentials: ledger.Credentials{SourceAddrs: []string{PeerSource}, DeviceIDs: []string{l.From}, CustomerIDs: []string{l.From}},
			SellDeckID:  sell, BuyDeckID: buy, TokenKind: ledger.TokenSigned}},
	}
	return downstream, upstream
}
