package ledger

import (
	"encoding/json"
	"hash/fnv"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
)

// TransactionID layout (see DESIGN.md): bit 63 is 0 (ids fit an int64 and
// OSP's signed parsers), bits 56..62 the network's TxIDEpoch, bits 16..55
// the Raft log index of the entry, bits 0..15 the command's position in the
// entry. Every replica derives the same id, ids never repeat within an
// epoch, and no counter has to be read or written for it.
const (
	maxEpoch    = 127
	posBits     = 16
	indexBits   = 40
	maxPosition = 1<<posBits - 1
	maxTxIndex  = 1<<indexBits - 1
)

// TransactionIDFor returns the id Apply assigns to an Authorize at
// position pos of log entry index under epoch, and false when the id space
// is exhausted (index or position too large).
func TransactionIDFor(epoch uint8, index uint64, pos int) (uint64, bool) {
	if epoch > maxEpoch || index > maxTxIndex || pos < 0 || pos > maxPosition {
		return 0, false
	}
	return uint64(epoch)<<(posBits+indexBits) | index<<posBits | uint64(pos), true
}

// TransactionIndex returns the log index encoded in a transaction id made by
// TransactionIDFor: the entry whose apply created it. A replica that has
// applied that index holds the transaction, if it exists. For a network
// with a number, Network.TransactionIndex reads its ids.
func TransactionIndex(id uint64) uint64 {
	return (id >> posBits) & maxTxIndex
}

// The layout of a numbered network's TransactionIDs (Network.TxIDNetwork
// 1..255; DESIGN.md "TransactionIDs"): bit 63 is 0, bits 55..62 the
// network number, bits 52..54 the epoch (0..7), bits 12..51 the log index
// (as wide as without a number), bits 0..11 the position (≤ 4,095
// commands per entry; consensus batches 512). Two networks with different
// numbers never issue the same id, so their CDRs cannot be confused.
const (
	maxTxNetwork     = 255
	maxNumberedEpoch = 7
	numPosBits       = 12
	maxNumPosition   = 1<<numPosBits - 1
	numEpochShift    = numPosBits + indexBits // 52
	numNetworkShift  = numEpochShift + 3      // 55
)

// NetworkTransactionIDFor is TransactionIDFor for network number number
// (1..255); 0 is TransactionIDFor itself (the layout of a network without
// a number). False when the id space is exhausted or a field out of range.
func NetworkTransactionIDFor(number, epoch uint8, index uint64, pos int) (uint64, bool) {
	if number == 0 {
		return TransactionIDFor(epoch, index, pos)
	}
	if epoch > maxNumberedEpoch || index > maxTxIndex || pos < 0 || pos > maxNumPosition {
		return 0, false
	}
	return uint64(number)<<numNetworkShift | uint64(epoch)<<numEpochShift | index<<numPosBits | uint64(pos), true
}

// TransactionIndex returns the log index in one of n's transaction ids
// (TransactionIndex's rule, in n's layout).
func (n Network) TransactionIndex(id uint64) uint64 {
	if n.TxIDNetwork == 0 {
		return TransactionIndex(id)
	}
	return (id >> numPosBits) & maxTxIndex
}

// DeriveTxIDNetwork is the network number `network init` gives network id
// unless told one: 1..255 from a hash of the id (FNV-1a), so two networks
// get different numbers unless their ids happen to collide in 255 (then
// one is configured).
func DeriveTxIDNetwork(id string) uint8 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return uint8(1 + h.Sum32()%maxTxNetwork)
}

// TransactionNetwork returns the network number in one of n's layout's
// ids (0 for a network without a number): whose id it is.
func TransactionNetwork(id uint64) uint8 { return uint8(id >> numNetworkShift) }

func (a *applier) authorize(pos int, c *Authorize) *Result {
	if c.At.IsZero() {
		return invalid("authorize: At is required")
	}
	if !validID(c.SourceMember) || c.Called == "" {
		return invalid("authorize: source member and called number are required")
	}
	if c.MessageID == "" && c.CallID == "" {
		return invalid("authorize: message id or call id is required (idempotency key)")
	}
	for i, d := range c.Destinations {
		if (d.Kind != DestTrunk && d.Kind != DestPeer) || d.ID == "" {
			return invalid("authorize: destination %d: kind %q id %q", i, d.Kind, d.ID)
		}
	}
	if c.UpstreamTransactionID != 0 && c.UpstreamPeer == "" {
		return invalid("authorize: upstream transaction id without upstream peer")
	}
	key := txIdemKey(c.SourceMember, c.MessageID, c.CallID)
	if c.legacyV1 {
		key = txIdemKeyV1(c.SourceMember, c.MessageID, c.CallID)
	} else if r := checkAuthorizeBounds(c); r != nil {
		return r
	}
	if !keyFits(key) {
		// Only a version 1 command gets here (version 2 keys are
		// bounded): bbolt would refuse the key, which used to panic.
		return invalid("authorize: idempotency key of %d bytes is over the store's limit", len(key))
	}
	if v := a.get(bTxIdem, key); v != nil {
		t, err := getTransaction(a.tx, beU64(v))
		must(err)
		if why := AuthorizeKeyReuse(t, c.Called, c.Calling); why != "" && !c.legacyV1 {
			// Nothing is written either way, so logs that answered such a
			// retry Duplicate replay to the same state.
			return invalid("authorize: %s", why)
		}
		return &Result{Code: Duplicate, Message: "already authorised", TransactionID: t.ID, Transaction: t}
	}
	m, exists := a.memberForAuthorize(c.SourceMember)
	if !exists {
		return rejected("authorize: member %q does not exist", c.SourceMember)
	}
	if m.Status != MemberActive {
		return rejected("authorize: member %q is %s", m.ID, m.Status)
	}
	var ad *admission
	if !c.ActiveUntil.IsZero() {
		var refused *Result
		if ad, refused = a.admit(c, m.limits); refused != nil {
			return refused
		}
	}
	nw := a.network()
	id, ok := NetworkTransactionIDFor(nw.TxIDNetwork, nw.TxIDEpoch, a.index, pos)
	if !ok {
		return rejected("authorize: transaction id space of network number %d epoch %d exhausted at index %d position %d", nw.TxIDNetwork, nw.TxIDEpoch, a.index, pos)
	}
	t := &Transaction{
		ID:                    id,
		SourceMember:          c.SourceMember,
		MessageID:             c.MessageID,
		CallID:                c.CallID,
		Calling:               c.Calling,
		Called:                c.Called,
		CreatedAt:             c.At.UTC(),
		Destinations:          c.Destinations,
		TimeLimit:             c.TimeLimit,
		UsageDeadline:         c.UsageDeadline,
		UpstreamPeer:          c.UpstreamPeer,
		UpstreamTransactionID: c.UpstreamTransactionID,
	}
	a.kbuf = appendU64(a.kbuf[:0], id)
	if a.get(bTx, a.kbuf) != nil {
		// Only possible if the epoch was lowered again: refuse rather than
		// overwrite a transaction someone holds a token for.
		return rejected("authorize: transaction id %d already used (epoch reused?)", id)
	}
	a.scratch.b = a.scratch.b[:0]
	encodeTransaction(&a.scratch, t)
	must(a.bucket(bTx).Put(a.kbuf, a.keep(a.scratch.b)))
	must(a.bucket(bTxIdem).Put(key, a.keepU64(id)))
	if ad != nil {
		a.commitAdmission(ad, id)
	}
	return &Result{Code: OK, TransactionID: id, Transaction: t}
}

// AuthorizeKeyReuse says why an authorisation that repeats transaction
// t's idempotency key (member, messageId, Call-ID) is not a retry of it:
// it asks for another called or calling number. "" for a true retry. A
// reused key with other content is refused, as a payment API refuses an
// idempotency key reused for another payment: answering it with t's
// tokens would authorise a number nobody asked for.
func AuthorizeKeyReuse(t *Transaction, called, calling string) string {
	if digitsOf(called) != digitsOf(t.Called) {
		return "messageId and Call-ID already used for a call to another number"
	}
	if digitsOf(calling) != digitsOf(t.Calling) {
		return "messageId and Call-ID already used for a call from another number"
	}
	return ""
}

// memberForAuthorize returns the ID, Status and admission limits of
// member id as stored (the only fields authorize reads) and whether it
// exists. The decoded
// JSON is cached for the batch until a command changes a member (every
// write to bMembers bumps gens.Members), so a batch of one member's
// authorisations decodes it once.
func (a *applier) memberForAuthorize(id string) (memberIDStatus, bool) {
	if a.reference {
		clear(a.memberCache)
	}
	if a.memberCacheGen != a.gens.Members {
		clear(a.memberCache)
	}
	if m, ok := a.memberCache[id]; ok {
		return m, true
	}
	a.kbuf = append(a.kbuf[:0], id...)
	mraw := a.get(bMembers, a.kbuf)
	if mraw == nil {
		return memberIDStatus{}, false // not cached: rare, and a later PutMember must be seen
	}
	var m Member
	must(json.Unmarshal(mraw, &m))
	if a.memberCache == nil {
		a.memberCache = make(map[string]memberIDStatus, 4)
	}
	a.memberCacheGen = a.gens.Members
	e := memberIDStatus{ID: m.ID, Status: m.Status,
		limits: memberLimits{CreditLimit: m.CreditLimit, CPSLimit: m.CPSLimit, ConcurrentLimit: m.ConcurrentLimit}}
	a.memberCache[id] = e
	return e, true
}

type memberIDStatus struct {
	ID     string
	Status MemberStatus
	limits memberLimits // for admission
}

// usageIdemKey: 't' id role component, or 'r' reporter key.
func usageIdemKey(c *RecordUsage) []byte {
	var w wbuf
	if c.TransactionID != 0 {
		w.byte1('t')
		w.b = append(w.b, u64key(c.TransactionID)...)
		w.byte1(byte(c.Role))
		w.str(c.ComponentID)
		return w.b
	}
	w.byte1('r')
	w.str(c.Reporter)
	w.str(c.ReporterKey)
	return w.b
}

// postedKey is the post-once key of a rated usage: (TransactionId, role,
// componentId). Version 1 commands used (TransactionId, componentId), so a
// destination-role report sharing the source report's componentId was
// recorded but never posted; they keep that key on replay (legacy).
func postedKey(txID uint64, role Role, component string, legacy bool) []byte {
	k := u64key(txID)
	if !legacy {
		// 0xff cannot start a componentId (not UTF-8, so not in XML): a
		// version 2 key never equals a version 1 key.
		k = append(k, 0xff, byte(role))
	}
	return append(k, component...)
}

// checkUsage validates what every version of RecordUsage must hold.
func checkUsage(c *RecordUsage) *Result {
	if c.At.IsZero() {
		return invalid("usage: At is required")
	}
	if c.Role != RoleSource && c.Role != RoleDestination {
		return invalid("usage: role %d (want source or destination)", c.Role)
	}
	if c.Reporter == "" {
		return invalid("usage: reporter is required")
	}
	if c.TransactionID == 0 && c.ReporterKey == "" {
		return invalid("usage: transaction id or reporter key is required (idempotency key)")
	}
	if c.DurationMillis < 0 {
		return invalid("usage: negative duration")
	}
	if r := checkQuality(c.Quality); r != nil {
		return r
	}
	if rt := c.Rating; rt != nil {
		if rt.BillableSeconds < 0 || rt.BuySeconds() < 0 {
			return invalid("usage: negative billable seconds")
		}
		if rt.Sell.Sign() < 0 || rt.Buy.Sign() < 0 {
			return invalid("usage: negative rated amount")
		}
		if !rt.Sell.IsZero() && rt.SellCounterparty == "" {
			return invalid("usage: sell amount without counterparty")
		}
		if !rt.Buy.IsZero() && rt.BuyCounterparty == "" {
			return invalid("usage: buy amount without counterparty")
		}
	}
	return nil
}

func (a *applier) recordUsage(c *RecordUsage) *Result {
	if r := checkUsage(c); r != nil {
		return r
	}
	if c.Phase != PhaseNone {
		return a.recordCallUsage(c)
	}
	a.ikey = appendUsageIdemKey(a.ikey[:0], c)
	key := a.ikey
	if v := a.get(bUsageIdem, key); v != nil {
		res, err := DecodeResult(v)
		must(err)
		res.Code = Duplicate
		res.Message = "usage already recorded"
		return res
	}

	a.loadCounters()
	u := newUsage(c)
	var t *Transaction
	if c.TransactionID != 0 {
		a.kbuf = appendU64(a.kbuf[:0], c.TransactionID)
		if raw := a.get(bTx, a.kbuf); raw != nil {
			r := rbuf{b: raw}
			if a.reference {
				t = decodeTransaction(&r)
			} else {
				t = decodeTransactionForUsage(&r)
			}
			must(r.done())
			if !t.UsageDeadline.IsZero() && c.At.After(t.UsageDeadline) {
				t = nil // expired: recorded, but unmatched
			}
		}
	}
	u.Unmatched = t == nil
	if t != nil {
		u.SourceMember = t.SourceMember
	}

	a.pkey = appendPostedKey(a.pkey[:0], c.TransactionID, c.Role, c.ComponentID, c.legacyV1)
	posted := a.pkey
	p, msg, refused := a.usagePosting(c, c.Rating, posted)
	if refused != nil {
		return refused
	}
	// Only the source side's usage is cascaded: we are the source towards
	// the upstream peer. A destination-role report for a forwarded
	// transaction (a mixed answer's local trunk) never went through the
	// peer. Version 1 commands cascaded either role (kept on replay).
	cascade := t != nil && t.UpstreamPeer != "" && (c.Role == RoleSource || c.legacyV1)
	if !a.usageKeysFit(key, posted, u, t, p, cascade) {
		return invalid("usage: a field is too long for the store's keys")
	}
	res := a.writeUsage(u, t, p, posted, cascade, msg)
	if c.Role == RoleSource && c.TransactionID != 0 {
		a.releaseCall(c.TransactionID, c.Reporter) // the call has ended
	}
	a.storeUsageResult(key, res)
	return res
}

// recordCallUsage applies a usage with a Phase (version 4): the call's
// lifecycle per transaction and role (lifecycle.go, DESIGN.md "Usage
// lifecycle"). Exactly one final record per transaction and role is paid,
// at most the authorised time (the proposer rated the capped duration); a
// later final that says something else is a conflict, kept and flagged;
// a setup or interim record pays and releases nothing; usage that does not
// belong to its transaction is unmatched.
func (a *applier) recordCallUsage(c *RecordUsage) *Result {
	if !nanoSafe(c.At, c.Start, c.Connect, c.End) {
		return invalid("usage: time out of range")
	}
	if c.Phase > PhaseFailed {
		return invalid("usage: phase %d", c.Phase)
	}
	h := a.contentHash(c)
	a.ikey = lifeIdemKey(a.ikey[:0], c, h)
	key := a.ikey
	if v := a.get(bUsageIdem, key); v != nil {
		res, err := DecodeResult(v)
		must(err)
		res.Code = Duplicate
		res.Message = "usage already recorded"
		return res
	}
	var t *Transaction
	if c.TransactionID != 0 {
		a.kbuf = appendU64(a.kbuf[:0], c.TransactionID)
		if raw := a.get(bTx, a.kbuf); raw != nil {
			r := sharedRbuf(raw) // one string copy for all its fields
			t = decodeTransaction(&r)
			must(r.done())
			if !t.UsageDeadline.IsZero() && c.At.After(t.UsageDeadline) {
				t = nil // expired: recorded, but unmatched
			}
		}
	}
	if t != nil && !c.Matched {
		return &Result{Code: Stale, Message: "usage names transaction " + itoa(t.ID) + ", which the proposing node had not applied yet", TransactionID: t.ID}
	}
	a.loadCounters()
	u := newUsage(c)
	if t != nil {
		if why := a.usageMismatch(t, c); why != "" {
			u.Mismatch = why
			t = nil
		}
	}
	u.Unmatched = t == nil
	if t != nil {
		u.SourceMember = t.SourceMember
	}

	var life callLife
	pays, ends := false, false
	if t != nil {
		life = a.loadCallLife(t.ID, c.Role)
		switch c.Phase {
		case PhaseFinal:
			switch {
			case life.FinalID == 0:
				pays, ends = true, true
			case life.FinalHash == h:
				// The same final again under other ids: answered as the first.
				return a.finalAgain(life.FinalID)
			default:
				u.Conflict = true
			}
		case PhaseFailed:
			if life.FinalID != 0 {
				u.Conflict = true // a failure after the call's paid final
			} else {
				ends = true
			}
		}
	}
	var adj *basisAdjustment
	if pays && a.network().BillingBasis.Shared() {
		// Both sides settle on one duration: this final was rated knowing
		// the other role's paid final as c.OtherFinal. If the ledger has
		// another by now, the rating is wrong: propose again.
		other := a.loadCallLife(t.ID, otherRole(c.Role))
		if other.FinalID != c.OtherFinal {
			return &Result{Code: Stale, Message: "the other side's final record is not the one this usage was rated against", TransactionID: t.ID}
		}
		if other.FinalID != 0 && c.Adjust != nil {
			var refused *Result
			if adj, refused = a.basisAdjust(other.FinalID, c); refused != nil {
				return refused
			}
		}
	}
	rating := c.Rating
	if !pays {
		u.Rating = nil // a setup, interim, conflicting or unmatched record is never paid
		rating = nil
	} else if rating == nil {
		rating = &Rating{} // matched and rated at zero: no rate applied
		u.Rating = rating
	}
	a.pkey = appendPostedKey(a.pkey[:0], c.TransactionID, c.Role, c.ComponentID, false)
	posted := a.pkey
	p, msg, refused := a.usagePosting(c, rating, posted)
	if refused != nil {
		return refused
	}
	cascade := t != nil && t.UpstreamPeer != "" && c.Role == RoleSource && ends
	if !a.usageKeysFit(key, posted, u, t, p, cascade) {
		return invalid("usage: a field is too long for the store's keys")
	}
	res := a.writeUsage(u, t, p, posted, cascade, msg)
	res.Conflict = u.Conflict
	if adj != nil {
		a.applyBasisAdjustment(adj, u.ID)
	}
	if t != nil {
		switch {
		case c.Phase == PhaseSetup:
			life.Connected = true
			if life.SetupID == 0 {
				life.SetupID = u.ID
			}
		case pays:
			life.FinalID, life.FinalHash = u.ID, h
		case u.Conflict:
			life.Conflicts++
			a.kbuf = append(a.kbuf[:0], lifeConflictKey)
			a.kbuf = appendU64(a.kbuf, u.ID)
			must(a.lifeBucket().Put(a.kbuf, []byte{}))
		}
		if c.Phase != PhaseInterim {
			must(a.lifeBucket().Put(lifeKey(t.ID, c.Role), encodeCallLife(&life)))
		}
		if ends && c.Role == RoleSource {
			a.releaseCall(c.TransactionID, c.Reporter) // the call has ended
		}
	}
	a.storeUsageResult(key, res)
	return res
}

func otherRole(r Role) Role {
	if r == RoleSource {
		return RoleDestination
	}
	return RoleSource
}

// basisAdjustment re-rates the other side's paid final on the billing
// basis duration: its record gets the new rating, and a posting moves the
// difference (nil when there is none).
type basisAdjustment struct {
	usage   *Usage
	rating  *Rating
	posting *Posting
}

// basisAdjust builds (and checks, before any write) the adjustment of
// usage id, the other side's paid final, to c.Adjust.
func (a *applier) basisAdjust(id uint64, c *RecordUsage) (*basisAdjustment, *Result) {
	ou := a.lifeUsage(id)
	old, adjusted := ou.Rating, c.Adjust
	if old == nil {
		old = &Rating{}
	}
	p := &Posting{At: c.At, TransactionID: ou.TransactionID, Memo: "billing basis adjustment", Lines: make([]PostingLine, 0, 4)}
	side := func(oldAmt, newAmt money.Amount, oldParty, newParty, contra string, debitParty bool) *Result {
		if newAmt.Currency() == "" && oldAmt.Currency() == "" {
			return nil
		}
		if oldAmt.Currency() == "" {
			oldAmt = money.Zero(newAmt.Currency())
		}
		if newAmt.Currency() == "" {
			newAmt = money.Zero(oldAmt.Currency())
		}
		if oldParty == "" {
			oldParty = newParty
		}
		if newParty == "" {
			newParty = oldParty
		}
		if oldParty != newParty {
			return rejected("usage: billing basis adjustment of usage %d changes its counterparty", id)
		}
		d, err := newAmt.Sub(oldAmt)
		if err != nil {
			return rejected("usage: billing basis adjustment of usage %d: %v", id, err)
		}
		if d.IsZero() {
			return nil
		}
		if !debitParty {
			d = d.Neg()
		}
		p.Lines = append(p.Lines, PostingLine{Account: newParty, Amount: d}, PostingLine{Account: contra, Amount: d.Neg()})
		return nil
	}
	if res := side(old.Sell, adjusted.Sell, old.SellCounterparty, adjusted.SellCounterparty, AccountRevenue, true); res != nil {
		return nil, res
	}
	if res := side(old.Buy, adjusted.Buy, old.BuyCounterparty, adjusted.BuyCounterparty, AccountCost, false); res != nil {
		return nil, res
	}
	adj := &basisAdjustment{usage: ou, rating: adjusted}
	if len(p.Lines) > 0 {
		p.EffectiveAt, p.LateAdjustment = a.dateInto(firstNonZero(ou.Connect, ou.End, ou.Start, c.At))
		if msg := checkBalanced(p.Lines); msg != "" {
			return nil, rejected("usage: billing basis adjustment: %s", msg)
		}
		for _, l := range p.Lines {
			if !keyLenFits(len(l.Account) + 1 + len(l.Amount.Currency())) {
				return nil, invalid("usage: a field is too long for the store's keys")
			}
		}
		adj.posting = p
	}
	return adj, nil
}

// applyBasisAdjustment writes adj, made by usage id by.
func (a *applier) applyBasisAdjustment(adj *basisAdjustment, by uint64) {
	if adj.posting != nil {
		adj.posting.UsageID = by
		a.post(adj.posting)
	}
	ou := adj.usage
	ou.Rating, ou.AdjustedBy = adj.rating, by
	a.scratch.b = a.scratch.b[:0]
	encodeUsage(&a.scratch, ou)
	a.kbuf = appendU64(a.kbuf[:0], ou.ID)
	must(a.bucket(bUsage).Put(a.kbuf, a.keep(a.scratch.b)))
}

// lifeUsage reads usage id, which a call's lifecycle names: a missing or
// corrupt record stops the node (the state is inconsistent).
func (a *applier) lifeUsage(id uint64) *Usage {
	a.kbuf = appendU64(a.kbuf[:0], id)
	raw := a.get(bUsage, a.kbuf)
	if raw == nil {
		panic("ledger: call lifecycle names usage " + itoa(id) + ", which is not stored")
	}
	r := rbuf{b: raw}
	u := decodeUsage(&r)
	must(r.done())
	return u
}

// finalAgain answers a final record that repeats the call's paid final
// (same content, other ids) with the paid final's result.
func (a *applier) finalAgain(id uint64) *Result {
	u := a.lifeUsage(id)
	return &Result{Code: Duplicate, Message: "usage already recorded (same final record)", TransactionID: u.TransactionID,
		UsageID: u.ID, PostingID: u.PostingID, OutboxID: u.OutboxID, Unmatched: u.Unmatched, LateAdjustment: u.LateAdjustment}
}

func newUsage(c *RecordUsage) *Usage {
	return &Usage{
		TransactionID:    c.TransactionID,
		Role:             c.Role,
		ComponentID:      c.ComponentID,
		Reporter:         c.Reporter,
		ReporterKey:      c.ReporterKey,
		Calling:          c.Calling,
		Called:           c.Called,
		CallID:           c.CallID,
		Start:            c.Start,
		Connect:          c.Connect,
		End:              c.End,
		DurationMillis:   c.DurationMillis,
		TerminationCause: c.TerminationCause,
		Rating:           c.Rating,
		RecordedAt:       c.At,
		OverLimit:        c.OverLimit,
		Phase:            c.Phase,
		Quality:          c.Quality,
	}
}

// usagePosting builds (and checks, before any write) the journal entry of
// rating, unless the (transaction, role, component) already posted; msg
// says so then. A non-nil Result refuses the command.
func (a *applier) usagePosting(c *RecordUsage, rt *Rating, posted []byte) (p *Posting, msg string, refused *Result) {
	if rt == nil || (rt.Sell.IsZero() && rt.Buy.IsZero()) {
		return nil, "", nil
	}
	if c.TransactionID != 0 {
		if v := a.get(bPosted, posted); v != nil {
			return nil, "rating not posted: transaction already posted by usage " + itoa(beU64(v)), nil
		}
	}
	p = &Posting{At: c.At, TransactionID: c.TransactionID, Memo: "usage", Lines: make([]PostingLine, 0, 4)}
	if !rt.Sell.IsZero() {
		p.Lines = append(p.Lines,
			PostingLine{Account: rt.SellCounterparty, Amount: rt.Sell},
			PostingLine{Account: AccountRevenue, Amount: rt.Sell.Neg()})
	}
	if !rt.Buy.IsZero() {
		p.Lines = append(p.Lines,
			PostingLine{Account: AccountCost, Amount: rt.Buy},
			PostingLine{Account: rt.BuyCounterparty, Amount: rt.Buy.Neg()})
	}
	eff := firstNonZero(c.Connect, c.End, c.Start, c.At)
	p.EffectiveAt, p.LateAdjustment = a.dateInto(eff)
	if err := checkBalanced(p.Lines); err != "" {
		return nil, "", rejected("usage: %s", err)
	}
	return p, "", nil
}

// usageKeysFit reports whether every key a usage writes fits bbolt: a
// refused Put inside Apply would panic on every replay of the entry.
// (Lengths of the idempotency key, postedKey, memberUsageKey, outboxKey,
// balanceKey.)
func (a *applier) usageKeysFit(key, posted []byte, u *Usage, t *Transaction, p *Posting, cascade bool) bool {
	fits := keyLenFits(len(key)) && keyLenFits(len(posted))
	if id, ok := cutPrefix(u.Reporter, "member:"); ok && id != "" {
		fits = fits && keyLenFits(len(id)+9)
	}
	if cascade {
		fits = fits && keyLenFits(len(t.UpstreamPeer)+9)
	}
	if p != nil {
		for _, l := range p.Lines {
			fits = fits && keyLenFits(len(l.Account)+1+len(l.Amount.Currency()))
		}
	}
	return fits
}

// writeUsage assigns u its id and writes it with its posting p (nil:
// none), post-once mark, outbox item (cascade) and indexes.
func (a *applier) writeUsage(u *Usage, t *Transaction, p *Posting, posted []byte, cascade bool, msg string) *Result {
	a.seqUsage++
	u.ID = a.seqUsage
	if p != nil {
		p.UsageID = u.ID
		a.post(p)
		u.PostingID = p.ID
		u.LateAdjustment = p.LateAdjustment
		if u.TransactionID != 0 {
			must(a.bucket(bPosted).Put(posted, a.keepU64(u.ID)))
		}
	}
	var o *OutboxItem
	if cascade {
		a.seqOutbox++
		o = &OutboxItem{ID: a.seqOutbox, Peer: t.UpstreamPeer, UpstreamTransactionID: t.UpstreamTransactionID, CreatedAt: u.RecordedAt}
		u.OutboxID = o.ID
	}
	a.scratch.b = a.scratch.b[:0]
	encodeUsage(&a.scratch, u)
	a.kbuf = appendU64(a.kbuf[:0], u.ID)
	must(a.bucket(bUsage).Put(a.kbuf, a.keep(a.scratch.b)))
	if a.observed != nil {
		*a.observed = append(*a.observed, *u)
	}
	if o != nil {
		o.Usage = *u
		a.scratch.b = a.scratch.b[:0]
		encodeOutbox(&a.scratch, o)
		a.kbuf = appendSepU64(a.kbuf[:0], o.Peer, o.ID)
		must(a.bucket(bOutbox).Put(a.kbuf, a.keep(a.scratch.b)))
		a.kbuf = appendU64(a.kbuf[:0], o.ID)
		must(a.bucket(bOutboxIDs).Put(a.kbuf, []byte(o.Peer)))
	}
	if u.Unmatched {
		a.kbuf = appendU64(a.kbuf[:0], u.ID)
		must(a.bucket(bUsageUnmatch).Put(a.kbuf, []byte{}))
	}
	byMember := a.bucket(bUsageByMember)
	if u.SourceMember != "" {
		a.kbuf = appendSepU64(a.kbuf[:0], u.SourceMember, u.ID)
		must(byMember.Put(a.kbuf, []byte{}))
	}
	if id, ok := cutPrefix(u.Reporter, "member:"); ok && id != u.SourceMember && id != "" {
		a.kbuf = appendSepU64(a.kbuf[:0], id, u.ID)
		must(byMember.Put(a.kbuf, []byte{}))
	}
	return &Result{Code: OK, Message: msg, TransactionID: u.TransactionID, UsageID: u.ID,
		PostingID: u.PostingID, OutboxID: u.OutboxID, Unmatched: u.Unmatched, LateAdjustment: u.LateAdjustment}
}

// storeUsageResult keeps res under the usage's idempotency key: a repeat
// is answered with it.
func (a *applier) storeUsageResult(key []byte, res *Result) {
	enc := EncodeResult(res)
	must(a.bucket(bUsageIdem).Put(key, enc))
	if !a.reference {
		a.encodedFor, a.encoded = res, enc // ApplyBatch returns the same bytes
	}
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return "", false
}

func memberUsageKey(member string, id uint64) []byte {
	k := make([]byte, 0, len(member)+9)
	k = append(k, member...)
	k = append(k, 0)
	return append(k, u64key(id)...)
}

func outboxKey(peer string, id uint64) []byte {
	k := make([]byte, 0, len(peer)+9)
	k = append(k, peer...)
	k = append(k, 0)
	return append(k, u64key(id)...)
}

func firstNonZero(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// dateInto returns the effective date of a posting for an event at t: t
// itself, or the start of the open period (flagged late) when t falls in a
// closed period.
func (a *applier) dateInto(t time.Time) (time.Time, bool) {
	open := a.openPeriodStart()
	if !open.IsZero() && t.Before(open) {
		return open, true
	}
	return t.UTC(), false
}

func (a *applier) ackOutbox(c *AckOutbox) *Result {
	ids := a.bucket(bOutboxIDs)
	ob := a.bucket(bOutbox)
	n := 0
	for _, id := range c.IDs {
		peer := ids.Get(u64key(id))
		if peer == nil {
			continue
		}
		must(ob.Delete(outboxKey(string(peer), id)))
		must(ids.Delete(u64key(id)))
		n++
	}
	return &Result{Code: OK, Count: n}
}

func (a *applier) closePeriod(c *ClosePeriod) *Result {
	if !validID(c.ID) || c.End.IsZero() {
		return invalid("close period: id and end are required")
	}
	if !nanoSafe(c.End, c.At) {
		return invalid("close period: time out of range")
	}
	if !c.At.IsZero() && c.End.After(c.At) {
		return rejected("close period %q: end %s is in the future", c.ID, c.End.UTC().Format(time.RFC3339))
	}
	start := a.openPeriodStart()
	if !c.End.After(start) {
		return rejected("close period %q: end must be after the previous period's end %s", c.ID, start.Format(time.RFC3339))
	}
	b := a.bucket(bPeriods)
	dup := false
	must(b.ForEach(func(_, v []byte) error {
		var p Period
		must(json.Unmarshal(v, &p))
		if p.ID == c.ID {
			dup = true
		}
		return nil
	}))
	if dup {
		return rejected("close period %q: already closed", c.ID)
	}
	p := Period{ID: c.ID, Start: start, End: c.End.UTC(), Closed: true, ClosedAt: c.At.UTC()}
	putJSON(b, timeKey(p.End), p)
	a.openStart = p.End
	return &Result{Code: OK}
}

func (a *applier) postEntry(c *PostEntry) *Result {
	if c.At.IsZero() {
		return invalid("post entry: At is required")
	}
	if len(c.Lines) < 2 {
		return invalid("post entry: at least two lines are required")
	}
	if !nanoSafe(c.At, c.EffectiveAt) {
		return invalid("post entry: time out of range")
	}
	for i, l := range c.Lines {
		if l.Account == "" || len(l.Account) > maxIDLen+16 {
			return invalid("post entry: line %d has no account", i)
		}
		if l.Amount.Currency() == "" {
			return invalid("post entry: line %d has no currency", i)
		}
	}
	if err := checkBalanced(c.Lines); err != "" {
		return rejected("post entry: %s", err)
	}
	a.loadCounters()
	p := &Posting{At: c.At.UTC(), Memo: c.Memo, Lines: c.Lines}
	p.EffectiveAt, p.LateAdjustment = a.dateInto(firstNonZero(c.EffectiveAt, c.At))
	a.post(p)
	return &Result{Code: OK, PostingID: p.ID, LateAdjustment: p.LateAdjustment}
}
