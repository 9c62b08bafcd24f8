package cmd

import (
	"strings"
	"testing"
)

func TestTrunkCLI(t *testing.T) {
	n := openTestNode(t)
	if code, _, errb := adminCLI(t, n, []string{"trunk", "add"}, "--member", "nobody", "--address", "[192.0.2.1]:5060", "x-1"); code != 1 || !strings.Contains(errb, "nobody") {
		t.Fatalf("trunk of unknown member: %d %s", code, errb)
	}
	if code, _, errb := adminCLI(t, n, []string{"trunk", "add"}, "--member", "carrier-a", "--address", "a", "--protocol", "sctp", "x-1"); code != 2 || !strings.Contains(errb, "--protocol") {
		t.Fatalf("bad protocol: %d %s", code, errb)
	}
	mustCLI(t, n, []string{"trunk", "add"}, "--member", "carrier-a", "--address", "[192.0.2.1]:5060", "--weight", "3", "a-2")
	out := mustCLI(t, n, []string{"trunk", "list"}, "--member", "carrier-a", "--output", "csv")
	if !strings.Contains(out, "a-2,carrier-a,[192.0.2.1]:5060,udp,3,0,0") || strings.Contains(out, "b-1") {
		t.Fatalf("trunk list: %s", out)
	}
	if out := mustCLI(t, n, []string{"trunk", "remove"}, "a-2"); !strings.Contains(out, "removed trunk a-2") {
		t.Fatalf("remove: %s", out)
	}
	if code, _, errb := adminCLI(t, n, []string{"trunk", "remove"}, "a-2"); code != 1 || !strings.Contains(errb, "404") {
		t.Fatalf("remove twice: %d %s", code, errb)
	}
}
