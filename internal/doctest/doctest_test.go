package doctest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const doc = "# Title\n\n## A short tour\n\nSome text.\n\n```sh\n" +
	"export A=1 B=$(echo two)   # a comment\n" +
	"# a comment line\n\n" +
	"echo \"$A $B\" \\\n      'with # no comment' > out.txt\n" +
	"sleep 30 &   # runs on\n" +
	"```\n\n```go\nignored()\n```\n\n### Deeper\n\n```bash\necho deeper\n```\n\n## Next\n\n```sh\necho next\n```\n"

func TestBlocks(t *testing.T) {
	cmds, err := Blocks([]byte(doc), "A short tour")
	if err != nil {
		t.Fatal(err)
	}
	want := []Command{
		{Line: 8, Text: "export A=1 B=$(echo two)   # a comment"},
		{Line: 11, Text: "echo \"$A $B\" \\\n      'with # no comment' > out.txt"},
		{Line: 13, Text: "sleep 30 &   # runs on"},
		{Line: 23, Text: "echo deeper"},
	}
	if len(cmds) != len(want) {
		t.Fatalf("commands %+v", cmds)
	}
	for i := range want {
		if cmds[i] != want[i] {
			t.Errorf("command %d: %+v, want %+v", i, cmds[i], want[i])
		}
	}
	for i, bg := range []bool{false, false, true, false} {
		if cmds[i].Background() != bg {
			t.Errorf("command %d background %v", i, !bg)
		}
	}
	if _, err := Blocks([]byte(doc), "Missing"); err == nil {
		t.Fatal("a missing section gave no error")
	}
	if _, err := Blocks([]byte("## S\n```sh\necho a \\\n```\n"), "S"); err == nil {
		t.Fatal("a block ending in a continuation gave no error")
	}
}

func TestApply(t *testing.T) {
	cmds := []Command{{1, "bench --calls 2000 --url http://127.0.0.1:5045/osp"}}
	got, err := Apply(cmds, []Sub{{"--calls 2000", "--calls 20"}, {"127.0.0.1:5045", "127.0.0.1:40001"}})
	if err != nil || got[0].Text != "bench --calls 20 --url http://127.0.0.1:40001/osp" || cmds[0].Text == got[0].Text {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := Apply(cmds, []Sub{{"--calls 3000", "x"}}); err == nil || !strings.Contains(err.Error(), "--calls 3000") {
		t.Fatalf("unmatched substitution: %v", err)
	}
}

// TestRunner runs the tour: exports reach the next command, a redirect
// writes in Dir, the background command's Wait hook runs and Close stops
// it; a failing command is reported with its line and output.
func TestRunner(t *testing.T) {
	cmds, err := Blocks([]byte(doc), "A short tour")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r, err := NewRunner(dir, t.TempDir(), "doc.md")
	if err != nil {
		t.Fatal(err)
	}
	var waited []int
	r.Wait = func(_ context.Context, c Command) error { waited = append(waited, c.Line); return nil }
	ctx := t.Context()
	if err := r.Run(ctx, cmds); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "out.txt")); err != nil || string(b) != "1 two with # no comment\n" {
		t.Fatalf("out.txt %q %v", b, err)
	}
	if len(waited) != 1 || waited[0] != 13 || strings.TrimSpace(r.Output()) != "deeper" || strings.TrimSpace(r.OutputAt(23)) != "deeper" || r.OutputAt(99) != "" {
		t.Fatalf("waited %v, last output %q", waited, r.Output())
	}
	b, err := os.ReadFile(r.pids)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		t.Fatalf("background pid %q not running", b)
	}
	if err := r.Close(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if syscall.Kill(pid, 0) == nil && !zombie(pid) {
		t.Fatalf("pid %d still running after Close", pid)
	}

	err = r.Run(ctx, []Command{{Line: 7, Text: "echo before; false"}})
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Line != 7 || !strings.Contains(ce.Output, "before") || !strings.Contains(err.Error(), "doc.md line 7") {
		t.Fatalf("failure: %v", err)
	}
	r.Timeout = 200 * time.Millisecond
	if err := r.Run(ctx, []Command{{Line: 9, Text: "sleep 30"}}); err == nil || !strings.Contains(err.Error(), "still running after") {
		t.Fatalf("timeout: %v", err)
	}
}

// FuzzBlocks: any document either yields commands that each come from a
// shell block line of the section, start at a line inside the document
// and are not blank, or an error; never a panic.
func FuzzBlocks(f *testing.F) {
	f.Add([]byte(doc), "A short tour")
	f.Add([]byte("## S\n```sh\necho a \\\n  b # c\n```\n"), "S")
	f.Add([]byte("```sh\n## S\n```\n## S\n"), "S")
	f.Fuzz(func(t *testing.T, md []byte, heading string) {
		cmds, err := Blocks(md, heading)
		if err != nil {
			return
		}
		lines := strings.Count(string(md), "\n") + 1
		for _, c := range cmds {
			if c.Line < 1 || c.Line > lines || strings.TrimSpace(c.Text) == "" {
				t.Fatalf("command %+v of a %d-line document", c, lines)
			}
			_ = c.Background()
		}
	})
}
