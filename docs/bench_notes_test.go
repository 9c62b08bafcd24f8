package docs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchNotesAreBenchHead: `make bench` rebuilds BENCH.md from
// scripts/bench-notes.md (everything above "## Measurements") and the
// benchmark runs. Text written into BENCH.md alone is lost at the next
// run, so the two must agree.
func TestBenchNotesAreBenchHead(t *testing.T) {
	bench, err := os.ReadFile(filepath.Join("..", "BENCH.md"))
	if err != nil {
		t.Fatal(err)
	}
	notes, err := os.ReadFile(filepath.Join("..", "scripts", "bench-notes.md"))
	if err != nil {
		t.Fatal(err)
	}
	head, _, ok := strings.Cut(string(bench), "\n## Measurements\n")
	if !ok {
		t.Fatal(`BENCH.md has no "## Measurements" section (scripts/bench.sh writes it)`)
	}
	if strings.TrimSpace(head) != strings.TrimSpace(string(notes)) {
		t.Fatal("BENCH.md above \"## Measurements\" differs from scripts/bench-notes.md: edit both (make bench rewrites BENCH.md from the notes)")
	}
}
