package pki

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
)

func TestParseSerial(t *testing.T) {
	tests := []struct {
		in   string
		want string // decimal; "" = ErrBadSerial
	}{
		{"42", "42"},
		{" 42\n", "42"},
		{"0042", "42"},
		{"10", "10"}, // all digits: decimal, never hex
		{"0x2a", "42"},
		{"0X2A", "42"},
		{"0x002A", "42"},
		{"2a", "42"},
		{"2A", "42"},
		{"0A:FF", "2815"},
		{"0a:ff", "2815"},
		{"a:f", "175"},
		{"10:00", "4096"}, // colons: hex even when all digits
		{"7f:ff:ff:ff:ff:ff:ff:ff:ff", "2361183241434822606847"},
		{"1234567890123456789012345678901234567890", "1234567890123456789012345678901234567890"},
		{"", ""},
		{"  ", ""},
		{"0", ""},
		{"0x0", ""},
		{"00:00", ""},
		{"-5", ""},
		{"+5", ""},
		{"0x", ""},
		{"0x-1", ""},
		{"0x1_0", ""},
		{"1_000", ""},
		{"xyz", ""},
		{"not-hex", ""},
		{"0g", ""},
		{"0a:", ""},
		{":0a", ""},
		{"0a::ff", ""},
		{"0aff:1", ""}, // groups are bytes
		{"0x0a:ff", ""},
		{"１２", ""}, // full-width digits
		{strings.Repeat("9", maxSerialText+1), ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			n, err := ParseSerial(tc.in)
			if tc.want == "" {
				if !errors.Is(err, ErrBadSerial) {
					t.Fatalf("ParseSerial(%q) = %v, %v; want ErrBadSerial", tc.in, n, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n.String() != tc.want {
				t.Fatalf("ParseSerial(%q) = %s, want %s", tc.in, n, tc.want)
			}
		})
	}
}

func TestFormatSerial(t *testing.T) {
	tests := []struct {
		n             *big.Int
		format, descr string
	}{
		{big.NewInt(42), "0x2a", "0x2a (decimal 42)"},
		{big.NewInt(2815), "0xaff", "0xaff (decimal 2815)"},
		{big.NewInt(16), "0x10", "0x10 (decimal 16)"},
		{nil, "-", "-"},
	}
	for _, tc := range tests {
		if got := FormatSerial(tc.n); got != tc.format {
			t.Errorf("FormatSerial(%v) = %q, want %q", tc.n, got, tc.format)
		}
		if got := DescribeSerial(tc.n); got != tc.descr {
			t.Errorf("DescribeSerial(%v) = %q, want %q", tc.n, got, tc.descr)
		}
	}
}

// FuzzParseSerial: never panics; what it accepts is positive and reads
// back identically from FormatSerial's output and from its decimal form.
func FuzzParseSerial(f *testing.F) {
	for _, s := range []string{"42", "0x2a", "0A:FF", "aff", "", "0", "0x", "a:", "-1", "10:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSerial(s)
		if err != nil {
			if !errors.Is(err, ErrBadSerial) {
				t.Fatalf("error %v does not wrap ErrBadSerial", err)
			}
			return
		}
		if n.Sign() <= 0 {
			t.Fatalf("accepted non-positive %s from %q", n, s)
		}
		var colon []string
		for _, b := range n.Bytes() {
			colon = append(colon, fmt.Sprintf("%02X", b))
		}
		// Bare hex (and one colon-less byte) is not a round-trip form:
		// all-digit text is decimal.
		backs := []string{FormatSerial(n), n.String()}
		if len(colon) > 1 {
			backs = append(backs, strings.Join(colon, ":"))
		}
		for _, back := range backs {
			m, err := ParseSerial(back)
			if err != nil || m.Cmp(n) != 0 {
				t.Fatalf("%q → %s → %q → %v, %v", s, n, back, m, err)
			}
		}
	})
}
