package ledger

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Fraud blocks (DESIGN.md, "Fraud blocks"). A block refuses a member's new
// authorisations to a destination prefix, or from a calling number, until
// a release. Both are commands, so every replica enforces the same blocks
// and the ledger keeps who decided what, when, by which rule and on which
// evidence. The bucket is created by the first block (a log without one
// leaves the file, and its digest, as before):
//
//	id → JSON FraudBlockRecord (released blocks stay, for the audit)
var bFraud = []byte("fraud")

// Bounds of a block's fields (a block is written by operators and by
// nodes' detectors; nothing unbounded reaches the log).
const (
	maxFraudID       = 64
	maxFraudField    = 64
	maxFraudText     = 2048
	maxFraudPrefixes = 15
)

// FraudBlock blocks new authorisations of Member (every member when
// empty, which needs Calling) to numbers starting with Prefix, or from
// calling number Calling, or both (both must match). ID is the caller's:
// a detector's finding ID (deterministic across replicas, so the same
// finding proposed by several nodes is one block) or an operator's.
// Apply: Duplicate when ID exists (released or not: a late proposal of a
// released finding does not block again) or when an active block has the
// same scope (Message names it); Invalid on a bad field.
type FraudBlock struct {
	ID       string    `json:"id"`
	At       time.Time `json:"at"`
	Member   string    `json:"member,omitempty"`
	Prefix   string    `json:"prefix,omitempty"`
	Calling  string    `json:"calling,omitempty"`
	Rule     string    `json:"rule"`
	By       string    `json:"by"`
	Reason   string    `json:"reason,omitempty"`
	Evidence string    `json:"evidence,omitempty"`
}

// FraudRelease lifts block ID. NotFound when there is no such block,
// Duplicate when it was already released.
type FraudRelease struct {
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
}

func (FraudBlock) Type() CommandType   { return TypeFraudBlock }
func (FraudRelease) Type() CommandType { return TypeFraudRelease }

// FraudBlockRecord is a block as the ledger keeps it: the block, and its
// release once released.
type FraudBlockRecord struct {
	FraudBlock
	ReleasedAt    time.Time `json:"released_at,omitzero"`
	ReleasedBy    string    `json:"released_by,omitempty"`
	ReleaseReason string    `json:"release_reason,omitempty"`
}

// Active reports whether the block is in force.
func (r *FraudBlockRecord) Active() bool { return r.ReleasedAt.IsZero() }

// Matches reports whether the block refuses a call of member from
// calling to called (E.164 digits).
func (r *FraudBlockRecord) Matches(member, calling, called string) bool {
	if !r.Active() || (r.Member != "" && r.Member != member) {
		return false
	}
	if r.Calling != "" && r.Calling != calling {
		return false
	}
	return len(called) >= len(r.Prefix) && called[:len(r.Prefix)] == r.Prefix
}

func (c *FraudBlock) check() string {
	switch {
	case c.ID == "" || len(c.ID) > maxFraudID:
		return "block id is required (at most 64 bytes)"
	case !nanoSafe(c.At) || c.At.IsZero():
		return "block time missing or out of range"
	case len(c.Member) > maxFraudField || len(c.Calling) > maxFraudField || len(c.Rule) > maxFraudField || len(c.By) > maxFraudField:
		return "block member, calling, rule or by too long"
	case len(c.Reason) > maxFraudText || len(c.Evidence) > maxFraudText:
		return "block reason or evidence too long"
	case c.Prefix == "" && c.Calling == "":
		return "a block needs a destination prefix or a calling number (suspend a member to refuse all its calls)"
	case c.Member == "" && c.Calling == "":
		return "a destination block needs a member (block a route for every member instead)"
	case c.Prefix != "" && (len(c.Prefix) > maxFraudPrefixes || !allDigits(c.Prefix)):
		return "block prefix must be 1 to 15 digits"
	case c.Rule == "" || c.By == "":
		return "block rule and by are required"
	}
	return ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func (a *applier) fraudBlock(c *FraudBlock) *Result {
	if why := c.check(); why != "" {
		return invalid("fraud block: %s", why)
	}
	b, err := a.tx.CreateBucketIfNotExists(bFraud)
	must(err)
	if b.Get([]byte(c.ID)) != nil {
		return &Result{Code: Duplicate, Message: c.ID}
	}
	var same string
	must(b.ForEach(func(k, v []byte) error {
		var r FraudBlockRecord
		must(json.Unmarshal(v, &r))
		if r.Active() && r.Member == c.Member && r.Prefix == c.Prefix && r.Calling == c.Calling {
			same = r.ID
		}
		return nil
	}))
	if same != "" {
		return &Result{Code: Duplicate, Message: same}
	}
	rec := FraudBlockRecord{FraudBlock: *c}
	rec.At = rec.At.UTC()
	putJSON(b, []byte(c.ID), rec)
	a.bumpFraud()
	return &Result{Code: OK, Message: c.ID}
}

func (a *applier) fraudRelease(c *FraudRelease) *Result {
	switch {
	case c.ID == "" || len(c.ID) > maxFraudID:
		return invalid("fraud release: block id is required")
	case !nanoSafe(c.At) || c.At.IsZero():
		return invalid("fraud release: time missing or out of range")
	case c.By == "" || len(c.By) > maxFraudField || len(c.Reason) > maxFraudText:
		return invalid("fraud release: by is required (at most 64 bytes), reason at most 2048")
	}
	b := a.tx.Bucket(bFraud)
	var v []byte
	if b != nil {
		v = b.Get([]byte(c.ID))
	}
	if v == nil {
		return notFound("fraud block %q not found", c.ID)
	}
	var rec FraudBlockRecord
	must(json.Unmarshal(v, &rec))
	if !rec.Active() {
		return &Result{Code: Duplicate, Message: "already released"}
	}
	rec.ReleasedAt, rec.ReleasedBy, rec.ReleaseReason = c.At.UTC(), c.By, c.Reason
	putJSON(b, []byte(c.ID), rec)
	a.bumpFraud()
	return &Result{Code: OK, Message: c.ID}
}

// bumpFraud moves the Fraud generation only (blocks are not the
// network's configuration: exports and config caches stay valid).
func (a *applier) bumpFraud() {
	a.gens.Fraud++
	a.gensDirty = true
}

// FraudBlocks returns every block, active and released, ordered by time
// then ID.
func (s *Store) FraudBlocks() ([]FraudBlockRecord, error) {
	var out []FraudBlockRecord
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bFraud)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var r FraudBlockRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("ledger: decode fraud block %q: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		return out[i].ID < out[j].ID
	})
	return out, err
}

// FraudBlockByID returns block id; ErrNotFound when there is none.
func (s *Store) FraudBlockByID(id string) (FraudBlockRecord, error) {
	var r FraudBlockRecord
	err := s.view(func(tx *bolt.Tx) error {
		var v []byte
		if b := tx.Bucket(bFraud); b != nil {
			v = b.Get([]byte(id))
		}
		if v == nil {
			return fmt.Errorf("%w: fraud block %q", ErrNotFound, id)
		}
		return json.Unmarshal(v, &r)
	})
	return r, err
}
