package cmd

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/ospnode/ospnode/ledger"
)

// TestTxShow: one call seen by support staff, by id and by Call-ID: its
// numbers, destination and both sides' usage, the paid records marked.
func TestTxShow(t *testing.T) {
	n := openTestNode(t)
	tx := callFlow(t, n, "70", "tx-show-1", "30.000")
	id := strconv.FormatUint(tx, 10)
	out := mustCLI(t, n, []string{"tx", "show"}, id)
	for _, want := range []string{"transaction  " + id, "member carrier-a", "tx-show-1", "b-1", "[127.0.0.3]:5060", "paid"} {
		if !strings.Contains(out, want) {
			t.Fatalf("tx show lacks %q:\n%s", want, out)
		}
	}
	var rec ledger.CallRecords
	if err := json.Unmarshal([]byte(mustCLI(t, n, []string{"tx", "show"}, "--call-id", "tx-show-1", "--output", "json")), &[]*ledger.CallRecords{&rec}); err != nil {
		t.Fatal(err)
	}
	if rec.Transaction == nil || rec.Transaction.ID != tx || len(rec.Usage) != 2 || rec.PaidSource == 0 || rec.PaidDestination == 0 {
		t.Fatalf("by Call-ID: %+v", rec)
	}
	if code, _, errb := adminCLI(t, n, []string{"tx", "show"}, "999999999"); code != 1 || !strings.Contains(errb, "no transaction") {
		t.Fatalf("unknown transaction: exit %d %s", code, errb)
	}
	if code, _, _ := adminCLI(t, n, []string{"tx", "show"}); code != 2 {
		t.Fatalf("no id: exit %d", code)
	}
}
