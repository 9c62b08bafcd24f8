package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTemp(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRouteCLI imports a route table and checks that lookup explains the
// order: least cost first, the caller's own trunk excluded.
func TestRouteCLI(t *testing.T) {
	n := openTestNode(t)
	bad := writeTemp(t, "bad.csv", "prefix,kind,id\n1678,trunk,b-1\n1678,truck,a-1\n")
	if code, _, errb := adminCLI(t, n, []string{"route", "import"}, "--replace", bad); code != 1 || !strings.Contains(errb, "line 3, field kind") {
		t.Fatalf("bad route file: %d %s", code, errb)
	}
	// carrier-c terminates 1678 cheaper (0.0100) than carrier-b (0.0180).
	deck := writeTemp(t, "deck.csv", "prefix,rate,first_increment,next_increment,effective_from\n1678,0.0100,60,60,2020-01-01\n")
	mustCLI(t, n, []string{"rate", "import"}, "--deck", "buy-c", "--counterparty", "carrier-c", "--direction", "buy", "--currency", "USD", deck)
	mustCLI(t, n, []string{"member", "add"}, "--buy-deck", "buy-c", "carrier-c")
	mustCLI(t, n, []string{"trunk", "add"}, "--member", "carrier-c", "--address", "[192.0.2.9]:5060", "c-1")
	good := writeTemp(t, "routes.csv", "prefix,kind,id,priority,weight,strip,add_prefix,blocked\n"+
		"1678,trunk,a-1,0,1,0,,\n1678,trunk,b-1,0,1,0,,\n1678,trunk,c-1,0,1,0,,\n1,trunk,b-1,0,1,0,,\n4470,,,,,,,true\n")
	code, out, errb := adminCLI(t, n, []string{"route", "import"}, "--replace", good)
	if code != 0 || !strings.Contains(out, "replaced the table with 3 routes from 5 lines") {
		t.Fatalf("import: %d %s %s", code, out, errb)
	}
	if out := mustCLI(t, n, []string{"route", "list"}, "--output", "csv"); strings.Count(out, "\n") != 4 || !strings.Contains(out, "4470,true") {
		t.Fatalf("route list: %s", out)
	}
	out = mustCLI(t, n, []string{"route", "lookup"}, "--member", "carrier-a", "16785551234")
	lines := strings.Split(out, "\n")
	if !strings.Contains(lines[0], "matched prefix 1678") || !strings.Contains(lines[0], "0.0300 USD") {
		t.Fatalf("lookup header: %s", out)
	}
	iC, iB, iA := strings.Index(out, "c-1"), strings.Index(out, "b-1"), strings.Index(out, "a-1")
	if iC < 0 || iB < iC || iA < iB || !strings.Contains(out, "calling member") || !strings.Contains(out, "0.0200 USD") {
		t.Fatalf("lookup does not explain the order c-1, b-1, then a-1 excluded:\n%s", out)
	}
	if out := mustCLI(t, n, []string{"route", "lookup"}, "447001"); !strings.Contains(out, "REFUSED") {
		t.Fatalf("blocked lookup: %s", out)
	}
	if code, _, errb := adminCLI(t, n, []string{"route", "lookup"}, "abc"); code != 1 || !strings.Contains(errb, "E.164") {
		t.Fatalf("bad number: %d %s", code, errb)
	}
}
