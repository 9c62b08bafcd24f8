package settlement

import (
	"fmt"
	"sort"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/ospnode/ospnode/ledger/money"
)

// Class is the outcome of matching one record.
type Class string

// Reconciliation classes, in report order.
const (
	ClassExact      Class = "exact"       // same billable seconds
	ClassPartial    Class = "partial"     // differs by ≤ tolerance
	ClassMismatch   Class = "mismatch"    // differs by more than tolerance
	ClassOursOnly   Class = "ours-only"   // we have it, they do not
	ClassTheirsOnly Class = "theirs-only" // they have it, we do not
)

// Classes lists every class in report order.
var Classes = []Class{ClassExact, ClassPartial, ClassMismatch, ClassOursOnly, ClassTheirsOnly}

// MatchKey says how a pair was matched.
type MatchKey string

const (
	KeyTransactionID MatchKey = "transaction_id"
	// KeyPeerTransactionID: one side's own transaction id is the id the
	// other side's export gives for it (the counterparty network's id for
	// a call forwarded between the two networks).
	KeyPeerTransactionID MatchKey = "peer_transaction_id"
	KeyCallID            MatchKey = "call_id"
	KeyFallback          MatchKey = "calling+called+time" // connect times within the skew
)

// Defaults of ReconcileOptions.
const (
	DefaultTolerance = 2 * time.Second
	DefaultSkew      = 2 * time.Second
)

// ReconcileOptions configure Reconcile. The zero value uses the defaults of
// SETTLEMENT.md: 2 s tolerance, 2 s skew, volume dispute at 1% or 1,000.
type ReconcileOptions struct {
	// Tolerance: a billable-seconds difference up to it is "partial"
	// (0 = DefaultTolerance; negative = none, any difference is a mismatch).
	Tolerance time.Duration
	// Skew: how far connect times may differ for the fallback key
	// (calling, called, connect time); 0 = DefaultSkew.
	Skew time.Duration
	// Period is only a label on the report.
	Period string
	// Currency of the invoice; "" = taken from the rated CDRs.
	Currency string
	// VolumeDisputeRatio (default 0.01 = 1%) and VolumeDisputeMinimum
	// (default 1000, in the invoice currency): a volume dispute is raised
	// when the amount difference is ≥ ratio × invoice OR ≥ minimum.
	VolumeDisputeRatio   *apd.Decimal
	VolumeDisputeMinimum *apd.Decimal
	// Labels for the two sides in reports ("ours", "theirs" by default).
	OursLabel, TheirsLabel string
}

// Match is one reconciled record: a pair, or one side alone.
type Match struct {
	Class  Class
	Key    MatchKey `json:",omitempty"`
	Ours   *CDR     `json:",omitempty"`
	Theirs *CDR     `json:",omitempty"`
	// DiffSeconds is theirs − ours billable seconds (pairs only).
	DiffSeconds int64
	// DiffAmount is theirs − ours when both sides are rated; AmountDiffers
	// says it is non-zero.
	DiffAmount    money.Amount
	AmountDiffers bool
}

// ClassSummary totals one class.
type ClassSummary struct {
	Class         Class
	Count         int
	OursSeconds   int64
	TheirsSeconds int64
	DiffSeconds   int64 // theirs − ours
	OursAmount    money.Amount
	TheirsAmount  money.Amount
	DiffAmount    money.Amount // theirs − ours
}

// Totals are one side's totals.
type Totals struct {
	Calls   int
	Seconds int64
	Amount  money.Amount
	Rated   int // records with an amount
}

// Decision is the dispute decision.
type Decision struct {
	Volume bool // volume dispute raised
	Rate   bool // rate dispute raised
	// VolumeDiff is theirs − ours total amount; VolumePercent its share of
	// their invoice ("1.25" = 1.25%, 2 decimals, half-up).
	VolumeDiff    money.Amount
	VolumePercent string
	// VolumeBasis is "amount" when both sides rated their CDRs (the
	// thresholds apply to amounts), else "seconds": the difference in
	// billable seconds against the ratio alone (the minimum is an amount).
	VolumeBasis       string
	VolumeDiffSeconds int64 // theirs − ours billable seconds
	// RateDiffs counts pairs with equal billable seconds but different
	// amounts; RateDiffAmount sums their differences (theirs − ours).
	RateDiffs      int
	RateDiffAmount money.Amount
	Reasons        []string
}

// Disputed reports whether any dispute is raised.
func (d Decision) Disputed() bool { return d.Volume || d.Rate }

// Report is the result of Reconcile. It is a plain value; Write* render it.
type Report struct {
	Mode          string // "external" or "internal"
	Period        string
	Currency      string
	OursLabel     string
	TheirsLabel   string
	Tolerance     time.Duration
	Skew          time.Duration
	Ours          Totals
	Theirs        Totals
	Classes       []ClassSummary // one per Classes entry, in that order
	AmountDiffs   int            // matched pairs whose amounts differ
	AmountDiffSum money.Amount   // their sum (theirs − ours)
	// Conflicts (internal mode): final usage records the ledger kept as
	// conflicts with their call's paid final: never paid, so not paired,
	// but counted here for review.
	Conflicts int `json:",omitempty"`
	// DurationsOnly (internal mode): the two sides are compared on the
	// durations they reported; their amounts are not compared (each side
	// is rated on its own deck, so they differ by design) and the totals
	// carry none.
	DurationsOnly bool `json:",omitempty"`
	Decision      Decision
	// Matches lists every record behind the numbers, grouped by class in
	// Classes order, each group by our line then their line.
	Matches []Match
}

// Summary returns the summary of class c.
func (r *Report) Summary(c Class) ClassSummary {
	for _, s := range r.Classes {
		if s.Class == c {
			return s
		}
	}
	return ClassSummary{Class: c}
}

// Reconcile matches our CDRs against theirs (SETTLEMENT.md): by
// transaction id where both have one in the same numbering; across two
// networks (CDR.Network differs) by the id each knows for the other's
// call (one side's PeerTransactionID is the other's TransactionID), never
// by equal ids, which every network issues; else by Call-ID where both
// have one (across networks, with connect times within the skew); else
// by (calling, called, connect time within the skew). Records matched
// are classified by billable seconds (CDR.Billable), amounts compared where
// both are rated, and the dispute decision taken. Inputs are not modified;
// the report points into them. It runs in O(n) expected time with hash maps.
// Errors: ErrBadInput for bad options, money.ErrCurrencyMismatch when the
// CDRs carry several currencies.
func Reconcile(ours, theirs []CDR, opts ReconcileOptions) (*Report, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	cur := o.Currency
	for _, side := range [][]CDR{ours, theirs} {
		for i := range side {
			if c := side[i].Amount.Currency(); c != "" {
				if cur == "" {
					cur = c
				} else if c != cur {
					return nil, fmt.Errorf("%w: line %d is in %s, reconciling in %s", money.ErrCurrencyMismatch, side[i].Line, c, cur)
				}
			}
		}
	}
	rep := &Report{Mode: "external", Period: o.Period, Currency: cur, OursLabel: o.OursLabel,
		TheirsLabel: o.TheirsLabel, Tolerance: max(o.Tolerance, 0), Skew: o.Skew}
	pairOf := match(ours, theirs, o.Skew) // pairOf[i] = index in theirs, or -1
	matchedTheirs := make([]bool, len(theirs))
	matches := make([]Match, 0, len(ours)+len(theirs)/8)
	b := newReportBuilder(rep, o, nil)
	for i := range ours {
		j := pairOf[i].theirs
		if j < 0 {
			matches = append(matches, Match{Class: ClassOursOnly, Ours: &ours[i]})
			continue
		}
		matchedTheirs[j] = true
		m, err := b.pair(&ours[i], &theirs[j], pairOf[i].key)
		if err != nil {
			return nil, err
		}
		matches = append(matches, m)
	}
	for j := range theirs {
		if !matchedTheirs[j] {
			matches = append(matches, Match{Class: ClassTheirsOnly, Theirs: &theirs[j]})
		}
	}
	order := map[Class]int{}
	for i, c := range Classes {
		order[c] = i
	}
	sort.SliceStable(matches, func(a, b int) bool { return order[matches[a].Class] < order[matches[b].Class] })
	b.keepAll = true
	for k := range matches {
		if err := b.add(&matches[k]); err != nil {
			return nil, err
		}
	}
	for i := range ours {
		b.side(&rep.Ours, &ours[i])
	}
	for j := range theirs {
		b.side(&rep.Theirs, &theirs[j])
	}
	if err := b.finish(); err != nil {
		return nil, err
	}
	return rep, nil
}

// ReconcileInternal compares the source-role and destination-role reports of
// the same transactions (SETTLEMENT.md "internal reconciliation"): records
// with RoleSource are "ours", RoleDestination "theirs". It compares the
// durations each side reported (Report.DurationsOnly): a record's billable
// seconds and amount are its deck's, and the two sides' decks differ by
// design. An export lists a report once per rated side (a forwarded call's
// source report: the member's sell line and the upstream's buy line);
// only the first line of a transaction and role is kept. A record without
// a role wraps ErrBadInput.
func ReconcileInternal(cdrs []CDR, opts ReconcileOptions) (*Report, error) {
	var src, dst []CDR
	type txRole struct {
		tx   string
		role Role
	}
	seen := map[txRole]bool{}
	for i := range cdrs {
		c := cdrs[i]
		c.Amount, c.HasBillable, c.BillableSeconds = money.Amount{}, false, 0
		if c.TransactionID != "" {
			k := txRole{c.TransactionID, c.Role}
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		switch c.Role {
		case RoleSource:
			src = append(src, c)
		case RoleDestination:
			dst = append(dst, c)
		default:
			return nil, fmt.Errorf("%w: line %d: internal reconciliation needs a role (source or destination)", ErrBadInput, cdrs[i].Line)
		}
	}
	if opts.OursLabel == "" {
		opts.OursLabel = string(RoleSource)
	}
	if opts.TheirsLabel == "" {
		opts.TheirsLabel = string(RoleDestination)
	}
	rep, err := Reconcile(src, dst, opts)
	if rep != nil {
		rep.Mode, rep.DurationsOnly = "internal", true
	}
	return rep, err
}

func (o ReconcileOptions) withDefaults() (ReconcileOptions, error) {
	if o.Tolerance == 0 {
		o.Tolerance = DefaultTolerance
	}
	if o.Skew == 0 {
		o.Skew = DefaultSkew
	}
	if o.Skew < 0 {
		return o, fmt.Errorf("%w: negative skew", ErrBadInput)
	}
	if o.Currency != "" && !money.ValidCurrency(o.Currency) {
		return o, fmt.Errorf("%w: currency %q", ErrBadInput, o.Currency)
	}
	if o.VolumeDisputeRatio == nil {
		o.VolumeDisputeRatio = apd.New(1, -2)
	}
	if o.VolumeDisputeMinimum == nil {
		o.VolumeDisputeMinimum = apd.New(1000, 0)
	}
	if o.VolumeDisputeRatio.Sign() < 0 || o.VolumeDisputeMinimum.Sign() < 0 {
		return o, fmt.Errorf("%w: negative dispute threshold", ErrBadInput)
	}
	if o.OursLabel == "" {
		o.OursLabel = "ours"
	}
	if o.TheirsLabel == "" {
		o.TheirsLabel = "theirs"
	}
	return o, nil
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

type pairing struct {
	theirs int32
	key    MatchKey
}

// match pairs ours with theirs in three passes, each over hash maps of the
// records still unmatched: O(n) expected time. A key shared by several
// records on one side pairs them in file order.
func match(ours, theirs []CDR, skew time.Duration) []pairing {
	pairOf := make([]pairing, len(ours))
	for i := range pairOf {
		pairOf[i].theirs = -1
	}
	taken := make([]bool, len(theirs))

	// Pass 1: transaction ids. In one numbering, equal ids; across
	// networks, our id for the call against theirs, either way round.
	byID := make(map[string][]int32, len(theirs))
	byPeerID := map[string][]int32{}
	for j := range theirs {
		if id := theirs[j].TransactionID; id != "" {
			byID[id] = append(byID[id], int32(j))
		}
		if id := theirs[j].PeerTransactionID; id != "" {
			byPeerID[id] = append(byPeerID[id], int32(j))
		}
	}
	take := func(m map[string][]int32, key string, ok func(j int32) bool) int32 {
		list := m[key]
		for k, j := range list {
			if !taken[j] && ok(j) {
				taken[j] = true
				if k == 0 {
					m[key] = list[1:] // the common case; a taken record later in a list is skipped
				}
				return j
			}
		}
		return -1
	}
	for i := range ours {
		o := &ours[i]
		if o.PeerTransactionID != "" {
			if j := take(byID, o.PeerTransactionID, func(j int32) bool { return !sameNetwork(o, &theirs[j]) }); j >= 0 {
				pairOf[i] = pairing{j, KeyPeerTransactionID}
				continue
			}
		}
		if o.TransactionID == "" {
			continue
		}
		if j := take(byPeerID, o.TransactionID, func(j int32) bool { return !sameNetwork(o, &theirs[j]) }); j >= 0 {
			pairOf[i] = pairing{j, KeyPeerTransactionID}
			continue
		}
		if j := take(byID, o.TransactionID, func(j int32) bool { return sameNumbering(o, &theirs[j]) }); j >= 0 {
			pairOf[i] = pairing{j, KeyTransactionID}
		}
	}
	byID, byPeerID = nil, nil

	// Pass 2: Call-ID, where both have one and no ids say they are two
	// calls. Across networks a Call-ID travels with the call through
	// every hop (and a proxy may reuse one), so the connect times must
	// also agree within the skew.
	byCall := map[string][]int32{}
	for j := range theirs {
		if !taken[j] && theirs[j].CallID != "" {
			byCall[theirs[j].CallID] = append(byCall[theirs[j].CallID], int32(j))
		}
	}
	for i := range ours {
		if pairOf[i].theirs >= 0 || ours[i].CallID == "" {
			continue
		}
		o := &ours[i]
		j := take(byCall, o.CallID, func(j int32) bool {
			t := &theirs[j]
			if idsCompared(o, t) {
				return false
			}
			return sameNumbering(o, t) || within(o.ConnectTime, t.ConnectTime, skew)
		})
		if j >= 0 {
			pairOf[i] = pairing{j, KeyCallID}
		}
	}
	byCall = nil

	// Pass 3: (calling, called) and the nearest connect time within skew,
	// for records that have no shared id with their counterpart.
	type ck struct{ calling, called string }
	byNum := map[ck][]int32{}
	for j := range theirs {
		if !taken[j] {
			k := ck{theirs[j].Calling, theirs[j].Called}
			byNum[k] = append(byNum[k], int32(j))
		}
	}
	for k, list := range byNum {
		// Equal connect times keep file order, so the pairing does not
		// depend on the sort algorithm (ReconcileStream relies on it).
		sort.SliceStable(list, func(a, b int) bool { return theirs[list[a]].ConnectTime.Before(theirs[list[b]].ConnectTime) })
		byNum[k] = list
	}
	for i := range ours {
		if pairOf[i].theirs >= 0 {
			continue
		}
		list := byNum[ck{ours[i].Calling, ours[i].Called}]
		t0 := ours[i].ConnectTime
		// The first candidate not earlier than t0−skew, then forward while
		// within t0+skew: a long list (a test number called all day) costs
		// a binary search, not a scan.
		lo := sort.Search(len(list), func(k int) bool { return !theirs[list[k]].ConnectTime.Before(t0.Add(-skew)) })
		best, bestGap := int32(-1), time.Duration(0)
		for _, j := range list[lo:] {
			ct := theirs[j].ConnectTime
			if ct.After(t0.Add(skew)) {
				break
			}
			if taken[j] || sharesID(&ours[i], &theirs[j]) {
				continue
			}
			gap := ct.Sub(t0)
			if gap < 0 {
				gap = -gap
			}
			if best < 0 || gap < bestGap {
				best, bestGap = j, gap
			}
		}
		if best >= 0 {
			taken[best] = true
			pairOf[i] = pairing{best, KeyFallback}
		}
	}
	return pairOf
}

// sameNumbering reports whether a's and b's transaction ids are issued by
// the same network (or a file does not say whose they are: a member's
// CDRs carry the ids we gave its proxies).
func sameNumbering(a, b *CDR) bool {
	return a.Network == "" || b.Network == "" || a.Network == b.Network
}

// sameNetwork reports whether a and b are known to come from one network:
// then one's peer id cannot be the other's own id. A file that does not
// say (a peer's export without the network column) may still give the
// id the peer knows for our call.
func sameNetwork(a, b *CDR) bool {
	return a.Network != "" && a.Network == b.Network
}

// idsCompared reports whether a and b carry transaction ids that pass 1
// compared: then, unpaired, they are different calls, whatever else they
// share. In one numbering that is both having an id; across networks, one
// side knowing the other's id for the call.
func idsCompared(a, b *CDR) bool {
	if sameNumbering(a, b) {
		return a.TransactionID != "" && b.TransactionID != ""
	}
	return (a.PeerTransactionID != "" && b.TransactionID != "") || (b.PeerTransactionID != "" && a.TransactionID != "")
}

// sharesID: ids that were compared already (idsCompared), or both have a
// Call-ID — then they are different calls.
func sharesID(a, b *CDR) bool {
	return idsCompared(a, b) || (a.CallID != "" && b.CallID != "")
}

func within(a, b time.Time, skew time.Duration) bool {
	d := a.Sub(b)
	return d <= skew && d >= -skew
}

// reportBuilder fills a Report one match at a time: class summaries,
// amount differences and the rate-dispute count as matches arrive, side
// totals record by record, the decision at the end. Reconcile feeds it
// from memory, ReconcileStream from partitions on disk; both give the same
// numbers for the same pairs.
type reportBuilder struct {
	r       *Report
	o       ReconcileOptions
	idx     map[Class]*ClassSummary
	tol     int64
	keepAll bool               // append every match to r.Matches
	sink    func(*Match) error // else: hand each match here (may be nil)
	err     error
}

func newReportBuilder(r *Report, o ReconcileOptions, sink func(*Match) error) *reportBuilder {
	zero := money.Zero(r.Currency)
	b := &reportBuilder{r: r, o: o, idx: map[Class]*ClassSummary{}, sink: sink, tol: int64(o.Tolerance / time.Second)}
	if o.Tolerance < 0 {
		b.tol = -1
	}
	r.Classes = make([]ClassSummary, len(Classes))
	for i, c := range Classes {
		r.Classes[i] = ClassSummary{Class: c, OursAmount: zero, TheirsAmount: zero, DiffAmount: zero}
		b.idx[c] = &r.Classes[i]
	}
	r.AmountDiffSum = zero
	r.Ours.Amount, r.Theirs.Amount = zero, zero
	r.Decision.RateDiffAmount = zero
	return b
}

// pair classifies a matched pair.
func (b *reportBuilder) pair(ours, theirs *CDR, key MatchKey) (Match, error) {
	m := Match{Key: key, Ours: ours, Theirs: theirs}
	m.DiffSeconds = theirs.Billable() - ours.Billable()
	switch d := abs(m.DiffSeconds); {
	case d == 0:
		m.Class = ClassExact
	case d <= b.tol:
		m.Class = ClassPartial
	default:
		m.Class = ClassMismatch
	}
	if ours.Rated() && theirs.Rated() {
		var err error
		if m.DiffAmount, err = theirs.Amount.Sub(ours.Amount); err != nil {
			return m, err
		}
		m.AmountDiffers = !m.DiffAmount.IsZero()
	}
	return m, nil
}

func (b *reportBuilder) addAmount(dst *money.Amount, a money.Amount) {
	if b.err == nil && a.Currency() != "" {
		*dst, b.err = dst.Add(a)
	}
}

// add counts m in its class (and the rate-dispute tally) and keeps or
// hands it on.
func (b *reportBuilder) add(m *Match) error {
	s := b.idx[m.Class]
	s.Count++
	if m.Ours != nil {
		s.OursSeconds += m.Ours.Billable()
		b.addAmount(&s.OursAmount, m.Ours.Amount)
	}
	if m.Theirs != nil {
		s.TheirsSeconds += m.Theirs.Billable()
		b.addAmount(&s.TheirsAmount, m.Theirs.Amount)
	}
	if m.AmountDiffers {
		b.r.AmountDiffs++
		b.addAmount(&b.r.AmountDiffSum, m.DiffAmount)
		if m.DiffSeconds == 0 {
			b.r.Decision.RateDiffs++
			b.addAmount(&b.r.Decision.RateDiffAmount, m.DiffAmount)
		}
	}
	if b.err != nil {
		return b.err
	}
	if b.keepAll {
		b.r.Matches = append(b.r.Matches, *m)
	} else if b.sink != nil {
		return b.sink(m)
	}
	return nil
}

// side counts one record in a side's totals.
func (b *reportBuilder) side(t *Totals, c *CDR) {
	t.Calls++
	t.Seconds += c.Billable()
	if c.Rated() {
		t.Rated++
		b.addAmount(&t.Amount, c.Amount)
	}
}

// finish computes the class differences and the decision.
func (b *reportBuilder) finish() error {
	if b.err != nil {
		return b.err
	}
	for i := range b.r.Classes {
		s := &b.r.Classes[i]
		s.DiffSeconds = s.TheirsSeconds - s.OursSeconds
		var err error
		if s.DiffAmount, err = s.TheirsAmount.Sub(s.OursAmount); err != nil {
			return err
		}
	}
	return b.r.decide(b.o)
}

// decide applies the dispute thresholds. The invoice is their total (they
// bill us for what they report); with no amounts on either side the volume
// test falls back to billable seconds and the percentage alone.
func (r *Report) decide(o ReconcileOptions) error {
	d := &r.Decision
	var err error
	d.VolumeDiff, err = r.Theirs.Amount.Sub(r.Ours.Amount)
	if err != nil {
		return err
	}
	if d.RateDiffs > 0 {
		d.Rate = true
		d.Reasons = append(d.Reasons, fmt.Sprintf("rate dispute: %d call(s) with equal billable seconds but different amounts (difference %s %s)",
			d.RateDiffs, d.RateDiffAmount.Text(), r.Currency))
	}
	// Volume: amounts when both sides rated anything, else seconds.
	var diff, invoice apd.Decimal
	unit := r.Currency
	d.VolumeDiffSeconds = r.Theirs.Seconds - r.Ours.Seconds
	d.VolumeBasis = "amount"
	if r.Ours.Rated > 0 && r.Theirs.Rated > 0 {
		diff.Set(d.VolumeDiff.Decimal())
		invoice.Set(r.Theirs.Amount.Decimal())
	} else {
		diff.SetInt64(r.Theirs.Seconds - r.Ours.Seconds)
		invoice.SetInt64(r.Theirs.Seconds)
		unit = "s"
		d.VolumeBasis = "seconds"
	}
	diff.Abs(&diff)
	if invoice.Sign() != 0 {
		var pct apd.Decimal
		ctx := apd.BaseContext.WithPrecision(40)
		if _, err := ctx.Quo(&pct, &diff, &invoice); err != nil {
			return fmt.Errorf("settlement: volume percent: %w", err)
		}
		if _, err := ctx.Mul(&pct, &pct, apd.New(100, 0)); err != nil {
			return fmt.Errorf("settlement: volume percent: %w", err)
		}
		p, err := money.RoundDecimal(&pct, 2, money.HalfUp)
		if err != nil {
			return err
		}
		d.VolumePercent = p.Text('f')
	}
	if diff.Sign() == 0 {
		return nil
	}
	var threshold apd.Decimal
	if _, err := exactCtx.Mul(&threshold, o.VolumeDisputeRatio, &invoice); err != nil {
		return fmt.Errorf("settlement: volume threshold: %w", err)
	}
	threshold.Abs(&threshold)
	if diff.Cmp(&threshold) >= 0 {
		d.Volume = true
		d.Reasons = append(d.Reasons, fmt.Sprintf("volume dispute: difference %s %s is at least %s of the invoice (%s %s)",
			diff.Text('f'), unit, ratioPercent(o.VolumeDisputeRatio), invoice.Text('f'), unit))
	} else if unit != "s" && diff.Cmp(o.VolumeDisputeMinimum) >= 0 {
		d.Volume = true
		d.Reasons = append(d.Reasons, fmt.Sprintf("volume dispute: difference %s %s is at least %s %s",
			diff.Text('f'), unit, o.VolumeDisputeMinimum.Text('f'), unit))
	}
	return nil
}

func ratioPercent(r *apd.Decimal) string {
	var p apd.Decimal
	if _, err := exactCtx.Mul(&p, r, apd.New(100, 0)); err != nil {
		return r.Text('f')
	}
	var red apd.Decimal
	red.Reduce(&p)
	return red.Text('f') + "%"
}
