package cmd

import (
	"bytes"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestProgressLines: not a terminal, a plain line every progressEvery of
// the (injected) clock, with the share of the input read; nothing with
// quiet; a bar redrawn in place on a terminal.
func TestProgressLines(t *testing.T) {
	for _, tc := range []struct {
		name  string
		quiet bool
		tty   bool
		want  []string
		lines int
	}{
		{"plain", false, false, []string{"settle rate: 50% of the input, 65,536 records", "records/s"}, 2},
		{"quiet", true, false, nil, 0},
		{"terminal", false, true, []string{"\r", "[############", "\033[K"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			read := new(atomic.Int64)
			read.Store(500)
			p := newProgress(&buf, "settle rate", tc.quiet, 1000, read)
			p.tty = tc.tty
			clock := p.start
			p.now = func() time.Time { return clock }
			for i := 0; i < 3*65536; i++ {
				if i%65536 == 0 {
					clock = clock.Add(progressEvery) // one interval per 65,536 records
				}
				p.tick()
			}
			p.done()
			out := buf.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%q", w, out)
				}
			}
			if got := strings.Count(out, "\n"); got < tc.lines || (tc.quiet && out != "") {
				t.Errorf("%d lines: %q", got, out)
			}
		})
	}
	if thousands(10_000_000) != "10,000,000" || thousands(-1234) != "-1,234" || thousands(12) != "12" {
		t.Error("thousands")
	}
}
