package cmd

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/ospnode/ospnode/ledger"
)

// TestBillingCLI: member add|update, peer add|show and network init carry
// the billing identity; show prints it; update changes only what is
// given (-1 clears a member's override); a bad one is a usage error.
func TestBillingCLI(t *testing.T) {
	n := openEmptyNode(t)
	mustCLI(t, n, []string{"network", "init"}, "--id", "PURPLE", "--name", "Purple peering", "--currency", "USD",
		"--address", "Purple Peering Ltd; 1 Exchange Square; London EC2A 2BR", "--tax-id", "GB123456789", "--payment-terms-days", "30")
	if out := mustCLI(t, n, []string{"network", "show"}); !strings.Contains(out, "30 days        GB123456789  -              Purple Peering Ltd; 1 Exchange Square; London EC2A 2BR") {
		t.Fatalf("network show:\n%s", out)
	}

	mustCLI(t, n, []string{"member", "add"}, "--name", "ACME Telecom", "--address", "ACME Inc.; 500 Main St; Springfield, IL 62701",
		"--tax-id", "US-12-3456789", "--billing-email", "ap@acme.example", "--payment-terms-days", "15", "acme")
	show := mustCLI(t, n, []string{"member", "show"}, "acme")
	for _, want := range []string{"address                   ACME Inc.; 500 Main St; Springfield, IL 62701", "tax id                    US-12-3456789",
		"billing email             ap@acme.example", "payment terms             15 days"} {
		if !strings.Contains(show, want) {
			t.Fatalf("member show lacks %q:\n%s", want, show)
		}
	}
	mustCLI(t, n, []string{"member", "update"}, "--name", "ACME", "acme")
	var m ledger.Member
	if err := json.Unmarshal([]byte(mustCLI(t, n, []string{"member", "show"}, "--output", "json", "acme")), &m); err != nil {
		t.Fatal(err)
	}
	want := ledger.BillingIdentity{Address: []string{"ACME Inc.", "500 Main St", "Springfield, IL 62701"}, TaxID: "US-12-3456789",
		BillingEmail: "ap@acme.example", PaymentTermsDays: days(15)}
	if m.Name != "ACME" || !reflect.DeepEqual(m.BillingIdentity, want) {
		t.Fatalf("update of the name kept %+v, want %+v", m.BillingIdentity, want)
	}
	if out := mustCLI(t, n, []string{"member", "update"}, "--payment-terms-days", "-1", "acme"); !strings.Contains(out, "payment terms             the network's") {
		t.Fatalf("clearing the override:\n%s", out)
	}

	mustCLI(t, n, []string{"peer", "add"}, "--service-point", "https://osp.yellow.example/osp", "--address", "Yellow BV; Amsterdam",
		"--payment-terms-days", "0", "YELLOW")
	if out := mustCLI(t, n, []string{"peer", "show"}, "YELLOW"); !strings.Contains(out, "Yellow BV; Amsterdam") || !strings.Contains(out, "due on issue") {
		t.Fatalf("peer show:\n%s", out)
	}

	for _, c := range []struct {
		cmd  []string
		args []string
		want string
	}{
		{[]string{"member", "add"}, []string{"--payment-terms-days", "400", "x"}, "--payment-terms-days 400: want 0..366"},
		{[]string{"member", "add"}, []string{"--address", "1;2;3;4;5;6;7", "x"}, "address: 7 lines, at most 6"},
		{[]string{"member", "update"}, []string{"--billing-email", "nobody", "acme"}, `billing_email "nobody"`},
		{[]string{"peer", "add"}, []string{"--service-point", "https://p.example/osp", "--tax-id", strings.Repeat("9", 70), "P2"}, "tax_id: 70 bytes"},
	} {
		if code, _, errb := adminCLI(t, n, c.cmd, c.args...); code != 2 || !strings.Contains(errb, c.want) {
			t.Fatalf("%v %v: exit %d %s, want 2 and %q", c.cmd, c.args, code, errb, c.want)
		}
	}
}

func days(n int) *int { return &n }
