package archtest

import (
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the file tables of the DESIGN.md files from the code")

// fileTableHeader starts a table that describes a package's files: its
// first column names files (backticked, globs allowed), its second says
// what they hold.
const fileTableHeader = "| file | concern |"

// TestDesignFileTables keeps every DESIGN.md table of a package's files
// true to the package: each name or glob in it matches a file of the
// directory, and each non-test Go file (doc.go aside: every package has
// one) is named by some row. With -update it rewrites the tables instead:
// rows of files that are gone are dropped, and a file missing from the
// table gets a row whose concern is the first sentence of the file's first
// doc comment (review it). Hand-written concerns of existing rows stay.
func TestDesignFileTables(t *testing.T) {
	root := filepath.Join("..", "..")
	var docs []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == "DESIGN.md" {
			docs = append(docs, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		tbl, ok := findFileTable(text)
		if !ok {
			continue
		}
		found++
		dir := filepath.Dir(doc)
		files, err := goFiles(dir)
		if err != nil {
			t.Fatal(err)
		}
		rows, stale, missing := checkFileTable(tbl.rows, files)
		if !*update {
			for _, s := range stale {
				t.Errorf("%s: the file table names %s, which matches no file of %s (go test ./internal/archtest -update)", doc, s, dir)
			}
			for _, f := range missing {
				t.Errorf("%s: the file table does not name %s (go test ./internal/archtest -update, then review its row)", doc, f)
			}
			continue
		}
		if len(stale) == 0 && len(missing) == 0 {
			continue
		}
		for _, f := range missing {
			rows = append(rows, fileRow{names: []string{f}, concern: firstDocSentence(filepath.Join(dir, f))})
		}
		out := text[:tbl.start] + renderFileTable(rows) + text[tbl.end:]
		if err := os.WriteFile(doc, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the file table of %s", doc)
	}
	if found == 0 {
		t.Fatal("no DESIGN.md has a file table: the test looks in the wrong place")
	}
}

type fileRow struct {
	names   []string // backticked names or globs of the first column
	concern string
}

type fileTable struct {
	start, end int // byte offsets of the table in its document
	rows       []fileRow
}

var backticked = regexp.MustCompile("`([^`]+)`")

// findFileTable returns the first table headed fileTableHeader.
func findFileTable(text string) (fileTable, bool) {
	i := strings.Index(text, fileTableHeader+"\n")
	if i < 0 || (i > 0 && text[i-1] != '\n') {
		return fileTable{}, false
	}
	tbl := fileTable{start: i}
	pos := i
	for n := 0; pos < len(text); n++ {
		end := strings.IndexByte(text[pos:], '\n')
		if end < 0 {
			end = len(text) - pos
		} else {
			end++
		}
		line := text[pos : pos+end]
		if !strings.HasPrefix(line, "|") {
			break
		}
		pos += end
		if n < 2 { // header and separator
			continue
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) < 2 {
			continue
		}
		r := fileRow{concern: strings.TrimSpace(strings.Join(cells[1:], "|"))}
		for _, m := range backticked.FindAllStringSubmatch(cells[0], -1) {
			r.names = append(r.names, m[1])
		}
		tbl.rows = append(tbl.rows, r)
	}
	tbl.end = pos
	return tbl, true
}

// goFiles lists the Go files of dir (not of its subdirectories).
func goFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".go") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// checkFileTable returns the rows without the names that match no file,
// those stale names, and the non-test files (doc.go aside) no row names.
func checkFileTable(rows []fileRow, files []string) (kept []fileRow, stale, missing []string) {
	covered := map[string]bool{}
	for _, r := range rows {
		var names []string
		for _, name := range r.names {
			hit := false
			for _, f := range files {
				if ok, _ := filepath.Match(name, f); ok {
					covered[f], hit = true, true
				}
			}
			if hit {
				names = append(names, name)
			} else {
				stale = append(stale, name)
			}
		}
		if len(names) > 0 {
			r.names = names
			kept = append(kept, r)
		}
	}
	for _, f := range files {
		if !covered[f] && f != "doc.go" && !strings.HasSuffix(f, "_test.go") {
			missing = append(missing, f)
		}
	}
	slices.Sort(missing)
	return kept, stale, missing
}

func renderFileTable(rows []fileRow) string {
	var b strings.Builder
	b.WriteString(fileTableHeader + "\n| --- | --- |\n")
	for _, r := range rows {
		quoted := make([]string, len(r.names))
		for i, n := range r.names {
			quoted[i] = "`" + n + "`"
		}
		b.WriteString("| " + strings.Join(quoted, ", ") + " | " + r.concern + " |\n")
	}
	return b.String()
}

// firstDocSentence is the first sentence of the first doc comment of a
// top-level declaration in the Go file at path (or a placeholder).
func firstDocSentence(path string) string {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments)
	if err != nil {
		return "(describe this file)"
	}
	for _, d := range f.Decls {
		var doc *ast.CommentGroup
		switch d := d.(type) {
		case *ast.FuncDecl:
			doc = d.Doc
		case *ast.GenDecl:
			doc = d.Doc
		}
		if doc == nil {
			continue
		}
		s := strings.Join(strings.Fields(doc.Text()), " ")
		if i := strings.Index(s, ". "); i >= 0 {
			s = s[:i+1]
		}
		return strings.ReplaceAll(s, "|", "\\|")
	}
	return "(describe this file)"
}

// TestCheckFileTable pins the checker: globs, stale names, missing files,
// and what a table does not have to name.
func TestCheckFileTable(t *testing.T) {
	doc := "# x\n\n| file | concern |\n| --- | --- |\n| `a.go`, `gone.go` | a |\n| `load*.go` | load |\n| `old.go` | old |\n\nafter\n"
	tbl, ok := findFileTable(doc)
	if !ok || len(tbl.rows) != 3 || doc[tbl.end:] != "\nafter\n" {
		t.Fatalf("table %+v, %v", tbl, ok)
	}
	tests := []struct {
		name           string
		files          []string
		stale, missing []string
		rows           int
	}{
		{"all named", []string{"a.go", "gone.go", "load1.go", "load2.go", "old.go"}, nil, nil, 3},
		{"stale names dropped", []string{"a.go", "load1.go"}, []string{"gone.go", "old.go"}, nil, 2},
		{"new file missing", []string{"a.go", "gone.go", "load.go", "old.go", "new.go"}, nil, []string{"new.go"}, 3},
		{"tests and doc.go need no row", []string{"a.go", "gone.go", "load.go", "old.go", "doc.go", "a_test.go"}, nil, nil, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, stale, missing := checkFileTable(tbl.rows, tc.files)
			if !slices.Equal(stale, tc.stale) || !slices.Equal(missing, tc.missing) || len(rows) != tc.rows {
				t.Fatalf("rows %d, stale %v, missing %v", len(rows), stale, missing)
			}
		})
	}
	if got := renderFileTable(tbl.rows); got != doc[tbl.start:tbl.end] {
		t.Fatalf("render is not the identity:\n%s", got)
	}
}
