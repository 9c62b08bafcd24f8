package node

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
)

// TestAdminStatementParties: with billing identities in the ledger the
// node's statements and netting statements name both parties with their
// addresses and tax ids, and date the statement due the counterparty's
// payment terms after issue (its own override, else the network's); an
// explicit due_days still wins, 0 dropping the due date.
func TestAdminStatementParties(t *testing.T) {
	n := openDemo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	terms := func(d int) *int { return &d }
	nw, err := n.store.Network()
	if err != nil {
		t.Fatal(err)
	}
	nw.BillingIdentity = ledger.BillingIdentity{Address: []string{"Demo Peering Ltd", "1 Exchange Square", "London EC2A 2BR"},
		TaxID: "GB123456789", BillingEmail: "settlement@demo.example", PaymentTermsDays: terms(30)}
	if res, err := n.Propose(ctx, ledger.SetNetwork{Network: nw}); err != nil || res.Code != ledger.OK {
		t.Fatalf("set network: %v %+v", err, res)
	}
	setMember := func(id string, b ledger.BillingIdentity) {
		m, err := n.store.Member(id)
		if err != nil {
			t.Fatal(err)
		}
		m.BillingIdentity = b
		body, _ := json.Marshal(m)
		adm(t, n, 200, "PUT", "/v1/members/"+id, string(body))
	}
	setMember("carrier-a", ledger.BillingIdentity{Address: []string{"Carrier A Inc.", "500 Main Street", "Springfield, IL 62701"}, TaxID: "US-12-3456789"})
	setMember("carrier-b", ledger.BillingIdentity{Address: []string{"Carrier B GmbH", "Hauptstraße 1", "10115 Berlin"}, PaymentTermsDays: terms(10)})
	// out of bounds through the admin API: 400, naming the field
	if b := string(adm(t, n, 400, "PUT", "/v1/members/carrier-c", `{"payment_terms_days": 400}`)); !strings.Contains(b, "payment_terms_days 400: want 0..366") {
		t.Errorf("terms out of bounds: %s", b)
	}

	callBetween(t, n, "127.0.0.1", "127.0.0.3", "10", "parties-1", "130.000")
	now := time.Now().UTC()
	period := url.QueryEscape(now.Add(-time.Hour).Format(time.RFC3339) + "/" + now.Add(time.Hour).Format(time.RFC3339))
	base := "/v1/statements?period=" + period + "&issue_date=2026-12-02&format=html"
	issuer := `<address id="issuer-address"><span class="role">Issuer</span><b>ospnode demo network</b><br>Demo Peering Ltd<br>1 Exchange Square<br>London EC2A 2BR<br>Tax ID: GB123456789<br>settlement@demo.example</address>`
	for _, tc := range []struct {
		name, query string
		want        []string
		notWant     string
	}{
		{"the network's terms", "&counterparty=carrier-a", []string{issuer,
			`<address id="counterparty-address"><span class="role">Counterparty</span><b>Carrier A</b><br>Carrier A Inc.<br>500 Main Street<br>Springfield, IL 62701<br>Tax ID: US-12-3456789</address>`,
			`<dt>Due date</dt><dd id="due">2027-01-01</dd>`}, ""},
		{"the member's override", "&counterparty=carrier-b", []string{issuer, "Carrier B GmbH<br>Hauptstraße 1<br>10115 Berlin</address>",
			`<dt>Due date</dt><dd id="due">2026-12-12</dd>`}, ""},
		{"due_days overrides the terms", "&counterparty=carrier-a&due_days=5", []string{`<dd id="due">2026-12-07</dd>`}, ""},
		{"due_days=0: no due date", "&counterparty=carrier-a&due_days=0", []string{issuer}, "Due date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := string(adm(t, n, 200, "GET", base+tc.query, ""))
			for _, w := range tc.want {
				if !strings.Contains(b, w) {
					t.Errorf("lacks %q:\n%s", w, b)
				}
			}
			if tc.notWant != "" && strings.Contains(b, tc.notWant) {
				t.Errorf("has %q", tc.notWant)
			}
		})
	}

	js := string(adm(t, n, 200, "GET", "/v1/statements?period="+period+"&issue_date=2026-12-02&counterparty=carrier-a", ""))
	for _, w := range []string{`"TaxID": "US-12-3456789"`, `"Due": "2027-01-01T00:00:00Z"`, `"Springfield, IL 62701"`, `"Email": "settlement@demo.example"`} {
		if !strings.Contains(js, w) {
			t.Errorf("JSON lacks %s:\n%s", w, js)
		}
	}
	nt := string(adm(t, n, 200, "GET", "/v1/netting?counterparty=carrier-a&period="+period+"&issue_date=2026-12-02&format=html", ""))
	if !strings.Contains(nt, issuer) || !strings.Contains(nt, "Carrier A Inc.<br>500 Main Street") || !strings.Contains(nt, `<dd id="due">2027-01-01</dd>`) {
		t.Errorf("netting page lacks the addresses or the due date from the network's terms:\n%s", nt)
	}
	nt = string(adm(t, n, 200, "GET", "/v1/netting?counterparty=carrier-a&period="+period+"&issue_date=2026-12-02&format=html&due_days=0", ""))
	if strings.Contains(nt, "Due date") {
		t.Errorf("netting with due_days=0 shows a due date")
	}
}
