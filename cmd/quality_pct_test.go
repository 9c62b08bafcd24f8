package cmd

import (
	"strings"
	"testing"
)

// TestParseBps: the network file's percentages go to basis points exactly
// from their text (no float), at most two decimals, and formatBps writes
// them back as they were read, so export | apply is a no-op.
func TestParseBps(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		out  string
	}{{"30", 3000, "30"}, {"12.5", 1250, "12.5"}, {"12.50", 1250, "12.5"}, {"0.25", 25, "0.25"}, {".5", 50, "0.5"},
		{"100", 10000, "100"}, {"0", 0, "0"}, {"", 0, "0"}, {"-1", -100, "-1"}, {"33.33", 3333, "33.33"}, {"0.01", 1, "0.01"}} {
		got, err := parseBps("min_asr", tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseBps(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			continue
		}
		if s := formatBps(got); s != tc.out {
			t.Errorf("formatBps(%d) = %q, want %q", got, s, tc.out)
		}
	}
	for _, bad := range []string{"12.345", "1e1", "abc", ".", "30%", "1.2.3", "--1", "0x10"} {
		_, err := parseBps("recover_ner", bad)
		if err == nil || !strings.Contains(err.Error(), "recover_ner") {
			t.Errorf("parseBps(%q): %v, want an error naming recover_ner", bad, err)
		}
	}
	if _, err := parseBps("probe", "2.125"); err == nil || !strings.Contains(err.Error(), "at most 2 decimals") {
		t.Errorf("three decimals: %v", err)
	}
}

// TestConfQualityRoundTrip: a quality block with decimal percentages
// survives file → ledger → file unchanged (export | apply is a no-op).
func TestConfQualityRoundTrip(t *testing.T) {
	in := &confQuality{MinSamples: 50, MinASR: "12.5", RecoverASR: "33.33", MinNER: "60", RecoverNER: "70", MaxPDD: "5s", Probe: "0.25"}
	lq, err := in.ledger()
	if err != nil {
		t.Fatal(err)
	}
	if lq.MinASRBps != 1250 || lq.RecoverASRBps != 3333 || lq.MinNERBps != 6000 || lq.RecoverNERBps != 7000 || lq.ProbeBps != 25 {
		t.Fatalf("ledger %+v", lq)
	}
	if out := confQualityOf(lq); *out != *in {
		t.Fatalf("back %+v, want %+v", out, in)
	}
}
