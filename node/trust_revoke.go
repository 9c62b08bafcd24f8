package node

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"sync/atomic"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node/pki"
)

// revocations answers "is this serial revoked?" for every TLS listener, the
// cluster transport and token verification. Its source of truth is the
// ledger's replicated revocations (`ospnode cert revoke`, POST
// /v1/certs/revoke), so a revocation committed on one node is refused on
// every node as soon as it applies there; the CA directory's own
// revocations (`ospnode ca revoke`) are added when the node shares that
// directory, read at start and at Reload.
//
// The set is rebuilt lazily: every check compares the ledger's Revoked
// generation (a cached counter) with the one the set was built at, so no
// goroutine polls and the first handshake after a revocation applies sees
// it. Safe for concurrent use.
type revocations struct {
	store   *ledger.Store
	caDir   string
	anchors map[string]bool // CA serials: never treated as revoked (see revoked)
	log     *slog.Logger

	mu    sync.Mutex // serialises rebuilds
	cur   atomic.Pointer[revSnapshot]
	local atomic.Pointer[pki.RevocationSet] // from the CA directory
}

type revSnapshot struct {
	gen uint64
	set *pki.RevocationSet
}

func newRevocations(store *ledger.Store, caDir string, anchors []*x509.Certificate, log *slog.Logger) (*revocations, error) {
	rv := &revocations{store: store, caDir: caDir, anchors: map[string]bool{}, log: log}
	for _, c := range anchors {
		rv.anchors[c.SerialNumber.String()] = true
	}
	rv.local.Store(pki.NewRevocationSet())
	if err := rv.reloadLocal(); err != nil {
		return nil, err
	}
	if err := rv.rebuild(); err != nil {
		return nil, fmt.Errorf("node: revocations: %w", err)
	}
	return rv, nil
}

// reloadLocal reads the CA directory's revocations.
func (rv *revocations) reloadLocal() error {
	if rv.caDir == "" {
		return nil
	}
	ca, err := pki.OpenCA(rv.caDir)
	if err != nil {
		return fmt.Errorf("node: revocations of %s: %w", rv.caDir, err)
	}
	set, err := ca.Revoked()
	if err != nil {
		return fmt.Errorf("node: revocations of %s: %w", rv.caDir, err)
	}
	rv.local.Store(set)
	return nil
}

// rebuild reads the ledger's revocations if its generation moved.
func (rv *revocations) rebuild() error {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	gen := rv.store.Generations().Revoked
	if s := rv.cur.Load(); s != nil && s.gen == gen {
		return nil
	}
	rcs, err := rv.store.RevokedCerts()
	if err != nil {
		return err
	}
	set := pki.NewRevocationSet()
	for _, rc := range rcs {
		if n, ok := serialOf(rc.Serial); ok {
			set.Add(n)
		}
	}
	rv.cur.Store(&revSnapshot{gen: gen, set: set})
	return nil
}

// revoked reports whether serial is revoked in the ledger or the CA
// directory. The CA certificates' own serials are exempt: the CA's serial
// is 1, and revoking "1" meant for a leaf must not switch every TLS link
// off (replacing a CA is a new trust anchor, not a revocation). If the
// ledger cannot be read the last set stays in force.
func (rv *revocations) revoked(serial *big.Int) bool {
	if serial == nil || rv.anchors[serial.String()] {
		return false
	}
	s := rv.cur.Load()
	if s.gen != rv.store.Generations().Revoked {
		if err := rv.rebuild(); err != nil && !errors.Is(err, ledger.ErrClosed) {
			rv.log.Warn("revocations: ledger unreadable, keeping the last set", "err", err)
		}
		s = rv.cur.Load()
	}
	return s.set.Contains(serial) || rv.local.Load().Contains(serial)
}

// checker returns revoked as a pki.RevocationChecker.
func (rv *revocations) checker() pki.RevocationChecker { return rv.revoked }
