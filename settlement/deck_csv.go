package settlement

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
)

// Deck CSV column names. Columns are found by header name, in any order and
// case; unknown columns are ignored (carriers add "country", "notes" …).
const (
	ColPrefix         = "prefix"
	ColDescription    = "description"
	ColRate           = "rate"
	ColConnectFee     = "connect_fee"
	ColFirstIncrement = "first_increment"
	ColNextIncrement  = "next_increment"
	ColEffectiveFrom  = "effective_from"
	ColEffectiveUntil = "effective_until"
	// ColCurrency is optional: a row's currency, which must be the deck's
	// or be converted with an exchange rate of DeckOptions.FX.
	ColCurrency = "currency"
)

var requiredDeckColumns = []string{ColPrefix, ColRate, ColFirstIncrement, ColNextIncrement, ColEffectiveFrom}

// ReadDeckCSV reads a rate deck from CSV with a header line naming the
// columns prefix, description, rate, connect_fee, first_increment,
// next_increment, effective_from and optionally effective_until (description
// and connect_fee may be absent: "" and 0). Rows are grouped into one version
// per distinct (effective_from, effective_until); each version is a complete
// deck (see DeckVersion).
//
// Every line is validated; if any is bad the whole deck is rejected with a
// *DeckError listing each bad line and field (up to MaxListedErrors). Bounds:
// opts.MaxRows rows and opts.MaxLineBytes per line (errors wrap ErrTooLarge).
// The result has passed Deck.Validate.
func ReadDeckCSV(r io.Reader, opts DeckOptions) (*Deck, error) {
	deck := &Deck{
		Counterparty:           opts.Counterparty,
		Direction:              opts.Direction,
		Currency:               opts.Currency,
		Decimals:               opts.Decimals,
		Rounding:               strings.ToLower(opts.Rounding),
		DurationRounding:       opts.DurationRounding,
		ZeroDurationConnectFee: opts.ZeroDurationConnectFee,
	}
	if deck.Direction == "" {
		deck.Direction = Sell
	}
	if deck.Rounding == "" {
		deck.Rounding = money.HalfUp
	}
	if deck.DurationRounding == "" {
		deck.DurationRounding = DurationUp
	}
	// Deck-level settings first: without a currency no row can be parsed.
	probe := *deck
	probe.Versions = []DeckVersion{{EffectiveFrom: time.Unix(0, 0)}}
	if err := probe.Validate(); err != nil {
		return nil, err
	}
	maxRows, maxLine := opts.MaxRows, opts.MaxLineBytes
	if maxRows <= 0 {
		maxRows = DefaultMaxRows
	}
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	src := newCSVSource(r, maxLine)
	if err := src.readHeader(); err != nil {
		return nil, deckErr(err)
	}
	var errs lineErrors
	for _, c := range requiredDeckColumns {
		if _, ok := src.header[c]; !ok {
			errs.add(1, c, "", fmt.Errorf("%w: missing column (header has %s)", ErrBadInput, strings.Join(src.names, ",")))
		}
	}
	if errs.count() > 0 {
		return nil, &DeckError{Errors: errs.Errors, Omitted: errs.Omitted}
	}
	col := func(name string) int {
		if i, ok := src.header[name]; ok {
			return i
		}
		return -1
	}
	cPrefix, cDesc, cRate, cFee := col(ColPrefix), col(ColDescription), col(ColRate), col(ColConnectFee)
	cA, cB, cFrom, cUntil := col(ColFirstIncrement), col(ColNextIncrement), col(ColEffectiveFrom), col(ColEffectiveUntil)
	cCur := col(ColCurrency)

	type vkey struct{ from, until int64 }
	versions := map[vkey]*DeckVersion{}
	var order []vkey
	firstLine := map[vkey]map[string]int{} // prefix → line, per version
	rows, tooBig := 0, false
	for {
		rec, line, err := src.nextRecord(&errs)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		rows++
		if rows > maxRows {
			errs.add(line, "", "", fmt.Errorf("%w: more than %d rows", ErrTooLarge, maxRows))
			tooBig = true
			break
		}
		bad := errs.count()
		var row Row
		row.Line = line
		row.Prefix = strings.TrimPrefix(field(rec, cPrefix), "+")
		if err := checkPrefix(row.Prefix); err != nil {
			errs.add(line, ColPrefix, field(rec, cPrefix), err)
		}
		row.Description = field(rec, cDesc)
		if len(row.Description) > 200 {
			errs.add(line, ColDescription, row.Description, fmt.Errorf("%w: longer than 200 bytes", ErrBadInput))
		}
		rowCur, fx := rowCurrency(&errs, line, strings.ToUpper(field(rec, cCur)), deck.Currency, opts.FX)
		row.Rate = parseRate(&errs, line, ColRate, field(rec, cRate), rowCur, false)
		row.ConnectFee = parseRate(&errs, line, ColConnectFee, field(rec, cFee), rowCur, true)
		if fx != nil && errs.count() == bad {
			row.Rate = convertRate(&errs, line, ColRate, row.Rate, fx)
			row.ConnectFee = convertRate(&errs, line, ColConnectFee, row.ConnectFee, fx)
		}
		row.FirstIncrement = parseIncrement(&errs, line, ColFirstIncrement, field(rec, cA), 0)
		row.NextIncrement = parseIncrement(&errs, line, ColNextIncrement, field(rec, cB), 1)
		from, err := parseTime(field(rec, cFrom), "", opts.Location)
		if err != nil {
			errs.add(line, ColEffectiveFrom, field(rec, cFrom), err)
		}
		var until time.Time
		if s := field(rec, cUntil); s != "" {
			if until, err = parseTime(s, "", opts.Location); err != nil {
				errs.add(line, ColEffectiveUntil, s, err)
			} else if !from.IsZero() && !until.After(from) {
				errs.add(line, ColEffectiveUntil, s, fmt.Errorf("%w: not after effective_from", ErrBadInput))
			}
		}
		if errs.count() > bad {
			continue
		}
		k := vkey{from.UnixNano(), 0}
		if !until.IsZero() {
			k.until = until.UnixNano()
		}
		v := versions[k]
		if v == nil {
			v = &DeckVersion{ID: from.UTC().Format(time.RFC3339), EffectiveFrom: from.UTC()}
			if !until.IsZero() {
				v.EffectiveUntil = until.UTC()
				v.ID += "/" + v.EffectiveUntil.Format(time.RFC3339)
			}
			versions[k] = v
			firstLine[k] = map[string]int{}
			order = append(order, k)
		}
		if prev, dup := firstLine[k][row.Prefix]; dup {
			errs.add(line, ColPrefix, row.Prefix, fmt.Errorf("%w: prefix already defined on line %d for the same effective dates", ErrBadInput, prev))
			continue
		}
		firstLine[k][row.Prefix] = line
		v.Rows = append(v.Rows, row)
	}
	if errs.count() > 0 {
		return nil, &DeckError{Errors: errs.Errors, Omitted: errs.Omitted, tooBig: tooBig || src.stoppedTooLarge}
	}
	if len(order) == 0 {
		return nil, &DeckError{Errors: []FieldError{{Line: 1, Err: fmt.Errorf("%w: deck has no rows", ErrBadInput)}}}
	}
	for _, k := range order {
		deck.Versions = append(deck.Versions, *versions[k])
	}
	sortVersions(deck.Versions)
	if !opts.AllowOverlap {
		if err := overlap(deck.Versions); err != nil {
			return nil, &DeckError{Errors: []FieldError{*err}}
		}
	}
	if err := deck.Validate(); err != nil {
		// Two versions with one start but different ends land here.
		return nil, &DeckError{Errors: []FieldError{{Err: err}}}
	}
	return deck, nil
}

func deckErr(err error) error {
	var fe FieldError
	if errors.As(err, &fe) {
		return &DeckError{Errors: []FieldError{fe}, tooBig: errors.Is(err, ErrTooLarge)}
	}
	if errors.Is(err, ErrBadInput) {
		return &DeckError{Errors: []FieldError{{Line: 1, Err: err}}}
	}
	return err
}

// parseRate parses a non-negative decimal money value; "" is 0 when optional.
func parseRate(errs *lineErrors, line int, name, s, currency string, optional bool) money.Amount {
	if s == "" && optional {
		return money.Zero(currency)
	}
	a, err := money.New(s, currency)
	if err != nil {
		errs.add(line, name, s, fmt.Errorf("%w: not a decimal number", ErrBadInput))
		return money.Amount{}
	}
	if a.Sign() < 0 {
		errs.add(line, name, s, fmt.Errorf("%w: negative", ErrBadInput))
	}
	if d := a.Decimal(); d.NumDigits() > maxDecimalDigits || d.Exponent < -maxDecimalDigits {
		errs.add(line, name, s, fmt.Errorf("%w: more than %d digits", ErrBadInput, maxDecimalDigits))
	}
	return a
}

func parseIncrement(errs *lineErrors, line int, name, s string, min int64) int64 {
	n, err := parseInt(s)
	if err != nil || n < min || n > MaxIncrement {
		errs.add(line, name, s, fmt.Errorf("%w: want whole seconds %d..%d", ErrBadInput, min, MaxIncrement))
	}
	return n
}

// rowCurrency checks a row's currency column: empty or the deck's is the
// deck's; another ISO 4217 code needs an exchange rate to the deck's
// currency in fx (returned, and the row's amounts are read in that
// currency, then converted); anything else is a line error.
func rowCurrency(errs *lineErrors, line int, cur, deckCur string, fx FXTable) (string, *ExchangeRate) {
	if cur == "" || cur == deckCur {
		return deckCur, nil
	}
	if !ISOCurrency(cur) {
		errs.add(line, ColCurrency, cur, fmt.Errorf("%w: not an ISO 4217 currency code", ErrBadInput))
		return deckCur, nil
	}
	x, ok := fx.Lookup(cur, deckCur)
	if !ok {
		errs.add(line, ColCurrency, cur, fmt.Errorf("%w: row in %s, deck in %s: give the dated exchange rate (--fx %s/%s=RATE@YYYY-MM-DD)",
			money.ErrCurrencyMismatch, cur, deckCur, cur, deckCur))
		return deckCur, nil
	}
	return cur, &x
}

// convertRate multiplies a (in x.From) by x.Rate exactly, into x.To: the
// one rounding stays the per-CDR one.
func convertRate(errs *lineErrors, line int, name string, a money.Amount, x *ExchangeRate) money.Amount {
	b, err := money.FromDecimal(a.Decimal(), x.To)
	if err == nil {
		b, err = b.Mul(&x.Rate)
	}
	if err != nil {
		errs.add(line, name, a.Text(), fmt.Errorf("%w: converting at %s: %w", ErrBadInput, x, err))
	}
	return b
}

// overlap refuses versions whose explicit effective_until reaches past the
// start of a later version: during the overlap two complete decks claim the
// same calls. An open-ended version followed by a later one is not an
// overlap: it is how carriers replace a deck (DeckVersion).
func overlap(vs []DeckVersion) *FieldError {
	for i := range vs {
		if vs[i].EffectiveUntil.IsZero() {
			continue
		}
		for j := i + 1; j < len(vs); j++ {
			if vs[j].EffectiveFrom.Before(vs[i].EffectiveUntil) {
				line := 0
				if len(vs[j].Rows) > 0 {
					line = vs[j].Rows[0].Line
				}
				return &FieldError{Line: line, Field: ColEffectiveFrom, Value: vs[j].ID, Err: fmt.Errorf(
					"%w: version %s overlaps version %s (line %d) from %s to %s; fix the dates, or allow it explicitly (the later-starting version wins while in force)",
					ErrBadInput, vs[j].ID, vs[i].ID, firstLine(vs[i]), vs[j].EffectiveFrom.Format(time.RFC3339),
					minTime(vs[i].EffectiveUntil, vs[j].EffectiveUntil).Format(time.RFC3339))}
			}
		}
	}
	return nil
}

func firstLine(v DeckVersion) int {
	if len(v.Rows) == 0 {
		return 0
	}
	return v.Rows[0].Line
}

func minTime(a, b time.Time) time.Time {
	if b.IsZero() || a.Before(b) {
		return a
	}
	return b
}
