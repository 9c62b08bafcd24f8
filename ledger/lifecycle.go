package ledger

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// UsagePhase is where in a call's life a usage report stands. Real proxies
// report twice per call and role under the same messageId and componentId
// (Kamailio's osp module: a setup record at connect, a final record with
// the duration at BYE), so the ledger must tell the two apart by content,
// not by ids (DESIGN.md "Usage lifecycle").
type UsagePhase uint8

// Usage phases. Append only (stored in commands and records).
const (
	// PhaseNone: a command from before the lifecycle (RecordUsage
	// versions 1–3), applied with the rules of its version.
	PhaseNone UsagePhase = 0
	// PhaseSetup: the call connected (or is being set up); no duration.
	// Records "connected", pays nothing, releases nothing.
	PhaseSetup UsagePhase = 1
	// PhaseInterim: a progress report during the call. Recorded, never paid.
	PhaseInterim UsagePhase = 2
	// PhaseFinal: the call ended; the record carries its duration. The
	// first final of a transaction and role is the one paid; a later
	// final with other content is a conflict (kept, flagged, never paid).
	PhaseFinal UsagePhase = 3
	// PhaseFailed: a destination attempt that did not connect. Final for
	// that attempt (it ends the call's admission when the source reports
	// it) but pays nothing, so a later completed attempt is still paid.
	PhaseFailed UsagePhase = 4
)

func (p UsagePhase) String() string {
	switch p {
	case PhaseNone:
		return "none"
	case PhaseSetup:
		return "setup"
	case PhaseInterim:
		return "interim"
	case PhaseFinal:
		return "final"
	case PhaseFailed:
		return "failed"
	}
	return "phase(" + itoa(uint64(p)) + ")"
}

// MarshalText writes the phase's name.
func (p UsagePhase) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads a name written by MarshalText.
func (p *UsagePhase) UnmarshalText(b []byte) error {
	for q := PhaseNone; q <= PhaseFailed; q++ {
		if q.String() == string(b) {
			*p = q
			return nil
		}
	}
	return errors.New("ledger: unknown usage phase " + string(b))
}

// EndsCall reports whether a record of this phase, from the caller, ends
// its call for admission (the concurrent-call slot and credit hold are
// released): a final or failed-attempt record, not a setup or interim one.
func (p UsagePhase) EndsCall() bool { return p == PhaseFinal || p == PhaseFailed }

// bUsageLife holds each call's lifecycle per (transaction, role), and the
// index of conflicting records. Created by the first usage of a phase
// (RecordUsage version 4), so a ledger without any keeps its digest.
var bUsageLife = []byte("usage_life")

// Keys of bUsageLife.
const (
	lifeCallKey     = 'c' // 'c' txid role → callLife
	lifeConflictKey = 'x' // 'x' usage id → empty (conflicting finals, for operators)
)

func lifeKey(tx uint64, role Role) []byte {
	k := make([]byte, 0, 10)
	k = append(k, lifeCallKey)
	k = binary.BigEndian.AppendUint64(k, tx)
	return append(k, byte(role))
}

// callLife is the state of one transaction and role.
type callLife struct {
	Connected bool
	SetupID   uint64   // first setup record
	FinalID   uint64   // the paid final record (0: none yet)
	FinalHash [16]byte // content of the paid final (contentHash)
	Conflicts uint64   // finals that disagreed with FinalID
}

const callLifeVersion = 1

func encodeCallLife(l *callLife) []byte {
	w := wbuf{b: make([]byte, 0, 40)}
	w.byte1(callLifeVersion)
	w.bool(l.Connected)
	w.u(l.SetupID)
	w.u(l.FinalID)
	w.b = append(w.b, l.FinalHash[:]...)
	w.u(l.Conflicts)
	return w.b
}

func decodeCallLife(v []byte) (callLife, error) {
	r := rbuf{b: v}
	var l callLife
	if r.byte1() != callLifeVersion {
		return l, errors.New("ledger: call lifecycle record of an unknown version")
	}
	l.Connected = r.bool()
	l.SetupID = r.u()
	l.FinalID = r.u()
	if h := r.fixed(16); h != nil {
		copy(l.FinalHash[:], h)
	}
	l.Conflicts = r.u()
	if err := r.done(); err != nil {
		return l, err
	}
	return l, nil
}

// contentHash identifies a usage report by what the reporter said, ids
// excluded: two records with equal hashes are the same report (a retry),
// whatever componentId they came under. Rating is the proposer's, not the
// reporter's, so it is left out too.
func (a *applier) contentHash(c *RecordUsage) [16]byte {
	w := wbuf{b: a.hbuf[:0]}
	defer func() { a.hbuf = w.b }()
	w.byte1(byte(c.Role))
	w.byte1(byte(c.Phase))
	w.str(c.Reporter)
	w.str(c.Calling)
	w.str(c.Called)
	w.str(c.CallID)
	w.time(c.Start)
	w.time(c.Connect)
	w.time(c.End)
	w.i(c.DurationMillis)
	w.u(uint64(c.TerminationCause))
	sum := sha256.Sum256(w.b)
	var h [16]byte
	copy(h[:], sum[:16])
	return h
}

// lifeIdemKey is the idempotency key of a version 4 usage: the report's
// ids and its content, so a retry (same ids, same content) is answered as
// the first was while the setup and final records of one call (same ids,
// other content) are both recorded.
func lifeIdemKey(dst []byte, c *RecordUsage, h [16]byte) []byte {
	w := wbuf{b: dst}
	if c.TransactionID != 0 {
		w.byte1('T')
		w.b = appendU64(w.b, c.TransactionID)
		w.byte1(byte(c.Role))
		w.str(c.ComponentID)
	} else {
		w.byte1('R')
		w.str(c.Reporter)
		w.str(c.ReporterKey)
	}
	w.b = append(w.b, h[:]...)
	return w.b
}

// usageMismatch returns why usage c does not belong to transaction t (""
// when it does): its Call-ID, called or calling number differs from what
// was authorised (the called number before or after a candidate's
// translation), or its reporter is not a party of that side of the call.
// Usage that does not match is recorded as unmatched and never rated.
func (a *applier) usageMismatch(t *Transaction, c *RecordUsage) string {
	if t.CallID != "" && c.CallID != t.CallID {
		return "call-id differs from the authorised call's"
	}
	if !calledMatches(t, c.Called) {
		return "called number differs from the authorised call's"
	}
	if digitsOf(t.Calling) != "" && digitsOf(c.Calling) != digitsOf(t.Calling) {
		return "calling number differs from the authorised call's"
	}
	switch c.Role {
	case RoleSource:
		if c.Reporter != MemberAccount(t.SourceMember) {
			return "reporter is not the call's source"
		}
	case RoleDestination:
		if !a.terminates(t, c.Reporter) {
			return "reporter terminates none of the call's destinations"
		}
	}
	return ""
}

func calledMatches(t *Transaction, called string) bool {
	got := digitsOf(called)
	if got == "" {
		return false
	}
	if got == digitsOf(t.Called) {
		return true
	}
	for _, d := range t.Destinations {
		if d.Called != "" && got == digitsOf(d.Called) {
			return true
		}
	}
	return false
}

// digitsOf is s without a leading "+" and surrounding blanks: numbers are
// compared as the proxies write them, E.164 with or without the plus.
func digitsOf(s string) string {
	return strings.TrimPrefix(strings.TrimSpace(s), "+")
}

// terminates reports whether reporter (an account) is the member behind
// one of t's trunk destinations, or the peer of a peer destination.
func (a *applier) terminates(t *Transaction, reporter string) bool {
	for _, d := range t.Destinations {
		switch d.Kind {
		case DestPeer:
			if reporter == PeerAccount(d.ID) {
				return true
			}
		case DestTrunk:
			raw := a.get(bTrunks, []byte(d.ID))
			if raw == nil {
				continue
			}
			var tr struct {
				MemberID string `json:"member_id"`
			}
			if json.Unmarshal(raw, &tr) == nil && reporter == MemberAccount(tr.MemberID) {
				return true
			}
		}
	}
	return false
}

func (a *applier) loadCallLife(tx uint64, role Role) callLife {
	b := a.tx.Bucket(bUsageLife)
	if b == nil {
		return callLife{}
	}
	v := b.Get(lifeKey(tx, role))
	if v == nil {
		return callLife{}
	}
	l, err := decodeCallLife(v)
	must(err)
	return l
}

func (a *applier) lifeBucket() *bolt.Bucket {
	b, err := a.tx.CreateBucketIfNotExists(bUsageLife)
	must(err)
	return b
}

// PaidFinal returns the paid final record of transaction tx's role (nil,
// nil when there is none yet). fresh reads the current state (it commits
// what is pending first, like every read API); otherwise the committed
// file is read, up to one commit interval behind, which suits a guess the
// state machine checks anyway (RecordUsage.OtherFinal).
func (s *Store) PaidFinal(tx uint64, role Role, fresh bool) (*Usage, error) {
	view := s.viewCommitted
	if fresh {
		view = s.view
	}
	var u *Usage
	err := view(func(btx *bolt.Tx) error {
		b := btx.Bucket(bUsageLife)
		if b == nil {
			return nil
		}
		v := b.Get(lifeKey(tx, role))
		if v == nil {
			return nil
		}
		l, err := decodeCallLife(v)
		if err != nil || l.FinalID == 0 {
			return err
		}
		u, err = getUsage(btx, l.FinalID)
		return err
	})
	return u, err
}

// UnfinishedCall is a call that connected (a setup record came in) but
// whose role never sent a final record before its usage deadline: nothing
// is paid for that side. Operators look at these (a proxy that lost its
// BYE, or a carrier withholding its records).
type UnfinishedCall struct {
	TransactionID uint64    `json:"transaction_id"`
	Role          Role      `json:"role"`
	SetupUsageID  uint64    `json:"setup_usage_id"`
	SourceMember  string    `json:"source_member"`
	Called        string    `json:"called"`
	UsageDeadline time.Time `json:"usage_deadline"`
}

// UnfinishedCalls returns up to limit calls whose role connected but sent
// no final record and whose usage deadline passed before at, oldest
// transaction first (a scan of the lifecycle records; for operators).
func (s *Store) UnfinishedCalls(at time.Time, limit int) ([]UnfinishedCall, error) {
	if limit <= 0 {
		limit = 1000
	}
	var out []UnfinishedCall
	err := s.view(func(btx *bolt.Tx) error {
		b := btx.Bucket(bUsageLife)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek([]byte{lifeCallKey}); k != nil && k[0] == lifeCallKey && len(out) < limit; k, v = c.Next() {
			l, err := decodeCallLife(v)
			if err != nil {
				return err
			}
			if !l.Connected || l.FinalID != 0 || len(k) != 10 {
				continue
			}
			txid := binary.BigEndian.Uint64(k[1:9])
			t, err := getTransaction(btx, txid)
			if err != nil {
				return err
			}
			if t.UsageDeadline.IsZero() || !t.UsageDeadline.Before(at) {
				continue
			}
			out = append(out, UnfinishedCall{TransactionID: txid, Role: Role(k[9]), SetupUsageID: l.SetupID,
				SourceMember: t.SourceMember, Called: t.Called, UsageDeadline: t.UsageDeadline})
		}
		return nil
	})
	return out, err
}

// CallRecords is everything the ledger holds about one transaction: what
// support staff look at first.
type CallRecords struct {
	Transaction *Transaction `json:"transaction"`
	// Usage: every record that names the transaction (setup, interim,
	// final, failed, conflicting, unmatched for another call's numbers),
	// in the order they were recorded.
	Usage []Usage `json:"usage"`
	// Paid is, per role, the usage id of the paid final (0: none yet).
	PaidSource      uint64 `json:"paid_source,omitempty"`
	PaidDestination uint64 `json:"paid_destination,omitempty"`
}

// CallRecords returns transaction id with every usage record naming it.
// ErrNotFound when the transaction does not exist (its usage, if any, is
// in ListUsage's unmatched records).
func (s *Store) CallRecords(id uint64) (*CallRecords, error) {
	out := &CallRecords{}
	err := s.view(func(btx *bolt.Tx) error {
		t, err := getTransaction(btx, id)
		if err != nil {
			return err
		}
		out.Transaction = t
		seen := map[uint64]bool{}
		idem := btx.Bucket(bUsageIdem).Cursor()
		for _, tag := range []byte{'t', 'T'} { // versions 1–3, version 4 keys
			prefix := binary.BigEndian.AppendUint64([]byte{tag}, id)
			for k, v := idem.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = idem.Next() {
				res, err := DecodeResult(v)
				if err != nil || res.UsageID == 0 || seen[res.UsageID] {
					continue
				}
				seen[res.UsageID] = true
				u, err := getUsage(btx, res.UsageID)
				if err != nil {
					return err
				}
				out.Usage = append(out.Usage, *u)
			}
		}
		slices.SortFunc(out.Usage, func(a, b Usage) int { return cmp.Compare(a.ID, b.ID) })
		if b := btx.Bucket(bUsageLife); b != nil {
			for role, dst := range map[Role]*uint64{RoleSource: &out.PaidSource, RoleDestination: &out.PaidDestination} {
				if v := b.Get(lifeKey(id, role)); v != nil {
					l, err := decodeCallLife(v)
					if err != nil {
						return err
					}
					*dst = l.FinalID
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// TransactionsByCallID returns the transactions authorised under callID,
// newest first, looking at the most recent scan transactions at most (a
// support lookup, not an index).
func (s *Store) TransactionsByCallID(callID string, scan int) ([]*Transaction, error) {
	var out []*Transaction
	err := s.view(func(btx *bolt.Tx) error {
		c := btx.Bucket(bTx).Cursor()
		n := 0
		for k, v := c.Last(); k != nil && n < scan; k, v = c.Prev() {
			n++
			r := rbuf{b: v}
			t := decodeTransaction(&r)
			if r.err != nil {
				return fmt.Errorf("ledger: transaction %d: %w", binary.BigEndian.Uint64(k), r.err)
			}
			if t.CallID == callID {
				out = append(out, t)
			}
		}
		return nil
	})
	return out, err
}
