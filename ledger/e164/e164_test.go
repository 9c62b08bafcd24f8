package e164

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Number
	}{
		{"+16785551234", "16785551234"}, {"16785551234", "16785551234"}, {" 44 ", "44"}, {"\t+44\r\n", "44"},
		{strings.Repeat("1", MaxNumberDigits), Number(strings.Repeat("1", MaxNumberDigits))},
		{"", ""}, {"+", ""}, {"++44", ""}, {"sip:1@x", ""}, {"12a", ""}, {"4 4", ""}, {"-44", ""},
		{strings.Repeat("1", MaxNumberDigits+1), ""},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in)
		if got != tc.want || (tc.want == "") != errors.Is(err, ErrNotANumber) {
			t.Errorf("Parse(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestIsDigits(t *testing.T) {
	for s, want := range map[string]bool{"": true, "0123456789": true, "12a": false, "+1": false, " 1": false, "١": false} {
		if got := IsDigits(s); got != want {
			t.Errorf("IsDigits(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"+16785551234", " 44 ", "sip:1@x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			return
		}
		if n == "" || len(n) > MaxNumberDigits || !IsDigits(string(n)) {
			t.Fatalf("Parse(%q) = %q", s, n)
		}
		if again, err := Parse(string(n)); err != nil || again != n {
			t.Fatalf("Parse is not idempotent on %q: %q %v", n, again, err)
		}
	})
}
