package e164

import (
	"errors"
	"fmt"
	"strings"
)

// Bounds of a number.
const (
	// MaxDigits is the longest E.164 number (ITU-T E.164 §6: 15 digits).
	MaxDigits = 15
	// MaxNumberDigits is the longest digit string Parse accepts: E.164
	// plus a few sub-address digits some carriers append.
	MaxNumberDigits = MaxDigits + 5
)

// ErrNotANumber is wrapped by Parse for a string that is not a number.
var ErrNotANumber = errors.New("e164: not E.164 digits")

// Number is an E.164 number as its digits: "16785551234". The zero Number
// ("") is no number; Parse never returns it without an error.
type Number string

// Parse returns the Number s denotes: surrounding whitespace (which the OSP
// toolkit leaves around some fields) and one leading '+' are dropped, and
// the rest must be 1 to MaxNumberDigits decimal digits. Anything else (a
// SIP URI, letters, inner spaces, an empty string) wraps ErrNotANumber.
func Parse(s string) (Number, error) {
	d := strings.TrimPrefix(strings.TrimSpace(s), "+")
	if d == "" || len(d) > MaxNumberDigits || !IsDigits(d) {
		return "", fmt.Errorf("%w: %q", ErrNotANumber, s)
	}
	return Number(d), nil
}

// String returns the digits.
func (n Number) String() string { return string(n) }

// IsDigits reports whether s holds only the decimal digits 0–9; the empty
// string does (callers that need a digit check length themselves). It is
// the one digit check of prefixes, numbers and translations.
func IsDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
