package cmd

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/settlement"
	"github.com/ospnode/ospnode/testnet"
)

// TestSettleOnline: the online statement equals the sum of the exported
// CDRs; the online reconciliation finds a call the counterparty
// lengthened; the load generator's usage lookup answers 200 / 404.
func TestSettleOnline(t *testing.T) {
	n := openTestNode(t)
	tx := callFlow(t, n, "10", "st-1", "30.000")
	callFlow(t, n, "20", "st-2", "130.000")
	now := time.Now().UTC()
	period := now.Add(-time.Hour).Format(time.RFC3339) + "/" + now.Add(time.Hour).Format(time.RFC3339)

	export := mustCLI(t, n, []string{"cdr", "export"}, "--member", "carrier-a")
	cdrs, err := settlement.ReadCDRs(strings.NewReader(export), settlement.CDRFormat{})
	if err != nil {
		t.Fatal(err)
	}
	sum := money.Zero("USD")
	for _, c := range cdrs {
		if c.Counterparty == "member:carrier-a" {
			if sum, err = sum.Add(c.Amount); err != nil {
				t.Fatal(err)
			}
		}
	}
	out := mustCLI(t, n, []string{"settle", "statement"}, "--counterparty", "carrier-a", "--period", period, "--output", "json")
	var st struct {
		Amount money.Amount
		Calls  int
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// 30 s → 60 s and 130 s → 180 s at 0.0300/min: 0.0300 + 0.0900.
	if st.Calls != 2 || !st.Amount.Equal(sum) || st.Amount.Text() != "0.1200" {
		t.Fatalf("statement %+v, CDR sum %s", st, sum.Text())
	}
	if code, _, errb := run(t, "settle", "statement", "--counterparty", "carrier-a", "--period", "2026-11"); code != 2 || !strings.Contains(errb, "--node") {
		t.Fatalf("neither --cdrs nor --node: %d %s", code, errb)
	}

	// Carrier B's file says the second call lasted 200 s (240 billable,
	// 0.0720 at its 0.0180/min).
	theirs, err := settlement.ReadCDRs(strings.NewReader(mustCLI(t, n, []string{"cdr", "export"}, "--member", "carrier-b")), settlement.CDRFormat{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range theirs {
		if theirs[i].CallID == "st-2" {
			theirs[i].DurationMillis, theirs[i].BillableSeconds, theirs[i].Amount = 200000, 240, money.MustNew("0.0720", "USD")
		}
	}
	var buf strings.Builder
	if err := settlement.WriteCDRs(&buf, theirs); err != nil {
		t.Fatal(err)
	}
	f := writeTemp(t, "theirs.csv", buf.String())
	code, out, errb := adminCLI(t, n, []string{"reconcile"}, "--counterparty", "carrier-b", "--period", period, "--theirs", f,
		"--volume-minimum", "0.001", "--output", "json")
	var rep struct {
		Classes []struct {
			Class string
			Count int
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitDispute {
		t.Fatalf("online reconcile: exit %d (%v)\n%s\n%s", code, err, out, errb)
	}
	if rep.Classes[0].Class != "exact" || rep.Classes[0].Count != 1 || rep.Classes[2].Class != "mismatch" || rep.Classes[2].Count != 1 {
		t.Fatalf("classes %+v", rep.Classes)
	}
	if code, out, errb := adminCLI(t, n, []string{"reconcile"}, "--internal", "--period", period, "--output", "json"); code != 0 || !strings.Contains(out, `"exact"`) {
		t.Fatalf("internal: %d %s %s", code, out, errb)
	}

	// The load generator's verification request, by its own client.
	al := &testnet.AdminLedger{BaseURL: n.AdminURL(), Token: n.AdminToken()}
	for _, c := range []struct {
		role, comp string
		want       bool
	}{{"source", "1", true}, {"destination", "2", true}, {"source", "7", false}, {"destination", "1", false}} {
		ok, err := al.HasUsage(t.Context(), testnet.ConfirmedUsage{TransactionID: tx, Role: c.role, ComponentID: c.comp})
		if err != nil || ok != c.want {
			t.Fatalf("usage %s/%s: %v %v, want %v", c.role, c.comp, ok, err, c.want)
		}
	}
	bad := &testnet.AdminLedger{BaseURL: n.AdminURL(), Token: "wrong"}
	if _, err := bad.HasUsage(t.Context(), testnet.ConfirmedUsage{TransactionID: tx, Role: "source", ComponentID: "1"}); !errors.Is(err, testnet.ErrAdminUnauthorized) {
		t.Fatalf("wrong token: %v", err)
	}
}
