package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/e164"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/settlement"
	"github.com/ospnode/ospnode/settlement/fraud"
)

// Configuration as code. A NetworkConfig is a network's whole
// configuration (its settings, decks, members, peers, trunks and routes)
// as one document: GET /v1/config exports the running one, and
// POST /v1/config/apply makes the ledger match a document. Apply is
// declarative and idempotent: it reads the replicated state after a read
// barrier, validates the whole document against it (nothing is written
// when any item is wrong), computes a Plan of what to add, change and
// remove, and proposes only the differences, in dependency order. Routes
// go through the same chunked PutRoutes path as the CSV import, so a
// 500,000-prefix table is a few hundred log entries, not 500,000.
//
// What apply never does: change a network's id, currency or txid epoch
// once initialised (peers remember its ids), and remove members or deck
// versions (the ledger keeps them for settlement history; suspend a member
// instead). Without Prune nothing absent from the document is removed.

// NetworkConfig is a network's configuration document (the JSON of
// GET /v1/config and POST /v1/config/apply; the CLI's YAML file maps onto
// it). Network nil leaves the network settings as they are. Decks lists
// every deck version, with all its rows.
type NetworkConfig struct {
	Network *ledger.Network      `json:"network,omitempty"`
	Decks   []ledger.DeckVersion `json:"decks"`
	Members []ledger.Member      `json:"members"`
	Peers   []ledger.Peer        `json:"peers"`
	Trunks  []ledger.Trunk       `json:"trunks"`
	Routes  []ledger.Route       `json:"routes"`
}

// ApplyOptions are the switches of ApplyConfig.
type ApplyOptions struct {
	DryRun bool // compute and return the plan, write nothing
	Prune  bool // remove trunks, peers and routes the document does not have
}

// Plan actions (PlanChange.Action).
const (
	ActionAdd    = "add"
	ActionChange = "change"
	ActionRemove = "remove"
)

// PlanChange is one item the apply adds, changes or removes. Fields names
// the changed fields of a change (JSON names, nested ones dotted).
type PlanChange struct {
	Action string   `json:"action"`
	Kind   string   `json:"kind"` // network, deck, member, peer, trunk, route
	ID     string   `json:"id"`
	Fields []string `json:"fields,omitempty"`
}

// RoutePlan counts the route table's differences; at most
// maxListedRoutes of them are also listed in Plan.Changes.
type RoutePlan struct {
	InFile    int `json:"in_file"`
	Add       int `json:"add"`
	Change    int `json:"change"`
	Remove    int `json:"remove"`
	Unchanged int `json:"unchanged"`
	Unlisted  int `json:"unlisted"` // differences not listed in Changes
}

// Plan is what ApplyConfig does (DryRun) or did.
type Plan struct {
	DryRun  bool         `json:"dry_run"`
	Applied bool         `json:"applied"` // the changes were written
	Changes []PlanChange `json:"changes"`
	Routes  RoutePlan    `json:"routes"`
	// Unmanaged says what the document does not mention and apply leaves
	// alone (everything absent without Prune; members and deck versions
	// always).
	Unmanaged []string `json:"unmanaged,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
	Commands  int      `json:"commands"` // ledger commands proposed (or that would be)
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool {
	return len(p.Changes) == 0 && p.Routes.Add+p.Routes.Change+p.Routes.Remove == 0
}

// maxListedRoutes bounds the route entries of Plan.Changes.
const maxListedRoutes = 20

// ConfigError is a document that failed validation: every problem names
// the item and the field. Nothing was written.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string {
	return "configuration rejected, nothing written:\n  " + strings.Join(e.Problems, "\n  ")
}

// ErrNetworkExists is returned by InitNetwork when the ledger already has
// a different network.
var ErrNetworkExists = errors.New("a network is already initialised")

// InitNetwork creates the ledger's network. It is create-once: with the
// same network already present it returns created false and no error;
// with a different one, a 409 wrapping ErrNetworkExists. The ledger
// arbitrates (CreateNetwork writes only into a ledger without a network),
// so two inits racing on two nodes cannot both succeed: the loser gets the
// 409 naming the winner. The read before the proposal only spares the log
// an entry in the common case.
func (n *Node) InitNetwork(ctx context.Context, net ledger.Network) (created bool, err error) {
	if err := validateNetwork(net); err != nil {
		return false, badRequest("%v", err)
	}
	if err := n.cons.Barrier(ctx); err != nil {
		return false, fmt.Errorf("%w: read barrier: %w", ErrUnavailable, err)
	}
	old, err := n.store.Network()
	switch {
	case err == nil:
		if sameNetwork(old, net) {
			return false, nil
		}
		return false, networkExists(old)
	case !isNotFound(err):
		return false, err
	}
	res, err := n.Propose(ctx, ledger.CreateNetwork{Network: net})
	if err != nil {
		return false, err
	}
	switch res.Code {
	case ledger.OK:
		return true, nil
	case ledger.Duplicate:
		return false, nil
	case ledger.Rejected:
		// Another init won between the read and the proposal. The store
		// has applied the entry that rejected ours, so it names the winner.
		if won, err := n.store.Network(); err == nil {
			return false, networkExists(won)
		}
		return false, &httpError{http.StatusConflict, fmt.Errorf("%w: %s", ErrNetworkExists, res.Message)}
	}
	return false, fmt.Errorf("CreateNetwork: %w", res.Err())
}

// networkExists is the 409 of an init that names another network than the
// ledger's.
func networkExists(old ledger.Network) error {
	return &httpError{http.StatusConflict, fmt.Errorf("%w: %s (%q, %s, txid epoch %d, txid network %d, billing basis %s); a network is initialised once: change its name or billing basis with `ospnode apply`",
		ErrNetworkExists, old.ID, old.Name, old.Currency, old.TxIDEpoch, old.TxIDNetwork, basisText(old.BillingBasis))}
}

func validateNetwork(net ledger.Network) error {
	var p []string
	if net.ID == "" || len(net.ID) > 256 || strings.ContainsAny(net.ID, " /") {
		p = append(p, fmt.Sprintf("network id %q: want 1..256 characters without spaces or slashes", net.ID))
	}
	if !money.ValidCurrency(net.Currency) {
		p = append(p, fmt.Sprintf("network currency %q: want an ISO 4217 code such as USD", net.Currency))
	}
	if net.TxIDEpoch > 127 {
		p = append(p, fmt.Sprintf("network txid_epoch %d: want 0..127", net.TxIDEpoch))
	}
	if net.TxIDNetwork != 0 && net.TxIDEpoch > 7 {
		p = append(p, fmt.Sprintf("network txid_epoch %d: want 0..7 with a txid_network (its ids have 3 epoch bits)", net.TxIDEpoch))
	}
	if !net.BillingBasis.Valid() {
		p = append(p, fmt.Sprintf("network billing_basis %q: want own, source, destination or shorter", net.BillingBasis))
	}
	if net.Fraud != nil {
		if _, err := fraud.FromSettings(net.Fraud); err != nil {
			p = append(p, "network "+err.Error())
		}
	}
	for _, e := range net.BillingIdentity.Problems() {
		p = append(p, "network "+e)
	}
	if len(p) > 0 {
		return errors.New(strings.Join(p, "; "))
	}
	return nil
}

func basisText(b ledger.BillingBasis) string {
	if b == "" {
		return string(ledger.BasisOwn)
	}
	return string(b)
}

func sameNetwork(a, b ledger.Network) bool {
	a.BillingBasis, b.BillingBasis = ledger.BillingBasis(basisText(a.BillingBasis)), ledger.BillingBasis(basisText(b.BillingBasis))
	if len(a.Address) == 0 {
		a.Address = nil
	}
	if len(b.Address) == 0 {
		b.Address = nil
	}
	return reflect.DeepEqual(a, b)
}

// ExportConfig returns the running configuration (after a read barrier):
// what ApplyConfig of the result changes nothing of.
func (n *Node) ExportConfig(ctx context.Context) (*NetworkConfig, error) {
	if err := n.cons.Barrier(ctx); err != nil {
		return nil, fmt.Errorf("%w: read barrier: %w", ErrUnavailable, err)
	}
	cur, err := n.readConfig()
	if err != nil {
		return nil, err
	}
	out := &NetworkConfig{Network: cur.network, Members: emptyIfNil(cur.members), Peers: emptyIfNil(cur.peers),
		Trunks: emptyIfNil(cur.trunks), Decks: []ledger.DeckVersion{}, Routes: make([]ledger.Route, 0, len(cur.routes))}
	for _, id := range cur.deckIDs {
		out.Decks = append(out.Decks, cur.decks[id]...)
	}
	for _, p := range cur.routeOrder {
		var r ledger.Route
		if err := json.Unmarshal(cur.routes[p], &r); err != nil {
			return nil, err
		}
		out.Routes = append(out.Routes, r)
	}
	return out, nil
}

// runningConfig is the ledger's configuration, read once.
type runningConfig struct {
	network    *ledger.Network
	members    []ledger.Member
	peers      []ledger.Peer
	trunks     []ledger.Trunk
	deckIDs    []string
	decks      map[string][]ledger.DeckVersion
	routes     map[string][]byte // prefix → canonical JSON
	routeOrder []string
}

func (n *Node) readConfig() (*runningConfig, error) {
	rc := &runningConfig{decks: map[string][]ledger.DeckVersion{}, routes: map[string][]byte{}}
	if net, err := n.store.Network(); err == nil {
		rc.network = &net
	} else if !isNotFound(err) {
		return nil, err
	}
	var err error
	if rc.members, err = n.store.Members(); err != nil {
		return nil, err
	}
	if rc.peers, err = n.store.Peers(); err != nil {
		return nil, err
	}
	if rc.trunks, err = n.store.Trunks(""); err != nil {
		return nil, err
	}
	if rc.deckIDs, err = n.store.DeckIDs(); err != nil {
		return nil, err
	}
	for _, id := range rc.deckIDs {
		vs, err := n.store.DeckVersions(id)
		if err != nil && !isNotFound(err) {
			return nil, err
		}
		rc.decks[id] = vs
	}
	err = n.store.ForEachRoute(func(r ledger.Route) error {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		rc.routes[r.Prefix] = b
		rc.routeOrder = append(rc.routeOrder, r.Prefix)
		return nil
	})
	return rc, err
}

// ApplyConfig makes the ledger match cfg (see the comment at the top of
// this file) and returns the plan. A document with problems returns a
// *ConfigError (HTTP 400) before anything is written. A failure part way
// through returns the error; the changes proposed before it stay, and
// applying the same document again finishes the job.
func (n *Node) ApplyConfig(ctx context.Context, cfg *NetworkConfig, opts ApplyOptions) (*Plan, error) {
	if err := n.cons.Barrier(ctx); err != nil {
		return nil, fmt.Errorf("%w: read barrier: %w", ErrUnavailable, err)
	}
	cur, err := n.readConfig()
	if err != nil {
		return nil, err
	}
	normalizeConfig(cfg)
	// A file that leaves txid_network out keeps the running network's
	// number: `network init` derives one, and a hand-written file should
	// not have to repeat it (export writes it, so export | apply agrees).
	if cfg.Network != nil && cur.network != nil && cfg.Network.TxIDNetwork == 0 {
		cfg.Network.TxIDNetwork = cur.network.TxIDNetwork
	}
	if probs := validateConfig(cfg, cur, opts.Prune); len(probs) > 0 {
		return nil, &ConfigError{Problems: probs}
	}
	plan, cmds, err := planConfig(cfg, cur, opts)
	if err != nil {
		return nil, err
	}
	plan.DryRun = opts.DryRun
	plan.Commands = len(cmds)
	if opts.DryRun || len(cmds) == 0 {
		return plan, nil
	}
	for i, cmd := range cmds {
		res, err := n.Propose(ctx, cmd)
		if err == nil {
			err = res.Err()
		}
		if err != nil {
			if i > 0 {
				err = fmt.Errorf("%s: %w (after %d of %d commands were committed; apply the same file again to finish)", cmd.Type(), err, i, len(cmds))
			} else {
				err = fmt.Errorf("%s: %w", cmd.Type(), err)
			}
			return nil, err
		}
	}
	plan.Applied = true
	return plan, nil
}

// normalizeConfig fills the defaults the PUT endpoints fill, so that a
// document and the state it produced compare equal.
func normalizeConfig(cfg *NetworkConfig) {
	for i := range cfg.Members {
		if cfg.Members[i].Status == "" {
			cfg.Members[i].Status = ledger.MemberActive
		}
	}
	for i := range cfg.Peers {
		if cfg.Peers[i].Status == "" {
			cfg.Peers[i].Status = ledger.PeerActive
		}
	}
	for i := range cfg.Decks {
		d := &cfg.Decks[i]
		d.EffectiveFrom = d.EffectiveFrom.UTC()
		if !d.EffectiveUntil.IsZero() {
			d.EffectiveUntil = d.EffectiveUntil.UTC()
		}
		if d.RoundingMode == "" {
			d.RoundingMode = money.HalfUp
		}
		if d.DurationRounding == string(settlement.DurationUp) {
			d.DurationRounding = ""
		}
		sort.Slice(d.Rows, func(a, b int) bool { return d.Rows[a].Prefix < d.Rows[b].Prefix })
	}
	for i := range cfg.Routes {
		cfg.Routes[i].Prefix = strings.TrimPrefix(cfg.Routes[i].Prefix, "+")
	}
}

// validateConfig returns every problem of cfg, each naming the item and
// the field, checked against the running configuration cur: references to
// items the ledger already has are fine, except, with prune, to trunks and
// peers the document does not keep.
func validateConfig(cfg *NetworkConfig, cur *runningConfig, prune bool) []string {
	var probs []string
	omitted := 0
	bad := func(format string, args ...any) {
		if len(probs) < settlement.MaxListedErrors {
			probs = append(probs, fmt.Sprintf(format, args...))
		} else {
			omitted++
		}
	}
	// network
	switch {
	case cfg.Network == nil && cur.network == nil:
		bad("network: this ledger has no network yet: the document needs a network section (id, name, currency), or run `ospnode network init` first")
	case cfg.Network != nil:
		if err := validateNetwork(*cfg.Network); err != nil {
			bad("%v", err)
		} else if o := cur.network; o != nil && (o.ID != cfg.Network.ID || o.Currency != cfg.Network.Currency || o.TxIDEpoch != cfg.Network.TxIDEpoch || o.TxIDNetwork != cfg.Network.TxIDNetwork) {
			bad("network %s: this node serves network %s (currency %s, txid_epoch %d, txid_network %d): a network's id, currency, txid_epoch and txid_network are fixed once initialised",
				cfg.Network.ID, o.ID, o.Currency, o.TxIDEpoch, o.TxIDNetwork)
		}
	}
	ids := func(kind string) func(id string, i int) bool {
		seen := map[string]int{}
		return func(id string, i int) bool {
			if id == "" || len(id) > 256 || strings.ContainsAny(id, "/") || strings.TrimSpace(id) != id {
				bad("%s #%d: id %q: want 1..256 characters, no slash, no surrounding spaces", kind, i+1, id)
				return false
			}
			if j, dup := seen[id]; dup {
				bad("%s %s: listed twice (#%d and #%d)", kind, id, j+1, i+1)
				return false
			}
			seen[id] = i
			return true
		}
	}
	// decks: a deck's versions share one header, which must match the
	// stored deck's (as the CSV import requires).
	type deckKey struct {
		id   string
		from time.Time
	}
	deckHeads := map[string]ledger.DeckVersion{}
	for id, vs := range cur.decks {
		if len(vs) > 0 {
			deckHeads[id] = vs[0]
		}
	}
	seenVersion := map[deckKey]bool{}
	fileDecks := map[string]bool{}
	for i, d := range cfg.Decks {
		item := fmt.Sprintf("deck %s", d.DeckID)
		if d.DeckID == "" || strings.ContainsAny(d.DeckID, "/ ") || len(d.DeckID) > 256 {
			bad("deck #%d: id %q: want 1..256 characters without spaces or slashes", i+1, d.DeckID)
			continue
		}
		if !d.EffectiveFrom.IsZero() {
			item += " version " + d.EffectiveFrom.Format(time.RFC3339)
		}
		if d.Counterparty == "" {
			bad("%s: counterparty is required (member:ID or peer:ID)", item)
		} else if !strings.HasPrefix(d.Counterparty, "member:") && !strings.HasPrefix(d.Counterparty, "peer:") {
			bad("%s: counterparty %q: want member:ID or peer:ID", item, d.Counterparty)
		}
		if d.Direction != ledger.DirectionSell && d.Direction != ledger.DirectionBuy {
			bad("%s: direction %q: want sell or buy", item, d.Direction)
		}
		if !money.ValidCurrency(d.Currency) {
			bad("%s: currency %q: want an ISO 4217 code", item, d.Currency)
		}
		if d.Decimals < 0 || d.Decimals > settlement.MaxDecimals {
			bad("%s: decimals %d: want 0..%d", item, d.Decimals, settlement.MaxDecimals)
		}
		if _, err := money.Rounder(d.RoundingMode); err != nil {
			bad("%s: rounding %q: want half-up, half-even, up or down", item, d.RoundingMode)
		}
		if d.DurationRounding != "" {
			if _, err := settlement.ParseDurationMode(d.DurationRounding); err != nil {
				bad("%s: duration_rounding %q: want up, half-up or down", item, d.DurationRounding)
			}
		}
		if d.EffectiveFrom.IsZero() {
			bad("%s: effective_from is required", item)
		}
		if !d.EffectiveUntil.IsZero() && !d.EffectiveUntil.After(d.EffectiveFrom) {
			bad("%s: effective_until must be after effective_from", item)
		}
		k := deckKey{d.DeckID, d.EffectiveFrom}
		if seenVersion[k] {
			bad("%s: listed twice", item)
		}
		seenVersion[k] = true
		fileDecks[d.DeckID] = true
		if h, ok := deckHeads[d.DeckID]; ok {
			if h.Counterparty != d.Counterparty || h.Direction != d.Direction || h.Currency != d.Currency || h.Decimals != d.Decimals ||
				h.RoundingMode != d.RoundingMode || h.DurationRounding != d.DurationRounding {
				bad("%s: counterparty, direction, currency, decimals, rounding and duration_rounding must stay %s, %s, %s, %d, %s, %q as the deck has them (or use another deck id)",
					item, h.Counterparty, h.Direction, h.Currency, h.Decimals, h.RoundingMode, orUp(h.DurationRounding))
			}
		} else {
			deckHeads[d.DeckID] = d
		}
		seenRow := make(map[string]bool, len(d.Rows))
		for j, r := range d.Rows {
			row := fmt.Sprintf("%s row %d (prefix %q)", item, j+1, r.Prefix)
			if r.Prefix == "" || !e164.IsDigits(r.Prefix) || len(r.Prefix) > settlement.MaxPrefixDigits {
				bad("%s: prefix: want 1..%d digits", row, settlement.MaxPrefixDigits)
			} else if seenRow[r.Prefix] {
				bad("%s: prefix listed twice", row)
			}
			seenRow[r.Prefix] = true
			if r.Rate.Currency() != d.Currency || r.Rate.Sign() < 0 {
				bad("%s: rate %s: want a non-negative amount in %s", row, r.Rate.Text(), d.Currency)
			}
			if !(r.ConnectFee.Currency() == d.Currency || (r.ConnectFee.Currency() == "" && r.ConnectFee.IsZero())) || r.ConnectFee.Sign() < 0 {
				bad("%s: connect_fee %s: want a non-negative amount in %s", row, r.ConnectFee.Text(), d.Currency)
			}
			if r.FirstIncrement < 0 || r.NextIncrement < 1 {
				bad("%s: increments %d/%d: want first_increment >= 0 and next_increment >= 1", row, r.FirstIncrement, r.NextIncrement)
			}
		}
	}
	deckExists := func(id string) bool {
		_, ok := deckHeads[id]
		return ok
	}

	memberIDs := map[string]bool{}
	for _, m := range cur.members {
		memberIDs[m.ID] = true
	}
	seenMember := ids("member")
	for i, m := range cfg.Members {
		if !seenMember(m.ID, i) {
			continue
		}
		memberIDs[m.ID] = true
		for _, e := range memberProblems(m) {
			bad("member %s: %s", m.ID, e)
		}
		if m.SellDeckID != "" && !deckExists(m.SellDeckID) {
			bad("member %s: sell_deck %q: no such deck in the file or the ledger", m.ID, m.SellDeckID)
		}
		if m.BuyDeckID != "" && !deckExists(m.BuyDeckID) {
			bad("member %s: buy_deck %q: no such deck in the file or the ledger", m.ID, m.BuyDeckID)
		}
	}
	peerIDs := map[string]bool{}
	for _, p := range cur.peers {
		peerIDs[p.ID] = !prune
	}
	seenPeer := ids("peer")
	for i, p := range cfg.Peers {
		if !seenPeer(p.ID, i) {
			continue
		}
		peerIDs[p.ID] = true
		for _, e := range peerProblems(p) {
			bad("peer %s: %s", p.ID, e)
		}
		if p.BuyDeckID != "" && !deckExists(p.BuyDeckID) {
			bad("peer %s: buy_deck %q: no such deck in the file or the ledger", p.ID, p.BuyDeckID)
		}
	}
	trunkIDs := map[string]bool{}
	for _, t := range cur.trunks {
		trunkIDs[t.ID] = !prune
	}
	seenTrunk := ids("trunk")
	for i, t := range cfg.Trunks {
		if !seenTrunk(t.ID, i) {
			continue
		}
		trunkIDs[t.ID] = true
		for _, e := range trunkProblems(t) {
			bad("trunk %s: %s", t.ID, e)
		}
		if t.MemberID != "" && !memberIDs[t.MemberID] {
			bad("trunk %s: member %q: no such member in the file or the ledger", t.ID, t.MemberID)
		}
	}
	seenRoute := make(map[string]bool, len(cfg.Routes))
	for i, r := range cfg.Routes {
		item := fmt.Sprintf("route %q", r.Prefix)
		if len(r.Prefix) > settlement.MaxPrefixDigits || !e164.IsDigits(r.Prefix) {
			bad("route #%d: prefix %q: want 0..%d digits (\"\" is the default route)", i+1, r.Prefix, settlement.MaxPrefixDigits)
			continue
		}
		if seenRoute[r.Prefix] {
			bad("%s: listed twice", item)
			continue
		}
		seenRoute[r.Prefix] = true
		if r.Quality != nil {
			if _, err := thresholdsOf(r.Quality); err != nil {
				bad("%s: %v", item, err) // "quality: bad thresholds: …"
			}
		}
		for j, c := range r.Candidates {
			ci := fmt.Sprintf("%s candidate %d", item, j+1)
			switch c.Kind {
			case ledger.CandidateTrunk:
				// A route may name a trunk before it exists (the CSV import
				// warns); in a whole-network document it is a mistake.
				if c.ID != "" && !trunkIDs[c.ID] {
					bad("%s: trunk %q: no such trunk in the file%s", ci, c.ID, orLedger(prune))
				}
			case ledger.CandidatePeer:
				if c.ID != "" && !peerIDs[c.ID] {
					bad("%s: peer %q: no such peer in the file%s", ci, c.ID, orLedger(prune))
				}
			default:
				bad("%s: kind %q: want trunk or peer", ci, c.Kind)
			}
			if c.ID == "" {
				bad("%s: id is required", ci)
			}
			if c.Priority < 0 || c.Weight < 0 || c.Strip < 0 {
				bad("%s: priority, weight and strip must not be negative", ci)
			}
			if !e164.IsDigits(c.AddPrefix) {
				bad("%s: add_prefix %q: want digits", ci, c.AddPrefix)
			}
		}
	}
	if omitted > 0 {
		probs = append(probs, fmt.Sprintf("… and %d more", omitted))
	}
	return probs
}

func orLedger(prune bool) string {
	if prune {
		return " (with --prune, the ledger's others are removed)"
	}
	return " or the ledger"
}

func orUp(s string) string {
	if s == "" {
		return string(settlement.DurationUp)
	}
	return s
}

// memberProblems are the checks of PUT /v1/members and PutMember.
func memberProblems(m ledger.Member) []string {
	var p []string
	if m.Status != ledger.MemberActive && m.Status != ledger.MemberSuspended {
		p = append(p, fmt.Sprintf("status %q: want active or suspended", m.Status))
	}
	for _, a := range m.Credentials.SourceAddrs {
		if _, err := parseAddrOrPrefix(a); err != nil {
			p = append(p, fmt.Sprintf("source_addrs %q: want an IP address or CIDR prefix", a))
		}
	}
	for _, b := range m.BlockedPrefixes {
		if b == "" || !e164.IsDigits(b) {
			p = append(p, fmt.Sprintf("blocked_prefixes %q: want E.164 digits", b))
		}
	}
	switch m.TokenKind {
	case "", ledger.TokenSigned, ledger.TokenText, ledger.TokenXML:
	default:
		p = append(p, fmt.Sprintf("token_kind %q: want signed, text or xml", m.TokenKind))
	}
	if m.CPSLimit < 0 {
		p = append(p, fmt.Sprintf("cps_limit %d: must not be negative", m.CPSLimit))
	}
	if m.ConcurrentLimit < 0 {
		p = append(p, fmt.Sprintf("concurrent_limit %d: must not be negative", m.ConcurrentLimit))
	}
	if m.CreditLimit.Sign() < 0 {
		p = append(p, fmt.Sprintf("credit_limit %s: must not be negative", m.CreditLimit))
	}
	return append(p, m.BillingIdentity.Problems()...)
}

// trunkProblems are the checks of PUT /v1/trunks and PutTrunk.
func trunkProblems(t ledger.Trunk) []string {
	var p []string
	if t.MemberID == "" {
		p = append(p, "member is required")
	}
	if t.Address == "" {
		p = append(p, "address is required (the SIP signalling address, e.g. [192.0.2.7]:5060)")
	}
	switch t.Protocol {
	case "", "udp", "tcp", "tls":
	default:
		p = append(p, fmt.Sprintf("protocol %q: want udp, tcp or tls", t.Protocol))
	}
	if t.Weight < 0 || t.Priority < 0 || t.Capacity < 0 {
		p = append(p, "weight, priority and capacity must not be negative")
	}
	return p
}

// peerProblems are the checks of PUT /v1/peers and PutPeer.
func peerProblems(pe ledger.Peer) []string {
	var p []string
	if pe.Status != ledger.PeerActive && pe.Status != ledger.PeerDisabled {
		p = append(p, fmt.Sprintf("status %q: want active or disabled", pe.Status))
	}
	if len(pe.ServicePoints) == 0 {
		p = append(p, "service_points: at least one is required")
	}
	for _, sp := range pe.ServicePoints {
		if !strings.HasPrefix(sp.URL, "http://") && !strings.HasPrefix(sp.URL, "https://") {
			p = append(p, fmt.Sprintf("service_points %q: want an http:// or https:// URL", sp.URL))
		}
		if sp.Weight < 0 {
			p = append(p, fmt.Sprintf("service_points %q: weight must not be negative", sp.URL))
		}
	}
	for i, pem := range pe.TrustedCAs {
		if !strings.Contains(pem, "-----BEGIN CERTIFICATE-----") {
			p = append(p, fmt.Sprintf("trusted_cas #%d: not a PEM certificate", i+1))
		}
	}
	if pe.CPSLimit < 0 || pe.ConcurrentLimit < 0 {
		p = append(p, "cps_limit and concurrent_limit must not be negative")
	}
	p = append(p, pe.BillingIdentity.Problems()...)
	return p
}

// planConfig diffs cfg against cur and returns the plan and the commands
// that carry it out, in dependency order: network, decks, members, peers,
// trunks, routes, then removals (routes before the trunks and peers they
// name).
func planConfig(cfg *NetworkConfig, cur *runningConfig, opts ApplyOptions) (*Plan, []ledger.Command, error) {
	plan := &Plan{Changes: []PlanChange{}}
	var cmds []ledger.Command
	note := func(action, kind, id string, fields []string) {
		plan.Changes = append(plan.Changes, PlanChange{Action: action, Kind: kind, ID: id, Fields: fields})
	}

	if want := cfg.Network; want != nil {
		switch {
		case cur.network == nil:
			note(ActionAdd, "network", want.ID, nil)
			cmds = append(cmds, ledger.SetNetwork{Network: *want})
		case !sameNetwork(*cur.network, *want):
			a, b := *cur.network, *want
			a.BillingBasis, b.BillingBasis = ledger.BillingBasis(basisText(a.BillingBasis)), ledger.BillingBasis(basisText(b.BillingBasis))
			f, err := changedFields(a, b)
			if err != nil {
				return nil, nil, err
			}
			note(ActionChange, "network", want.ID, f)
			cmds = append(cmds, ledger.SetNetwork{Network: *want})
		}
	}

	// decks, version by version
	curVersions := map[string]ledger.DeckVersion{}
	for id, vs := range cur.decks {
		for _, v := range vs {
			curVersions[id+"\x00"+v.EffectiveFrom.UTC().Format(time.RFC3339Nano)] = v
		}
	}
	fileVersions := map[string]bool{}
	for _, d := range cfg.Decks {
		key := d.DeckID + "\x00" + d.EffectiveFrom.Format(time.RFC3339Nano)
		fileVersions[key] = true
		id := d.DeckID + "@" + d.EffectiveFrom.Format(time.RFC3339)
		old, ok := curVersions[key]
		if ok {
			old.EffectiveFrom = old.EffectiveFrom.UTC()
			if !old.EffectiveUntil.IsZero() {
				old.EffectiveUntil = old.EffectiveUntil.UTC()
			}
			f, err := changedFields(old, d)
			if err != nil {
				return nil, nil, err
			}
			if len(f) == 0 {
				continue
			}
			note(ActionChange, "deck", id, f)
		} else {
			note(ActionAdd, "deck", id, nil)
		}
		for i := 0; i < len(d.Rows) || i == 0; i += deckChunk {
			part := d
			part.Rows = d.Rows[i:min(i+deckChunk, len(d.Rows))]
			cmds = append(cmds, ledger.PutDeckVersion{Version: part, AppendRows: i > 0})
		}
	}
	unmanagedVersions := 0
	for k := range curVersions {
		if !fileVersions[k] {
			unmanagedVersions++
		}
	}

	curMembers := map[string]ledger.Member{}
	for _, m := range cur.members {
		curMembers[m.ID] = m
	}
	fileMembers := map[string]bool{}
	for _, m := range cfg.Members {
		fileMembers[m.ID] = true
		if old, ok := curMembers[m.ID]; ok {
			f, err := changedFields(old, m)
			if err != nil {
				return nil, nil, err
			}
			if len(f) == 0 {
				continue
			}
			note(ActionChange, "member", m.ID, f)
		} else {
			note(ActionAdd, "member", m.ID, nil)
		}
		cmds = append(cmds, ledger.PutMember{Member: m})
	}

	curPeers := map[string]ledger.Peer{}
	for _, p := range cur.peers {
		curPeers[p.ID] = p
	}
	filePeers := map[string]bool{}
	for _, p := range cfg.Peers {
		filePeers[p.ID] = true
		if old, ok := curPeers[p.ID]; ok {
			f, err := changedFields(old, p)
			if err != nil {
				return nil, nil, err
			}
			if len(f) == 0 {
				continue
			}
			note(ActionChange, "peer", p.ID, f)
		} else {
			note(ActionAdd, "peer", p.ID, nil)
		}
		cmds = append(cmds, ledger.PutPeer{Peer: p})
	}

	curTrunks := map[string]ledger.Trunk{}
	for _, t := range cur.trunks {
		curTrunks[t.ID] = t
	}
	fileTrunks := map[string]bool{}
	for _, t := range cfg.Trunks {
		fileTrunks[t.ID] = true
		if old, ok := curTrunks[t.ID]; ok {
			f, err := changedFields(old, t)
			if err != nil {
				return nil, nil, err
			}
			if len(f) == 0 {
				continue
			}
			note(ActionChange, "trunk", t.ID, f)
		} else {
			note(ActionAdd, "trunk", t.ID, nil)
		}
		cmds = append(cmds, ledger.PutTrunk{Trunk: t})
	}

	// routes: only the differing ones, in PutRoutes chunks
	rp := &plan.Routes
	rp.InFile = len(cfg.Routes)
	listed := 0
	noteRoute := func(action, prefix string) {
		if listed < maxListedRoutes {
			note(action, "route", prefix, nil)
			listed++
		} else {
			rp.Unlisted++
		}
	}
	sorted := append([]ledger.Route(nil), cfg.Routes...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Prefix < sorted[j].Prefix })
	inFile := make(map[string]bool, len(sorted))
	var put []ledger.Route
	for _, r := range sorted {
		inFile[r.Prefix] = true
		b, err := json.Marshal(r)
		if err != nil {
			return nil, nil, err
		}
		old, ok := cur.routes[r.Prefix]
		switch {
		case !ok:
			rp.Add++
			noteRoute(ActionAdd, r.Prefix)
		case !bytes.Equal(old, b):
			rp.Change++
			noteRoute(ActionChange, r.Prefix)
		default:
			rp.Unchanged++
			continue
		}
		put = append(put, r)
	}
	var gone []string
	for _, p := range cur.routeOrder {
		if !inFile[p] {
			gone = append(gone, p)
		}
	}
	if opts.Prune {
		for _, p := range gone {
			rp.Remove++
			noteRoute(ActionRemove, p)
		}
	}
	if opts.Prune && len(gone) > routeChunk {
		// Many removals: replace the whole table through the import's
		// bulk path (a ReplaceAll chunk, then plain chunks) rather than
		// one RemoveRoute per prefix.
		for i := 0; i < len(sorted) || i == 0; i += routeChunk {
			cmds = append(cmds, ledger.PutRoutes{Routes: sorted[i:min(i+routeChunk, len(sorted))], ReplaceAll: i == 0})
		}
	} else {
		for i := 0; i < len(put); i += routeChunk {
			cmds = append(cmds, ledger.PutRoutes{Routes: put[i:min(i+routeChunk, len(put))]})
		}
		if opts.Prune {
			for _, p := range gone {
				cmds = append(cmds, ledger.RemoveRoute{Prefix: p})
			}
		}
	}

	// removals of trunks and peers, after the routes that named them
	var absent []string
	count := func(n int, what string) {
		if n > 0 {
			absent = append(absent, fmt.Sprintf("%d %s", n, what))
		}
	}
	var goneTrunks, gonePeers []string
	for _, t := range cur.trunks {
		if !fileTrunks[t.ID] {
			goneTrunks = append(goneTrunks, t.ID)
		}
	}
	for _, p := range cur.peers {
		if !filePeers[p.ID] {
			gonePeers = append(gonePeers, p.ID)
		}
	}
	if opts.Prune {
		for _, id := range goneTrunks {
			note(ActionRemove, "trunk", id, nil)
			cmds = append(cmds, ledger.RemoveTrunk{ID: id})
		}
		for _, id := range gonePeers {
			note(ActionRemove, "peer", id, nil)
			cmds = append(cmds, ledger.RemovePeer{ID: id})
		}
	} else {
		count(len(goneTrunks), "trunk(s)")
		count(len(gonePeers), "peer(s)")
		count(len(gone), "route(s)")
	}
	if len(absent) > 0 {
		plan.Unmanaged = append(plan.Unmanaged, strings.Join(absent, ", ")+" not in the file (--prune removes them)")
	}
	goneMembers := 0
	for _, m := range cur.members {
		if !fileMembers[m.ID] {
			goneMembers++
		}
	}
	if goneMembers > 0 {
		plan.Unmanaged = append(plan.Unmanaged, fmt.Sprintf("%d member(s) not in the file, kept even with --prune (the ledger keeps members for settlement: give one status: suspended to refuse its calls)", goneMembers))
	}
	if unmanagedVersions > 0 {
		plan.Unmanaged = append(plan.Unmanaged, fmt.Sprintf("%d deck version(s) not in the file, kept even with --prune (past calls are rated on them)", unmanagedVersions))
	}
	return plan, cmds, nil
}

// changedFields lists the JSON fields (one level of nesting, dotted) whose
// values differ between old and new.
func changedFields(old, new any) ([]string, error) {
	a, err := jsonFields(old)
	if err != nil {
		return nil, err
	}
	b, err := jsonFields(new)
	if err != nil {
		return nil, err
	}
	var out []string
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	for k := range keys {
		if !bytes.Equal(a[k], b[k]) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

// jsonFields flattens v's JSON object one level deep ("credentials.source_addrs").
func jsonFields(v any) (map[string]json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, err
	}
	out := map[string]json.RawMessage{}
	for k, raw := range top {
		var sub map[string]json.RawMessage
		if len(raw) > 0 && raw[0] == '{' && k != "credit_limit" && json.Unmarshal(raw, &sub) == nil {
			for sk, sv := range sub {
				out[k+"."+sk] = sv
			}
			continue
		}
		out[k] = raw
	}
	return out, nil
}

// ledgerConfigSummary says what configuration the ledger holds besides a
// network ("2 member(s), 1 trunk(s)"; "" when none): the demo refuses to
// seed over any of it.
func (n *Node) ledgerConfigSummary() (string, error) {
	cur, err := n.readConfig()
	if err != nil {
		return "", err
	}
	var parts []string
	add := func(k int, what string) {
		if k > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", k, what))
		}
	}
	add(len(cur.members), "member(s)")
	add(len(cur.trunks), "trunk(s)")
	add(len(cur.peers), "peer(s)")
	add(len(cur.routes), "route(s)")
	add(len(cur.deckIDs), "deck(s)")
	return strings.Join(parts, ", "), nil
}
