package node

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/osp"
	"github.com/ospnode/ospnode/settlement"
)

// callBetween authorises a call from the member at srcAddr, then reports
// source usage from srcAddr and destination usage from dstAddr (the demo
// identifies carrier-a by 127.0.0.1, carrier-b by 127.0.0.3).
func callBetween(t *testing.T, n *Node, srcAddr, dstAddr, msg, callID, seconds string) {
	t.Helper()
	src, dst := client(srcAddr), client(dstAddr)
	r := authResponse(t, exchange(t, src, n.OSPURL(), authRequest(msg, callID, called, 5)))
	if r.Status.Code != osp.StatusOK {
		t.Fatalf("authorise from %s: %+v", srcAddr, r.Status)
	}
	if c := usageStatus(t, exchange(t, src, n.OSPURL(), usageIndication(msg+"s", "1", osp.RoleSource, r.TransactionID, callID, called, seconds))); c != osp.StatusOK {
		t.Fatalf("source usage: %d", c)
	}
	if c := usageStatus(t, exchange(t, dst, n.OSPURL(), usageIndication(msg+"d", "2", osp.RoleDestination, r.TransactionID, callID, called, seconds))); c != osp.StatusOK {
		t.Fatalf("destination usage: %d", c)
	}
}

// TestAdminNettingAndConversion: traffic both ways between carrier-a and
// carrier-b through the demo network nets per member; the statement can
// be split by direction and converted at a dated rate that it records.
func TestAdminNettingAndConversion(t *testing.T) {
	n := openDemo(t)
	// carrier-a → carrier-b, 130 s → 180 billable: carrier-a owes 0.0900
	// (sell 0.0300/min), we owe carrier-b 0.0540 (buy 0.0180/min).
	callBetween(t, n, "127.0.0.1", "127.0.0.3", "10", "net-1", "130.000")
	// carrier-b → carrier-a, 61.5 s → 120 billable: carrier-b owes
	// 0.0600, we owe carrier-a 0.0300 (buy 0.0150/min).
	callBetween(t, n, "127.0.0.3", "127.0.0.1", "20", "net-2", "61.500")
	now := time.Now().UTC()
	period := url.QueryEscape(now.Add(-time.Hour).Format(time.RFC3339) + "/" + now.Add(time.Hour).Format(time.RFC3339))

	for _, c := range []struct {
		member, they, we, net, due, payer string
	}{
		{"carrier-a", "0.09", "0.03", "0.06", "0.06", "member:carrier-a"},
		{"carrier-b", "0.06", "0.05", "0.01", "0.01", "member:carrier-b"},
	} {
		nt := admJSON[settlement.NettingJSON](t, adm(t, n, 200, "GET", "/v1/netting?counterparty="+c.member+"&period="+period, ""))
		if nt.Us != DemoNetwork || nt.Them != "member:"+c.member || len(nt.Positions) != 1 {
			t.Fatalf("%s: netting %+v", c.member, nt)
		}
		p := nt.Positions[0]
		if p.Currency != "USD" || p.TheyOweUs.Text() != c.they || p.WeOweThem.Text() != c.we || p.Net.Text() != c.net ||
			p.Due.Text() != c.due || p.Payer != c.payer || p.Payee != DemoNetwork || p.TheyOweCalls != 1 || p.WeOweCalls != 1 {
			t.Errorf("%s: position %+v", c.member, p)
		}
	}
	if b := adm(t, n, 200, "GET", "/v1/netting?counterparty=carrier-a&period="+period+"&format=text", ""); !strings.Contains(string(b), "member:carrier-a pays DEMO 0.06 USD") {
		t.Fatalf("text netting:\n%s", b)
	}
	if b := adm(t, n, 200, "GET", "/v1/netting?counterparty=carrier-a&period="+period+"&format=csv", ""); !strings.Contains(string(b), ",DEMO,member:carrier-a,USD,0.09,1,3.00,0.03,1,2.00,0.06,member:carrier-a,DEMO,0.06") {
		t.Fatalf("csv netting:\n%s", b)
	}
	// Another period has no traffic.
	if nt := admJSON[settlement.NettingJSON](t, adm(t, n, 200, "GET", "/v1/netting?counterparty=carrier-a&period=2020-01", "")); len(nt.Positions) != 0 {
		t.Fatalf("empty period: %+v", nt)
	}
	adm(t, n, 404, "GET", "/v1/netting?counterparty=nobody&period=2026-11", "")
	adm(t, n, 400, "GET", "/v1/netting?counterparty=carrier-a&period=soon", "")
	adm(t, n, 400, "GET", "/v1/netting?counterparty=carrier-a&period=2026-11&format=docx", "")
	// The netting statement as a document: names, the net in words, a PDF.
	if b := string(adm(t, n, 200, "GET", "/v1/netting?counterparty=carrier-a&period="+period+"&format=html&issue_date=2026-12-02", "")); !strings.Contains(b, "Net: Carrier A pays ospnode demo network 0.06 USD.") ||
		!strings.Contains(b, "ospnode demo network owes Carrier A 0.03 USD for 1 call it carried") || !strings.Contains(b, "2026-12-02") {
		t.Fatalf("html netting:\n%s", b)
	}
	if b := adm(t, n, 200, "GET", "/v1/netting?counterparty=carrier-a&period="+period+"&format=pdf", ""); !strings.HasPrefix(string(b), "%PDF-") {
		t.Fatalf("pdf netting: %q", b[:min(len(b), 8)])
	}
	adm(t, n, 400, "GET", "/v1/netting?counterparty=carrier-a&period=2026-11&issue_date=soon", "")
	adm(t, n, 400, "GET", "/v1/netting?counterparty=carrier-a&period=2026-11&currency=USD", "")

	// Statements by direction; without one, two-way traffic is refused (below).
	type stmt struct {
		Amount, Invoice money.Amount
		Calls           int
		Currency        string
		Conversion      *struct {
			Rate           struct{ From, To, Rate, Date, Source string }
			OriginalAmount money.Amount
		}
	}
	base := "/v1/statements?counterparty=carrier-a&period=" + period
	for dir, want := range map[string]string{"sell": "0.0900", "buy": "0.0300"} {
		st := admJSON[stmt](t, adm(t, n, 200, "GET", base+"&direction="+dir, ""))
		if st.Amount.Text() != want || st.Conversion != nil {
			t.Errorf("direction %q: %+v, want %s", dir, st, want)
		}
	}
	adm(t, n, 400, "GET", base+"&direction=both", "")
	// Traffic both ways: summing 0.0900 owed to us with 0.0300 we owe would
	// be a number nobody owes, so a direction is required.
	if b := adm(t, n, 400, "GET", base, ""); !strings.Contains(string(b), "both ways") {
		t.Errorf("statement without direction for two-way traffic: %s", b)
	}

	// Conversion at a dated rate: 0.0900 × 0.92 = 0.082800 EUR, invoice
	// 0.08; the rate and the original amount are on the statement.
	conv := base + "&direction=sell&convert_to=EUR&rate=0.92&rate_date=2026-11-30&rate_source=ECB"
	st := admJSON[stmt](t, adm(t, n, 200, "GET", conv, ""))
	if st.Currency != "EUR" || st.Amount.Text() != "0.082800" || st.Invoice.Text() != "0.08" || st.Conversion == nil ||
		st.Conversion.Rate != (struct{ From, To, Rate, Date, Source string }{"USD", "EUR", "0.92", "2026-11-30", "ECB"}) ||
		st.Conversion.OriginalAmount.Text() != "0.0900" || st.Conversion.OriginalAmount.Currency() != "USD" {
		t.Fatalf("converted statement %+v %+v", st, st.Conversion)
	}
	if b := adm(t, n, 200, "GET", conv+"&format=csv", ""); !strings.Contains(string(b), "conversion,2026-11-30,USD→EUR at 0.92 ECB,,,,0.0900,USD") {
		t.Fatalf("csv conversion:\n%s", b)
	}
	for _, bad := range []string{
		"&convert_to=EUR",                                // no rate
		"&convert_to=EUR&rate=0.92",                      // no date
		"&convert_to=EUR&rate=0.92&rate_date=30.11.2026", // bad date
		"&convert_to=EUR&rate=-1&rate_date=2026-11-30",   // not positive
		"&convert_to=EU&rate=0.92&rate_date=2026-11-30",  // not a currency
		"&convert_to=XXX&rate=0.92&rate_date=2026-11-30", // no minor unit
		"&rate=0.92", // rate without convert_to
		"&currency=EUR&convert_to=USD&rate=1.1&rate_date=2026-11-30", // statement in EUR: the USD CDRs do not fit
	} {
		if b := adm(t, n, 400, "GET", base+"&direction=sell"+bad, ""); admErr(t, b) == "" {
			t.Errorf("%s: no error message", bad)
		}
	}
}
