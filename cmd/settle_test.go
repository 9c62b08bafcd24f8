package cmd

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const testDeckCSV = `prefix,description,rate,connect_fee,first_increment,next_increment,effective_from
1,NANP,0.05,0.15,30,6,2026-01-01
49,Germany,0.10,0,60,60,2026-01-01
4915,Germany mobile,0.20,0,30,6,2026-01-01
`

const testCDRsCSV = `id,dst,start,dur_ms
T1,+12125550100,2026-11-01T10:00:00Z,30000
T2,4915123456,2026-11-01T11:00:00Z,31200
T3,4930123456,2026-11-02T09:00:00Z,61000
T4,4930123457,2026-11-02T09:05:00Z,0
`

func TestSettleRate(t *testing.T) {
	dir := t.TempDir()
	deck := writeFile(t, dir, "deck.csv", testDeckCSV)
	cdrs := writeFile(t, dir, "cdrs.csv", testCDRsCSV)
	code, out, errOut := run(t, "settle", "rate", "--deck", deck, "--currency", "USD", "--decimals", "2", "--rounding", "up",
		"--columns", "transaction_id=id,called=dst,connect_time=start,duration=dur_ms", "--duration-unit", "ms", "--counterparty", "acme", cdrs)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// header + 4 CDRs + TOTAL
	if len(recs) != 6 {
		t.Fatalf("%d records:\n%s", len(recs), out)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	want := []struct{ secs, amount string }{{"30", "0.18"}, {"36", "0.12"}, {"120", "0.20"}, {"0", "0.00"}}
	for i, w := range want {
		r := recs[i+1]
		if r[col["billable_seconds"]] != w.secs || r[col["amount"]] != w.amount || r[col["currency"]] != "USD" || r[col["counterparty"]] != "acme" {
			t.Errorf("CDR %d: %v, want %s s %s", i+1, r, w.secs, w.amount)
		}
	}
	total := recs[5]
	if total[0] != "TOTAL" || total[col["billable_seconds"]] != "186" || total[col["amount"]] != "0.50" || total[col["description"]] != "4 calls" {
		t.Errorf("TOTAL line = %v", total)
	}

	// The rated output feeds statement directly (its TOTAL line is skipped).
	rated := writeFile(t, dir, "rated.csv", out)
	code, out, errOut = run(t, "settle", "statement", "--cdrs", rated, "--counterparty", "acme", "--period", "2026-11", "--output", "json")
	if code != 0 {
		t.Fatalf("statement exit %d: %s", code, errOut)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if st["Calls"] != float64(4) || st["Amount"].(map[string]any)["value"] != "0.50" {
		t.Fatalf("statement = %v", out)
	}
	code, out, _ = run(t, "settle", "statement", "--cdrs", rated, "--counterparty", "acme", "--period", "2026-11", "--output", "html",
		"--convert-to", "EUR", "--rate", "0.9", "--rate-date", "2026-11-30", "--rate-source", "test")
	if code != 0 || !strings.Contains(out, `class="chart"`) || !strings.Contains(out, "0.450") {
		t.Fatalf("html exit %d:\n%s", code, out)
	}
	code, out, _ = run(t, "settle", "statement", "--cdrs", rated, "--counterparty", "acme", "--period", "2026-11")
	if code != 0 || !strings.Contains(out, "total,2026-11,acme,4,186,3.10,0.50,USD") {
		t.Fatalf("csv exit %d:\n%s", code, out)
	}
}

func TestSettleRateBadInputNamesFileLineField(t *testing.T) {
	dir := t.TempDir()
	cdrs := writeFile(t, dir, "cdrs.csv", testCDRsCSV)
	cols := "transaction_id=id,called=dst,connect_time=start,duration=dur_ms"
	badDeck := writeFile(t, dir, "bad-deck.csv", testDeckCSV+"44,UK,zero,0,60,60,2026-01-01\n")
	code, _, errOut := run(t, "settle", "rate", "--deck", badDeck, "--currency", "USD", "--columns", cols, "--duration-unit", "ms", cdrs)
	if code != 1 || !strings.Contains(errOut, "bad-deck.csv") || !strings.Contains(errOut, "line 5, field rate") {
		t.Fatalf("bad deck: exit %d, stderr %q", code, errOut)
	}
	badCDRs := writeFile(t, dir, "bad-cdrs.csv", testCDRsCSV+"T5,49301,not-a-time,1000\n")
	deck := writeFile(t, dir, "deck.csv", testDeckCSV)
	code, _, errOut = run(t, "settle", "rate", "--deck", deck, "--currency", "USD", "--columns", cols, "--duration-unit", "ms", badCDRs)
	// A bad record is rejected, the rest rated: exit 4 (rows rejected).
	if code != 4 || !strings.Contains(errOut, "bad-cdrs.csv") || !strings.Contains(errOut, "line 6, field start") ||
		!strings.Contains(errOut, "1 rejected: bad connect_time") {
		t.Fatalf("bad CDRs: exit %d, stderr %q", code, errOut)
	}
	unratable := writeFile(t, dir, "unratable.csv", testCDRsCSV+"T6,3312345,2026-11-03T00:00:00Z,1000\n")
	code, _, errOut = run(t, "settle", "rate", "--deck", deck, "--currency", "USD", "--columns", cols, "--duration-unit", "ms", unratable)
	if code != 4 || !strings.Contains(errOut, "line 6, field dst") || !strings.Contains(errOut, "no matching prefix") {
		t.Fatalf("unratable: exit %d, stderr %q", code, errOut)
	}
	for _, args := range [][]string{
		{"settle", "rate", "--deck", deck, "--currency", "usd", cdrs},
		{"settle", "rate", "--deck", deck, "--currency", "USD", "--rounding", "nearest", cdrs},
		{"settle", "rate", "--deck", deck, "--currency", "USD", "--duration-unit", "min", cdrs},
		{"settle", "rate", "--deck", deck, "--currency", "USD"},
		{"settle", "statement", "--cdrs", cdrs, "--counterparty", "x", "--period", "Nov"},
	} {
		if code, _, errOut := run(t, args...); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, errOut)
		}
	}
	// A missing required flag is a usage error like the others.
	if code, _, errOut := run(t, "settle", "rate", "--currency", "USD", cdrs); code != 2 || !strings.Contains(errOut, "deck") {
		t.Errorf("missing --deck: exit %d %q, want 2", code, errOut)
	}
	if code, _, errOut := run(t, "settle", "rate", "--deck", filepath.Join(dir, "nope.csv"), "--currency", "USD", cdrs); code != 1 || !strings.Contains(errOut, "nope.csv") {
		t.Errorf("missing deck file: exit %d %q", code, errOut)
	}
}
