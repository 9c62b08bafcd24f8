package money

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cockroachdb/apd/v3"
)

// ErrCurrencyMismatch is returned when an operation combines two currencies.
var ErrCurrencyMismatch = errors.New("money: currency mismatch")

// ErrInvalid is wrapped by every parse and validation error of this package.
var ErrInvalid = errors.New("money: invalid amount")

// exact is the context of all exact arithmetic: a result that would need
// rounding is an error, never a silently shortened number.
var exact = apd.Context{
	Precision:   60,
	MaxExponent: apd.MaxExponent,
	MinExponent: apd.MinExponent,
	Traps:       apd.DefaultTraps | apd.Inexact | apd.Rounded,
}

// Amount is a decimal value in one currency. The zero Amount is 0 with no
// currency; it is safe to copy and to use from several goroutines.
type Amount struct {
	value    apd.Decimal
	currency string
}

// ValidCurrency reports whether c looks like an ISO 4217 alphabetic code.
func ValidCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

// New parses value ("0.175", "-3", "12") in currency. Exponent notation,
// NaN and infinities are refused.
func New(value, currency string) (Amount, error) {
	if !ValidCurrency(currency) {
		return Amount{}, fmt.Errorf("%w: currency %q is not an ISO 4217 code", ErrInvalid, currency)
	}
	d, err := ParseDecimal(value)
	if err != nil {
		return Amount{}, err
	}
	return Amount{value: *d, currency: currency}, nil
}

// MustNew is New for constants in tests and tables; it panics on error.
func MustNew(value, currency string) Amount {
	a, err := New(value, currency)
	if err != nil {
		panic(err)
	}
	return a
}

// FromDecimal returns d in currency (d is copied).
func FromDecimal(d *apd.Decimal, currency string) (Amount, error) {
	if !ValidCurrency(currency) {
		return Amount{}, fmt.Errorf("%w: currency %q is not an ISO 4217 code", ErrInvalid, currency)
	}
	if d.Form != apd.Finite {
		return Amount{}, fmt.Errorf("%w: %s is not finite", ErrInvalid, d.Text('f'))
	}
	var a Amount
	a.value.Set(d)
	a.currency = currency
	return a, nil
}

// Zero returns 0 in currency.
func Zero(currency string) Amount { return Amount{currency: currency} }

// ParseDecimal parses a plain decimal number ("-0.0050"): digits with an
// optional sign and point, nothing else.
func ParseDecimal(s string) (*apd.Decimal, error) {
	if s == "" || len(s) > 64 {
		return nil, fmt.Errorf("%w: %q is not a decimal number", ErrInvalid, s)
	}
	digits, point := 0, false
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !point:
			point = true
		case (c == '-' || c == '+') && i == 0:
		default:
			return nil, fmt.Errorf("%w: %q is not a decimal number", ErrInvalid, s)
		}
	}
	if digits == 0 {
		return nil, fmt.Errorf("%w: %q is not a decimal number", ErrInvalid, s)
	}
	d, _, err := apd.NewFromString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrInvalid, s, err)
	}
	return d, nil
}

// Currency returns the ISO 4217 code ("" for the zero Amount).
func (a Amount) Currency() string { return a.currency }

// Decimal returns a copy of the value.
func (a Amount) Decimal() *apd.Decimal { return new(apd.Decimal).Set(&a.value) }

// Text renders the value in plain notation, without the currency: "0.175".
func (a Amount) Text() string { return a.value.Text('f') }

// AppendText appends Text() to b without allocating: what writers of
// millions of amounts (settle rate's output) use. A non-negative value
// with at most 19 digits and 0–18 decimals, which every rated amount is, is
// written here directly, the rest by apd (TestAppendTextMatchesApd).
func (a Amount) AppendText(b []byte) []byte {
	v := &a.value
	if v.Form != apd.Finite || v.Negative || v.Exponent > 0 || v.Exponent < -18 || !v.Coeff.IsUint64() {
		return v.Append(b, 'f')
	}
	var buf [20]byte
	digits := strconv.AppendUint(buf[:0], v.Coeff.Uint64(), 10)
	point := len(digits) + int(v.Exponent) // digits before the point
	switch {
	case v.Exponent == 0:
		return append(b, digits...)
	case point > 0:
		b = append(b, digits[:point]...)
		b = append(b, '.')
		return append(b, digits[point:]...)
	}
	b = append(b, '0', '.')
	for ; point < 0; point++ {
		b = append(b, '0')
	}
	return append(b, digits...)
}

// Units returns the value as a whole number of 10^exponent when it is
// written with exactly that exponent (an amount rounded to -exponent
// decimals) and the count fits in an int64: value = units × 10^exponent.
// ok is false otherwise. It lets a caller sum millions of amounts in
// integer arithmetic, exactly, without an apd addition each.
func (a Amount) Units(exponent int32) (units int64, ok bool) {
	v := &a.value
	if v.Form != apd.Finite || v.Exponent != exponent || !v.Coeff.IsInt64() {
		return 0, false
	}
	units = v.Coeff.Int64()
	if v.Negative {
		units = -units
	}
	return units, true
}

// String renders "0.175 USD".
func (a Amount) String() string {
	if a.currency == "" {
		return a.Text()
	}
	return a.Text() + " " + a.currency
}

// Sign returns -1, 0 or +1.
func (a Amount) Sign() int { return a.value.Sign() }

// IsZero reports whether the value is zero (in any currency).
func (a Amount) IsZero() bool { return a.value.IsZero() }

func (a Amount) sameCurrency(b Amount) (string, error) {
	switch {
	case a.currency == b.currency:
		return a.currency, nil
	case a.currency == "" && a.value.IsZero():
		return b.currency, nil
	case b.currency == "" && b.value.IsZero():
		return a.currency, nil
	}
	return "", fmt.Errorf("%w: %s and %s", ErrCurrencyMismatch, a.currency, b.currency)
}

// Add returns a+b exactly. A zero Amount with no currency adopts b's.
func (a Amount) Add(b Amount) (Amount, error) {
	cur, err := a.sameCurrency(b)
	if err != nil {
		return Amount{}, err
	}
	var r Amount
	if _, err := exact.Add(&r.value, &a.value, &b.value); err != nil {
		return Amount{}, fmt.Errorf("money: %s + %s: %w", a, b, err)
	}
	r.currency = cur
	return r, nil
}

// Sub returns a-b exactly.
func (a Amount) Sub(b Amount) (Amount, error) { return a.Add(b.Neg()) }

// Neg returns -a.
func (a Amount) Neg() Amount {
	var r Amount
	r.value.Neg(&a.value)
	r.currency = a.currency
	return r
}

// Mul returns a×d exactly (d is a plain factor: seconds, a rate, a count).
func (a Amount) Mul(d *apd.Decimal) (Amount, error) {
	var r Amount
	if _, err := exact.Mul(&r.value, &a.value, d); err != nil {
		return Amount{}, fmt.Errorf("money: %s × %s: %w", a, d.Text('f'), err)
	}
	r.currency = a.currency
	return r, nil
}

// Cmp compares a and b: -1, 0, +1. Different currencies are an error.
func (a Amount) Cmp(b Amount) (int, error) {
	if _, err := a.sameCurrency(b); err != nil {
		return 0, err
	}
	return a.value.Cmp(&b.value), nil
}

// Equal reports whether a and b have the same currency and numeric value
// (0.10 equals 0.1).
func (a Amount) Equal(b Amount) bool {
	return a.currency == b.currency && a.value.Cmp(&b.value) == 0
}

// Rounding modes, by the names rate decks use.
const (
	HalfUp   = "half-up"
	HalfEven = "half-even"
	Up       = "up"   // away from zero
	Down     = "down" // toward zero
)

// Rounder returns apd's rounder for a mode name, or an error naming the
// accepted ones.
func Rounder(mode string) (apd.Rounder, error) {
	switch strings.ToLower(mode) {
	case HalfUp, "":
		return apd.RoundHalfUp, nil
	case HalfEven:
		return apd.RoundHalfEven, nil
	case Up:
		return apd.RoundUp, nil
	case Down:
		return apd.RoundDown, nil
	}
	return "", fmt.Errorf("%w: rounding mode %q (want half-up, half-even, up or down)", ErrInvalid, mode)
}

// RoundDecimal rounds d to places decimal places with mode, the one
// deliberate rounding step of the codebase. It returns a new decimal.
func RoundDecimal(d *apd.Decimal, places int32, mode string) (*apd.Decimal, error) {
	r, err := Rounder(mode)
	if err != nil {
		return nil, err
	}
	ctx := exact
	ctx.Traps = apd.DefaultTraps
	ctx.Rounding = r
	out := new(apd.Decimal)
	if _, err := ctx.Quantize(out, d, -places); err != nil {
		return nil, fmt.Errorf("money: round %s to %d places: %w", d.Text('f'), places, err)
	}
	return out, nil
}

// Round returns a rounded to places decimal places with mode.
func (a Amount) Round(places int32, mode string) (Amount, error) {
	d, err := RoundDecimal(&a.value, places, mode)
	if err != nil {
		return Amount{}, err
	}
	return Amount{value: *d, currency: a.currency}, nil
}

type jsonAmount struct {
	Value    string `json:"value"`
	Currency string `json:"currency"`
}

// MarshalJSON renders {"value":"0.175","currency":"USD"}.
func (a Amount) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonAmount{Value: a.Text(), Currency: a.currency})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (a *Amount) UnmarshalJSON(b []byte) error {
	var j jsonAmount
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if j.Currency == "" && (j.Value == "" || j.Value == "0") {
		*a = Amount{}
		return nil
	}
	v, err := New(j.Value, j.Currency)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// MarshalText renders "0.175 USD" (for map keys, CSV and logs).
func (a Amount) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads "0.175 USD".
func (a *Amount) UnmarshalText(b []byte) error {
	v, cur, ok := strings.Cut(string(b), " ")
	if !ok {
		return fmt.Errorf("%w: %q (want \"VALUE CUR\")", ErrInvalid, b)
	}
	r, err := New(v, cur)
	if err != nil {
		return err
	}
	*a = r
	return nil
}
