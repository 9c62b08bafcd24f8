package settlement

import (
	"fmt"
	"math/bits"
	"sort"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/ospnode/ospnode/ledger/e164"
	"github.com/ospnode/ospnode/ledger/money"
)

// Rated is the result of rating one call.
type Rated struct {
	BillableSeconds int64
	// Amount is connect fee + billable × rate ÷ 60, rounded once to the
	// deck's decimals with its rounding mode, in the deck currency.
	Amount      money.Amount
	Prefix      string // the longest matching prefix
	Description string
	// DeckVersion is the ID of the version in force at connect time, and
	// EffectiveFrom its start.
	DeckVersion   string
	EffectiveFrom time.Time
}

// Rater rates calls against one compiled Deck (all its versions). Build it
// once with NewRater; it is immutable and safe for concurrent use.
type Rater struct {
	currency string
	decimals int32
	rounding string
	rounder  apd.Rounder
	duration DurationMode
	zeroFee  bool
	versions []compiledVersion // by EffectiveFrom ascending
}

type compiledVersion struct {
	id          string
	from, until time.Time
	nodes       []trieNode
	rows        []compiledRow
}

// trieNode is one digit position of the prefix trie: child[i] is the index of
// the node for digit i (0 = none; the root is node 0 and is nobody's child),
// row the index+1 of the row whose prefix ends here (0 = none).
type trieNode struct {
	child [10]int32
	row   int32
}

// compiledRow's fields are in the order Rate reads them: what rates a
// call and is written with it in its first two cache lines (Rater.warm
// loads them), the apd values of the general path last.
type compiledRow struct {
	prefix, description string
	a, b                int64
	// Integer fast path: rate and fee as whole units of 10^-scale. ok is
	// false when they do not fit, and the general apd path is used.
	fast                bool
	scale               int32
	rateUnits, feeUnits uint64
	rate, fee           money.Amount
}

// NewRater validates deck and compiles its versions into prefix tries. The
// error wraps ErrBadInput when the deck is invalid.
func NewRater(deck *Deck) (*Rater, error) {
	if err := deck.Validate(); err != nil {
		return nil, err
	}
	rounder, _ := money.Rounder(deck.Rounding)
	dm, _ := parseDurationMode(string(deck.DurationRounding))
	r := &Rater{
		currency: deck.Currency, decimals: deck.Decimals, rounding: deck.Rounding,
		rounder: rounder, duration: dm, zeroFee: deck.ZeroDurationConnectFee,
	}
	if r.rounding == "" {
		r.rounding = money.HalfUp
	}
	for _, v := range deck.Versions {
		cv := compiledVersion{id: v.ID, from: v.EffectiveFrom, until: v.EffectiveUntil}
		cv.nodes = make([]trieNode, 1, len(v.Rows)*2+1)
		cv.rows = make([]compiledRow, 0, len(v.Rows))
		for _, row := range v.Rows {
			cr := compiledRow{
				prefix: row.Prefix, description: row.Description,
				rate: row.Rate, fee: row.ConnectFee, a: row.FirstIncrement, b: row.NextIncrement,
			}
			if cr.fee.Currency() == "" {
				cr.fee = money.Zero(deck.Currency)
			}
			cr.fast, cr.rateUnits, cr.feeUnits, cr.scale = fastUnits(cr.rate.Decimal(), cr.fee.Decimal())
			cv.rows = append(cv.rows, cr)
			n := int32(0)
			for i := 0; i < len(row.Prefix); i++ {
				d := row.Prefix[i] - '0'
				if cv.nodes[n].child[d] == 0 {
					cv.nodes = append(cv.nodes, trieNode{})
					cv.nodes[n].child[d] = int32(len(cv.nodes) - 1)
				}
				n = cv.nodes[n].child[d]
			}
			cv.nodes[n].row = int32(len(cv.rows))
		}
		r.versions = append(r.versions, cv)
	}
	sort.SliceStable(r.versions, func(i, j int) bool { return r.versions[i].from.Before(r.versions[j].from) })
	return r, nil
}

// Currency returns the deck currency.
func (r *Rater) Currency() string { return r.currency }

// version returns the version in force at t: the latest EffectiveFrom ≤ t
// whose EffectiveUntil is zero or after t.
func (r *Rater) version(t time.Time) *compiledVersion {
	i := sort.Search(len(r.versions), func(i int) bool { return r.versions[i].from.After(t) })
	for i--; i >= 0; i-- {
		v := &r.versions[i]
		if v.until.IsZero() || t.Before(v.until) {
			return v
		}
	}
	return nil
}

// lookup returns the row with the longest prefix of number, or nil. It walks
// the trie digit by digit and remembers the deepest row seen, so a shorter
// (perhaps cheaper) prefix can never win over a longer one.
func (v *compiledVersion) lookup(number string) *compiledRow {
	best, n := int32(0), int32(0)
	for i := 0; i < len(number); i++ {
		n = v.nodes[n].child[number[i]-'0']
		if n == 0 {
			break
		}
		if row := v.nodes[n].row; row != 0 {
			best = row
		}
	}
	if best == 0 {
		return nil
	}
	return &v.rows[best-1]
}

// Rate rates a call to called (an E.164 number as e164.Parse reads it: digits, optional '+', surrounding whitespace ignored) that connected at
// connect and lasted durationMillis milliseconds. Errors: ErrBadNumber,
// ErrBadInput (negative or absurd duration), ErrNoVersion, ErrNoPrefix.
// Safe for concurrent use.
func (r *Rater) Rate(called string, connect time.Time, durationMillis int64) (Rated, error) {
	return r.rate(called, connect, durationMillis, rowHint{})
}

// rate is Rate, taking the row from hint (Rater.warm's walk) when it is
// for this number and version.
func (r *Rater) rate(called string, connect time.Time, durationMillis int64, hint rowHint) (Rated, error) {
	num, err := e164.Parse(called)
	if err != nil {
		return Rated{}, fmt.Errorf("%w: %q", ErrBadNumber, called)
	}
	number := string(num)
	secs, err := WholeSeconds(durationMillis, r.duration)
	if err != nil {
		return Rated{}, err
	}
	v := r.version(connect)
	if v == nil {
		return Rated{}, fmt.Errorf("%w at %s", ErrNoVersion, connect.UTC().Format(time.RFC3339))
	}
	var row *compiledRow
	if hint.v == v && hint.v != nil && hint.number == number {
		row = hint.row
	} else {
		row = v.lookup(number)
	}
	if row == nil {
		return Rated{}, fmt.Errorf("%w for %s in version %s", ErrNoPrefix, number, v.id)
	}
	out := Rated{Prefix: row.prefix, Description: row.description, DeckVersion: v.id, EffectiveFrom: v.from}
	out.BillableSeconds = BillableSeconds(secs, row.a, row.b)
	if out.BillableSeconds == 0 && !r.zeroFee {
		out.Amount, err = zeroAmount(r.currency, r.decimals)
		return out, err
	}
	if row.fast {
		if a, ok := fastCost(row, out.BillableSeconds, r.decimals, r.rounding, r.currency); ok {
			out.Amount = a
			return out, nil
		}
	}
	out.Amount, err = Cost(row.rate, row.fee, out.BillableSeconds, r.decimals, r.rounding)
	return out, err
}

// Tariff is the price of a destination as a deck row states it, its
// parts apart: what a one-minute Rate mixes (connect fee + per-minute
// rate over the billing increments).
type Tariff struct {
	Prefix, Description string
	PerMinute           money.Amount // the row's rate per minute
	ConnectFee          money.Amount
	// FirstIncrement and NextIncrement are the billing increments in
	// seconds.
	FirstIncrement, NextIncrement int64
	DeckVersion                   string
}

// Tariff returns the row that prices calls to called connecting at at.
// Errors: as Rate's (ErrBadNumber, ErrNoVersion, ErrNoPrefix).
func (r *Rater) Tariff(called string, at time.Time) (Tariff, error) {
	num, err := e164.Parse(called)
	if err != nil {
		return Tariff{}, fmt.Errorf("%w: %q", ErrBadNumber, called)
	}
	v := r.version(at)
	if v == nil {
		return Tariff{}, fmt.Errorf("%w at %s", ErrNoVersion, at.UTC().Format(time.RFC3339))
	}
	row := v.lookup(string(num))
	if row == nil {
		return Tariff{}, fmt.Errorf("%w for %s in version %s", ErrNoPrefix, num, v.id)
	}
	return Tariff{Prefix: row.prefix, Description: row.description, PerMinute: row.rate, ConnectFee: row.fee,
		FirstIncrement: row.a, NextIncrement: row.b, DeckVersion: v.id}, nil
}

func zeroAmount(currency string, decimals int32) (money.Amount, error) {
	var d apd.Decimal
	d.SetFinite(0, -decimals)
	return money.FromDecimal(&d, currency)
}

// maxDurationMillis bounds one call: 100 days is far beyond any real call
// and keeps every product below 2^63.
const maxDurationMillis = 100 * 24 * 3600 * 1000

// WholeSeconds turns milliseconds into whole seconds with mode. A negative or
// absurd (over 100 days) duration wraps ErrBadInput.
func WholeSeconds(millis int64, mode DurationMode) (int64, error) {
	if millis < 0 || millis > maxDurationMillis {
		return 0, fmt.Errorf("%w: duration %d ms out of range", ErrBadInput, millis)
	}
	s, rem := millis/1000, millis%1000
	switch mode {
	case DurationDown:
	case DurationHalfUp:
		if rem >= 500 {
			s++
		}
	default: // up
		if rem > 0 {
			s++
		}
	}
	return s, nil
}

// BillableSeconds applies billing increments: d = 0 → 0; d ≤ a → a; else
// a + ⌈(d−a)/b⌉·b. d must be ≥ 0 and b ≥ 1 (Validate guarantees it for deck
// rows); b < 1 is treated as 1.
func BillableSeconds(d, a, b int64) int64 {
	if d <= 0 {
		return 0
	}
	if d <= a {
		return a
	}
	if b < 1 {
		b = 1
	}
	return a + (d-a+b-1)/b*b
}

// exactCtx does arithmetic that must not round: any rounding is an error.
var exactCtx = apd.Context{
	Precision:   80,
	MaxExponent: apd.MaxExponent,
	MinExponent: apd.MinExponent,
	Traps:       apd.DefaultTraps | apd.Inexact | apd.Rounded,
}

// Cost is the reference computation of SETTLEMENT.md step 3: connect fee +
// billable × rate ÷ 60, rounded once to decimals places with mode. It is the
// general path of Rater.Rate and the oracle its integer fast path is tested
// against.
//
// Only the ÷60 can be inexact (x/60 = x/20/3 repeats a 3 or a 6 forever). It
// is done in a context of at least 50 significant digits (well above the 34 of
// decimal128) that truncates, and the lost tail is kept as a sticky digit:
// when the quotient is inexact, one unit is added one place beyond its last
// digit. The true value and the sticky value then lie strictly inside the
// same interval between two representable 50-digit numbers, and since every
// rounding boundary at ≤ MaxDecimals+1 places is such a number, the final
// Quantize rounds both the same way: the result is exactly what rounding the
// infinitely precise value once would give.
func Cost(rate, connectFee money.Amount, billable int64, decimals int32, mode string) (money.Amount, error) {
	cur := rate.Currency()
	if connectFee.Currency() != "" && connectFee.Currency() != cur {
		return money.Amount{}, fmt.Errorf("%w: rate in %s, connect fee in %s", money.ErrCurrencyMismatch, cur, connectFee.Currency())
	}
	if decimals < 0 || decimals > MaxDecimals {
		return money.Amount{}, fmt.Errorf("%w: decimals %d", ErrBadInput, decimals)
	}
	rounder, err := money.Rounder(mode)
	if err != nil {
		return money.Amount{}, err
	}
	// n = fee×60 + billable×rate, exactly.
	var n, t apd.Decimal
	sixty := apd.New(60, 0)
	if _, err := exactCtx.Mul(&n, connectFee.Decimal(), sixty); err != nil {
		return money.Amount{}, fmt.Errorf("settlement: cost: %w", err)
	}
	if _, err := exactCtx.Mul(&t, rate.Decimal(), apd.New(billable, 0)); err != nil {
		return money.Amount{}, fmt.Errorf("settlement: cost: %w", err)
	}
	if _, err := exactCtx.Add(&n, &n, &t); err != nil {
		return money.Amount{}, fmt.Errorf("settlement: cost: %w", err)
	}
	// q = n ÷ 60, truncated to prec digits, with a sticky digit if inexact.
	prec := uint32(50)
	if need := int64(n.NumDigits()+int64(n.Exponent)) + int64(decimals) + 10; need > int64(prec) {
		prec = uint32(need)
	}
	div := apd.Context{Precision: prec, MaxExponent: apd.MaxExponent, MinExponent: apd.MinExponent,
		Traps: apd.DefaultTraps, Rounding: apd.RoundDown}
	var q apd.Decimal
	cond, err := div.Quo(&q, &n, sixty)
	if err != nil {
		return money.Amount{}, fmt.Errorf("settlement: cost: %w", err)
	}
	if cond.Inexact() {
		sticky := apd.New(int64(q.Sign()), q.Exponent-1)
		if _, err := exactCtx.Add(&q, &q, sticky); err != nil {
			return money.Amount{}, fmt.Errorf("settlement: cost: %w", err)
		}
	}
	// The one deliberate rounding.
	round := exactCtx
	round.Traps = apd.DefaultTraps
	round.Rounding = rounder
	var out apd.Decimal
	if _, err := round.Quantize(&out, &q, -decimals); err != nil {
		return money.Amount{}, fmt.Errorf("settlement: cost: round: %w", err)
	}
	return money.FromDecimal(&out, cur)
}

var pow10 = [...]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// fastUnits expresses rate and fee as whole units of 10^-scale when both fit
// in uint64 with scale ≤ 18.
func fastUnits(rate, fee *apd.Decimal) (ok bool, rateUnits, feeUnits uint64, scale int32) {
	scale = 0
	for _, d := range []*apd.Decimal{rate, fee} {
		if d.Sign() < 0 || d.Form != apd.Finite {
			return false, 0, 0, 0
		}
		if -d.Exponent > scale {
			scale = -d.Exponent
		}
	}
	if scale > 18 {
		return false, 0, 0, 0
	}
	units := func(d *apd.Decimal) (uint64, bool) {
		if !d.Coeff.IsUint64() {
			return 0, false
		}
		c := d.Coeff.Uint64()
		shift := int(scale + d.Exponent)
		if shift < 0 || shift > 19 {
			return 0, false
		}
		hi, lo := bits.Mul64(c, pow10[shift])
		if hi != 0 || lo > 1<<62 {
			return 0, false
		}
		return lo, true
	}
	r, ok1 := units(rate)
	f, ok2 := units(fee)
	if !ok1 || !ok2 {
		return false, 0, 0, 0
	}
	return true, r, f, scale
}

// fastCost computes Cost with 128-bit integer arithmetic when everything
// fits: value = (fee×60 + billable×rate) / (60 × 10^scale), scaled by
// 10^decimals and rounded once by quotient and remainder. It is exact; ok is
// false on any overflow, and the caller falls back to Cost.
func fastCost(row *compiledRow, billable int64, decimals int32, mode, currency string) (money.Amount, bool) {
	// num = fee×60 + billable×rate in units of 10^-scale.
	h1, l1 := bits.Mul64(row.feeUnits, 60)
	h2, l2 := bits.Mul64(uint64(billable), row.rateUnits)
	lo, carry := bits.Add64(l1, l2, 0)
	hi, c2 := bits.Add64(h1, h2, carry)
	if c2 != 0 {
		return money.Amount{}, false
	}
	// Scale to units of 10^-decimals: multiply numerator or divisor.
	den := uint64(60)
	if decimals >= row.scale {
		m := pow10[decimals-row.scale]
		h, l := bits.Mul64(lo, m)
		hh, hl := bits.Mul64(hi, m)
		if hh != 0 {
			return money.Amount{}, false
		}
		var c uint64
		hi, c = bits.Add64(h, hl, 0)
		if c != 0 {
			return money.Amount{}, false
		}
		lo = l
	} else {
		p := pow10[row.scale-decimals]
		h, l := bits.Mul64(den, p)
		if h != 0 {
			return money.Amount{}, false
		}
		den = l
	}
	if hi >= den {
		return money.Amount{}, false
	}
	q, rem := bits.Div64(hi, lo, den)
	if rem != 0 {
		switch mode {
		case money.Up:
			q++
		case money.Down:
		case money.HalfEven:
			if rest := den - rem; rem > rest || (rem == rest && q%2 == 1) {
				q++
			}
		default: // half-up
			if rem >= den-rem {
				q++
			}
		}
	}
	if q >= 1<<62 {
		return money.Amount{}, false
	}
	var d apd.Decimal
	d.SetFinite(int64(q), -decimals)
	a, err := money.FromDecimal(&d, currency)
	return a, err == nil
}
