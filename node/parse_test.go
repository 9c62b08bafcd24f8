package node

import (
	"strings"
	"testing"

	"github.com/cockroachdb/apd/v3"
)

func TestDurationMillis(t *testing.T) {
	tests := []struct {
		amount string
		inc    int
		want   int64
		bad    bool
	}{
		{"30.000", 1, 30000, false},
		{"30", 1, 30000, false},
		{"1.5", 1, 1500, false},
		{"0.0005", 1, 1, false},
		{"1.9999", 1, 2000, false},
		{"2", 60, 120000, false},
		{"", 1, 0, false},
		{".25", 1, 250, false},
		{"-1", 1, 0, true},
		{"1e3", 1, 0, true},
		{".0001E2", 1, 0, true}, // an exponent after a digit that rounds up (fuzz)
		{"1.00009x", 1, 0, true},
		{"abc", 1, 0, true},
		{"99999999999", 1, 0, true},
		{"30", 0, 30000, false}, // no Increment element
		{"30", -5, 0, true},
		{"", -1, 0, true},
		{"604800", 1, 604_800_000, false}, // 7 days: the bound
		{"604800.001", 1, 0, true},
		{"604801", 1, 0, true},
		{"1000", 2147483647, 0, true},    // 68 years: product bounded
		{"8640000", 2147483647, 0, true}, // would overflow int64 unbounded
		{"9223372036854775807", 2, 0, true},
		{"0.5", 2147483647, 0, true},
		{"100", 6048, 604_800_000, false},
		{"100.001", 6048, 0, true},
	}
	for _, tc := range tests {
		got, err := durationMillis(tc.amount, tc.inc)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("durationMillis(%q, %d) = %d, %v; want %d, bad=%v", tc.amount, tc.inc, got, err, tc.want, tc.bad)
		}
	}
}

// FuzzDurationMillis checks the parser against apd: ceil(amount × 1000).
func FuzzDurationMillis(f *testing.F) {
	for _, s := range []string{"30.000", "0.0001", "1.9999", "12", "", "x", "1.", ".5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := durationMillis(s, 1)
		if err != nil {
			return
		}
		if strings.TrimSpace(s) == "" {
			if got != 0 {
				t.Fatalf("%q: %d", s, got)
			}
			return
		}
		d, _, perr := apd.NewFromString(strings.TrimSpace(s))
		if perr != nil {
			return // e.g. "1." — accepted by us, a plain number
		}
		var ms, c apd.Decimal
		ctx := apd.BaseContext.WithPrecision(60)
		ctx.Mul(&ms, d, apd.New(1000, 0))
		ctx.Ceil(&c, &ms)
		want, ierr := c.Int64()
		if ierr == nil && want != got {
			t.Fatalf("%q: got %d ms, want %d", s, got, want)
		}
	})
}

func TestNormalizeAndTransport(t *testing.T) {
	for in, want := range map[string]string{"+16785551234": "16785551234", " 44 ": "44", "sip:1@x": "", "": "", "12a": ""} {
		if got := normalizeNumber(in); got != want {
			t.Errorf("normalizeNumber(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"[10.0.0.2]:5060": "10.0.0.2", "[10.0.0.1]": "10.0.0.1", "10.0.0.3:5060": "10.0.0.3", "::1": "::1", "[::1]:5060": "::1"} {
		ip, ok := transportIP(in)
		if !ok || ip.String() != want {
			t.Errorf("transportIP(%q) = %v %v, want %s", in, ip, ok, want)
		}
	}
	if _, ok := transportIP("host.example:5060"); ok {
		t.Error("a host name parsed as an IP")
	}
}
