package settlement

import (
	"fmt"
	"strings"
	"time"
)

// ParseFX parses a dated exchange rate given on a command line,
// "EUR/USD=1.0842@2026-11-01": 1 EUR = 1.0842 USD, the rate of that day.
// Both codes must be ISO 4217 (the embedded table), the rate a positive
// plain decimal, the date 2006-01-02. An optional source follows the date
// after a comma ("…@2026-11-01,ECB"). Errors wrap ErrBadInput.
func ParseFX(s string) (ExchangeRate, error) {
	bad := func(why string) (ExchangeRate, error) {
		return ExchangeRate{}, fmt.Errorf("%w: exchange rate %q: %s (want FROM/TO=RATE@YYYY-MM-DD, e.g. EUR/USD=1.0842@2026-11-01)", ErrBadInput, s, why)
	}
	pair, rest, ok := strings.Cut(strings.TrimSpace(s), "=")
	if !ok {
		return bad("no '='")
	}
	from, to, ok := strings.Cut(pair, "/")
	if !ok {
		return bad("no '/' between the currencies")
	}
	from, to = strings.ToUpper(strings.TrimSpace(from)), strings.ToUpper(strings.TrimSpace(to))
	if !ISOCurrency(from) || !ISOCurrency(to) {
		return bad("not ISO 4217 codes")
	}
	if from == to {
		return bad("the same currency twice")
	}
	rate, dated, ok := strings.Cut(rest, "@")
	if !ok {
		return bad("no '@DATE': a rate without its date cannot be checked later")
	}
	day, source, _ := strings.Cut(dated, ",")
	date, err := time.Parse("2006-01-02", strings.TrimSpace(day))
	if err != nil {
		return bad("date is not YYYY-MM-DD")
	}
	x, err := NewExchangeRate(from, to, strings.TrimSpace(rate), date, strings.TrimSpace(source))
	if err != nil {
		return bad("the rate must be a positive decimal")
	}
	return x, nil
}

// String renders x as ParseFX reads it.
func (x ExchangeRate) String() string {
	s := fmt.Sprintf("%s/%s=%s@%s", x.From, x.To, x.Rate.Text('f'), x.Date.Format("2006-01-02"))
	if x.Source != "" {
		s += "," + x.Source
	}
	return s
}

// FXTable holds the exchange rates a run was given, by (from, to).
type FXTable map[[2]string]ExchangeRate

// NewFXTable indexes rates; two rates for one pair wrap ErrBadInput (which
// one applies would be a guess).
func NewFXTable(rates []ExchangeRate) (FXTable, error) {
	t := FXTable{}
	for _, x := range rates {
		k := [2]string{x.From, x.To}
		if prev, dup := t[k]; dup {
			return nil, fmt.Errorf("%w: two exchange rates for %s/%s (%s and %s)", ErrBadInput, x.From, x.To, prev, x)
		}
		t[k] = x
	}
	return t, nil
}

// Lookup returns the rate from → to, if given.
func (t FXTable) Lookup(from, to string) (ExchangeRate, bool) {
	x, ok := t[[2]string{from, to}]
	return x, ok
}
