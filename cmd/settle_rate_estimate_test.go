package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEstimateLines: the id-table sizing hint is exact for a file that fits
// in the sample, close for a long file of even lines, and 0 when there is
// nothing to go by.
func TestEstimateLines(t *testing.T) {
	line := "100000001,c1njcht@sbc,44208118573,27482894297,2026-11-08T15:14:31.703Z,324.106\n"
	for _, tc := range []struct {
		name     string
		content  string
		min, max int64
	}{
		{"empty", "", 0, 0},
		{"no newline", "abc", 0, 0},
		{"small, exact", strings.Repeat(line, 10), 10, 10},
		{"large, estimated", strings.Repeat(line, 20_000), 19_800, 20_200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "cdrs.csv")
			if err := os.WriteFile(name, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := estimateLines(name, int64(len(tc.content))); got < tc.min || got > tc.max {
				t.Errorf("estimateLines = %d, want %d..%d", got, tc.min, tc.max)
			}
		})
	}
	if got := estimateLines(filepath.Join(t.TempDir(), "missing.csv"), 1000); got != 0 {
		t.Errorf("missing file: %d, want 0", got)
	}
}
