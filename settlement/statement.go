package settlement

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/ospnode/ospnode/ledger/money"
)

// InvoiceRounding is how an invoice line rounds a statement total to the
// currency's minor unit (the only rounding after the per-CDR one).
const InvoiceRounding = money.HalfUp

// StatementLine totals one destination or one day.
type StatementLine struct {
	Key             string // prefix, or date "2026-11-05"
	Description     string `json:",omitempty"`
	Calls           int
	BillableSeconds int64
	Amount          money.Amount
}

// Minutes renders BillableSeconds as minutes with 2 decimals (half-up);
// display only, amounts never derive from it.
func (l StatementLine) Minutes() string { return minutes(l.BillableSeconds) }

// Statement is what one counterparty owes (or is owed) for one currency and
// period: the exact sum of its rated CDRs, by destination and by day, and an
// invoice amount rounded to the currency's minor unit with the difference
// shown. Amount always equals the sum of the CDRs' amounts (and of
// ByDestination, and of ByDay).
type Statement struct {
	Counterparty    string
	Currency        string
	Period          Period
	Calls           int
	BillableSeconds int64
	Amount          money.Amount // exact sum of the CDR amounts
	MinorUnit       int32
	Invoice         money.Amount // Amount rounded to MinorUnit with InvoiceRounding
	InvoiceRounding money.Amount // Invoice − Amount (shown, never hidden)
	ByDestination   []StatementLine
	ByDay           []StatementLine
	// Excluded counts CDRs of other counterparties or outside the period.
	Excluded   int
	Conversion *Conversion `json:",omitempty"`
	// FX lists the dated rates that converted CDRs rated in another
	// currency into this one (StatementBuilder with an FXTable).
	FX []FXUse `json:",omitempty"`
	// Heading names the parties, the direction and the issue date
	// (statement_doc.go); BuildStatement leaves it zero for the caller.
	Heading StatementHeading
}

// Minutes renders the billable minutes with 2 decimals.
func (s *Statement) Minutes() string { return minutes(s.BillableSeconds) }

// BuildStatement totals cdrs for counterparty ("" or a CDR with an empty
// Counterparty matches any) in currency over period (by connect time).
// Every included CDR must be rated in currency; otherwise the error (wrapping
// ErrBadInput or money.ErrCurrencyMismatch) names its line. Unknown
// currencies (no minor unit) wrap ErrBadInput. It is a StatementBuilder fed
// every CDR, failing at the first it cannot use.
func BuildStatement(cdrs []CDR, counterparty, currency string, period Period) (*Statement, error) {
	b, err := NewStatementBuilder(counterparty, currency, period, nil)
	if err != nil {
		return nil, err
	}
	for i := range cdrs {
		if err := b.Add(&cdrs[i]); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

// StatementBuilder totals CDRs one at a time into a Statement: its memory
// is the per-destination and per-day lines, whatever the number of CDRs.
// Not safe for concurrent use.
type StatementBuilder struct {
	s      *Statement
	fx     FXTable
	zero   money.Amount
	byDest map[string]*StatementLine
	byDay  map[string]*StatementLine
	conv   map[[2]string]*FXUse
}

// FXUse records that CDRs in another currency were converted into the
// statement's with a dated rate given for the run: which rate, how many
// CDRs, and their total before conversion.
type FXUse struct {
	Rate     ExchangeRate
	Calls    int
	Original money.Amount
}

// NewStatementBuilder starts a statement (see BuildStatement). An empty
// currency means that of the first rated CDR the statement counts. fx, if
// not nil, converts CDRs rated in another currency into currency (exactly,
// amount × rate); the statement lists each rate used (Statement.FX).
func NewStatementBuilder(counterparty, currency string, period Period, fx FXTable) (*StatementBuilder, error) {
	b := &StatementBuilder{
		s:      &Statement{Counterparty: counterparty, Period: period},
		fx:     fx,
		byDest: map[string]*StatementLine{},
		byDay:  map[string]*StatementLine{},
		conv:   map[[2]string]*FXUse{},
	}
	if currency == "" {
		return b, nil // the first rated CDR's (see Add)
	}
	return b, b.setCurrency(currency)
}

func (b *StatementBuilder) setCurrency(currency string) error {
	minor, ok := MinorUnit(currency)
	if !ok {
		return fmt.Errorf("%w: currency %q has no known minor unit", ErrBadInput, currency)
	}
	b.zero = money.Zero(currency)
	b.s.Currency, b.s.MinorUnit, b.s.Amount = currency, minor, b.zero
	return nil
}

// Add counts c if it belongs to the statement (its counterparty and
// period; others are counted in Excluded). A CDR that belongs but cannot
// be totalled — not rated, or rated in another currency without a rate in
// fx — is a *RowError (ReasonNotRated, ReasonCurrency) that unwraps to
// ErrBadInput or money.ErrCurrencyMismatch, and is not counted.
func (b *StatementBuilder) Add(c *CDR) error {
	s := b.s
	if (s.Counterparty != "" && c.Counterparty != "" && c.Counterparty != s.Counterparty) || !s.Period.Contains(c.ConnectTime) {
		s.Excluded++
		return nil
	}
	if !c.Rated() {
		return rowErr(c.Line, ReasonNotRated, FieldAmount, "",
			fmt.Errorf("%w: CDR (call %s) is not rated", ErrBadInput, c.Called))
	}
	amount := c.Amount
	if s.Currency == "" {
		if err := b.setCurrency(amount.Currency()); err != nil {
			return rowErr(c.Line, ReasonCurrency, FieldCurrency, amount.Currency(), err)
		}
	}
	if cur := amount.Currency(); cur != s.Currency {
		x, ok := b.fx.Lookup(cur, s.Currency)
		if !ok {
			return rowErr(c.Line, ReasonCurrency, FieldCurrency, cur,
				fmt.Errorf("%w: CDR in %s, statement in %s (convert it with a dated exchange rate)", money.ErrCurrencyMismatch, cur, s.Currency))
		}
		conv, err := money.FromDecimal(amount.Decimal(), s.Currency)
		if err == nil {
			conv, err = conv.Mul(&x.Rate)
		}
		if err != nil {
			return err
		}
		use := b.conv[[2]string{cur, s.Currency}]
		if use == nil {
			use = &FXUse{Rate: x, Original: money.Zero(cur)}
			b.conv[[2]string{cur, s.Currency}] = use
		}
		use.Calls++
		if use.Original, err = use.Original.Add(amount); err != nil {
			return err
		}
		amount = conv
	}
	secs := c.Billable()
	var err error
	s.Calls++
	s.BillableSeconds += secs
	if s.Amount, err = s.Amount.Add(amount); err != nil {
		return err
	}
	key := c.Prefix
	if key == "" {
		key = "-"
	}
	for _, g := range [...]struct {
		m    map[string]*StatementLine
		key  string
		desc string
	}{{b.byDest, key, c.Description}, {b.byDay, c.ConnectTime.UTC().Format("2006-01-02"), ""}} {
		l := g.m[g.key]
		if l == nil {
			l = &StatementLine{Key: g.key, Description: g.desc, Amount: b.zero}
			g.m[g.key] = l
		}
		l.Calls++
		l.BillableSeconds += secs
		if l.Amount, err = l.Amount.Add(amount); err != nil {
			return err
		}
	}
	return nil
}

// Finish returns the statement: lines sorted, the invoice rounded. The
// builder must not be used afterwards.
func (b *StatementBuilder) Finish() (*Statement, error) {
	s := b.s
	if s.Currency == "" {
		return nil, fmt.Errorf("%w: no rated CDR for this counterparty and period: give the currency", ErrBadInput)
	}
	s.ByDestination = sortedLines(b.byDest)
	s.ByDay = sortedLines(b.byDay)
	for _, u := range b.conv {
		s.FX = append(s.FX, *u)
	}
	sort.Slice(s.FX, func(i, j int) bool { return s.FX[i].Rate.From < s.FX[j].Rate.From })
	if err := s.invoice(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Statement) invoice() error {
	var err error
	if s.Invoice, err = s.Amount.Round(s.MinorUnit, InvoiceRounding); err != nil {
		return err
	}
	s.InvoiceRounding, err = s.Invoice.Sub(s.Amount)
	return err
}

func sortedLines(m map[string]*StatementLine) []StatementLine {
	out := make([]StatementLine, 0, len(m))
	for _, l := range m {
		out = append(out, *l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func minutes(secs int64) string {
	var d apd.Decimal
	d.SetInt64(secs)
	var q apd.Decimal
	ctx := apd.BaseContext.WithPrecision(40)
	if _, err := ctx.Quo(&q, &d, apd.New(60, 0)); err != nil {
		return "?"
	}
	r, err := money.RoundDecimal(&q, 2, money.HalfUp)
	if err != nil {
		return "?"
	}
	return r.Text('f')
}

// ExchangeRate is a dated conversion rate: 1 From = Rate To. It marshals
// Rate in plain notation.
type ExchangeRate struct {
	From, To string
	Rate     apd.Decimal
	Date     time.Time // the day the rate applies to
	Source   string    // e.g. "ECB reference rate"
}

// NewExchangeRate parses rate (a positive plain decimal) for from→to on date.
func NewExchangeRate(from, to, rate string, date time.Time, source string) (ExchangeRate, error) {
	if !money.ValidCurrency(from) || !money.ValidCurrency(to) {
		return ExchangeRate{}, fmt.Errorf("%w: exchange rate %s→%s: not ISO 4217 codes", ErrBadInput, from, to)
	}
	d, err := money.ParseDecimal(rate)
	if err != nil || d.Sign() <= 0 {
		return ExchangeRate{}, fmt.Errorf("%w: exchange rate %q must be a positive decimal", ErrBadInput, rate)
	}
	if date.IsZero() {
		return ExchangeRate{}, fmt.Errorf("%w: exchange rate needs a date", ErrBadInput)
	}
	x := ExchangeRate{From: from, To: to, Date: date.UTC(), Source: source}
	x.Rate.Set(d)
	return x, nil
}

// MarshalJSON renders the rate as a plain-notation string.
func (x ExchangeRate) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		From, To, Rate, Date, Source string
	}{x.From, x.To, x.Rate.Text('f'), x.Date.Format("2006-01-02"), x.Source})
}

// Conversion records that a statement was converted: the rate used and the
// amounts before conversion.
type Conversion struct {
	Rate           ExchangeRate
	OriginalAmount money.Amount
}

// Convert returns a copy of s in x.To: every amount is multiplied by x.Rate
// exactly (so the total still equals the sum of the lines), the invoice is
// rounded again to the new currency's minor unit, and the conversion is
// recorded on the statement. s must be in x.From.
func (s *Statement) Convert(x ExchangeRate) (*Statement, error) {
	if s.Currency != x.From {
		return nil, fmt.Errorf("%w: statement in %s, rate from %s", money.ErrCurrencyMismatch, s.Currency, x.From)
	}
	minor, ok := MinorUnit(x.To)
	if !ok {
		return nil, fmt.Errorf("%w: currency %q has no known minor unit", ErrBadInput, x.To)
	}
	conv := func(a money.Amount) (money.Amount, error) {
		b, err := money.FromDecimal(a.Decimal(), x.To)
		if err != nil {
			return b, err
		}
		return b.Mul(&x.Rate)
	}
	out := *s
	out.Currency, out.MinorUnit = x.To, minor
	out.Conversion = &Conversion{Rate: x, OriginalAmount: s.Amount}
	var err error
	if out.Amount, err = conv(s.Amount); err != nil {
		return nil, err
	}
	for _, lines := range []*[]StatementLine{&out.ByDestination, &out.ByDay} {
		src := *lines
		cp := make([]StatementLine, len(src))
		for i, l := range src {
			cp[i] = l
			if cp[i].Amount, err = conv(l.Amount); err != nil {
				return nil, err
			}
		}
		*lines = cp
	}
	if err := out.invoice(); err != nil {
		return nil, err
	}
	return &out, nil
}

// Obligation is one party owing another an amount for a period.
type Obligation struct {
	Debtor, Creditor string
	Period           string
	Amount           money.Amount
}

// Obligation states s as a debt: for a Sell statement the counterparty owes
// us; for a Buy statement we owe the counterparty. Amount is the invoice
// amount (rounded to the minor unit).
func (s *Statement) Obligation(us string, dir Direction) Obligation {
	o := Obligation{Period: s.Period.String(), Amount: s.Invoice}
	if dir == Buy {
		o.Debtor, o.Creditor = us, s.Counterparty
	} else {
		o.Debtor, o.Creditor = s.Counterparty, us
	}
	return o
}

// NetPosition nets the mutual traffic of networks A and B for one currency
// and period: Net = AOwesB − BOwesA; positive means A pays B.
type NetPosition struct {
	A, B     string
	Currency string
	Period   string
	AOwesB   money.Amount
	BOwesA   money.Amount
	Net      money.Amount
	// Payer and Payee of |Net| ("" when it is zero).
	Payer, Payee string
}

// Net nets obligations between a and b per (period, currency), sorted by
// period then currency. An obligation between other parties wraps
// ErrBadInput. Currencies are never mixed: convert statements first.
func Net(a, b string, obligations []Obligation) ([]NetPosition, error) {
	type key struct{ period, cur string }
	pos := map[key]*NetPosition{}
	for _, o := range obligations {
		cur := o.Amount.Currency()
		k := key{o.Period, cur}
		p := pos[k]
		if p == nil {
			p = &NetPosition{A: a, B: b, Currency: cur, Period: o.Period, AOwesB: money.Zero(cur), BOwesA: money.Zero(cur)}
			pos[k] = p
		}
		var err error
		switch {
		case o.Debtor == a && o.Creditor == b:
			p.AOwesB, err = p.AOwesB.Add(o.Amount)
		case o.Debtor == b && o.Creditor == a:
			p.BOwesA, err = p.BOwesA.Add(o.Amount)
		default:
			return nil, fmt.Errorf("%w: obligation %s→%s is not between %s and %s", ErrBadInput, o.Debtor, o.Creditor, a, b)
		}
		if err != nil {
			return nil, err
		}
	}
	out := make([]NetPosition, 0, len(pos))
	for _, p := range pos {
		var err error
		if p.Net, err = p.AOwesB.Sub(p.BOwesA); err != nil {
			return nil, err
		}
		switch p.Net.Sign() {
		case 1:
			p.Payer, p.Payee = a, b
		case -1:
			p.Payer, p.Payee = b, a
		}
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Period != out[j].Period {
			return out[i].Period < out[j].Period
		}
		return out[i].Currency < out[j].Currency
	})
	return out, nil
}
