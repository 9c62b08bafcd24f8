package pki

import (
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Record is one issued certificate as the CA's index keeps it.
type Record struct {
	Serial    string    `json:"serial"` // decimal
	Kind      Kind      `json:"kind"`
	Subject   string    `json:"subject"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	Source    string    `json:"source"` // "issue", "csr" or "enroll"
	Revoked   bool      `json:"revoked,omitempty"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Reason    string    `json:"reason,omitempty"`
	// RetireAt, for token-signing certificates superseded by a rotation,
	// is when the last token the old key may have signed expires; Bundle
	// stops listing the certificate after it.
	RetireAt time.Time `json:"retire_at,omitzero"`
}

// loadIndex reads index.json. Writers hold lock; files are replaced atomically, so readers need not.
func (ca *CA) loadIndex() ([]Record, error) {
	b, err := os.ReadFile(filepath.Join(ca.dir, indexFile))
	if err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	var idx []Record
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("read index %s: %w", indexFile, err)
	}
	return idx, nil
}

// saveIndex rewrites index.json atomically. Caller holds lock.
func (ca *CA) saveIndex(idx []Record) error {
	if idx == nil {
		idx = []Record{}
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("encode index: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(ca.dir, indexFile), append(b, '\n'), certPerm); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	return nil
}

// List returns every certificate the CA has issued, oldest first.
func (ca *CA) List() ([]Record, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return ca.loadIndex()
}

// Revocation reasons (RFC 5280 names). Revoke accepts any of these; the
// zero value means "unspecified".
var RevocationReasons = []string{"unspecified", "keyCompromise", "affiliationChanged",
	"superseded", "cessationOfOperation", "privilegeWithdrawn"}

// Revoke marks serial revoked with reason, in the CA's index. Errors:
// ErrUnknownSerial, ErrAlreadyRevoked, ErrBadRequest for an unknown reason.
func (ca *CA) Revoke(serial *big.Int, reason string) error {
	if reason == "" {
		reason = "unspecified"
	}
	known := false
	for _, r := range RevocationReasons {
		known = known || r == reason
	}
	if !known {
		return fmt.Errorf("revocation reason %q (want one of %v): %w", reason, RevocationReasons, ErrBadRequest)
	}
	if serial == nil {
		return fmt.Errorf("revoke: nil serial: %w", ErrUnknownSerial)
	}
	unlock, err := ca.lock()
	if err != nil {
		return err
	}
	defer unlock()
	idx, err := ca.loadIndex()
	if err != nil {
		return err
	}
	s := serial.String()
	for i := range idx {
		if idx[i].Serial != s {
			continue
		}
		if idx[i].Revoked {
			return fmt.Errorf("revoke %s: %w", s, ErrAlreadyRevoked)
		}
		idx[i].Revoked, idx[i].RevokedAt, idx[i].Reason = true, ca.now().UTC(), reason
		return ca.saveIndex(idx)
	}
	return fmt.Errorf("revoke %s: %w", s, ErrUnknownSerial)
}

// Revoked returns the set of serials this CA has revoked, read from disk now.
func (ca *CA) Revoked() (*RevocationSet, error) {
	idx, err := ca.List()
	if err != nil {
		return nil, err
	}
	rs := NewRevocationSet()
	for _, r := range idx {
		if r.Revoked {
			if n, ok := new(big.Int).SetString(r.Serial, 10); ok {
				rs.Add(n)
			}
		}
	}
	return rs, nil
}

// RevocationChecker reports whether a certificate serial is revoked. It is
// the hook shared by TLS (VerifyConnection / VerifyPeerCertificate) and token
// verification. A nil RevocationChecker revokes nothing. Implementations must
// be safe for concurrent use: TLS calls them from every handshake.
type RevocationChecker func(serial *big.Int) bool

// RevocationSet is a concurrency-safe set of revoked serials. The zero value
// is not usable; call NewRevocationSet. Nodes fill it from the CA directory
// (CA.Revoked) and from revocations replicated through the ledger, and hand
// its Checker to TLS configs: additions take effect at the next handshake.
type RevocationSet struct {
	mu sync.RWMutex
	m  map[string]struct{}
}

// NewRevocationSet returns an empty set.
func NewRevocationSet() *RevocationSet { return &RevocationSet{m: map[string]struct{}{}} }

// Add marks serial revoked.
func (rs *RevocationSet) Add(serial *big.Int) {
	rs.mu.Lock()
	rs.m[serial.String()] = struct{}{}
	rs.mu.Unlock()
}

// Contains reports whether serial is revoked (false for nil).
func (rs *RevocationSet) Contains(serial *big.Int) bool {
	if serial == nil {
		return false
	}
	rs.mu.RLock()
	_, ok := rs.m[serial.String()]
	rs.mu.RUnlock()
	return ok
}

// Len returns the number of revoked serials.
func (rs *RevocationSet) Len() int {
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	return len(rs.m)
}

// Checker returns rs.Contains as a RevocationChecker.
func (rs *RevocationSet) Checker() RevocationChecker { return rs.Contains }
