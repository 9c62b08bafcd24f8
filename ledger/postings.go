package ledger

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/ospnode/ospnode/ledger/money"
)

// checkBalanced returns "" when the lines sum to zero in every currency,
// else a message naming the first unbalanced currency.
func checkBalanced(lines []PostingLine) string {
	if len(lines) <= 4 {
		return checkBalancedSmall(lines)
	}
	return checkBalancedMap(lines)
}

// checkBalancedMap is checkBalanced for any number of lines.
func checkBalancedMap(lines []PostingLine) string {
	sums := map[string]money.Amount{}
	for _, l := range lines {
		cur := l.Amount.Currency()
		s, err := sums[cur].Add(l.Amount)
		if err != nil {
			return err.Error()
		}
		sums[cur] = s
	}
	curs := make([]string, 0, len(sums))
	for c := range sums {
		curs = append(curs, c)
	}
	sort.Strings(curs)
	for _, c := range curs {
		if s := sums[c]; !s.IsZero() {
			return fmt.Sprintf("postings do not balance in %s (off by %s)", c, s.Text())
		}
	}
	return ""
}

// checkBalancedSmall is checkBalanced for a few lines (every usage
// posting) without its map and sort: the same sums in the same order, the
// same first error, the same message for the alphabetically first
// unbalanced currency.
func checkBalancedSmall(lines []PostingLine) string {
	type curSum struct {
		cur string
		sum money.Amount
	}
	var arr [4]curSum
	sums := arr[:0]
	for _, l := range lines {
		cur := l.Amount.Currency()
		i := 0
		for i < len(sums) && sums[i].cur != cur {
			i++
		}
		if i == len(sums) {
			sums = append(sums, curSum{cur: cur})
		}
		s, err := sums[i].sum.Add(l.Amount)
		if err != nil {
			return err.Error()
		}
		sums[i].sum = s
	}
	for i := 1; i < len(sums); i++ { // insertion sort by currency
		for j := i; j > 0 && sums[j].cur < sums[j-1].cur; j-- {
			sums[j], sums[j-1] = sums[j-1], sums[j]
		}
	}
	for _, c := range sums {
		if !c.sum.IsZero() {
			return fmt.Sprintf("postings do not balance in %s (off by %s)", c.cur, c.sum.Text())
		}
	}
	return ""
}

// post assigns the next posting id, chains the hash and updates balances.
// Lines must already be validated and balanced.
func (a *applier) post(p *Posting) {
	a.loadCounters()
	a.seqPosting++
	p.ID = a.seqPosting
	p.PrevHash = a.chainHead
	a.scratch.b = a.scratch.b[:0]
	encodePostingBody(&a.scratch, p)
	// chainHash without its allocations: SHA-256 of the same bytes.
	a.hbuf = append(append(a.hbuf[:0], p.PrevHash[:]...), a.scratch.b...)
	p.Hash = sha256.Sum256(a.hbuf)
	a.scratch.b = append(a.scratch.b, p.Hash[:]...)
	a.kbuf = appendU64(a.kbuf[:0], p.ID)
	must(a.bucket(bPostings).Put(a.kbuf, a.keep(a.scratch.b)))
	a.chainHead = p.Hash

	for _, l := range p.Lines {
		// The map is indexed with string(k) in place, which does not
		// allocate; only a key new to the batch is copied.
		a.kbuf = appendBalanceKey(a.kbuf[:0], l.Account, l.Amount.Currency())
		k := a.kbuf
		if cur, ok := a.balances[string(k)]; ok {
			next, err := cur.Add(l.Amount)
			must(err)
			*cur = next
			continue
		}
		cur := money.Zero(l.Amount.Currency())
		if v := a.get(bBalances, k); v != nil {
			b, err := decodeBalance(k, v)
			must(err)
			cur = b.Amount
		}
		next, err := cur.Add(l.Amount)
		must(err)
		if a.balances == nil {
			a.balances = map[string]*money.Amount{}
		}
		a.balances[string(k)] = &next
	}
}

// flushBalances writes the balances this batch changed (once each, however
// many postings touched them).
func (a *applier) flushBalances() {
	if len(a.balances) == 0 {
		return
	}
	keys := make([]string, 0, len(a.balances))
	for k := range a.balances {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := a.bucket(bBalances)
	for _, k := range keys {
		v := *a.balances[k]
		must(b.Put([]byte(k), []byte(v.Text())))
	}
}

// chainHash is SHA-256(prev ‖ body). body already contains prev (the
// canonical encoding carries PrevHash), so a posting cannot be moved to
// another place in the chain without breaking two hashes.
func chainHash(prev [32]byte, body []byte) [32]byte {
	h := sha256.New()
	h.Write(prev[:])
	h.Write(body)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func balanceKey(account, currency string) []byte {
	k := make([]byte, 0, len(account)+4)
	k = append(k, account...)
	k = append(k, 0)
	return append(k, currency...)
}

func decodeBalance(k, v []byte) (Balance, error) {
	i := bytes.LastIndexByte(k, 0)
	if i < 0 {
		return Balance{}, fmt.Errorf("ledger: balance key %q malformed", k)
	}
	amt, err := money.New(string(v), string(k[i+1:]))
	if err != nil {
		return Balance{}, fmt.Errorf("ledger: balance %q: %w", k, err)
	}
	return Balance{Account: string(k[:i]), Amount: amt}, nil
}

func decodePosting(v []byte) (*Posting, error) {
	if len(v) < 32 {
		return nil, errShort
	}
	body := v[:len(v)-32]
	r := rbuf{b: body}
	p := decodePostingBody(&r)
	if err := r.done(); err != nil {
		return nil, err
	}
	copy(p.Hash[:], v[len(v)-32:])
	return p, nil
}

// AuditReport is the outcome of Audit. OK is true when Problems is empty.
type AuditReport struct {
	OK       bool   `json:"ok"`
	Postings uint64 `json:"postings"`
	// Usage: usage records checked; PaidFinals: matched, paid final
	// records among them (each rated and, when its rating is not zero,
	// posted); Conflicts: finals kept as conflicts, never paid.
	Usage      uint64   `json:"usage"`
	PaidFinals uint64   `json:"paid_finals"`
	Conflicts  uint64   `json:"conflicts"`
	Accounts   int      `json:"accounts"` // (account, currency) pairs
	Head       [32]byte `json:"head"`     // hash of the last posting
	Problems   []string `json:"problems,omitempty"`
}

// auditUsage checks every usage record against the lifecycle rules: a
// matched final that is not a conflict is rated (a matched-but-unrated
// record must not exist) and posted when its rating is not zero; a
// conflict, setup, interim or unmatched record posted nothing; and no
// transaction and role has two paid finals.
func auditUsage(tx *bolt.Tx, rep *AuditReport, problem func(string, ...any)) error {
	life := tx.Bucket(bUsageLife) // nil until the first usage with a phase
	return tx.Bucket(bUsage).ForEach(func(k, v []byte) error {
		rep.Usage++
		r := rbuf{b: v}
		u := decodeUsage(&r)
		if r.err != nil {
			problem("usage %d: undecodable: %v", beU64(k), r.err)
			return nil
		}
		if u.Phase == PhaseNone {
			return nil // recorded before the lifecycle: its version's rules
		}
		if u.Conflict {
			rep.Conflicts++
		}
		pays := u.Phase == PhaseFinal && !u.Conflict && !u.Unmatched
		switch {
		case pays && u.Rating == nil:
			problem("usage %d: matched final of transaction %d not rated", u.ID, u.TransactionID)
		case pays && u.PostingID == 0 && (!u.Rating.Sell.IsZero() || !u.Rating.Buy.IsZero()) &&
			tx.Bucket(bPosted).Get(postedKey(u.TransactionID, u.Role, u.ComponentID, false)) == nil:
			// Posted once per (transaction, role, component): a record of
			// a version before the lifecycle with the same key may have
			// posted it already (a call that spanned an upgrade).
			problem("usage %d: rated final of transaction %d not posted", u.ID, u.TransactionID)
		case !pays && u.PostingID != 0:
			problem("usage %d: %s record (conflict %v, unmatched %v) posted %d", u.ID, u.Phase, u.Conflict, u.Unmatched, u.PostingID)
		}
		if pays {
			rep.PaidFinals++
			// The call's lifecycle names the one paid final: any other is a
			// second payment for the same call.
			var l callLife
			var err error
			if lv := bucketGet(life, lifeKey(u.TransactionID, u.Role)); lv != nil {
				l, err = decodeCallLife(lv)
			}
			if err != nil || l.FinalID != u.ID {
				problem("transaction %d role %s: usage %d paid, but the call's paid final is usage %d (%v)", u.TransactionID, u.Role, u.ID, l.FinalID, err)
			}
		}
		return nil
	})
}

func bucketGet(b *bolt.Bucket, k []byte) []byte {
	if b == nil {
		return nil
	}
	return b.Get(k)
}

// maxProblems caps the report so a corrupt store does not produce
// millions of lines.
const maxProblems = 100

// Audit re-verifies the ledger from its postings in one read transaction:
// every posting decodes, balances per currency, has consecutive ids, links
// to its predecessor's hash and hashes to what is stored; the chain head
// in meta matches; and every stored balance equals the sum of the
// postings (and no balance exists without postings). Findings are
// Problems, not errors; the error is for I/O or a closed store.
func (s *Store) Audit() (AuditReport, error) {
	var rep AuditReport
	problem := func(format string, args ...any) {
		if len(rep.Problems) < maxProblems {
			rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
		}
	}
	err := s.view(func(tx *bolt.Tx) error {
		sums := map[string]money.Amount{} // balanceKey → sum
		var prev [32]byte
		var want uint64 = 1
		err := tx.Bucket(bPostings).ForEach(func(k, v []byte) error {
			id := beU64(k)
			rep.Postings++
			if id != want {
				problem("posting %d: expected id %d (gap or reorder)", id, want)
			}
			want = id + 1
			p, err := decodePosting(v)
			if err != nil {
				problem("posting %d: undecodable: %v", id, err)
				prev = [32]byte{}
				if len(v) >= 32 {
					copy(prev[:], v[len(v)-32:])
				}
				return nil
			}
			if p.ID != id {
				problem("posting %d: body says id %d", id, p.ID)
			}
			if p.PrevHash != prev {
				problem("posting %d: previous hash does not link to posting %d", id, id-1)
			}
			if got := chainHash(p.PrevHash, v[:len(v)-32]); got != p.Hash {
				problem("posting %d: hash mismatch (tampered)", id)
			}
			if msg := checkBalanced(p.Lines); msg != "" {
				problem("posting %d: %s", id, msg)
			}
			for _, l := range p.Lines {
				k := string(balanceKey(l.Account, l.Amount.Currency()))
				sum, err := sums[k].Add(l.Amount)
				if err != nil {
					problem("posting %d: %v", id, err)
					continue
				}
				sums[k] = sum
			}
			prev = p.Hash
			return nil
		})
		if err != nil {
			return err
		}
		rep.Head = prev
		var head [32]byte
		copy(head[:], tx.Bucket(bMeta).Get(kChainHead))
		if head != prev {
			problem("chain head in meta %x does not match the last posting %x", head[:8], prev[:8])
		}
		seen := map[string]bool{}
		err = tx.Bucket(bBalances).ForEach(func(k, v []byte) error {
			rep.Accounts++
			seen[string(k)] = true
			b, err := decodeBalance(k, v)
			if err != nil {
				problem("%v", err)
				return nil
			}
			sum, ok := sums[string(k)]
			if !ok {
				sum = money.Zero(b.Amount.Currency())
			}
			if !sum.Equal(b.Amount) && !(sum.IsZero() && b.Amount.IsZero()) {
				problem("balance %s %s: stored %s, postings sum to %s", b.Account, b.Amount.Currency(), b.Amount.Text(), sum.Text())
			}
			return nil
		})
		if err != nil {
			return err
		}
		missing := make([]string, 0)
		for k, sum := range sums {
			if !seen[k] && !sum.IsZero() {
				missing = append(missing, k)
			}
		}
		sort.Strings(missing) // map order must not make reports differ
		for _, k := range missing {
			sum := sums[k]
			problem("balance %s missing (postings sum to %s)", strings.ReplaceAll(k, "\x00", " "), sum.Text())
		}
		return auditUsage(tx, &rep, problem)
	})
	rep.OK = len(rep.Problems) == 0
	return rep, err
}
