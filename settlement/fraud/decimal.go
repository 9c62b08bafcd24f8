package fraud

import (
	"fmt"
	"strconv"
	"strings"
)

// Fixed-point settings. The rules' settings and baselines are integers
// so that every replica computes bit-identical findings on any CPU (no
// floating point under ledger/ or settlement/): factors and ratios in
// permille, durations in seconds, counts and baselines in milli-units.
// ParseDecimal and FormatDecimal convert them exactly to and from the
// decimal text operators write (factor 3.5, ratio 0.8, min_minutes 30).

// Permille is the scale of FactorPermille and RatioPermille (1000 = 1×,
// 100%); Milli the scale of the milli-unit counts and baselines.
const (
	Permille = 1000
	Milli    = 1000
)

// maxDecimalDigits bounds the digits ParseDecimal reads (so that the
// scaled value cannot overflow int64).
const maxDecimalDigits = 15

// ParseDecimal returns the decimal text s (digits with an optional sign
// and point: "3.5", "30", "-0.25") times scale, exactly. It refuses text
// whose value times scale is not a whole number (more precision than the
// unit holds), exponents, and more than 15 digits. No floating point.
func ParseDecimal(s string, scale int64) (int64, error) {
	t := strings.TrimSpace(s)
	neg := false
	if t != "" && (t[0] == '-' || t[0] == '+') {
		neg = t[0] == '-'
		t = t[1:]
	}
	intPart, frac, _ := strings.Cut(t, ".")
	if intPart+frac == "" || !allDigits(intPart) || !allDigits(frac) {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	frac = strings.TrimRight(frac, "0")
	digits := strings.TrimLeft(intPart, "0") + frac
	if len(digits) > maxDecimalDigits {
		return 0, fmt.Errorf("%q has more than %d digits", s, maxDecimalDigits)
	}
	m := int64(0)
	if digits != "" {
		var err error
		if m, err = strconv.ParseInt(digits, 10, 64); err != nil {
			return 0, fmt.Errorf("%q is not a decimal number", s)
		}
	}
	den := int64(1)
	for range len(frac) {
		den *= 10
	}
	// m/den × scale must be whole; m×scale cannot overflow for the
	// scales used here (≤ 60 000) and 15 digits.
	if (m*scale)%den != 0 {
		return 0, fmt.Errorf("%q is more precise than the unit holds (%s)", s, unitName(scale))
	}
	v := m * scale / den
	if neg {
		v = -v
	}
	return v, nil
}

// FormatDecimal returns v/scale as exact decimal text ("3.5", "0.7",
// "30"); ok is false when v/scale has no finite decimal form (e.g. 1/60),
// in which case the text is rounded down to 6 decimals.
func FormatDecimal(v, scale int64) (text string, ok bool) {
	var b strings.Builder
	if v < 0 {
		b.WriteByte('-')
		v = -v
	}
	b.WriteString(strconv.FormatInt(v/scale, 10))
	r := v % scale
	if r == 0 {
		return b.String(), true
	}
	b.WriteByte('.')
	for i := 0; r != 0 && i < 6; i++ {
		r *= 10
		b.WriteByte(byte('0' + r/scale))
		r %= scale
	}
	return b.String(), r == 0
}

// Decimal is FormatDecimal's text alone.
func Decimal(v, scale int64) string {
	s, _ := FormatDecimal(v, scale)
	return s
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func unitName(scale int64) string {
	switch scale {
	case 1000:
		return "0.001"
	case 60:
		return "whole seconds"
	}
	return "1/" + strconv.FormatInt(scale, 10)
}
