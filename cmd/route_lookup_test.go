package cmd

import (
	"strings"
	"testing"
)

// TestRouteLookupGolden pins `route lookup`'s table: priority shown as
// `route list` shows it (p1, plus the trunk's own as t3), the per-minute
// price and the connect fee in columns of their own (the header's sell
// price too, with what a one-minute call costs beside it), a peer's buy
// price from our buy deck for it, and "unknown (peer-rated)" for a peer
// without one.
func TestRouteLookupGolden(t *testing.T) {
	n := openTestNode(t)
	decks := map[string]string{
		"sell-d": "prefix,rate,connect_fee,first_increment,next_increment,effective_from\n44,0.0600,0.0200,60,60,2020-01-01\n",
		"buy-c":  "prefix,rate,connect_fee,first_increment,next_increment,effective_from\n4420,0.0100,0.0050,30,6,2020-01-01\n",
		"buy-y":  "prefix,rate,connect_fee,first_increment,next_increment,effective_from\n44,0.0300,0,60,60,2020-01-01\n",
	}
	for id, counterparty := range map[string]string{"sell-d": "carrier-d", "buy-c": "carrier-c", "buy-y": "peer:yellow"} {
		direction := "buy"
		if strings.HasPrefix(id, "sell") {
			direction = "sell"
		}
		mustCLI(t, n, []string{"rate", "import"}, "--deck", id, "--counterparty", counterparty, "--direction", direction,
			"--currency", "USD", writeTemp(t, id+".csv", decks[id]))
	}
	mustCLI(t, n, []string{"member", "add"}, "--sell-deck", "sell-d", "--source-addr", "192.0.2.40", "carrier-d")
	mustCLI(t, n, []string{"member", "add"}, "--buy-deck", "buy-c", "carrier-c")
	mustCLI(t, n, []string{"trunk", "add"}, "--member", "carrier-c", "--address", "[192.0.2.9]:5060", "--priority", "3", "c-1")
	mustCLI(t, n, []string{"peer", "add"}, "--service-point", "http://192.0.2.50/osp", "--buy-deck", "buy-y", "yellow")
	mustCLI(t, n, []string{"peer", "add"}, "--service-point", "http://192.0.2.51/osp", "green")
	mustCLI(t, n, []string{"route", "add"}, "--candidate", "trunk:b-1:1", "--candidate", "trunk:c-1:1",
		"--candidate", "peer:yellow:2", "--candidate", "peer:green:3", "4420")
	if out := mustCLI(t, n, []string{"route", "list"}, "--prefix", "4420"); !strings.Contains(out, "trunk:c-1 p1 w0") {
		t.Fatalf("route list: %s", out)
	}
	golden(t, "route-lookup.txt", mustCLI(t, n, []string{"route", "lookup"}, "--member", "carrier-d", "442079460000"))
}
