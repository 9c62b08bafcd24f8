package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSettleRateGolden pins settle rate's output byte for byte: the rated
// file, the rejects file and the summary on stderr for testdata/settle-rate
// (1,000 CDRs from scripts/cdrgen -n 1000 -seed 5 -prefixes 300, with
// duplicates, bad fields, other time layouts, a blank line, a CRLF line,
// extra fields and, from line 700, quoted fields, so both CSV paths run).
// The golden files were written by the streaming rater before its
// throughput work (main at d06ab60); every speed-up since must leave them
// unchanged. -update rewrites them.
func TestSettleRateGolden(t *testing.T) {
	src := filepath.Join("testdata", "settle-rate")
	dir := t.TempDir()
	rated, rejects := filepath.Join(dir, "rated.csv"), filepath.Join(dir, "rejects.csv")
	code, _, errOut := run(t, "settle", "rate", "--deck", filepath.Join(src, "deck.csv"), "--currency", "USD",
		"--rejects", rejects, "--out", rated, "--quiet", filepath.Join(src, "cdrs.csv"))
	if code != 4 {
		t.Fatalf("exit %d, want 4 (records rejected): %s", code, errOut)
	}
	errOut = strings.ReplaceAll(errOut, rejects, "rejects.csv")
	for _, f := range []struct{ golden, got string }{
		{"rated.csv", readFile(t, rated)},
		{"rejects.csv", readFile(t, rejects)},
		{"stderr.txt", errOut},
	} {
		path := filepath.Join(src, f.golden)
		if *update {
			if err := os.WriteFile(path, []byte(f.got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if want := readFile(t, path); f.got != want {
			t.Errorf("%s differs from the golden file (first difference at byte %d)", f.golden, firstDiff(f.got, want))
		}
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func firstDiff(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	if bytes.Equal([]byte(a), []byte(b)) {
		return -1
	}
	return n
}
