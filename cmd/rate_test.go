package cmd

import (
	"strings"
	"testing"
)

// TestRateCLI: a deck with one bad line is rejected whole (the message
// names the line and field); a good one loads.
func TestRateCLI(t *testing.T) {
	n := openTestNode(t)
	body := "prefix,description,rate,connect_fee,first_increment,next_increment,effective_from\n" +
		"44,UK,0.0200,0,30,6,2026-01-01\n49,Germany,0.0300,0,30,6,2026-01-01\n33,France,0.02x,0,30,6,2026-01-01\n"
	bad := writeTemp(t, "bad.csv", body)
	args := []string{"--deck", "buy-x", "--counterparty", "carrier-b", "--direction", "buy", "--currency", "USD"}
	code, _, errb := adminCLI(t, n, []string{"rate", "import"}, append(args, bad)...)
	if code != 1 || !strings.Contains(errb, "line 4") || !strings.Contains(errb, "rate") || !strings.Contains(errb, "nothing imported") {
		t.Fatalf("bad deck: exit %d, %s", code, errb)
	}
	if out := mustCLI(t, n, []string{"rate", "list"}); strings.Contains(out, "buy-x") {
		t.Fatalf("a rejected deck was partly loaded: %s", out)
	}
	if code, _, errb := adminCLI(t, n, []string{"rate", "import"}, "--deck", "d", "--counterparty", "c", "--direction", "across", "--currency", "USD", bad); code != 2 || !strings.Contains(errb, "--direction") {
		t.Fatalf("bad direction: %d %s", code, errb)
	}
	good := writeTemp(t, "good.csv", strings.Replace(body, "0.02x", "0.0250", 1))
	out := mustCLI(t, n, []string{"rate", "import"}, append(args, good)...)
	if !strings.Contains(out, "deck buy-x (member:carrier-b, buy USD): 3 rows in 1 version(s) effective 2026-01-01T00:00:00Z") {
		t.Fatalf("import: %s", out)
	}
	shown := mustCLI(t, n, []string{"rate", "show"}, "--output", "csv", "buy-x")
	if !strings.Contains(shown, "33,France,0.0250,0,30,6,2026-01-01T00:00:00Z,,USD") {
		t.Fatalf("show: %s", shown)
	}
	// What rate show writes, settle rate --deck reads back.
	deck := writeTemp(t, "shown.csv", shown)
	cdrs := writeTemp(t, "cdrs.csv", "transaction_id,called,connect_time,duration\n1,33123456,2026-02-01T10:00:00Z,31\n")
	if code, out, errb := run(t, "settle", "rate", "--deck", deck, "--currency", "USD", cdrs); code != 0 || !strings.Contains(out, "0.0150") {
		t.Fatalf("settle rate with the shown deck: exit %d\n%s\n%s", code, out, errb)
	}
}
