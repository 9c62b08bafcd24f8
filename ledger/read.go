package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ospnode/ospnode/ledger/money"
)

// Read APIs. Each runs in its own bbolt read transaction: safe for
// concurrent use with ApplyBatch and each other, and consistent within one
// call. After Close they return ErrClosed; a missing record is ErrNotFound.

// Network returns the network identity; ErrNotFound before SetNetwork.
func (s *Store) Network() (Network, error) {
	var n Network
	err := s.view(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bMeta), kNetwork, &n)
	})
	return n, err
}

// Member returns one member.
func (s *Store) Member(id string) (Member, error) {
	var m Member
	err := s.view(func(tx *bolt.Tx) error { return getJSON(tx.Bucket(bMembers), []byte(id), &m) })
	return m, err
}

// Members returns every member ordered by ID.
func (s *Store) Members() ([]Member, error) { return listJSON[Member](s, bMembers, nil) }

// Trunk returns one trunk.
func (s *Store) Trunk(id string) (Trunk, error) {
	var t Trunk
	err := s.view(func(tx *bolt.Tx) error { return getJSON(tx.Bucket(bTrunks), []byte(id), &t) })
	return t, err
}

// Trunks returns the trunks of memberID ("" for all) ordered by ID.
func (s *Store) Trunks(memberID string) ([]Trunk, error) {
	return listJSON(s, bTrunks, func(t *Trunk) bool { return memberID == "" || t.MemberID == memberID })
}

// Peer returns one peer.
func (s *Store) Peer(id string) (Peer, error) {
	var p Peer
	err := s.view(func(tx *bolt.Tx) error { return getJSON(tx.Bucket(bPeers), []byte(id), &p) })
	return p, err
}

// Peers returns every peer ordered by ID.
func (s *Store) Peers() ([]Peer, error) { return listJSON[Peer](s, bPeers, nil) }

// Route returns the route of exactly prefix.
func (s *Store) Route(prefix string) (Route, error) {
	var r Route
	err := s.view(func(tx *bolt.Tx) error { return getJSON(tx.Bucket(bRoutes), routeKey(prefix), &r) })
	return r, err
}

// ForEachRoute calls fn for every route in prefix order inside one read
// transaction (node builds its longest-prefix index from it; compare
// Generations().Routes to know when to rebuild). An error from fn stops
// the walk and is returned.
func (s *Store) ForEachRoute(fn func(Route) error) error {
	return s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bRoutes).ForEach(func(k, v []byte) error {
			var r Route
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("ledger: route %q: %w", k, err)
			}
			return fn(r)
		})
	})
}

// DeckIDs returns the IDs of all rate decks, sorted.
func (s *Store) DeckIDs() ([]string, error) {
	var ids []string
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bDecks).ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		})
	})
	return ids, err
}

// DeckVersions returns every version of deckID (with rows, ordered by
// prefix) ordered by EffectiveFrom; ErrNotFound if the deck has none.
func (s *Store) DeckVersions(deckID string) ([]DeckVersion, error) {
	var out []DeckVersion
	err := s.view(func(tx *bolt.Tx) error {
		deck := tx.Bucket(bDecks).Bucket([]byte(deckID))
		if deck == nil {
			return fmt.Errorf("%w: deck %q", ErrNotFound, deckID)
		}
		return deck.ForEachBucket(func(k []byte) error {
			vb := deck.Bucket(k)
			var dv DeckVersion
			if err := json.Unmarshal(vb.Get(kDeckHeader), &dv); err != nil {
				return fmt.Errorf("ledger: deck %q header: %w", deckID, err)
			}
			err := vb.Bucket(kDeckRows).ForEach(func(_, v []byte) error {
				var row DeckRow
				if err := json.Unmarshal(v, &row); err != nil {
					return fmt.Errorf("ledger: deck %q row: %w", deckID, err)
				}
				dv.Rows = append(dv.Rows, row)
				return nil
			})
			if err != nil {
				return err
			}
			out = append(out, dv)
			return nil
		})
	})
	return out, err
}

// LookupDeckRow finds the version of deckID in force at t (the latest
// EffectiveFrom <= t whose EffectiveUntil is zero or after t) and, in it,
// the row with the longest prefix of number. The returned version has no
// Rows. ErrNotFound if no version is in force or no prefix matches: a
// shorter prefix of another version is never used.
func (s *Store) LookupDeckRow(deckID string, t time.Time, number string) (DeckVersion, DeckRow, error) {
	var (
		dv  DeckVersion
		row DeckRow
	)
	err := s.view(func(tx *bolt.Tx) error {
		deck := tx.Bucket(bDecks).Bucket([]byte(deckID))
		if deck == nil {
			return fmt.Errorf("%w: deck %q", ErrNotFound, deckID)
		}
		c := deck.Cursor()
		k, _ := c.Seek(timeKey(t.Add(1))) // first version after t
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		if k == nil {
			return fmt.Errorf("%w: deck %q has no version in force at %s", ErrNotFound, deckID, t.UTC().Format(time.RFC3339))
		}
		vb := deck.Bucket(k)
		if err := json.Unmarshal(vb.Get(kDeckHeader), &dv); err != nil {
			return fmt.Errorf("ledger: deck %q header: %w", deckID, err)
		}
		if !dv.EffectiveUntil.IsZero() && !t.Before(dv.EffectiveUntil) {
			return fmt.Errorf("%w: deck %q has no version in force at %s", ErrNotFound, deckID, t.UTC().Format(time.RFC3339))
		}
		rows := vb.Bucket(kDeckRows)
		for n := len(number); n > 0; n-- {
			if v := rows.Get([]byte(number[:n])); v != nil {
				return json.Unmarshal(v, &row)
			}
		}
		return fmt.Errorf("%w: deck %q has no prefix of %q", ErrNotFound, deckID, number)
	})
	return dv, row, err
}

// Transaction returns one transaction by ID.
//
// It does not force a commit (see commit.go): transactions never change once
// written, so one still in the open write transaction is served from memory
// and any other from the committed file.
func (s *Store) Transaction(id uint64) (*Transaction, error) {
	if t := s.pendingTx(id); t != nil {
		return t, nil
	}
	var t *Transaction
	err := s.viewCommitted(func(tx *bolt.Tx) error {
		var err error
		t, err = getTransaction(tx, id)
		return err
	})
	return t, err
}

// TransactionByKey returns the transaction authorised for (member,
// messageID, callID), the Authorize idempotency key. Like Transaction, it
// does not force a commit: it is checked on every authorisation (a retry
// gets its transaction back, whatever the limits say now).
func (s *Store) TransactionByKey(member, messageID, callID string) (*Transaction, error) {
	if t := s.pendingTxByKey(member, messageID, callID); t != nil {
		return t, nil
	}
	var t *Transaction
	err := s.viewCommitted(func(tx *bolt.Tx) error {
		b := tx.Bucket(bTxIdem)
		v := b.Get(txIdemKey(member, messageID, callID))
		if len(v) != 8 {
			v = b.Get(txIdemKeyV1(member, messageID, callID)) // recorded by a version 1 command
		}
		if len(v) != 8 {
			return fmt.Errorf("%w: transaction for %s/%s/%s", ErrNotFound, member, messageID, callID)
		}
		var err error
		t, err = getTransaction(tx, beU64(v))
		return err
	})
	return t, err
}

// Usage returns one usage record by ID.
func (s *Store) Usage(id uint64) (*Usage, error) {
	var u *Usage
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		u, err = getUsage(tx, id)
		return err
	})
	return u, err
}

// UsageByKey returns the usage recorded under the idempotency key
// (txid, role, componentID): the record a RecordUsage with that key
// created, whichever command version wrote it (every version keys
// usage_idem the same way). One index lookup and one record read.
// ErrNotFound when no usage has that key, including a txid of 0 (usage
// without a TransactionId is keyed by reporter).
func (s *Store) UsageByKey(txid uint64, role Role, componentID string) (*Usage, error) {
	if txid == 0 {
		return nil, fmt.Errorf("%w: usage for transaction 0", ErrNotFound)
	}
	key := usageIdemKey(&RecordUsage{TransactionID: txid, Role: role, ComponentID: componentID})
	var u *Usage
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bUsageIdem).Get(key)
		if v == nil {
			// Recorded with a phase (version 4): keyed by ids and content,
			// so the call's records under these ids follow one prefix. The
			// paid final wins, then the latest record.
			prefix := lifeIdemKey(nil, &RecordUsage{TransactionID: txid, Role: role, ComponentID: componentID}, [16]byte{})
			prefix = prefix[:len(prefix)-16]
			var best *Usage
			c := tx.Bucket(bUsageIdem).Cursor()
			for k, rv := c.Seek(prefix); k != nil && len(k) == len(prefix)+16 && string(k[:len(prefix)]) == string(prefix); k, rv = c.Next() {
				res, err := DecodeResult(rv)
				if err != nil {
					return fmt.Errorf("ledger: usage index of transaction %d: %w", txid, err)
				}
				cu, err := getUsage(tx, res.UsageID)
				if err != nil {
					return err
				}
				if best == nil || usageOutranks(cu, best) {
					best = cu
				}
			}
			if best != nil {
				u = best
				return nil
			}
			return fmt.Errorf("%w: usage for transaction %d role %s component %q", ErrNotFound, txid, role, componentID)
		}
		res, err := DecodeResult(v)
		if err != nil {
			return fmt.Errorf("ledger: usage index of transaction %d: %w", txid, err)
		}
		u, err = getUsage(tx, res.UsageID)
		return err
	})
	return u, err
}

// usageOutranks reports whether a stands for its call before b: a paid
// final before anything else, then the later record.
func usageOutranks(a, b *Usage) bool {
	ap := a.Phase == PhaseFinal && !a.Conflict && !a.Unmatched
	bp := b.Phase == PhaseFinal && !b.Conflict && !b.Unmatched
	if ap != bp {
		return ap
	}
	return a.ID > b.ID
}

// UsageFilter selects usage records for ListUsage. Zero fields match all.
type UsageFilter struct {
	// Member: records whose source member or reporter is this member ID.
	Member string
	// From / To bound the call's end time (its record time when End is
	// unknown): From <= t < To.
	From, To time.Time
	// CalledPrefix: the called number starts with it.
	CalledPrefix string
	// UnmatchedOnly: only records of unknown or expired transactions.
	UnmatchedOnly bool
	// OverLimitOnly: only records that reported more than their
	// transaction's time limit (Usage.OverLimit). A filter on the scan,
	// not an index: combine it with Member or a time range on big stores.
	OverLimitOnly bool
	// After is the cursor: only IDs greater than it (pass the last ID seen).
	After uint64
	// Limit caps the result (default 1000, at most 100000).
	Limit int
}

// ListUsage returns matching usage records in ID (apply) order. Page with
// After = the last returned ID; fewer than Limit results means the end.
func (s *Store) ListUsage(f UsageFilter) ([]Usage, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	if limit > 100000 {
		limit = 100000
	}
	var out []Usage
	match := func(u *Usage) bool {
		if f.CalledPrefix != "" && !strings.HasPrefix(u.Called, f.CalledPrefix) {
			return false
		}
		if f.UnmatchedOnly && !u.Unmatched {
			return false
		}
		if f.OverLimitOnly && !u.OverLimit {
			return false
		}
		t := u.End
		if t.IsZero() {
			t = u.RecordedAt
		}
		if !f.From.IsZero() && t.Before(f.From) {
			return false
		}
		if !f.To.IsZero() && !t.Before(f.To) {
			return false
		}
		return true
	}
	err := s.view(func(tx *bolt.Tx) error {
		var c *bolt.Cursor
		var prefix []byte
		switch {
		case f.Member != "":
			c = tx.Bucket(bUsageByMember).Cursor()
			prefix = append([]byte(f.Member), 0)
		case f.UnmatchedOnly:
			c = tx.Bucket(bUsageUnmatch).Cursor()
		default:
			c = tx.Bucket(bUsage).Cursor()
		}
		seek := append(append([]byte{}, prefix...), u64key(f.After+1)...)
		if f.After == ^uint64(0) {
			return nil
		}
		ub := tx.Bucket(bUsage)
		for k, v := c.Seek(seek); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Next() {
			var u *Usage
			if f.Member == "" && !f.UnmatchedOnly {
				r := rbuf{b: v}
				u = decodeUsage(&r)
				if r.err != nil {
					return fmt.Errorf("ledger: usage %d: %w", beU64(k), r.err)
				}
			} else {
				id := beU64(k[len(prefix):])
				r := rbuf{b: ub.Get(u64key(id))}
				u = decodeUsage(&r)
				if r.err != nil {
					return fmt.Errorf("ledger: usage %d: %w", id, r.err)
				}
			}
			if match(u) {
				out = append(out, *u)
			}
		}
		return nil
	})
	return out, err
}

// Balances returns every account balance, ordered by account then
// currency. They are maintained incrementally by Apply; Audit recomputes them.
func (s *Store) Balances() ([]Balance, error) {
	var out []Balance
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bBalances).ForEach(func(k, v []byte) error {
			b, err := decodeBalance(k, v)
			if err != nil {
				return err
			}
			out = append(out, b)
			return nil
		})
	})
	return out, err
}

// Balance returns one account's balance in currency (zero if it has none).
func (s *Store) Balance(account, currency string) (money.Amount, error) {
	return s.balance(s.view, account, currency)
}

func (s *Store) balance(view func(func(*bolt.Tx) error) error, account, currency string) (money.Amount, error) {
	a := money.Zero(currency)
	err := view(func(tx *bolt.Tx) error {
		k := balanceKey(account, currency)
		v := tx.Bucket(bBalances).Get(k)
		if v == nil {
			return nil
		}
		b, err := decodeBalance(k, v)
		a = b.Amount
		return err
	})
	return a, err
}

// CommittedBalance is Balance on the committed file only (see commit.go): it
// may miss the postings of the last CommitInterval, and never forces a
// commit. For the credit check on every authorisation, which is an
// estimate already (holds of calls in flight are per node).
func (s *Store) CommittedBalance(account, currency string) (money.Amount, error) {
	return s.balance(s.viewCommitted, account, currency)
}

// PostingFilter selects postings. Zero fields match all.
type PostingFilter struct {
	Account  string    // postings with a line on this account
	Currency string    // postings with a line in this currency
	From, To time.Time // From <= EffectiveAt < To
	After    uint64    // cursor: IDs greater than it
	Limit    int       // default 1000, at most 100000
}

// Postings returns matching postings in ID (chain) order.
func (s *Store) Postings(f PostingFilter) ([]Posting, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	if limit > 100000 {
		limit = 100000
	}
	var out []Posting
	err := s.view(func(tx *bolt.Tx) error {
		if f.After == ^uint64(0) {
			return nil
		}
		c := tx.Bucket(bPostings).Cursor()
		for k, v := c.Seek(u64key(f.After + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			p, err := decodePosting(v)
			if err != nil {
				return fmt.Errorf("ledger: posting %d: %w", beU64(k), err)
			}
			if !f.From.IsZero() && p.EffectiveAt.Before(f.From) {
				continue
			}
			if !f.To.IsZero() && !p.EffectiveAt.Before(f.To) {
				continue
			}
			if f.Account != "" || f.Currency != "" {
				hit := false
				for _, l := range p.Lines {
					if (f.Account == "" || l.Account == f.Account) && (f.Currency == "" || l.Amount.Currency() == f.Currency) {
						hit = true
						break
					}
				}
				if !hit {
					continue
				}
			}
			out = append(out, *p)
		}
		return nil
	})
	return out, err
}

// Periods returns the closed periods in order, then the open period
// (Closed false, ID "", Start = the last End, zero End).
func (s *Store) Periods() ([]Period, error) {
	var out []Period
	err := s.view(func(tx *bolt.Tx) error {
		var last time.Time
		err := tx.Bucket(bPeriods).ForEach(func(k, v []byte) error {
			var p Period
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("ledger: period: %w", err)
			}
			last = p.End
			out = append(out, p)
			return nil
		})
		out = append(out, Period{Start: last})
		return err
	})
	return out, err
}

// PendingOutbox returns up to limit undelivered outbox items for peer
// ("" for every peer), oldest first (default limit 100).
func (s *Store) PendingOutbox(peer string, limit int) ([]OutboxItem, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []OutboxItem
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bOutbox).Cursor()
		var prefix []byte
		if peer != "" {
			prefix = append([]byte(peer), 0)
		}
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Next() {
			r := rbuf{b: v}
			o := decodeOutbox(&r)
			if r.err != nil {
				return fmt.Errorf("ledger: outbox %q: %w", k, r.err)
			}
			out = append(out, *o)
		}
		return nil
	})
	if peer == "" {
		sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	}
	return out, err
}

// IsRevoked reports whether a certificate serial (hex, any case, ':'
// separators allowed) has been revoked.
func (s *Store) IsRevoked(serial string) (bool, error) {
	var hit bool
	err := s.view(func(tx *bolt.Tx) error {
		hit = tx.Bucket(bRevoked).Get([]byte(NormalizeSerial(serial))) != nil
		return nil
	})
	return hit, err
}

// RevokedCerts returns every revoked serial ordered by serial.
func (s *Store) RevokedCerts() ([]RevokedCert, error) { return listJSON[RevokedCert](s, bRevoked, nil) }

// NormalizeSerial lower-cases a hex serial and drops ':' and leading zeros.
func NormalizeSerial(serial string) string {
	s := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(serial), ":", ""))
	s = strings.TrimLeft(s, "0")
	if s == "" {
		return "0"
	}
	return s
}

// helpers

func getJSON(b *bolt.Bucket, k []byte, v any) error {
	raw := b.Get(k)
	if raw == nil {
		return fmt.Errorf("%w: %q", ErrNotFound, k)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("ledger: decode %q: %w", k, err)
	}
	return nil
}

func listJSON[T any](s *Store, bucket []byte, keep func(*T) bool) ([]T, error) {
	var out []T
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			var x T
			if err := json.Unmarshal(v, &x); err != nil {
				return fmt.Errorf("ledger: decode %s %q: %w", bucket, k, err)
			}
			if keep == nil || keep(&x) {
				out = append(out, x)
			}
			return nil
		})
	})
	return out, err
}

func getTransaction(tx *bolt.Tx, id uint64) (*Transaction, error) {
	v := tx.Bucket(bTx).Get(u64key(id))
	if v == nil {
		return nil, fmt.Errorf("%w: transaction %d", ErrNotFound, id)
	}
	r := rbuf{b: v}
	t := decodeTransaction(&r)
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("ledger: transaction %d: %w", id, err)
	}
	return t, nil
}

func getUsage(tx *bolt.Tx, id uint64) (*Usage, error) {
	v := tx.Bucket(bUsage).Get(u64key(id))
	if v == nil {
		return nil, fmt.Errorf("%w: usage %d", ErrNotFound, id)
	}
	r := rbuf{b: v}
	u := decodeUsage(&r)
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("ledger: usage %d: %w", id, err)
	}
	return u, nil
}

// Stats are cheap counters for metrics and `ospnode status`.
type Stats struct {
	AppliedIndex   uint64 `json:"applied_index"`
	UsageRecords   uint64 `json:"usage_records"`   // ever recorded (ids are dense)
	Postings       uint64 `json:"postings"`        // ever posted (ids are dense)
	OutboxEnqueued uint64 `json:"outbox_enqueued"` // ever enqueued
	OutboxPending  int    `json:"outbox_pending"`
	FileBytes      int64  `json:"file_bytes"` // size of the data in the bbolt file
}

// Stats reads the counters in one read transaction (OutboxPending counts
// the pending items, which acknowledgement keeps few).
func (s *Store) Stats() (Stats, error) {
	var st Stats
	err := s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		st.AppliedIndex = getU64(meta, kApplied)
		st.UsageRecords = getU64(meta, kSeqUsage)
		st.Postings = getU64(meta, kSeqPosting)
		st.OutboxEnqueued = getU64(meta, kSeqOutbox)
		st.OutboxPending = tx.Bucket(bOutboxIDs).Stats().KeyN
		st.FileBytes = tx.Size()
		return nil
	})
	return st, err
}

// RecentUsage returns the last limit usage records (at most 1,000,000), in
// ID (apply) order (UsageSince without a time bound).
func (s *Store) RecentUsage(limit int) ([]Usage, error) {
	limit = max(limit, 0)
	return s.UsageSince(time.Time{}, limit, limit)
}
