package fraud

import (
	"strings"
	"testing"
	"time"
)

func TestParseDecimal(t *testing.T) {
	for _, c := range []struct {
		in    string
		scale int64
		want  int64
		err   string
	}{
		{"3.5", Permille, 3500, ""},
		{"5", Permille, 5000, ""},
		{"0.8", Permille, 800, ""},
		{"0.125", Permille, 125, ""},
		{"1.2500", Permille, 1250, ""},
		{".5", Permille, 500, ""},
		{"2.", Permille, 2000, ""},
		{"-0.25", Permille, -250, ""},
		{"30", 60, 1800, ""},
		{"0.5", 60, 30, ""},
		{"90.25", 60, 5415, ""},
		{"0.05", 60, 3, ""},
		{"3.0005", Permille, 0, "more precise than the unit holds (0.001)"},
		{"0.01", 60, 0, "more precise than the unit holds (whole seconds)"},
		{"1e3", Permille, 0, "not a decimal number"},
		{"", Permille, 0, "not a decimal number"},
		{".", Permille, 0, "not a decimal number"},
		{"0x10", Permille, 0, "not a decimal number"},
		{"1.2.3", Permille, 0, "not a decimal number"},
		{"1234567890123456", Permille, 0, "more than 15 digits"},
	} {
		got, err := ParseDecimal(c.in, c.scale)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseDecimal(%q, %d) = %d, %v; want error %q", c.in, c.scale, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseDecimal(%q, %d) = %d, %v; want %d", c.in, c.scale, got, err, c.want)
		}
		// and back, exactly
		if s, ok := FormatDecimal(got, c.scale); !ok {
			t.Errorf("FormatDecimal(%d, %d) = %q, not exact", got, c.scale, s)
		} else if again, _ := ParseDecimal(s, c.scale); again != got {
			t.Errorf("%q → %d → %q → %d", c.in, got, s, again)
		}
	}
	if s, ok := FormatDecimal(1, 60); ok || s != "0.016666" {
		t.Errorf("FormatDecimal(1, 60) = %q, %v; want 0.016666, false", s, ok)
	}
	if s, ok := FormatDecimal(3500, Permille); !ok || s != "3.5" {
		t.Errorf("FormatDecimal(3500) = %q, %v", s, ok)
	}
}

// TestWindowFixedPoint: the baseline is integer arithmetic with the
// documented rounding (down): a steady count converges just under it, and
// an idle baseline decays to exactly 0.
func TestWindowFixedPoint(t *testing.T) {
	var w window
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w.roll(t0, time.Minute, 3) // α = 1/2
	w.count = 4
	w.roll(t0.Add(time.Minute), time.Minute, 3)
	if w.base != 2000 { // (2×1000×4 + 2×0)/4
		t.Fatalf("base %d, want 2000", w.base)
	}
	w.count = 3
	w.roll(t0.Add(2*time.Minute), time.Minute, 3)
	if w.base != 2500 { // (6000 + 2×2000)/4
		t.Fatalf("base %d, want 2500", w.base)
	}
	w.count = 1
	w.roll(t0.Add(5*time.Minute), time.Minute, 3) // fold 1, then 2 empty windows
	if w.base != 437 {                            // (2000+5000)/4 = 1750 → 875 → 437
		t.Fatalf("base %d, want 437", w.base)
	}
	w.roll(t0.Add(100*time.Minute), time.Minute, 3)
	if w.base != 0 {
		t.Fatalf("idle base %d, want 0", w.base)
	}
	for i := 0; i < 2000; i++ {
		w.count = 7
		w.roll(t0.Add(time.Duration(101+i)*time.Minute), time.Minute, 288)
	}
	if w.base > 7000 || w.base < 7000-145 {
		t.Fatalf("steady base %d, want within (n+1)/2 below 7000", w.base)
	}
}
