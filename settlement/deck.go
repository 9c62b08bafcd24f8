package settlement

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ospnode/ospnode/ledger/e164"
	"github.com/ospnode/ospnode/ledger/money"
)

// Direction says who pays whom under a deck.
type Direction string

const (
	// Sell: what we charge a member for the calls it originates.
	Sell Direction = "sell"
	// Buy: what a member or peer charges us for the calls it terminates.
	Buy Direction = "buy"
)

// DurationMode turns a duration with milliseconds into whole seconds.
type DurationMode string

const (
	// DurationUp rounds any fraction of a second up (30.001 s → 31 s). The
	// default: carrier practice is that a started second is billed.
	DurationUp DurationMode = "up"
	// DurationDown truncates (30.999 s → 30 s).
	DurationDown DurationMode = "down"
	// DurationHalfUp rounds to the nearest second, 0.500 up.
	DurationHalfUp DurationMode = "half-up"
)

// Bounds of a deck, enforced by ReadDeckCSV and NewRater.
const (
	MaxPrefixDigits  = e164.MaxDigits // E.164 numbers have at most 15 digits
	MaxDecimals      = 12             // rounding places of a deck
	MaxIncrement     = 86400          // seconds; a billing step longer than a day is a typo
	DefaultMaxRows   = 2000000        // rows per deck file unless DeckOptions says otherwise
	DefaultMaxLine   = 4096           // bytes per CSV line unless options say otherwise
	maxDecimalDigits = 24             // significant digits of a rate or fee
)

// Deck is one counterparty's rate deck in one direction and currency. It is a
// plain value: build it (or read it with ReadDeckCSV), then compile it once
// with NewRater. A Deck must not be modified while a Rater built from it is
// in use (NewRater copies what it needs, so in practice it may).
type Deck struct {
	Counterparty string
	Direction    Direction
	Currency     string // ISO 4217
	// Decimals and Rounding: every CDR's cost is rounded once, to Decimals
	// places with Rounding (money.HalfUp, HalfEven, Up or Down).
	Decimals int32
	Rounding string
	// DurationRounding turns milliseconds into whole seconds; "" means up.
	DurationRounding DurationMode
	// ZeroDurationConnectFee: when true a call whose billable duration is
	// 0 s still pays the connect fee. The default (false) charges nothing for
	// a call that never connected long enough to bill a second, which is what
	// carriers (and CGRateS) do: a 0 s CDR is a failed or instantly dropped
	// call, and charging a fee for it is the first thing a partner disputes.
	ZeroDurationConnectFee bool
	// Versions, each complete on its own. The version in force at a call's
	// connect time t is the one with the latest EffectiveFrom ≤ t whose
	// EffectiveUntil is zero or after t.
	Versions []DeckVersion
}

// DeckVersion is a complete set of rows in force from EffectiveFrom
// (inclusive) until EffectiveUntil (exclusive; zero = open ended). A later
// version supersedes an earlier one entirely: it is a full replacement deck,
// as carriers send full A–Z decks with a new effective date.
type DeckVersion struct {
	ID             string // free text; ReadDeckCSV uses the effective-from timestamp
	EffectiveFrom  time.Time
	EffectiveUntil time.Time
	Rows           []Row
}

// Row rates one destination prefix.
type Row struct {
	Prefix      string       // E.164 digits, no '+'
	Description string       // e.g. "Germany mobile"
	Rate        money.Amount // per minute, ≥ 0, in the deck currency
	ConnectFee  money.Amount // per call, ≥ 0
	// FirstIncrement A and NextIncrement B in seconds: a call of d > 0
	// seconds bills A if d ≤ A, else A + ⌈(d−A)/B⌉·B.
	FirstIncrement int64
	NextIncrement  int64
	Line           int // line in the source CSV, 0 if not read from one
}

// DeckOptions are the deck-level settings ReadDeckCSV cannot find in the
// file (the CSV carries only rows) plus its input bounds.
type DeckOptions struct {
	Counterparty           string
	Direction              Direction // "" means Sell
	Currency               string    // required, ISO 4217
	Decimals               int32     // 0..MaxDecimals
	Rounding               string    // "" means half-up
	DurationRounding       DurationMode
	ZeroDurationConnectFee bool
	// FX converts rows whose currency column is another ISO 4217 code into
	// Currency, exactly (rate and fee × the dated rate); a row in another
	// currency without a rate here is a line error.
	FX FXTable
	// AllowOverlap accepts versions whose explicit effective_until reaches
	// past a later version's start; the later-starting version then wins
	// while it is in force. Refused by default (ReadDeckCSV names both).
	AllowOverlap bool
	// Location interprets effective_from/until values without a zone; nil = UTC.
	Location     *time.Location
	MaxRows      int // 0 = DefaultMaxRows
	MaxLineBytes int // 0 = DefaultMaxLine
}

// Validate checks the deck-level settings and every version and row. It
// returns an error wrapping ErrBadInput (or a money error) naming the problem.
func (d *Deck) Validate() error {
	if !money.ValidCurrency(d.Currency) {
		return fmt.Errorf("%w: deck currency %q is not an ISO 4217 code", ErrBadInput, d.Currency)
	}
	if d.Direction != Sell && d.Direction != Buy {
		return fmt.Errorf("%w: deck direction %q (want sell or buy)", ErrBadInput, d.Direction)
	}
	if d.Decimals < 0 || d.Decimals > MaxDecimals {
		return fmt.Errorf("%w: deck decimals %d (want 0..%d)", ErrBadInput, d.Decimals, MaxDecimals)
	}
	if _, err := money.Rounder(d.Rounding); err != nil {
		return fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	if _, err := parseDurationMode(string(d.DurationRounding)); err != nil {
		return err
	}
	if len(d.Versions) == 0 {
		return fmt.Errorf("%w: deck has no versions", ErrBadInput)
	}
	seen := map[int64]bool{}
	for i := range d.Versions {
		v := &d.Versions[i]
		if v.EffectiveFrom.IsZero() {
			return fmt.Errorf("%w: version %d has no effective-from", ErrBadInput, i)
		}
		if !v.EffectiveUntil.IsZero() && !v.EffectiveUntil.After(v.EffectiveFrom) {
			return fmt.Errorf("%w: version %q ends before it starts", ErrBadInput, v.ID)
		}
		if seen[v.EffectiveFrom.UnixNano()] {
			return fmt.Errorf("%w: two versions start at %s", ErrBadInput, v.EffectiveFrom.UTC().Format(time.RFC3339))
		}
		seen[v.EffectiveFrom.UnixNano()] = true
		prefixes := make(map[string]int, len(v.Rows))
		for j := range v.Rows {
			r := &v.Rows[j]
			if err := validateRow(r, d.Currency); err != nil {
				return fmt.Errorf("version %q row %d (line %d): %w", v.ID, j, r.Line, err)
			}
			if k, dup := prefixes[r.Prefix]; dup {
				return fmt.Errorf("%w: version %q: prefix %s appears twice (rows %d and %d)", ErrBadInput, v.ID, r.Prefix, k, j)
			}
			prefixes[r.Prefix] = j
		}
	}
	return nil
}

func validateRow(r *Row, currency string) error {
	if err := checkPrefix(r.Prefix); err != nil {
		return err
	}
	for _, a := range []struct {
		name string
		v    money.Amount
	}{{"rate", r.Rate}, {"connect fee", r.ConnectFee}} {
		if a.v.Currency() != currency && !(a.v.Currency() == "" && a.v.IsZero()) {
			return fmt.Errorf("%w: %s in %q, deck is %s", ErrBadInput, a.name, a.v.Currency(), currency)
		}
		if a.v.Sign() < 0 {
			return fmt.Errorf("%w: %s %s is negative", ErrBadInput, a.name, a.v.Text())
		}
	}
	if r.FirstIncrement < 0 || r.FirstIncrement > MaxIncrement {
		return fmt.Errorf("%w: first increment %d (want 0..%d)", ErrBadInput, r.FirstIncrement, MaxIncrement)
	}
	if r.NextIncrement < 1 || r.NextIncrement > MaxIncrement {
		return fmt.Errorf("%w: next increment %d (want 1..%d)", ErrBadInput, r.NextIncrement, MaxIncrement)
	}
	return nil
}

func checkPrefix(p string) error {
	if p == "" || len(p) > MaxPrefixDigits {
		return fmt.Errorf("%w: prefix %q must be 1..%d digits", ErrBadInput, p, MaxPrefixDigits)
	}
	if !e164.IsDigits(p) {
		return fmt.Errorf("%w: prefix %q must be digits only", ErrBadInput, p)
	}
	return nil
}

func parseDurationMode(s string) (DurationMode, error) {
	switch DurationMode(strings.ToLower(s)) {
	case "", DurationUp:
		return DurationUp, nil
	case DurationDown:
		return DurationDown, nil
	case DurationHalfUp:
		return DurationHalfUp, nil
	}
	return "", fmt.Errorf("%w: duration rounding %q (want up, down or half-up)", ErrBadInput, s)
}

// ParseDurationMode parses "up", "down" or "half-up" ("" means up).
func ParseDurationMode(s string) (DurationMode, error) { return parseDurationMode(s) }

// sortVersions orders versions by EffectiveFrom.
func sortVersions(vs []DeckVersion) {
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].EffectiveFrom.Before(vs[j].EffectiveFrom) })
}
