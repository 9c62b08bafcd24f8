package cmd

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/node"
	"github.com/ospnode/ospnode/osp"
	"github.com/ospnode/ospnode/settlement"
)

// buyDeckCSV is what acme charges us for the calls it terminates.
const buyDeckCSV = `prefix,description,rate,connect_fee,first_increment,next_increment,effective_from
1,NANP,0.03,0.10,30,6,2026-01-01
49,Germany,0.08,0,60,60,2026-01-01
4915,Germany mobile,0.15,0,30,6,2026-01-01
`

// termCDRsCSV are the calls acme terminated for us; T7 is in December.
const termCDRsCSV = `id,dst,start,dur_ms
T5,+12125550199,2026-11-03T10:00:00Z,45000
T6,4930123999,2026-11-04T10:00:00Z,90000
T7,4930123999,2026-12-01T00:00:00Z,60000
`

// rateFile runs settle rate on cdrs with deck (2 decimals, rounding up)
// and returns the rated file.
func rateFile(t *testing.T, dir, name, deck, cdrs string) string {
	t.Helper()
	code, out, errOut := run(t, "settle", "rate", "--deck", writeFile(t, dir, name+"-deck.csv", deck), "--currency", "USD",
		"--decimals", "2", "--rounding", "up", "--columns", "transaction_id=id,called=dst,connect_time=start,duration=dur_ms",
		"--duration-unit", "ms", "--counterparty", "acme", writeFile(t, dir, name+"-cdrs.csv", cdrs))
	if code != 0 {
		t.Fatalf("settle rate %s: exit %d: %s", name, code, errOut)
	}
	return writeFile(t, dir, name+"-rated.csv", out)
}

func TestSettleNetOffline(t *testing.T) {
	dir := t.TempDir()
	// They owe (our sell deck on the calls acme originated): 0.18 + 0.12
	// + 0.20 + 0.00 = 0.50 (see TestSettleRate).
	sell := rateFile(t, dir, "sell", testDeckCSV, testCDRsCSV)
	// We owe (acme's buy deck): T5 45 s → 48 s: 0.10 + 0.024 → 0.13 up;
	// T6 90 s → 120 s at 0.08 = 0.16; T7 is outside the period. 0.29.
	buy := rateFile(t, dir, "buy", buyDeckCSV, termCDRsCSV)
	args := []string{"settle", "net", "--they-owe", sell, "--we-owe", buy, "--us", "NET-A", "--them", "acme", "--period", "2026-11"}

	code, out, errOut := run(t, args...)
	if code != 0 || !strings.Contains(out, "acme pays NET-A 0.21 USD") || !strings.Contains(out, "Netting NET-A ↔ acme, period 2026-11") {
		t.Fatalf("text: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = run(t, append(args, "--output", "json")...)
	var nt settlement.NettingJSON
	if err := json.Unmarshal([]byte(out), &nt); code != 0 || err != nil {
		t.Fatalf("json: exit %d %v\n%s\n%s", code, err, out, errOut)
	}
	if len(nt.Positions) != 1 || nt.Positions[0].TheyOweUs.Text() != "0.50" || nt.Positions[0].WeOweThem.Text() != "0.29" ||
		nt.Positions[0].Net.Text() != "0.21" || nt.Positions[0].TheyOweCalls != 4 || nt.Positions[0].WeOweCalls != 2 ||
		nt.Positions[0].Payer != "acme" || nt.Positions[0].Payee != "NET-A" {
		t.Fatalf("json %+v", nt)
	}
	code, out, _ = run(t, append(args, "--output", "csv")...)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 2 ||
		lines[1] != "2026-11,NET-A,acme,USD,0.50,4,3.10,0.29,2,2.80,0.21,acme,NET-A,0.21" {
		t.Fatalf("csv: exit %d\n%s", code, out)
	}
	// Swapping the files swaps who pays.
	code, out, _ = run(t, "settle", "net", "--they-owe", buy, "--we-owe", sell, "--us", "NET-A", "--them", "acme", "--period", "2026-11")
	if code != 0 || !strings.Contains(out, "NET-A pays acme 0.21 USD") {
		t.Fatalf("swapped: exit %d\n%s", code, out)
	}

	// The document to send names both parties by address and dates the net.
	code, out, errOut = run(t, append(args, "--output", "html", "--issue-date", "2026-12-02", "--due-days", "14",
		"--us-address", "NET-A Ltd; 1 Exchange Square; London EC2A 2BR", "--us-tax-id", "GB123456789",
		"--counterparty-address", "Acme Telecom; 9 Rue de la Paix; 75002 Paris")...)
	for _, want := range []string{"1 Exchange Square<br>London EC2A 2BR", "Tax ID: GB123456789", "9 Rue de la Paix<br>75002 Paris",
		`<dt>Due date</dt><dd id="due">2026-12-16</dd>`} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("html: exit %d, lacks %q\n%s\n%s", code, want, out, errOut)
		}
	}

	unrated := writeFile(t, dir, "unrated.csv", "transaction_id,called,connect_time,duration\nX1,4930,2026-11-05T00:00:00Z,10\n")
	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"one file", []string{"--they-owe", sell, "--them", "acme", "--period", "2026-11"}, exitUsage, "both --they-owe"},
		{"bad period", []string{"--they-owe", sell, "--we-owe", buy, "--them", "acme", "--period", "soon"}, exitUsage, "--period"},
		{"bad output", []string{"--they-owe", sell, "--we-owe", buy, "--them", "acme", "--period", "2026-11", "--output", "xml"}, exitUsage, "--output"},
		{"same party", []string{"--they-owe", sell, "--we-owe", buy, "--us", "acme", "--them", "acme", "--period", "2026-11"}, exitBadInput, "two different parties"},
		{"unrated", []string{"--they-owe", sell, "--we-owe", unrated, "--them", "acme", "--period", "2026-11"}, exitBadInput, "we owe: line 2"},
		{"missing file", []string{"--they-owe", sell, "--we-owe", dir + "/nope.csv", "--them", "acme", "--period", "2026-11"}, exitBadInput, "nope.csv"},
		{"files and node", []string{"--they-owe", sell, "--node", "http://127.0.0.1:1", "--them", "acme", "--period", "2026-11"}, exitUsage, "not both"},
		{"address online", []string{"--node", "http://127.0.0.1:1", "--them", "acme", "--period", "2026-11", "--us-address", "1 Road"}, exitUsage, "--us-address is for offline netting"},
		{"seven address lines", []string{"--they-owe", sell, "--we-owe", buy, "--them", "acme", "--period", "2026-11", "--counterparty-address", "1;2;3;4;5;6;7"}, exitUsage, "--counterparty-address"},
		{"negative terms", []string{"--they-owe", sell, "--we-owe", buy, "--them", "acme", "--period", "2026-11", "--due-days", "-1"}, exitUsage, "--due-days -1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := run(t, append([]string{"settle", "net"}, c.args...)...)
			if code != c.code || !strings.Contains(errOut, c.msg) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", code, c.code, errOut, c.msg)
			}
		})
	}
}

// reverseCallFlow authorises a call from carrier-b (127.0.0.3) and reports
// its source usage from there and its destination usage from carrier-a
// (127.0.0.1): traffic the other way round from callFlow.
func reverseCallFlow(t *testing.T, n *node.Node, msgID, callID, seconds string) {
	t.Helper()
	m := &osp.Message{MessageID: msgID, Random: "1", Components: []osp.Component{{ID: msgID + "0",
		AuthorizationRequest: &osp.AuthorizationRequest{
			Timestamp: time.Now().UTC().Truncate(time.Second),
			CallIDs:   []osp.Binary{osp.Binary(callID)},
			CallInfo: osp.CallInfo{
				SourceInfo:      osp.TypedValues{{Type: osp.TypeE164, Value: testCalling}},
				DeviceInfo:      osp.TypedValues{{Type: osp.TypeTransport, Value: "[127.0.0.3]:5060"}},
				DestinationInfo: osp.TypedValues{{Type: osp.TypeE164, Value: testCalled}},
			},
			Service:             &osp.Service{},
			MaximumDestinations: 5,
		}}}}
	resp, err := ospClient(t, n, "127.0.0.3").Do(context.Background(), m)
	if err != nil {
		t.Fatalf("authorise: %v", err)
	}
	r := resp.Components[0].AuthorizationResponse
	if r == nil || r.Status.Code != osp.StatusOK {
		t.Fatalf("authorise from carrier-b: %+v", resp.Components[0])
	}
	reportUsage(t, n, "127.0.0.3", msgID+"s", "1", osp.RoleSource, r.TransactionID, callID, seconds)
	reportUsage(t, n, "127.0.0.1", msgID+"d", "2", osp.RoleDestination, r.TransactionID, callID, seconds)
}

// TestSettleNetOnline: carrier-a originates one call (130 s → 180 s at
// the sell rate 0.0300/min: it owes 0.0900) and terminates one
// (61.5 s → 120 s at its buy rate 0.0150/min: we owe it 0.0300); the
// node nets 0.06 owed by carrier-a. The online statement splits by
// direction and converts at a dated rate it records.
func TestSettleNetOnline(t *testing.T) {
	n := openTestNode(t)
	callFlow(t, n, "10", "net-1", "130.000")
	reverseCallFlow(t, n, "20", "net-2", "61.500")
	now := time.Now().UTC()
	period := now.Add(-time.Hour).Format(time.RFC3339) + "/" + now.Add(time.Hour).Format(time.RFC3339)

	out := mustCLI(t, n, []string{"settle", "net"}, "--counterparty", "carrier-a", "--period", period)
	if !strings.Contains(out, "member:carrier-a pays DEMO 0.06 USD") {
		t.Fatalf("text netting:\n%s", out)
	}
	var nt settlement.NettingJSON
	if err := json.Unmarshal([]byte(mustCLI(t, n, []string{"settle", "net"}, "--counterparty", "carrier-a", "--period", period, "--output", "json")), &nt); err != nil {
		t.Fatal(err)
	}
	if nt.Us != "DEMO" || len(nt.Positions) != 1 || nt.Positions[0].TheyOweUs.Text() != "0.09" || nt.Positions[0].WeOweThem.Text() != "0.03" ||
		nt.Positions[0].Net.Text() != "0.06" || len(nt.TheyOwe) != 1 || nt.TheyOwe[0].Amount.Text() != "0.0900" {
		t.Fatalf("json netting %+v", nt)
	}
	if out := mustCLI(t, n, []string{"settle", "net"}, "--counterparty", "carrier-a", "--period", period, "--output", "csv"); !strings.HasPrefix(out, "period,us,them,currency,") {
		t.Fatalf("csv netting:\n%s", out)
	}
	if code, _, errb := adminCLI(t, n, []string{"settle", "net"}, "--counterparty", "nobody", "--period", period); code != 1 || !strings.Contains(errb, "404") {
		t.Fatalf("unknown counterparty: %d %s", code, errb)
	}

	var st struct {
		Currency        string
		Amount, Invoice money.Amount
		Conversion      *struct {
			Rate struct{ From, To, Rate, Date, Source string }
		}
	}
	conv := mustCLI(t, n, []string{"settle", "statement"}, "--counterparty", "carrier-a", "--period", period, "--direction", "sell",
		"--convert-to", "EUR", "--rate", "0.92", "--rate-date", "2026-11-30", "--rate-source", "ECB", "--output", "json")
	if err := json.Unmarshal([]byte(conv), &st); err != nil {
		t.Fatalf("%v: %s", err, conv)
	}
	// 0.0900 × 0.92 = 0.082800 EUR; the invoice rounds to 0.08.
	if st.Currency != "EUR" || st.Conversion == nil || st.Conversion.Rate != (struct{ From, To, Rate, Date, Source string }{"USD", "EUR", "0.92", "2026-11-30", "ECB"}) ||
		st.Amount.String() != "0.082800 EUR" || st.Invoice.String() != "0.08 EUR" {
		t.Fatalf("converted statement:\n%s", conv)
	}
	if csvOut := mustCLI(t, n, []string{"settle", "statement"}, "--counterparty", "carrier-a", "--period", period, "--direction", "buy",
		"--convert-to", "EUR", "--rate", "0.92", "--rate-date", "2026-11-30"); !strings.Contains(csvOut, "total,"+period+",member:carrier-a,1,120,2.00,0.027600,EUR") ||
		!strings.Contains(csvOut, "conversion,2026-11-30,USD→EUR at 0.92") {
		t.Fatalf("csv converted buy statement:\n%s", csvOut)
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no rate", []string{"--convert-to", "EUR", "--rate-date", "2026-11-30"}, exitUsage, "--rate"},
		{"no date", []string{"--convert-to", "EUR", "--rate", "0.92"}, exitUsage, "--rate-date"},
		{"rate alone", []string{"--rate", "0.92"}, exitUsage, "without --convert-to"},
		{"bad direction", []string{"--direction", "both"}, exitUsage, "--direction"},
		{"node refuses", []string{"--direction", "sell", "--convert-to", "XXX", "--rate", "0.92", "--rate-date", "2026-11-30"}, 1, "400"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errb := adminCLI(t, n, []string{"settle", "statement"}, append([]string{"--counterparty", "carrier-a", "--period", period}, c.args...)...)
			if code != c.code || !strings.Contains(errb, c.msg) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", code, c.code, errb, c.msg)
			}
		})
	}
	// Offline, --direction says which way the file's calls go (default
	// sell); anything else is refused before the file is read.
	if code, _, errb := run(t, "settle", "statement", "--cdrs", writeTemp(t, "x.csv", "called\n"), "--counterparty", "x", "--period", "2026-11", "--direction", "both"); code != exitUsage || !strings.Contains(errb, "--direction") {
		t.Fatalf("offline --direction: %d %s", code, errb)
	}
}
