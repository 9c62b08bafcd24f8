package testnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/osp"
)

// Loopback source addresses of the default carriers (DefaultSeed). Members
// are recognised by source address, so a simulated proxy of carrier A must
// dial from CarrierASource and one of carrier B from CarrierBSource.
// 127.0.0.1 is left to the nodes themselves: a peer network's forwarded
// requests come from it (see Link).
const (
	CarrierA       = "carrier-a"
	CarrierB       = "carrier-b"
	CarrierASource = "127.0.0.2"
	CarrierBSource = "127.0.0.3"
	// CarrierADevice is carrier A's DeviceId and CustomerId.
	CarrierADevice = "1000"
	// PeerSource is the address a node's forwarded requests come from.
	PeerSource = "127.0.0.1"
)

// SeedEffective is EffectiveFrom of every deck the testnet seeds.
var SeedEffective = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// MaxNodes bounds NetworkSpec.Nodes.
const MaxNodes = 7

// ErrSpec wraps every invalid NetworkSpec or TopologySpec.
var ErrSpec = errors.New("testnet: invalid topology")

// NetworkSpec describes one peering network (one Raft cluster). The zero
// value of every field selects the default its comment names. It is the
// element of a topology file's "networks" list (JSON field names below).
type NetworkSpec struct {
	// Name is the network id (ledger Network.ID), e.g. "PURPLE"
	// (default "NET1", "NET2", … by position). Letters, digits, '-', '_'.
	Name string `json:"name,omitempty"`
	// Nodes is the cluster size, 1..MaxNodes (default 1).
	Nodes int `json:"nodes,omitempty"`
	// Currency is the network's settlement currency (default USD).
	Currency string `json:"currency,omitempty"`

	// Members, Trunks, Routes, Decks and Peers are proposed after the
	// network is set. When all of Members, Trunks, Routes and Decks are
	// empty and NoDefaults is false, DefaultSeed's carriers, decks and
	// routes are used. Peers are always added (links add more).
	Members    []ledger.Member      `json:"members,omitempty"`
	Trunks     []ledger.Trunk       `json:"trunks,omitempty"`
	Routes     []ledger.Route       `json:"routes,omitempty"`
	Decks      []ledger.DeckVersion `json:"decks,omitempty"`
	Peers      []ledger.Peer        `json:"peers,omitempty"`
	NoDefaults bool                 `json:"no_defaults,omitempty"`

	// TokenKind is the default token kind: "signed" (default), "text", "xml".
	TokenKind string `json:"token_kind,omitempty"`
}

// Link makes From a downstream network of To: From forwards calls for
// Prefixes to To and settles with it. StartTopology wires it as
//
//   - on From: a ledger Peer (id = To's name in lower case) whose service
//     points are To's OSP URLs, trusting To's CA, with OurMemberID = From's
//     name; a buy deck "buy-peer-<to>" (To's sell rates); and a route per
//     prefix to that peer (replacing From's own route for the prefix);
//   - on To: a member "net-<from>" recognised from PeerSource with
//     DeviceId/CustomerId = From's name, with a sell deck
//     "sell-net-<from>" (what To charges From) and a buy deck
//     "buy-net-<from>" (what To pays From for calls From terminates).
type Link struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Prefixes From routes to To (default ["33"], a destination the
	// default seed terminates on every network, so a call from From's
	// carrier A to 33… crosses the link).
	Prefixes []string `json:"prefixes,omitempty"`
}

// TopologySpec is several networks and the links between them: the format
// of a topology file (see DESIGN.md and testdata/topology-3tier.json).
type TopologySpec struct {
	Networks []NetworkSpec `json:"networks"`
	Links    []Link        `json:"links,omitempty"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$`)

// normalize fills defaults and validates s as network number i (0-based).
func (s *NetworkSpec) normalize(i int) error {
	if s.Name == "" {
		s.Name = fmt.Sprintf("NET%d", i+1)
	}
	if !nameRE.MatchString(s.Name) {
		return fmt.Errorf("%w: network name %q: want 1-32 letters, digits, '-' or '_'", ErrSpec, s.Name)
	}
	if s.Nodes == 0 {
		s.Nodes = 1
	}
	if s.Nodes < 1 || s.Nodes > MaxNodes {
		return fmt.Errorf("%w: network %s: %d nodes, want 1..%d", ErrSpec, s.Name, s.Nodes, MaxNodes)
	}
	if s.Currency == "" {
		s.Currency = "USD"
	}
	if _, err := money.New("0", s.Currency); err != nil {
		return fmt.Errorf("%w: network %s: currency: %w", ErrSpec, s.Name, err)
	}
	if s.TokenKind != "" {
		if _, err := osp.ParseTokenKind(s.TokenKind); err != nil {
			return fmt.Errorf("%w: network %s: %w", ErrSpec, s.Name, err)
		}
	}
	return nil
}

func (s *NetworkSpec) tokenKind() osp.TokenKind {
	if s.TokenKind == "" {
		return osp.TokenSigned
	}
	k, _ := osp.ParseTokenKind(s.TokenKind) // validated by normalize
	return k
}

// Normalize fills the defaults of every network and link and validates the
// topology: unique names, links between known, distinct networks, no
// duplicate link. Errors wrap ErrSpec.
func (t *TopologySpec) Normalize() error {
	if len(t.Networks) == 0 {
		return fmt.Errorf("%w: no network", ErrSpec)
	}
	seen := map[string]bool{}
	for i := range t.Networks {
		if err := t.Networks[i].normalize(i); err != nil {
			return err
		}
		k := strings.ToLower(t.Networks[i].Name)
		if seen[k] {
			return fmt.Errorf("%w: network %s named twice", ErrSpec, t.Networks[i].Name)
		}
		seen[k] = true
	}
	pairs := map[[2]string]bool{}
	for i := range t.Links {
		l := &t.Links[i]
		if !seen[strings.ToLower(l.From)] || !seen[strings.ToLower(l.To)] {
			return fmt.Errorf("%w: link %s→%s: unknown network", ErrSpec, l.From, l.To)
		}
		if strings.EqualFold(l.From, l.To) {
			return fmt.Errorf("%w: link %s→%s: a network cannot peer with itself", ErrSpec, l.From, l.To)
		}
		p := [2]string{strings.ToLower(l.From), strings.ToLower(l.To)}
		if pairs[p] {
			return fmt.Errorf("%w: link %s→%s given twice", ErrSpec, l.From, l.To)
		}
		pairs[p] = true
		if len(l.Prefixes) == 0 {
			l.Prefixes = []string{"33"}
		}
		for _, pre := range l.Prefixes {
			if pre == "" || strings.Trim(pre, "0123456789") != "" {
				return fmt.Errorf("%w: link %s→%s: prefix %q is not digits", ErrSpec, l.From, l.To, pre)
			}
		}
	}
	return nil
}

// network returns the spec named name (case-insensitive) and its index.
func (t *TopologySpec) network(name string) (*NetworkSpec, int) {
	for i := range t.Networks {
		if strings.EqualFold(t.Networks[i].Name, name) {
			return &t.Networks[i], i
		}
	}
	return nil, -1
}

// Beyond returns name and every network reachable from it by following
// links upstream (From → To), each once, in breadth-first order: the
// networks whose tokens can come back to a downstream of name.
func (t *TopologySpec) Beyond(name string) []string {
	out := []string{}
	seen := map[string]bool{}
	queue := []string{name}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		ns, _ := t.network(cur)
		if ns == nil || seen[strings.ToLower(ns.Name)] {
			continue
		}
		seen[strings.ToLower(ns.Name)] = true
		out = append(out, ns.Name)
		for _, l := range t.Links {
			if strings.EqualFold(l.From, cur) {
				queue = append(queue, l.To)
			}
		}
	}
	return out
}

// ChainTopology returns networks NET1..NETn of k nodes each, linked
// NET1 → NET2 → … → NETn (each forwards 33… to the next): the topology of
// `ospnode testnet up --networks n --nodes-per-network k`.
func ChainTopology(n, k int) TopologySpec {
	var t TopologySpec
	for i := range n {
		t.Networks = append(t.Networks, NetworkSpec{Name: fmt.Sprintf("NET%d", i+1), Nodes: k})
	}
	for i := 1; i < n; i++ {
		t.Links = append(t.Links, Link{From: t.Networks[i-1].Name, To: t.Networks[i].Name})
	}
	return t
}

// ChainNames are the default names of an n-network chain, as the README's
// tiers: PURPLE originates, YELLOW terminates and the networks between
// are HUB (HUB1, HUB2, … when there are several): PURPLE; PURPLE →
// YELLOW; PURPLE → HUB → YELLOW; PURPLE → HUB1 → HUB2 → YELLOW.
func ChainNames(n int) []string {
	switch {
	case n <= 0:
		return nil
	case n == 1:
		return []string{"PURPLE"}
	}
	names := []string{"PURPLE"}
	for i := 1; i < n-1; i++ {
		if n == 3 {
			names = append(names, "HUB")
		} else {
			names = append(names, fmt.Sprintf("HUB%d", i))
		}
	}
	return append(names, "YELLOW")
}

// NamedChainTopology is ChainTopology with the given network names, in
// chain order: names[0] → names[1] → … (each forwards 33… to the next).
func NamedChainTopology(names []string, k int) TopologySpec {
	var t TopologySpec
	for _, name := range names {
		t.Networks = append(t.Networks, NetworkSpec{Name: name, Nodes: k})
	}
	for i := 1; i < len(names); i++ {
		t.Links = append(t.Links, Link{From: names[i-1], To: names[i]})
	}
	return t
}

// ReadTopology decodes a topology file (JSON, unknown fields refused) and
// normalises it.
func ReadTopology(r io.Reader) (TopologySpec, error) {
	var t TopologySpec
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return t, fmt.Errorf("%w: %w", ErrSpec, err)
	}
	return t, t.Normalize()
}

// LoadTopology reads the topology file at path (see ReadTopology).
func LoadTopology(path string) (TopologySpec, error) {
	f, err := os.Open(path)
	if err != nil {
		return TopologySpec{}, fmt.Errorf("testnet: topology: %w", err)
	}
	defer f.Close()
	t, err := ReadTopology(f)
	if err != nil {
		return t, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}
