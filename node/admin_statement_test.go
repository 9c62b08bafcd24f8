package node

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestAdminStatementDocument: the statement the node renders names the
// network as issuer and the member by name, says who owes whom for the
// direction asked (or the only one there is), is dated issue_date, comes
// as a PDF too, and a two-way refusal carries a reason a client can act on.
func TestAdminStatementDocument(t *testing.T) {
	n := openDemo(t)
	// carrier-a → carrier-b, 130 s: carrier-a owes us 0.0900, we owe
	// carrier-b 0.0540.
	callBetween(t, n, "127.0.0.1", "127.0.0.3", "10", "doc-1", "130.000")
	now := time.Now().UTC()
	period := url.QueryEscape(now.Add(-time.Hour).Format(time.RFC3339) + "/" + now.Add(time.Hour).Format(time.RFC3339))
	base := "/v1/statements?period=" + period + "&issue_date=2026-12-02"

	tests := []struct {
		name, query string
		want        []string
		notWant     string
	}{
		{"only sell traffic: the direction is the one there is", "&counterparty=carrier-a&format=html",
			[]string{"Carrier A owes ospnode demo network 0.09 USD", "Receivable", "member:carrier-a", "(" + DemoNetwork + ")", "Issue date</dt><dd>2026-12-02"}, "Direction not stated"},
		{"only buy traffic", "&counterparty=carrier-b&format=html",
			[]string{"ospnode demo network owes Carrier B 0.05 USD", "Payable"}, "Carrier B owes"},
		{"json carries number and sentence", "&counterparty=carrier-a&direction=sell",
			[]string{`"Owes": "Carrier A owes ospnode demo network 0.09 USD for this period."`, `"Number": "` + strings.ToUpper(DemoNetwork) + `-`}, ""},
		{"asked for the empty direction", "&counterparty=carrier-a&direction=buy&format=html",
			[]string{"ospnode demo network owes Carrier A nothing for this period", `id="empty"`}, `class="chart"`},
	}
	for _, tc := range tests {
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

	req, _ := http.NewRequest("GET", n.AdminURL()+base+"&counterparty=carrier-a&format=pdf", nil)
	req.Header.Set("Authorization", "Bearer "+n.AdminToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var pdf bytes.Buffer
	_, _ = pdf.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(pdf.Bytes(), []byte("%PDF-")) ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "statement-") {
		t.Fatalf("pdf: %d %q %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"), pdf.Bytes()[:min(pdf.Len(), 8)])
	}

	adm(t, n, 400, "GET", "/v1/statements?period="+period+"&counterparty=carrier-a&issue_date=02.12.2026", "")
	adm(t, n, 400, "GET", base+"&counterparty=carrier-a&format=docx", "")
	adm(t, n, 400, "GET", base+"&counterparty=carrier-a&due_days=-1", "")
	if b := string(adm(t, n, 200, "GET", base+"&counterparty=carrier-a&format=html&due_days=30", "")); !strings.Contains(b, `<dt>Due date</dt><dd id="due">2027-01-01</dd>`) {
		t.Errorf("due date 30 days after 2026-12-02:\n%s", b)
	}

	// carrier-b → carrier-a: now both have traffic both ways.
	callBetween(t, n, "127.0.0.3", "127.0.0.1", "20", "doc-2", "61.500")
	b := adm(t, n, 400, "GET", base+"&counterparty=carrier-a", "")
	if body := admJSON[map[string]string](t, b); body["reason"] != reasonDirectionRequired || !strings.Contains(body["error"], "both ways") {
		t.Fatalf("two-way refusal %s", b)
	}
}
