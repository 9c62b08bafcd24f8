package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/settlement"
	"github.com/ospnode/ospnode/settlement/quality"
)

// view is an immutable in-memory picture of the ledger's configuration
// tables: members and how to recognise them, trunks, the route index and
// the rate decks. The OSP handlers read it without locks; stateCache
// rebuilds the parts whose ledger Generations moved.
type view struct {
	gens    ledger.Generations
	network ledger.Network

	members   map[string]*ledger.Member
	blocked   map[string]*settlement.PrefixIndex[string] // member id → its blocked prefixes
	addrs     []addrCred                                 // source address/CIDR credentials
	devices   map[string][]string                        // DeviceId → member ids
	customers map[string][]string                        // CustomerId → member ids
	claimable map[string]bool                            // members with Credentials.IdentifyByIDs and ids
	certFP    map[string]string                          // SHA-256 fingerprint → member id
	certSubj  map[string]string                          // subject DN → member id

	trunks map[string]*ledger.Trunk
	routes *settlement.PrefixIndex[ledger.Route]
	// quality: route prefix → its quality thresholds (routes with a
	// quality policy only; quality.go).
	quality map[string]*quality.Thresholds
	decks   *deckCache
	fraud   *fraudBlocks // the ledger's active fraud blocks (admission.go)
}

type addrCred struct {
	prefix netip.Prefix
	member string
}

// deckCache compiles ledger decks into settlement Raters on first use. It
// belongs to one Decks generation.
type deckCache struct {
	store *ledger.Store
	mu    sync.Mutex
	m     map[string]deckEntry
}

type deckEntry struct {
	r   *settlement.Rater
	err error
}

// rater returns the compiled rater of deckID, or an error when the deck is
// missing or invalid (cached too, until the decks change).
func (d *deckCache) rater(deckID string) (*settlement.Rater, error) {
	if deckID == "" {
		return nil, errors.New("no deck")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.m[deckID]; ok {
		return e.r, e.err
	}
	var e deckEntry
	vs, err := d.store.DeckVersions(deckID)
	if err == nil && len(vs) == 0 {
		err = fmt.Errorf("%w: deck %q", ledger.ErrNotFound, deckID)
	}
	if err == nil {
		var deck *settlement.Deck
		if deck, err = settlement.DeckFromLedger(vs); err == nil {
			e.r, err = settlement.NewRater(deck)
		}
	}
	e.err = err
	d.m[deckID] = e
	return e.r, e.err
}

// stateCache holds the current view. Safe for concurrent use.
type stateCache struct {
	store *ledger.Store
	log   *slog.Logger
	cur   atomic.Pointer[view]
	mu    sync.Mutex // serialises rebuilds
}

func newStateCache(s *ledger.Store, log *slog.Logger) *stateCache {
	return &stateCache{store: s, log: log}
}

// get returns a view no older than the ledger's current generations.
func (c *stateCache) get() (*view, error) {
	g := c.store.Generations()
	if v := c.cur.Load(); v != nil && v.gens == g {
		return v, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g = c.store.Generations()
	old := c.cur.Load()
	if old != nil && old.gens == g {
		return old, nil
	}
	v, err := c.build(old, g)
	if err != nil {
		return nil, err
	}
	c.cur.Store(v)
	return v, nil
}

// build makes a view for generations g, reusing the parts of old whose
// table did not change. Reads are not one transaction: a table changing
// during the build only means the next request rebuilds again (its
// generation will differ from g).
func (c *stateCache) build(old *view, g ledger.Generations) (*view, error) {
	v := &view{gens: g}
	if old == nil {
		old = &view{gens: ledger.Generations{Config: ^uint64(0), Network: ^uint64(0), Members: ^uint64(0),
			Trunks: ^uint64(0), Routes: ^uint64(0), Decks: ^uint64(0)}}
	}
	if old.gens.Network == g.Network {
		v.network = old.network
	} else {
		nw, err := c.store.Network()
		if err != nil && !isNotFound(err) {
			return nil, fmt.Errorf("node: read network: %w", err)
		}
		v.network = nw
	}
	if old.gens.Members == g.Members {
		v.members, v.blocked, v.addrs, v.devices, v.customers, v.claimable, v.certFP, v.certSubj =
			old.members, old.blocked, old.addrs, old.devices, old.customers, old.claimable, old.certFP, old.certSubj
	} else if err := c.buildMembers(v); err != nil {
		return nil, err
	} else if ids := claimableIDs(v); len(ids) > 0 && !slices.Equal(ids, claimableIDs(old)) {
		c.log.Warn("members identified by self-declared DeviceId/CustomerId from any address (identify_by_ids): "+
			"anyone reaching the OSP listener can claim to be them", "members", ids)
	}
	if old.gens.Trunks == g.Trunks {
		v.trunks = old.trunks
	} else {
		ts, err := c.store.Trunks("")
		if err != nil {
			return nil, fmt.Errorf("node: read trunks: %w", err)
		}
		v.trunks = make(map[string]*ledger.Trunk, len(ts))
		for i := range ts {
			v.trunks[ts[i].ID] = &ts[i]
		}
	}
	if old.gens.Routes == g.Routes {
		v.routes, v.quality = old.routes, old.quality
	} else {
		start := time.Now()
		var rs []ledger.Route
		if err := c.store.ForEachRoute(func(r ledger.Route) error { rs = append(rs, r); return nil }); err != nil {
			return nil, fmt.Errorf("node: read routes: %w", err)
		}
		ix, err := settlement.NewPrefixIndex(rs, func(r *ledger.Route) string { return r.Prefix })
		if err != nil {
			return nil, fmt.Errorf("node: route index: %w", err)
		}
		v.routes = ix
		v.quality = routeThresholds(rs, c.log)
		c.log.Info("route index rebuilt", "routes", ix.Len(), "took", time.Since(start))
	}
	if old.gens.Fraud == g.Fraud {
		v.fraud = old.fraud
	} else {
		bs, err := c.store.FraudBlocks()
		if err != nil {
			return nil, fmt.Errorf("node: read fraud blocks: %w", err)
		}
		v.fraud = newFraudBlocks(bs)
	}
	if old.gens.Decks == g.Decks && old.decks != nil {
		v.decks = old.decks
	} else {
		v.decks = &deckCache{store: c.store, m: map[string]deckEntry{}}
	}
	return v, nil
}

func (c *stateCache) buildMembers(v *view) error {
	ms, err := c.store.Members()
	if err != nil {
		return fmt.Errorf("node: read members: %w", err)
	}
	v.members = make(map[string]*ledger.Member, len(ms))
	v.blocked = map[string]*settlement.PrefixIndex[string]{}
	v.devices = map[string][]string{}
	v.customers = map[string][]string{}
	v.claimable = map[string]bool{}
	v.certFP = map[string]string{}
	v.certSubj = map[string]string{}
	for i := range ms {
		m := &ms[i]
		v.members[m.ID] = m
		cr := &m.Credentials
		for _, a := range cr.SourceAddrs {
			p, err := parseAddrOrPrefix(a)
			if err != nil {
				c.log.Warn("member source address ignored", "member", m.ID, "addr", a, "err", err)
				continue
			}
			v.addrs = append(v.addrs, addrCred{prefix: p, member: m.ID})
		}
		for _, d := range cr.DeviceIDs {
			v.devices[d] = append(v.devices[d], m.ID)
		}
		for _, d := range cr.CustomerIDs {
			v.customers[d] = append(v.customers[d], m.ID)
		}
		if cr.IdentifyByIDs && len(cr.DeviceIDs)+len(cr.CustomerIDs) > 0 {
			v.claimable[m.ID] = true
		}
		for _, f := range cr.CertFingerprints {
			v.certFP[strings.ToLower(strings.ReplaceAll(f, ":", ""))] = m.ID
		}
		for _, s := range cr.CertSubjects {
			v.certSubj[s] = m.ID
		}
		if len(m.BlockedPrefixes) > 0 {
			ix, err := settlement.NewPrefixIndex(append([]string(nil), m.BlockedPrefixes...), func(s *string) string { return *s })
			if err != nil {
				c.log.Warn("member blocked prefixes ignored", "member", m.ID, "err", err)
				continue
			}
			v.blocked[m.ID] = ix
		}
	}
	return nil
}

func parseAddrOrPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func isNotFound(err error) bool { return errors.Is(err, ledger.ErrNotFound) }

// claimableIDs lists, sorted, the members of v that DeviceId/CustomerId
// alone identify.
func claimableIDs(v *view) []string {
	ids := make([]string, 0, len(v.claimable))
	for id := range v.claimable {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
