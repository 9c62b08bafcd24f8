package cmd

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const streamDeckCSV = `prefix,description,rate,connect_fee,first_increment,next_increment,effective_from
49,Germany,0.10,0,60,60,2026-11-01
4915,Germany mobile,0.20,0,30,6,2026-11-01
`

// TestSettleRatePartialResults: a file with good and bad records rates
// the good ones, writes each bad one with its line and reason to
// --rejects, counts them by reason on stderr, and exits 4.
func TestSettleRatePartialResults(t *testing.T) {
	dir := t.TempDir()
	deck := writeFile(t, dir, "deck.csv", streamDeckCSV)
	cdrs := writeFile(t, dir, "cdrs.csv", "transaction_id,called,connect_time,duration,currency\n"+
		"T1,4930123,2026-11-02T10:00:00Z,61,USD\n"+
		"T1,4930123,2026-11-02T10:00:00Z,61,USD\n"+
		"T2,4915123,2026-11-02T10:00:00Z,31,EUR\n"+
		"T3,4915123,2026-10-31T23:59:59Z,31,\n"+
		"T4,3312345,2026-11-02T10:00:00Z,31,\n"+
		"T5,4915123,2026-11-02T10:00:00Z,31,USD,extra\n"+
		"T6,4915123,2026-11-02T10:00:00Z,31,\n")
	rejects := filepath.Join(dir, "rejects.csv")
	out := filepath.Join(dir, "rated.csv")
	code, _, errOut := run(t, "settle", "rate", "--deck", deck, "--currency", "USD", "--rejects", rejects, "--out", out, "--quiet", cdrs)
	if code != 4 {
		t.Fatalf("exit %d, want 4 (records rejected): %s", code, errOut)
	}
	for _, want := range []string{"2 rated", "5 rejected", "1 rejected: duplicate transaction id", "1 rejected: currency mismatch",
		"1 rejected: no deck version in force", "1 rejected: no matching prefix", "1 rejected: extra fields", rejects} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	rated := readCSV(t, out)
	if len(rated) != 4 || rated[3][0] != "TOTAL" || rated[3][9] != "0.3200" || rated[3][12] != "2 calls, 5 rejected" {
		t.Errorf("rated output: %v", rated)
	}
	rej := readCSV(t, rejects)
	if strings.Join(rej[0], ",") != "reject_line,reject_reason,reject_detail,transaction_id,called,connect_time,duration,currency" {
		t.Errorf("rejects header %v", rej[0])
	}
	var got []string
	for _, r := range rej[1:] {
		got = append(got, r[0]+" "+r[1]+" "+r[3])
	}
	want := []string{"3 duplicate transaction id T1", "4 currency mismatch T2", "5 no deck version in force T3",
		"6 no matching prefix T4", "7 extra fields T5"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rejects\n got %v\nwant %v", got, want)
	}
	if !strings.Contains(rej[3][2], "field connect_time") {
		t.Errorf("no version in force names %q, want connect_time", rej[3][2])
	}
	// The rejects file reads back as a CDR file (the extra columns are
	// ignored by name): a clerk fixes it and rates it again.
	if code, _, errOut := run(t, "settle", "rate", "--deck", deck, "--currency", "USD", "--quiet", rejects); code != 4 || !strings.Contains(errOut, "rejected") {
		t.Errorf("rejects file as input: exit %d %s", code, errOut)
	}
}

func readCSV(t *testing.T, name string) [][]string {
	t.Helper()
	fh, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r := csv.NewReader(fh)
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestSettleRateRejectsWithoutFileAreCounted: without --rejects the first
// ten are shown and the rest counted, never just dropped.
func TestSettleRateRejectsWithoutFileAreCounted(t *testing.T) {
	dir := t.TempDir()
	deck := writeFile(t, dir, "deck.csv", streamDeckCSV)
	var b strings.Builder
	b.WriteString("called,connect_time,duration\n")
	for i := 0; i < 15; i++ {
		b.WriteString("3312345,2026-11-02T10:00:00Z,31\n")
	}
	b.WriteString("4930,2026-11-02T10:00:00Z,31\n")
	cdrs := writeFile(t, dir, "cdrs.csv", b.String())
	code, out, errOut := run(t, "settle", "rate", "--deck", deck, "--currency", "USD", cdrs)
	if code != 4 || strings.Count(errOut, "rejected: ") != 11 || !strings.Contains(errOut, "… and 5 more") ||
		!strings.Contains(errOut, "15 rejected: no matching prefix") || !strings.Contains(out, "TOTAL") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
}

func TestSettleRateHeaderOnlyAndCurrency(t *testing.T) {
	dir := t.TempDir()
	deck := writeFile(t, dir, "deck.csv", streamDeckCSV)
	empty := writeFile(t, dir, "empty.csv", "called,connect_time,duration\n")
	code, out, errOut := run(t, "settle", "rate", "--deck", deck, "--currency", "USD", empty)
	if code != 0 || !strings.Contains(out, "TOTAL,,,,,,,,0,0.0000,USD,,0 calls") {
		t.Fatalf("header only: exit %d %s\n%s", code, errOut, out)
	}
	for _, args := range [][]string{
		{"settle", "rate", "--deck", deck, "--currency", "QQQ", empty},
		{"settle", "rate", "--deck", deck, "--currency", "USD", "--fx", "EUR/USD=1.1", empty},
		{"settle", "rate", "--deck", deck, "--currency", "USD", "--fx", "EUR/USD=1.1@2026-11-01", "--fx", "EUR/USD=1.2@2026-11-02", empty},
		{"settle", "statement", "--cdrs", empty, "--counterparty", "x", "--period", "2026-11", "--currency", "QQQ"},
	} {
		if code, _, errOut := run(t, args...); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, errOut)
		}
	}
	// A line over the byte limit ends the file (the reader cannot resync):
	// exit 1, saying the output stops there without a TOTAL.
	long := writeFile(t, dir, "long.csv", "called,connect_time,duration\n4930,2026-11-02T10:00:00Z,60\n4930,"+strings.Repeat("9", 5000)+",60\n")
	if code, out, errOut := run(t, "settle", "rate", "--deck", deck, "--currency", "USD", long); code != 1 ||
		!strings.Contains(errOut, "line 3") || !strings.Contains(errOut, "no TOTAL line") || strings.Contains(out, "TOTAL") {
		t.Errorf("long line: exit %d %q\n%s", code, errOut, out)
	}
	// A deck row in EUR: refused without a rate, converted with one.
	eurDeck := writeFile(t, dir, "eur-deck.csv", "prefix,rate,first_increment,next_increment,effective_from,currency\n49,0.10,60,60,2026-11-01,EUR\n")
	cdrs := writeFile(t, dir, "cdrs.csv", "called,connect_time,duration\n4930,2026-11-02T10:00:00Z,60\n")
	if code, _, errOut := run(t, "settle", "rate", "--deck", eurDeck, "--currency", "USD", cdrs); code != 1 || !strings.Contains(errOut, "line 2, field currency") {
		t.Errorf("EUR deck in a USD run: exit %d %s", code, errOut)
	}
	code, out, errOut = run(t, "settle", "rate", "--deck", eurDeck, "--currency", "USD", "--fx", "EUR/USD=1.0842@2026-11-01", cdrs)
	if code != 0 || !strings.Contains(out, ",0.1084,USD,") {
		t.Errorf("EUR deck with --fx: exit %d %s\n%s", code, errOut, out)
	}
	// Overlapping versions: refused, or allowed explicitly.
	overlap := writeFile(t, dir, "overlap.csv", "prefix,rate,first_increment,next_increment,effective_from,effective_until\n"+
		"49,0.10,60,60,2026-01-01,2026-12-01\n49,0.20,60,60,2026-11-01,\n")
	if code, _, errOut := run(t, "settle", "rate", "--deck", overlap, "--currency", "USD", cdrs); code != 1 || !strings.Contains(errOut, "overlaps") {
		t.Errorf("overlap: exit %d %s", code, errOut)
	}
	if code, out, errOut := run(t, "settle", "rate", "--deck", overlap, "--currency", "USD", "--allow-overlap", cdrs); code != 0 || !strings.Contains(out, ",0.2000,USD,") {
		t.Errorf("--allow-overlap: exit %d %s\n%s", code, errOut, out)
	}
}

// TestSettleStatementRejects: an unrated CDR and one in a currency without
// a rate are left out of the totals, listed, and the exit status says so.
func TestSettleStatementRejects(t *testing.T) {
	dir := t.TempDir()
	cdrs := writeFile(t, dir, "rated.csv", "called,connect_time,duration,amount,currency,counterparty,prefix\n"+
		"4930,2026-11-02T10:00:00Z,60,0.1000,USD,acme,49\n"+
		"4930,2026-11-02T11:00:00Z,60,,,acme,49\n"+
		"4930,2026-11-02T12:00:00Z,60,0.2000,EUR,acme,49\n"+
		"4930,2026-11-02T13:00:00Z,60,0.3000,GBP,acme,49\n")
	rejects := filepath.Join(dir, "rejects.csv")
	code, out, errOut := run(t, "settle", "statement", "--cdrs", cdrs, "--counterparty", "acme", "--period", "2026-11",
		"--currency", "USD", "--fx", "EUR/USD=1.5@2026-11-30", "--rejects", rejects, "--output", "json")
	if code != 4 || !strings.Contains(errOut, "1 rejected: not rated") || !strings.Contains(errOut, "1 rejected: currency mismatch") ||
		!strings.Contains(errOut, "converted at EUR/USD=1.5@2026-11-30") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	// 0.1000 + 0.2000 × 1.5 = 0.4000 USD.
	if !strings.Contains(out, `"value": "0.40000"`) || !strings.Contains(out, `"Calls": 2`) {
		t.Errorf("statement:\n%s", out)
	}
	if rej := readCSV(t, rejects); len(rej) != 3 || rej[1][0] != "3" || rej[2][0] != "5" {
		t.Errorf("rejects %v", rej)
	}
}

// TestReconcilePartitionedEqualsInMemory: a --memory small enough to
// partition on disk gives the report of one partition (totals, classes,
// decision, and the same records, listed grouped by class).
func TestReconcilePartitionedEqualsInMemory(t *testing.T) {
	dir := t.TempDir()
	var ours, theirs strings.Builder
	ours.WriteString("transaction_id,call_id,calling,called,connect_time,duration\n")
	theirs.WriteString("transaction_id,call_id,calling,called,connect_time,duration\n")
	for i := 0; i < 30000; i++ {
		line := func(tx string, secs int) string {
			return fmt.Sprintf("%s,c%d@sbc,4420%07d,4930%07d,2026-11-%02dT%02d:%02d:%02dZ,%d.000\n", tx, i, i, i%5000, 1+i%28, i%24, i%60, i%59, secs)
		}
		ours.WriteString(line(fmt.Sprint("T", i), i%600))
		switch i % 50 {
		case 0: // theirs lacks it
		case 1:
			theirs.WriteString(line(fmt.Sprint("T", i), i%600+1))
		case 2:
			theirs.WriteString(line("", i%600+30))
		default:
			theirs.WriteString(line(fmt.Sprint("T", i), i%600))
		}
	}
	o := writeFile(t, dir, "ours.csv", ours.String())
	th := writeFile(t, dir, "theirs.csv", theirs.String())
	tmp := t.TempDir()
	args := []string{"reconcile", "--ours", o, "--theirs", th, "--output", "csv", "--quiet", "--tmp-dir", tmp}
	code1, one, err1 := run(t, append(args, "--memory", "2G")...)
	code2, parted, err2 := run(t, append(args, "--memory", "16M")...)
	if code1 != code2 || err1 != err2 {
		t.Fatalf("exit %d vs %d: %s / %s", code1, code2, err1, err2)
	}
	if one == parted {
		t.Log("same order") // allowed: order within a class may differ
	}
	a, b := strings.Split(one, "\n"), strings.Split(parted, "\n")
	sort.Strings(a)
	sort.Strings(b)
	if strings.Join(a, "\n") != strings.Join(b, "\n") || len(a) < 30000 {
		t.Fatalf("partitioned report differs (%d vs %d lines)", len(a), len(b))
	}
	left, _ := os.ReadDir(tmp)
	if len(left) != 0 {
		t.Fatalf("%d partition files left in --tmp-dir", len(left))
	}
	code, text, _ := run(t, "reconcile", "--ours", o, "--theirs", th, "--quiet", "--tmp-dir", tmp, "--memory", "16M")
	if code != 3 || !strings.Contains(text, "DECISION: DISPUTE") {
		t.Errorf("text: exit %d\n%s", code, text)
	}
	if code, _, errOut := run(t, append(args, "--memory", "lots")...); code != 2 {
		t.Errorf("--memory lots: exit %d %s", code, errOut)
	}
}

// TestExitStatusConvention: one table in `ospnode help`, and the missing
// required flag of any command is a usage error (2), like a bad flag.
func TestExitStatusConvention(t *testing.T) {
	code, out, _ := run(t, "--help")
	if code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for _, want := range []string{"EXIT STATUS", "0  success", "1  the operation failed", "2  the command line is wrong",
		"a required flag missing", "3  reconcile: a dispute", "4  settle rate, settle statement: some records were rejected"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	for _, args := range [][]string{
		{"settle", "rate", "x.csv"},
		{"settle", "rate", "--deck", "d.csv", "x.csv"},
		{"settle", "statement", "--cdrs", "x.csv", "--period", "2026-11"},
		{"settle", "rate", "--deck", "d.csv", "--currency", "USD", "--no-such-flag", "x.csv"},
	} {
		if code, _, errOut := run(t, args...); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, errOut)
		}
	}
}
