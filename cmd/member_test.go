package cmd

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/node"
	"github.com/ospnode/ospnode/osp"
)

// TestMemberCLI: add, list, show, suspend (the member's next
// AuthorizationRequest is refused), activate.
func TestMemberCLI(t *testing.T) {
	n := openTestNode(t)
	out := mustCLI(t, n, []string{"member", "add"}, "--name", "Carrier C", "--source-addr", "192.0.2.0/24",
		"--source-addr", "198.51.100.7", "--credit-limit", "500 USD", "--sell-deck", "sell-carrier-a", "--output", "json", "carrier-c")
	var m ledger.Member
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if m.ID != "carrier-c" || len(m.Credentials.SourceAddrs) != 2 || m.CreditLimit.String() != "500 USD" || m.Status != ledger.MemberActive {
		t.Fatalf("added %+v", m)
	}
	if code, _, errb := adminCLI(t, n, []string{"member", "add"}, "--credit-limit", "lots", "carrier-d"); code != 2 || !strings.Contains(errb, "--credit-limit") {
		t.Fatalf("bad credit limit: %d %s", code, errb)
	}
	if code, _, errb := adminCLI(t, n, []string{"member", "add"}, "--source-addr", "300.0.0.1", "carrier-d"); code != 1 || !strings.Contains(errb, "300.0.0.1") {
		t.Fatalf("bad address: %d %s", code, errb)
	}

	recs, err := csv.NewReader(strings.NewReader(mustCLI(t, n, []string{"member", "list"}, "--output", "csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 || recs[0][0] != "ID" || recs[1][0] != "carrier-a" || recs[3][0] != "carrier-c" || recs[3][6] != "500 USD" {
		t.Fatalf("member list csv: %v", recs)
	}
	if out := mustCLI(t, n, []string{"member", "list"}); !strings.Contains(out, "carrier-b") || !strings.Contains(out, "STATUS") {
		t.Fatalf("member list table: %s", out)
	}

	if r := authorise(t, n, "1", "m-1"); r.Status.Code != osp.StatusOK {
		t.Fatalf("active member refused: %+v", r.Status)
	}
	if out := mustCLI(t, n, []string{"member", "suspend"}, "carrier-a"); !strings.Contains(out, "suspended") {
		t.Fatalf("suspend: %s", out)
	}
	if r := authorise(t, n, "2", "m-2"); r.Status.Code != osp.StatusMayNotOriginate || len(r.Destinations) != 0 {
		t.Fatalf("suspended member got %+v", r)
	}
	mustCLI(t, n, []string{"member", "activate"}, "carrier-a")
	if r := authorise(t, n, "3", "m-3"); r.Status.Code != osp.StatusOK {
		t.Fatalf("re-activated member refused: %+v", r.Status)
	}
	if out := mustCLI(t, n, []string{"member", "show"}, "carrier-a"); !strings.Contains(out, "active") {
		t.Fatalf("show: %s", out)
	}
}

// TestMemberUsageNow: `member usage-now` shows a member's calls in progress
// and the credit they hold against its limits, as the ledger counts them
// cluster-wide; an unknown member is an error.
func TestMemberUsageNow(t *testing.T) {
	n := openTestNode(t)
	m, err := n.Store().Member("carrier-a")
	if err != nil {
		t.Fatal(err)
	}
	m.CreditLimit, m.ConcurrentLimit = money.MustNew("6", "USD"), 3
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if res, err := n.Propose(ctx, ledger.PutMember{Member: m}); err != nil || res.Err() != nil {
		t.Fatalf("put member: %v %v", res, err)
	}
	if r := authorise(t, n, "1", "m-1"); r.Status.Code != osp.StatusOK {
		t.Fatalf("call refused: %+v", r.Status)
	}
	var ad node.MemberAdmission
	out := mustCLI(t, n, []string{"member", "usage-now"}, "--output", "json", "carrier-a")
	if err := json.Unmarshal([]byte(out), &ad); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if ad.CallsInProgress != 1 || ad.ConcurrentLimit != 3 || ad.CreditLimit.String() != "6 USD" || ad.Held.Sign() <= 0 {
		t.Fatalf("usage-now: %+v", ad)
	}
	want, _ := ad.CreditLimit.Sub(ad.Balance)
	want, _ = want.Sub(ad.Held)
	if !ad.Remaining.Equal(want) {
		t.Fatalf("remaining %s, want limit − balance − held = %s", ad.Remaining, want)
	}
	if out := mustCLI(t, n, []string{"member", "usage-now"}, "carrier-a"); !strings.Contains(out, "CALLS IN PROGRESS") || !strings.Contains(out, "6 USD") {
		t.Fatalf("usage-now table: %s", out)
	}
	if code, _, errb := adminCLI(t, n, []string{"member", "usage-now"}, "nobody"); code == 0 || !strings.Contains(errb, "not found") {
		t.Fatalf("unknown member: %d %s", code, errb)
	}
}

// TestMemberUpdateAndRoutes: member update changes only the fields given;
// member show shows every setting; route add and delete change one route.
func TestMemberUpdateAndRoutes(t *testing.T) {
	n := openTestNode(t)
	mustCLI(t, n, []string{"member", "update"}, "carrier-b", "--cps-limit", "7", "--blocked-prefix", "4420")
	m, err := n.Store().Member("carrier-b")
	if err != nil {
		t.Fatal(err)
	}
	if m.CPSLimit != 7 || len(m.BlockedPrefixes) != 1 || m.Name != "Carrier B" || len(m.Credentials.SourceAddrs) != 1 || m.SellDeckID != "sell-carrier-b" {
		t.Fatalf("updated %+v: other fields must stay", m)
	}
	out := mustCLI(t, n, []string{"member", "show"}, "carrier-b")
	for _, want := range []string{"blocked prefixes", "4420", "token kind", "signed", "calls per second", "7", "concurrent calls", "unlimited"} {
		if !strings.Contains(out, want) {
			t.Fatalf("member show lacks %q:\n%s", want, out)
		}
	}
	mustCLI(t, n, []string{"route", "add"}, "4477", "--candidate", "trunk:b-1:1:5", "--candidate", "trunk:a-1:2")
	r, err := n.Store().Route("4477")
	if err != nil || len(r.Candidates) != 2 || r.Candidates[0].Priority != 1 || r.Candidates[0].Weight != 5 || r.Candidates[1].ID != "a-1" {
		t.Fatalf("route add: %+v %v", r, err)
	}
	if code, _, errb := adminCLI(t, n, []string{"route", "add"}, "4478", "--candidate", "carrier:b-1"); code != 2 || !strings.Contains(errb, "KIND") {
		t.Fatalf("bad candidate: exit %d %s", code, errb)
	}
	mustCLI(t, n, []string{"route", "delete"}, "4477")
	if _, err := n.Store().Route("4477"); err == nil {
		t.Fatal("route still there after delete")
	}
}
