package cmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/node"
	"github.com/ospnode/ospnode/osp"
)

// callFrom authorises a call from the demo member at src (127.0.0.1
// carrier-a, 127.0.0.3 carrier-b) and reports both sides' usage.
func callFrom(t *testing.T, n *node.Node, src, dst, msgID, callID, seconds string) {
	t.Helper()
	m := &osp.Message{MessageID: msgID, Random: "1", Components: []osp.Component{{ID: msgID + "0",
		AuthorizationRequest: &osp.AuthorizationRequest{
			Timestamp: time.Now().UTC().Truncate(time.Second),
			CallIDs:   []osp.Binary{osp.Binary(callID)},
			CallInfo: osp.CallInfo{
				SourceInfo:      osp.TypedValues{{Type: osp.TypeE164, Value: testCalling}},
				DeviceInfo:      osp.TypedValues{{Type: osp.TypeTransport, Value: "[" + src + "]:5060"}},
				DestinationInfo: osp.TypedValues{{Type: osp.TypeE164, Value: testCalled}},
			},
			Service:             &osp.Service{},
			MaximumDestinations: 5,
		}}}}
	resp, err := ospClient(t, n, src).Do(context.Background(), m)
	if err != nil || len(resp.Components) != 1 || resp.Components[0].AuthorizationResponse == nil ||
		resp.Components[0].AuthorizationResponse.Status.Code != osp.StatusOK {
		t.Fatalf("authorise from %s: %v %+v", src, err, resp)
	}
	tx := resp.Components[0].AuthorizationResponse.TransactionID
	reportUsage(t, n, src, msgID+"s", "1", osp.RoleSource, tx, callID, seconds)
	reportUsage(t, n, dst, msgID+"d", "2", osp.RoleDestination, tx, callID, seconds)
}

// TestSettleStatementDocument: the CLI's statement documents, online and
// offline: who owes whom by name, the PDF to a file, --direction's
// default as its help says, and the two-way refusal in the CLI's words.
func TestSettleStatementDocument(t *testing.T) {
	n := openTestNode(t)
	callFrom(t, n, "127.0.0.1", "127.0.0.3", "10", "sd-1", "130.000")
	now := time.Now().UTC()
	period := now.Add(-time.Hour).Format(time.RFC3339) + "/" + now.Add(time.Hour).Format(time.RFC3339)
	dir := t.TempDir()

	// Online, one direction of traffic: no --direction needed.
	out := mustCLI(t, n, []string{"settle", "statement"}, "--counterparty", "carrier-a", "--period", period, "--output", "html", "--issue-date", "2026-12-02")
	for _, want := range []string{"Carrier A owes ospnode demo network 0.09 USD", "Issue date</dt><dd>2026-12-02", "Receivable"} {
		if !strings.Contains(out, want) {
			t.Errorf("online html lacks %q", want)
		}
	}
	pdf := filepath.Join(dir, "st.pdf")
	mustCLI(t, n, []string{"settle", "statement"}, "--counterparty", "carrier-b", "--period", period, "--output", "pdf", "--out", pdf)
	if b, err := os.ReadFile(pdf); err != nil || !strings.HasPrefix(string(b), "%PDF-") {
		t.Fatalf("online pdf: %v %q", err, b[:min(len(b), 8)])
	}
	if code, _, errb := adminCLI(t, n, []string{"settle", "statement"}, "--counterparty", "carrier-a", "--period", period, "--issuer", "x"); code != exitUsage || !strings.Contains(errb, "--issuer is for offline") {
		t.Errorf("online --issuer: exit %d %s", code, errb)
	}

	// Traffic both ways: refused in the CLI's words, exit 2.
	callFrom(t, n, "127.0.0.3", "127.0.0.1", "20", "sd-2", "61.500")
	code, _, errb := adminCLI(t, n, []string{"settle", "statement"}, "--counterparty", "carrier-a", "--period", period)
	if code != exitUsage || !strings.Contains(errb, "--direction sell") || !strings.Contains(errb, "--direction buy") ||
		strings.Contains(errb, "direction=") || strings.Contains(errb, "/v1/") {
		t.Fatalf("two-way without --direction: exit %d, %s", code, errb)
	}
	out = mustCLI(t, n, []string{"settle", "statement"}, "--counterparty", "carrier-a", "--period", period, "--direction", "buy", "--output", "html")
	if !strings.Contains(out, "ospnode demo network owes Carrier A 0.03 USD") {
		t.Errorf("--direction buy page:\n%s", out)
	}

	// Offline: the file is one direction (settle rate's output, 0.50 USD
	// in November); sell by default, the parties named by flags.
	rated := filepath.Join(dir, "rated.csv")
	if code, _, errb := run(t, "settle", "rate", "--deck", writeFile(t, dir, "deck.csv", testDeckCSV), "--currency", "USD", "--decimals", "2",
		"--rounding", "up", "--columns", "transaction_id=id,called=dst,connect_time=start,duration=dur_ms", "--duration-unit", "ms",
		"--counterparty", "acme", "--out", rated, writeFile(t, dir, "cdrs.csv", testCDRsCSV)); code != 0 {
		t.Fatalf("settle rate: exit %d %s", code, errb)
	}
	export := rated
	period = "2026-11"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"default sell", nil, "ACME Telecom owes Purple peering 0.50 USD"},
		{"due date", []string{"--issue-date", "2026-12-02", "--due-days", "14"}, `<dt>Due date</dt><dd id="due">2026-12-16</dd>`},
		{"buy", []string{"--direction", "buy"}, "Purple peering owes ACME Telecom 0.50 USD"},
		{"addresses", []string{"--issuer-address", "Purple Peering Ltd; London EC2A 2BR", "--issuer-tax-id", "GB123456789",
			"--counterparty-address", "ACME Inc.; Springfield, IL 62701"},
			"<b>Purple peering</b><br>Purple Peering Ltd<br>London EC2A 2BR<br>Tax ID: GB123456789</address>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"settle", "statement", "--cdrs", export, "--counterparty", "acme", "--period", period,
				"--output", "html", "--issuer", "purple", "--issuer-name", "Purple peering", "--counterparty-name", "ACME Telecom"}, tc.args...)
			code, out, errb := run(t, args...)
			if code != 0 || !strings.Contains(out, tc.want) || !strings.Contains(out, "PURPLE-20261101-") || strings.Count(out, `<div class="day`) != 30 {
				t.Fatalf("exit %d %s\n%s", code, errb, out)
			}
		})
	}
	// The PDF, offline, to a file.
	if code, _, errb := run(t, "settle", "statement", "--cdrs", export, "--counterparty", "acme", "--period", period, "--output", "pdf", "--out", pdf); code != 0 {
		t.Fatalf("offline pdf: exit %d %s", code, errb)
	}
	for _, bad := range [][]string{
		{"--direction", "both"}, {"--issue-date", "tomorrow"}, {"--output", "docx"}, {"--due-days", "-3"},
		{"--counterparty-address", "1;2;3;4;5;6;7"}, {"--issuer-tax-id", "GB\x01"},
	} {
		args := append([]string{"settle", "statement", "--cdrs", export, "--counterparty", "acme", "--period", period}, bad...)
		if code, _, errb := run(t, args...); code != exitUsage || !strings.Contains(errb, bad[0]) {
			t.Errorf("%v: exit %d %s", bad, code, errb)
		}
	}
}

// TestSettleNetDocument: settle net's netting statement as html and pdf,
// offline with the parties' names from flags.
func TestSettleNetDocument(t *testing.T) {
	dir := t.TempDir()
	sell := rateFile(t, dir, "sell", testDeckCSV, testCDRsCSV)
	buy := rateFile(t, dir, "buy", buyDeckCSV, termCDRsCSV)
	args := []string{"settle", "net", "--they-owe", sell, "--we-owe", buy, "--us", "NET-A", "--them", "acme", "--period", "2026-11",
		"--us-name", "Network A", "--counterparty-name", "ACME Telecom", "--issue-date", "2026-12-02"}
	code, out, errb := run(t, append(args, "--output", "html")...)
	for _, want := range []string{"Net: ACME Telecom pays Network A 0.21 USD.", "ACME Telecom owes Network A 0.50 USD for 4 calls it sent",
		"Network A owes ACME Telecom 0.29 USD for 2 calls it carried", "NET-A-20261101-N-", "2026-12-02"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("html (exit %d %s) lacks %q", code, errb, want)
		}
	}
	pdf := filepath.Join(dir, "net.pdf")
	if code, _, errb := run(t, append(args, "--output", "pdf", "--out", pdf)...); code != 0 {
		t.Fatalf("pdf: exit %d %s", code, errb)
	}
	if b, err := os.ReadFile(pdf); err != nil || !strings.HasPrefix(string(b), "%PDF-") {
		t.Fatalf("pdf file: %v", err)
	}
	if code, _, errb := run(t, append(args, "--issue-date", "2.12.2026")...); code != exitUsage || !strings.Contains(errb, "--issue-date") {
		t.Errorf("bad --issue-date: exit %d %s", code, errb)
	}
}
