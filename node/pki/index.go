package pki

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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

// indexEvent is one line of index.jsonl. The index is an append-only log
// (issue, revoke, retire), so issuing costs one appended line and one fsync
// however many certificates came before, and the file doubles as an audit
// trail. Ops are never renamed; an unknown op is an error, not skipped.
type indexEvent struct {
	Op       string    `json:"op"` // "issue", "revoke", "retire"
	Record   *Record   `json:"record,omitempty"`
	Serial   string    `json:"serial,omitempty"`
	At       time.Time `json:"at,omitzero"`
	Reason   string    `json:"reason,omitempty"`
	RetireAt time.Time `json:"retire_at,omitzero"`
}

// loadIndex replays index.jsonl into records, oldest first. A last line
// without its newline is a write torn by a crash and is ignored (the next
// append cuts it off). Writers hold lock; readers need not, because lines
// are appended whole before the newline is seen.
func (ca *CA) loadIndex() ([]Record, error) {
	b, err := os.ReadFile(filepath.Join(ca.dir, indexFile))
	if err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	if i := bytes.LastIndexByte(b, '\n'); i+1 != len(b) {
		b = b[:i+1]
	}
	var idx []Record
	pos := map[string]int{}
	for n, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var ev indexEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			return nil, fmt.Errorf("read index %s line %d: %w", indexFile, n+1, err)
		}
		switch ev.Op {
		case "issue":
			if ev.Record == nil {
				return nil, fmt.Errorf("read index %s line %d: issue without record", indexFile, n+1)
			}
			pos[ev.Record.Serial] = len(idx)
			idx = append(idx, *ev.Record)
		case "revoke", "retire":
			i, ok := pos[ev.Serial]
			if !ok {
				return nil, fmt.Errorf("read index %s line %d: %s of unknown serial %s", indexFile, n+1, ev.Op, ev.Serial)
			}
			if ev.Op == "revoke" {
				idx[i].Revoked, idx[i].RevokedAt, idx[i].Reason = true, ev.At, ev.Reason
			} else {
				idx[i].RetireAt = ev.RetireAt
			}
		default:
			return nil, fmt.Errorf("read index %s line %d: unknown op %q", indexFile, n+1, ev.Op)
		}
	}
	return idx, nil
}

// appendIndex appends events as lines and syncs. Caller holds lock.
func (ca *CA) appendIndex(evs ...indexEvent) error {
	var buf bytes.Buffer
	for _, ev := range evs {
		line, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("encode index event: %w", err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	path := filepath.Join(ca.dir, indexFile)
	f, err := os.OpenFile(path, os.O_RDWR, certPerm)
	if err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	defer f.Close()
	if err := cutTornTail(f); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	return nil
}

// cutTornTail truncates f after its last newline, dropping a line a crash
// left half written.
func cutTornTail(f *os.File) error {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return err
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, st.Size()-1); err != nil {
		return err
	}
	if last[0] == '\n' {
		return nil
	}
	b, err := io.ReadAll(io.NewSectionReader(f, 0, st.Size()))
	if err != nil {
		return err
	}
	return f.Truncate(int64(bytes.LastIndexByte(b, '\n') + 1))
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
		return ca.appendIndex(indexEvent{Op: "revoke", Serial: s, At: ca.now().UTC(), Reason: reason})
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
