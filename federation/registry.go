package federation

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"

	"github.com/ospnode/ospnode/ledger"
)

// Registry holds the live Peers of a node, rebuilt from the replicated peer
// records. A peer whose record did not change keeps its runtime (circuit
// breakers, keep-alive connections) across Sync. Safe for concurrent use;
// the zero value is not usable, call NewRegistry.
type Registry struct {
	lo LedgerOptions
	po PeerOptions

	syncMu sync.Mutex // serialises Sync and Put
	mu     sync.RWMutex
	peers  map[string]*entry
}

type entry struct {
	rec  ledger.Peer
	peer *Peer
}

// NewRegistry returns an empty registry that completes ledger records with
// lo and builds peers with po.
func NewRegistry(lo LedgerOptions, po PeerOptions) *Registry {
	return &Registry{lo: lo, po: po, peers: map[string]*entry{}}
}

// Sync makes the registry hold exactly the peers of recs (as
// ledger.Store.Peers returns them): new and changed records are (re)built,
// removed ones closed. A record that cannot be built (bad URL, bad CA PEM,
// missing client certificate) is skipped, and its previous runtime removed,
// and reported in the joined error; the others are still applied.
func (r *Registry) Sync(recs []ledger.Peer) error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	var errs []error
	next := make(map[string]*entry, len(recs))
	r.mu.RLock()
	old := r.peers
	r.mu.RUnlock()
	for _, rec := range recs {
		if e, ok := old[rec.ID]; ok && reflect.DeepEqual(e.rec, rec) {
			next[rec.ID] = e
			continue
		}
		cfg, err := ConfigFromLedger(rec, r.lo)
		if err == nil {
			var p *Peer
			if p, err = NewPeer(cfg, r.po); err == nil {
				next[rec.ID] = &entry{rec: rec, peer: p}
				continue
			}
		}
		errs = append(errs, err)
	}
	r.mu.Lock()
	prev := r.peers
	r.peers = next
	r.mu.Unlock()
	for id, e := range prev {
		if n, ok := next[id]; !ok || n != e {
			e.peer.Close()
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("federation: sync peers: %w", errors.Join(errs...))
	}
	return nil
}

// ReloadClientCertificates rereads the client certificate files of every
// peer that has one (an operator renewed them; the peer record did not
// change, so Sync would keep the old runtime). A peer whose certificate
// changed is rebuilt, and new connections present the new certificate;
// one whose files no longer load keeps its current runtime and is
// reported in the joined error. It returns the ids of the rebuilt peers.
func (r *Registry) ReloadClientCertificates() ([]string, error) {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	r.mu.RLock()
	var todo []*entry
	for _, e := range r.peers {
		if e.rec.ClientCertRef != "" || e.rec.ClientKeyRef != "" {
			todo = append(todo, e)
		}
	}
	r.mu.RUnlock()
	sort.Slice(todo, func(i, j int) bool { return todo[i].rec.ID < todo[j].rec.ID })
	var errs []error
	var rebuilt []string
	for _, e := range todo {
		cfg, err := ConfigFromLedger(e.rec, r.lo)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if cur := e.peer.cfg.ClientCertificate; cur != nil && cfg.ClientCertificate != nil &&
			slices.EqualFunc(cur.Certificate, cfg.ClientCertificate.Certificate, func(a, b []byte) bool { return string(a) == string(b) }) {
			continue // unchanged
		}
		p, err := NewPeer(cfg, r.po)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.mu.Lock()
		r.peers[e.rec.ID] = &entry{rec: e.rec, peer: p}
		r.mu.Unlock()
		e.peer.Close()
		rebuilt = append(rebuilt, e.rec.ID)
	}
	if len(errs) > 0 {
		return rebuilt, fmt.Errorf("federation: reload client certificates: %w", errors.Join(errs...))
	}
	return rebuilt, nil
}

// Put adds or replaces one live peer (for callers that build PeerConfig
// themselves).
func (r *Registry) Put(p *Peer) {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	r.mu.Lock()
	prev := r.peers[p.ID()]
	r.peers[p.ID()] = &entry{peer: p}
	r.mu.Unlock()
	if prev != nil && prev.peer != p {
		prev.peer.Close()
	}
}

// Peer returns the live peer id, or false.
func (r *Registry) Peer(id string) (*Peer, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.peers[id]
	if !ok {
		return nil, false
	}
	return e.peer, true
}

// IDs returns the ids of the live peers, sorted.
func (r *Registry) IDs() []string {
	r.mu.RLock()
	ids := make([]string, 0, len(r.peers))
	for id := range r.peers {
		ids = append(ids, id)
	}
	r.mu.RUnlock()
	slices.Sort(ids)
	return ids
}

// Health returns every live peer's health, ordered by id (for `ospnode
// peer list`).
func (r *Registry) Health() []PeerHealth {
	r.mu.RLock()
	out := make([]PeerHealth, 0, len(r.peers))
	for _, e := range r.peers {
		out = append(out, e.peer.Health())
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
