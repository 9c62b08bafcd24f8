package node

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/osp"
	"github.com/ospnode/ospnode/settlement"
)

// admReq sends an admin request with the node's token (token "" sends
// none) and returns status and body.
func admReq(t testing.TB, n *Node, token, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, n.AdminURL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// adm is admReq with the right token, failing unless the status is want.
func adm(t testing.TB, n *Node, want int, method, path, body string) []byte {
	t.Helper()
	code, b := admReq(t, n, n.AdminToken(), method, path, body)
	if code != want {
		t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, code, want, b)
	}
	return b
}

func admJSON[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func admErr(t testing.TB, b []byte) string {
	t.Helper()
	return admJSON[map[string]string](t, b)["error"]
}

func TestAdminAuth(t *testing.T) {
	n := openDemo(t)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/status", ""},
		{"GET", "/v1/members", ""},
		{"PUT", "/v1/members/x", `{"name":"x"}`},
		{"POST", "/v1/members/carrier-a/suspend", ""},
		{"POST", "/v1/routes/import?replace=true", "prefix\n"},
		{"GET", "/v1/usage/1?role=source&component=1", ""},
		{"POST", "/v1/cluster/remove", `{"id":"n1"}`},
		{"GET", "/v1/nothing", ""},
	} {
		for _, tok := range []string{"", "wrong"} {
			code, b := admReq(t, n, tok, c.method, c.path, c.body)
			if code != http.StatusUnauthorized || !strings.Contains(admErr(t, b), "bearer token") {
				t.Errorf("%s %s token %q: HTTP %d %s", c.method, c.path, tok, code, b)
			}
		}
	}
	// Nothing was written by the refused requests.
	if m, err := n.Store().Member(DemoCarrierA); err != nil || m.Status != ledger.MemberActive {
		t.Fatalf("carrier-a after refused writes: %+v %v", m, err)
	}
	st := admJSON[adminStatus](t, adm(t, n, 200, "GET", "/v1/status", ""))
	if st.NodeID != "n1" || st.State != "Leader" || st.Network == nil || st.Network.ID != DemoNetwork {
		t.Fatalf("status %+v", st)
	}
	if b := adm(t, n, 404, "GET", "/v1/nothing", ""); !strings.Contains(admErr(t, b), "no admin endpoint") {
		t.Fatalf("unknown endpoint: %s", b)
	}
	big := `{"name":"` + strings.Repeat("x", maxJSONBody) + `"}`
	adm(t, n, http.StatusRequestEntityTooLarge, "PUT", "/v1/members/big", big)
}

// TestAdminMembers: create, list, show, suspend (the member's next
// AuthorizationRequest is refused), activate.
func TestAdminMembers(t *testing.T) {
	n := openDemo(t)
	ms := admJSON[[]ledger.Member](t, adm(t, n, 200, "GET", "/v1/members", ""))
	if len(ms) != 2 {
		t.Fatalf("members %+v", ms)
	}
	if b := adm(t, n, 404, "GET", "/v1/members/nobody", ""); !strings.Contains(admErr(t, b), `"nobody" not found`) {
		t.Fatalf("unknown member: %s", b)
	}
	adm(t, n, 404, "POST", "/v1/members/nobody/suspend", "")
	for _, bad := range []string{
		`{"name":"C","credentials":{"source_addrs":["300.1.1.1"]}}`,
		`{"name":"C","status":"asleep"}`,
		`{"name":"C","token_kind":"jwt"}`,
		`{"name":"C","bogus":1}`,
		`{"id":"other"}`,
		`not json`,
	} {
		adm(t, n, 400, "PUT", "/v1/members/carrier-c", bad)
	}
	m := admJSON[ledger.Member](t, adm(t, n, 200, "PUT", "/v1/members/carrier-c",
		`{"name":"Carrier C","credentials":{"source_addrs":["127.0.0.9"]},"credit_limit":{"value":"100","currency":"USD"},"sell_deck_id":"sell-carrier-a"}`))
	if m.ID != "carrier-c" || m.Status != ledger.MemberActive || m.CreditLimit.Text() != "100" {
		t.Fatalf("put member: %+v", m)
	}
	if got, err := n.Store().Member("carrier-c"); err != nil || got.Name != "Carrier C" {
		t.Fatalf("stored %+v %v", got, err)
	}

	a := client("127.0.0.1")
	if r := authResponse(t, exchange(t, a, n.OSPURL(), authRequest("1", "c1", called, 5))); r.Status.Code != osp.StatusOK {
		t.Fatalf("active member refused: %+v", r.Status)
	}
	m = admJSON[ledger.Member](t, adm(t, n, 200, "POST", "/v1/members/"+DemoCarrierA+"/suspend", ""))
	if m.Status != ledger.MemberSuspended {
		t.Fatalf("suspend: %+v", m)
	}
	r := authResponse(t, exchange(t, a, n.OSPURL(), authRequest("2", "c2", called, 5)))
	if r.Status.Code != codeSuspended || len(r.Destinations) != 0 {
		t.Fatalf("suspended member authorised: %+v", r)
	}
	adm(t, n, 200, "POST", "/v1/members/"+DemoCarrierA+"/activate", "")
	if r := authResponse(t, exchange(t, a, n.OSPURL(), authRequest("3", "c3", called, 5))); r.Status.Code != osp.StatusOK {
		t.Fatalf("re-activated member refused: %+v", r.Status)
	}
}

func TestAdminTrunksPeersCerts(t *testing.T) {
	n := openDemo(t)
	if b := adm(t, n, 404, "PUT", "/v1/trunks/x-1", `{"member_id":"nobody","address":"[192.0.2.1]:5060"}`); !strings.Contains(admErr(t, b), "nobody") {
		t.Fatalf("trunk of unknown member: %s", b)
	}
	adm(t, n, 400, "PUT", "/v1/trunks/x-1", `{"member_id":"carrier-a"}`)
	adm(t, n, 200, "PUT", "/v1/trunks/a-2", `{"member_id":"carrier-a","address":"[192.0.2.1]:5060","weight":3}`)
	ts := admJSON[[]ledger.Trunk](t, adm(t, n, 200, "GET", "/v1/trunks?member=carrier-a", ""))
	if len(ts) != 2 || ts[1].ID != "a-2" || ts[1].Weight != 3 {
		t.Fatalf("trunks %+v", ts)
	}
	adm(t, n, 200, "DELETE", "/v1/trunks/a-2", "")
	adm(t, n, 404, "DELETE", "/v1/trunks/a-2", "")

	adm(t, n, 400, "PUT", "/v1/peers/YELLOW", `{"service_points":[{"url":"ftp://x"}]}`)
	adm(t, n, 400, "PUT", "/v1/peers/YELLOW", `{"service_points":[]}`)
	adm(t, n, 400, "PUT", "/v1/peers/YELLOW", `{"service_points":[{"url":"https://y.example/osp"}],"trusted_cas":["junk"]}`)
	adm(t, n, 200, "PUT", "/v1/peers/YELLOW", `{"name":"Yellow","service_points":[{"url":"https://y.example/osp","weight":2}],"our_member_id":"purple","buy_deck_id":"buy-yellow"}`)
	ps := admJSON[[]ledger.Peer](t, adm(t, n, 200, "GET", "/v1/peers", ""))
	if len(ps) != 1 || ps[0].Status != ledger.PeerActive || ps[0].OurMemberID != "purple" {
		t.Fatalf("peers %+v", ps)
	}
	if out := admJSON[[]ledger.OutboxItem](t, adm(t, n, 200, "GET", "/v1/outbox?peer=YELLOW", "")); len(out) != 0 {
		t.Fatalf("outbox %+v", out)
	}
	adm(t, n, 400, "GET", "/v1/outbox?limit=0", "")
	adm(t, n, 200, "DELETE", "/v1/peers/YELLOW", "")
	adm(t, n, 404, "DELETE", "/v1/peers/YELLOW", "")

	adm(t, n, 400, "POST", "/v1/certs/revoke", `{"serial":"xyz"}`)
	rc := admJSON[ledger.RevokedCert](t, adm(t, n, 200, "POST", "/v1/certs/revoke", `{"serial":"0A:1B","reason":"key compromise"}`))
	if rc.Serial != "a1b" {
		t.Fatalf("revoked %+v", rc)
	}
	if ok, _ := n.Store().IsRevoked("0a1b"); !ok {
		t.Fatal("serial not revoked in the ledger")
	}
}

const testDeckCSV = `prefix,description,rate,connect_fee,first_increment,next_increment,effective_from
1678,US test range,0.0100,0,60,60,2020-01-01
1,North America,0.0090,0,60,60,2020-01-01
`

// TestAdminDecksAndRouteLookup imports decks and routes and checks that a
// lookup explains the order the authorisation path uses.
func TestAdminDecksAndRouteLookup(t *testing.T) {
	n := openDemo(t)
	q := "?counterparty=carrier-c&direction=buy&currency=USD&decimals=4"
	bad := strings.Replace(testDeckCSV, "0.0090", "cheap", 1)
	b := adm(t, n, 400, "POST", "/v1/decks/buy-carrier-c/versions"+q, bad)
	if e := admErr(t, b); !strings.Contains(e, "line 3") || !strings.Contains(e, "rate") {
		t.Fatalf("bad deck error does not name line 3 and the rate field: %s", e)
	}
	adm(t, n, 404, "GET", "/v1/decks/buy-carrier-c", "")
	adm(t, n, 400, "POST", "/v1/decks/buy-carrier-c/versions?counterparty=carrier-c&direction=up&currency=USD", testDeckCSV)
	adm(t, n, 400, "POST", "/v1/decks/buy-carrier-c/versions?counterparty=carrier-c&direction=buy&currency=XX", testDeckCSV)
	res := admJSON[deckImportResult](t, adm(t, n, 200, "POST", "/v1/decks/buy-carrier-c/versions"+q, testDeckCSV))
	if res.Rows != 2 || len(res.Versions) != 1 || res.Counterparty != "member:carrier-c" {
		t.Fatalf("deck import %+v", res)
	}
	// A new version must keep the deck's settings.
	adm(t, n, 409, "POST", "/v1/decks/buy-carrier-c/versions?counterparty=carrier-c&direction=buy&currency=EUR", testDeckCSV)
	ds := admJSON[[]deckSummary](t, adm(t, n, 200, "GET", "/v1/decks", ""))
	if len(ds) != 5 {
		t.Fatalf("decks %+v", ds)
	}
	// Carrier D charges more than carrier-a pays for 1678 (0.0300).
	adm(t, n, 200, "POST", "/v1/decks/buy-carrier-d/versions?counterparty=carrier-d&direction=buy&currency=USD",
		"prefix,rate,first_increment,next_increment,effective_from\n1,0.0500,60,60,2020-01-01\n")
	for _, id := range []string{"carrier-c", "carrier-d"} {
		adm(t, n, 200, "PUT", "/v1/members/"+id, `{"name":"`+id+`","buy_deck_id":"buy-`+id+`"}`)
		adm(t, n, 200, "PUT", "/v1/trunks/"+id[len(id)-1:]+"-1", `{"member_id":"`+id+`","address":"[192.0.2.9]:5060"}`)
	}

	badRoutes := "prefix,kind,id,priority,weight\n1678,trunk,b-1,0,1\n1678,lorry,c-1,0,1\n12ab,trunk,c-1,0,1\n"
	e := admErr(t, adm(t, n, 400, "POST", "/v1/routes/import?replace=true", badRoutes))
	if !strings.Contains(e, "line 3, field kind") || !strings.Contains(e, "line 4, field prefix") {
		t.Fatalf("route errors: %s", e)
	}
	if rs := admJSON[[]ledger.Route](t, adm(t, n, 200, "GET", "/v1/routes", "")); len(rs) != 4 {
		t.Fatalf("a rejected import changed the routes: %+v", rs)
	}
	routes := "prefix,kind,id,priority,weight,strip,add_prefix,blocked\n" +
		"1678,trunk,a-1,0,1,0,,false\n1678,trunk,b-1,0,1,0,,false\n1678,trunk,c-1,0,1,0,,false\n1678,trunk,d-1,0,1,0,,\n1678,trunk,z-9,0,1,0,,\n" +
		"44,trunk,b-1,0,1,0,,\n4470,,,,,,,true\n"
	ir := admJSON[routeImportResult](t, adm(t, n, 200, "POST", "/v1/routes/import?replace=true", routes))
	if ir.Routes != 3 || ir.Commands != 1 || len(ir.Warnings) != 1 || !strings.Contains(ir.Warnings[0], "z-9") {
		t.Fatalf("route import %+v", ir)
	}
	if rs := admJSON[[]ledger.Route](t, adm(t, n, 200, "GET", "/v1/routes?prefix=44", "")); len(rs) != 2 || !rs[1].Blocked {
		t.Fatalf("routes under 44: %+v", rs)
	}

	ex := admJSON[RouteExplanation](t, adm(t, n, 200, "GET", "/v1/routes/lookup?number=%2B16785551234&member=carrier-a", ""))
	if ex.MatchedPrefix == nil || *ex.MatchedPrefix != "1678" || ex.SellRate == nil || ex.SellRate.Text() != "0.0300" {
		t.Fatalf("lookup %+v", ex)
	}
	// Least cost first: c-1 (0.0100) before b-1 (0.0180).
	if len(ex.Offered) != 2 || ex.Offered[0].ID != "c-1" || ex.Offered[1].ID != "b-1" ||
		ex.Offered[0].Margin.Text() != "0.0200" || ex.Offered[1].BuyRate.Text() != "0.0180" {
		t.Fatalf("offered %+v", ex.Offered)
	}
	why := map[string]string{}
	for _, c := range ex.Excluded {
		why[c.ID] = c.Reason
	}
	if !strings.Contains(why["a-1"], "calling member") || !strings.Contains(why["d-1"], "minimum margin") ||
		!strings.Contains(why["z-9"], "does not exist") || len(why) != 3 {
		t.Fatalf("excluded %+v", ex.Excluded)
	}
	// The authorisation path offers the same order.
	r := authResponse(t, exchange(t, client("127.0.0.1"), n.OSPURL(), authRequest("9", "lk", called, 5)))
	if len(r.Destinations) != 2 || r.Destinations[0].SignalAddress != "[192.0.2.9]" || r.Destinations[1].SignalAddress != "[127.0.0.3]" {
		t.Fatalf("authorisation offered %+v", r.Destinations)
	}
	ex = admJSON[RouteExplanation](t, adm(t, n, 200, "GET", "/v1/routes/lookup?number=447001", ""))
	if ex.Blocked == "" || len(ex.Offered) != 0 {
		t.Fatalf("blocked lookup %+v", ex)
	}
	adm(t, n, 400, "GET", "/v1/routes/lookup?number=abc", "")
	adm(t, n, 404, "GET", "/v1/routes/lookup?number=1&member=nobody", "")
}

// callFlow authorises one call from carrier-a to carrier-b and reports
// usage from both sides; it returns the transaction id.
func callFlow(t *testing.T, n *Node, msg, callID, seconds string) uint64 {
	t.Helper()
	a, b := client("127.0.0.1"), client("127.0.0.3")
	r := authResponse(t, exchange(t, a, n.OSPURL(), authRequest(msg, callID, called, 5)))
	if r.Status.Code != osp.StatusOK {
		t.Fatalf("authorise: %+v", r.Status)
	}
	if c := usageStatus(t, exchange(t, a, n.OSPURL(), usageIndication(msg+"s", "1", osp.RoleSource, r.TransactionID, callID, called, seconds))); c != osp.StatusOK {
		t.Fatalf("source usage: %d", c)
	}
	if c := usageStatus(t, exchange(t, b, n.OSPURL(), usageIndication(msg+"d", "2", osp.RoleDestination, r.TransactionID, callID, called, seconds))); c != osp.StatusOK {
		t.Fatalf("destination usage: %d", c)
	}
	return r.TransactionID
}

func TestAdminUsageCDRsStatement(t *testing.T) {
	n := openDemo(t)
	tx1 := callFlow(t, n, "10", "call-1", "30.000")
	tx2 := callFlow(t, n, "20", "call-2", "61.500")

	// The load generator's verification.
	u := admJSON[ledger.Usage](t, adm(t, n, 200, "GET", "/v1/usage/"+strconv.FormatUint(tx2, 10)+"?role=destination&component=2", ""))
	if u.TransactionID != tx2 || u.Role != ledger.RoleDestination || u.DurationMillis != 61500 {
		t.Fatalf("usage %+v", u)
	}
	adm(t, n, 404, "GET", "/v1/usage/"+strconv.FormatUint(tx1, 10)+"?role=source&component=9", "")
	adm(t, n, 404, "GET", "/v1/usage/12345?role=source&component=1", "")
	adm(t, n, 400, "GET", "/v1/usage/1?role=middle&component=1", "")
	adm(t, n, 400, "GET", "/v1/usage/x?role=source&component=1", "")

	var page struct {
		CDRs      []ledger.Usage `json:"cdrs"`
		Count     int            `json:"count"`
		NextAfter string         `json:"next_after"`
	}
	page = admJSON[struct {
		CDRs      []ledger.Usage `json:"cdrs"`
		Count     int            `json:"count"`
		NextAfter string         `json:"next_after"`
	}](t, adm(t, n, 200, "GET", "/v1/cdrs?limit=3", ""))
	if page.Count != 3 || len(page.CDRs) != 3 || page.NextAfter != strconv.FormatUint(page.CDRs[2].ID, 10) {
		t.Fatalf("first page %+v", page)
	}
	rest := adm(t, n, 200, "GET", "/v1/cdrs?after="+page.NextAfter, "")
	if !bytes.Contains(rest, []byte(`"count":1,"next_after":""`)) {
		t.Fatalf("second page %s", rest)
	}
	adm(t, n, 400, "GET", "/v1/cdrs?from=yesterday", "")
	adm(t, n, 400, "GET", "/v1/cdrs?format=xml", "")

	out := adm(t, n, 200, "GET", "/v1/cdrs?member=carrier-a&format=csv", "")
	recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 || recs[0][0] != "transaction_id" {
		t.Fatalf("csv export:\n%s", out)
	}
	sum := money.Zero("USD")
	for _, r := range recs[1:] {
		if r[7] != "member:carrier-a" {
			continue
		}
		a := money.MustNew(r[9], r[10])
		if sum, err = sum.Add(a); err != nil {
			t.Fatal(err)
		}
	}
	// One counterparty's lines: its side of each call, in our numbering.
	mine, err := settlement.ReadCDRs(bytes.NewReader(adm(t, n, 200, "GET", "/v1/cdrs?format=csv&counterparty=carrier-a", "")), settlement.CDRFormat{})
	if err != nil || len(mine) != 2 {
		t.Fatalf("carrier-a's lines %v: %+v", err, mine)
	}
	nw, _ := n.store.Network()
	for _, c := range mine {
		if c.Counterparty != "member:carrier-a" || c.Network != nw.ID || c.PeerTransactionID != "" || !c.Rated() {
			t.Fatalf("carrier-a's line %+v", c)
		}
	}
	adm(t, n, 404, "GET", "/v1/cdrs?format=csv&counterparty=nobody", "")
	adm(t, n, 400, "GET", "/v1/cdrs?format=json&counterparty=carrier-a", "")

	now := time.Now().UTC()
	period := url.QueryEscape(now.Add(-time.Hour).Format(time.RFC3339) + "/" + now.Add(time.Hour).Format(time.RFC3339))
	var st struct {
		Amount money.Amount
		Calls  int
	}
	st = admJSON[struct {
		Amount money.Amount
		Calls  int
	}](t, adm(t, n, 200, "GET", "/v1/statements?counterparty=carrier-a&period="+period, ""))
	// 30 s and 61.5 s at 60/60 on 0.0300/min: 0.0300 + 0.0600.
	if st.Calls != 2 || !st.Amount.Equal(sum) || st.Amount.Text() != "0.0900" {
		t.Fatalf("statement %+v, CDR sum %s", st, sum.Text())
	}
	if b := adm(t, n, 200, "GET", "/v1/statements?counterparty=carrier-a&period="+period+"&format=csv", ""); !bytes.Contains(b, []byte("total,")) {
		t.Fatalf("csv statement %s", b)
	}
	adm(t, n, 404, "GET", "/v1/statements?counterparty=nobody&period=2026-11", "")
	adm(t, n, 400, "GET", "/v1/statements?counterparty=carrier-a&period=soon", "")

	// Internal reconciliation: both sides reported the same durations.
	b := adm(t, n, 200, "GET", "/v1/reconcile/internal?period="+period, "")
	rep := admJSON[map[string]any](t, b)
	if cls := rep["Classes"].([]any)[0].(map[string]any); cls["Class"] != "exact" || cls["Count"].(float64) != 2 {
		t.Fatalf("internal reconciliation %s", b)
	}
	// External: carrier-b sends our own export of its CDRs, one call
	// 80 s longer (billed 180 s instead of 120 s at 60/60).
	theirs, err := settlement.ReadCDRs(bytes.NewReader(adm(t, n, 200, "GET", "/v1/cdrs?member=carrier-b&format=csv", "")), settlement.CDRFormat{})
	if err != nil || len(theirs) != 2 {
		t.Fatalf("their CDRs %v: %+v", err, theirs)
	}
	theirs[1].DurationMillis, theirs[1].BillableSeconds = 141500, 180
	var tb bytes.Buffer
	if err := settlement.WriteCDRs(&tb, theirs); err != nil {
		t.Fatal(err)
	}
	code, body := admReq(t, n, n.AdminToken(), "POST", "/v1/reconcile?counterparty=carrier-b&period="+period, tb.String())
	var ext struct {
		Classes []struct {
			Class string
			Count int
		}
	}
	if code != 200 || json.Unmarshal(body, &ext) != nil || ext.Classes[0].Count != 1 || ext.Classes[2].Class != "mismatch" || ext.Classes[2].Count != 1 {
		t.Fatalf("reconcile: %d %s", code, body)
	}
	e := admErr(t, adm(t, n, 400, "POST", "/v1/reconcile?counterparty=carrier-b&period="+period, "called,connect_time,duration\n123,never,5\n"))
	if !strings.Contains(e, "line 2") {
		t.Fatalf("bad CDR file error: %s", e)
	}
}

func TestAdminLedgerAndCluster(t *testing.T) {
	n := openDemo(t)
	callFlow(t, n, "30", "call-3", "30.000")
	bs := admJSON[[]ledger.Balance](t, adm(t, n, 200, "GET", "/v1/balances?account=carrier-a", ""))
	if len(bs) != 1 || bs[0].Amount.Text() != "0.0300" {
		t.Fatalf("balances %+v", bs)
	}
	rep := admJSON[AuditResult](t, adm(t, n, 200, "GET", "/v1/audit", ""))
	if !rep.OK || rep.Postings != 2 || len(rep.Head) != 64 {
		t.Fatalf("audit %+v", rep)
	}
	adm(t, n, 400, "POST", "/v1/periods/close", `{"id":"","end":"2020-02-01"}`)
	adm(t, n, 400, "POST", "/v1/periods/close", `{"id":"p","end":"soon"}`)
	adm(t, n, 409, "POST", "/v1/periods/close", `{"id":"future","end":"`+time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339)+`"}`)
	ps := admJSON[[]ledger.Period](t, adm(t, n, 200, "POST", "/v1/periods/close", `{"id":"2020-01","end":"2020-02-01"}`))
	if len(ps) != 2 || ps[0].ID != "2020-01" || !ps[0].Closed || ps[1].Closed {
		t.Fatalf("periods %+v", ps)
	}
	adm(t, n, 409, "POST", "/v1/periods/close", `{"id":"2020-00","end":"2020-01-01"}`)
	if ps := admJSON[[]ledger.Period](t, adm(t, n, 200, "GET", "/v1/periods", "")); len(ps) != 2 {
		t.Fatalf("periods %+v", ps)
	}

	adm(t, n, 400, "POST", "/v1/cluster/join", `{"id":"n2"}`)
	adm(t, n, 404, "POST", "/v1/cluster/remove", `{"id":"n9"}`)
	adm(t, n, 404, "POST", "/v1/cluster/transfer", `{"id":"n9"}`)
	st := admJSON[map[string]any](t, adm(t, n, 200, "POST", "/v1/cluster/transfer", `{"id":"n1"}`))
	if st["State"] != "Leader" {
		t.Fatalf("transfer to self: %+v", st)
	}
}

// TestAdminChunkedImports: tables larger than one command are split
// (ReplaceAll only on the first route chunk, AppendRows after the first
// deck chunk) and arrive whole.
func TestAdminChunkedImports(t *testing.T) {
	// One chunk is one command of thousands of rows: encoding, committing
	// and applying it takes seconds under -race on two busy cores (about 2 s
	// a chunk with a second build running), which the tests' 3 s
	// ApplyTimeout (meant to catch a stuck cluster, not to time big
	// commands) did not always cover. This test is about chunking, so it
	// gives each command production's ApplyTimeout and the admin request
	// room for all of them.
	cfg := testConfig(t, "n1")
	cfg.Bootstrap, cfg.Demo = true, true
	cfg.Raft.ApplyTimeout = 30 * time.Second
	cfg.RequestTimeout = 2 * time.Minute
	n := openNode(t, cfg)
	var b strings.Builder
	b.WriteString("prefix,kind,id,weight\n")
	for i := range 2*routeChunk + 500 {
		b.WriteString(strconv.Itoa(3_000_000+i) + ",trunk,b-1,1\n")
	}
	ir := admJSON[routeImportResult](t, adm(t, n, 200, "POST", "/v1/routes/import?replace=true", b.String()))
	if ir.Routes != 2*routeChunk+500 || ir.Commands != 3 {
		t.Fatalf("import %+v", ir)
	}
	adm(t, n, 200, "POST", "/v1/routes/import", "prefix,kind,id\n44,trunk,b-1\n")
	if rs := admJSON[[]ledger.Route](t, adm(t, n, 200, "GET", "/v1/routes?limit=100000", "")); len(rs) != 2*routeChunk+501 {
		t.Fatalf("%d routes after an upsert, want %d", len(rs), 2*routeChunk+501)
	}
	if rs := admJSON[[]ledger.Route](t, adm(t, n, 200, "GET", "/v1/routes?prefix=30000&limit=5", "")); len(rs) != 5 || rs[0].Prefix != "3000000" {
		t.Fatalf("prefix listing %+v", rs)
	}

	b.Reset()
	b.WriteString("prefix,rate,first_increment,next_increment,effective_from\n")
	rows := 2*deckChunk + 1
	for i := range rows {
		b.WriteString(strconv.Itoa(4_000_000+i) + ",0.0100,60,60,2020-01-01\n")
	}
	res := admJSON[deckImportResult](t, adm(t, n, 200, "POST", "/v1/decks/big/versions?counterparty=carrier-b&direction=buy&currency=USD", b.String()))
	if res.Rows != rows || res.Commands != 3 {
		t.Fatalf("deck import %+v", res)
	}
	vs, err := n.Store().DeckVersions("big")
	if err != nil || len(vs) != 1 || len(vs[0].Rows) != rows {
		t.Fatalf("stored deck: %v, %d versions", err, len(vs))
	}
}

// TestAdminClusterJoinRemove adds a fresh node through the admin API,
// writes through the follower's admin API, and removes it again.
func TestAdminClusterJoinRemove(t *testing.T) {
	n1 := openDemo(t)
	n2 := openNode(t, testConfig(t, "n2"))
	st := admJSON[map[string]any](t, adm(t, n1, 200, "POST", "/v1/cluster/join", `{"id":"n2","addr":"`+n2.ClusterAddr()+`"}`))
	if ms, _ := st["Members"].([]any); len(ms) != 2 {
		t.Fatalf("after join: %+v", st)
	}
	waitFor(t, "n2 to replicate the demo network", 20*time.Second, func() bool {
		_, err := n2.Store().Member(DemoCarrierB)
		return err == nil
	})
	// A write on the follower is forwarded to the leader; a linearizable
	// read on the follower sees it.
	adm(t, n2, 200, "PUT", "/v1/members/carrier-z", `{"name":"Z"}`)
	// GET /v1/members reads the local replica: n1 sees the write once it
	// has applied it (on a busy machine n1 may even have lost the
	// leadership to n2 in the meantime, and be a follower).
	waitFor(t, "n1 to see the member written through n2", 20*time.Second, func() bool {
		return len(admJSON[[]ledger.Member](t, adm(t, n1, 200, "GET", "/v1/members", ""))) == 3
	})
	adm(t, n2, 200, "GET", "/v1/balances", "")
	adm(t, n1, 200, "POST", "/v1/cluster/remove", `{"id":"n2"}`)
	if ms := admJSON[map[string]any](t, adm(t, n1, 200, "GET", "/v1/status", ""))["Members"].([]any); len(ms) != 1 {
		t.Fatalf("after remove: %v", ms)
	}
}

// TestAdminCDRsOverLimit: over_limit=true lists only usage that reported
// more than its transaction's time limit, alone or with other filters.
func TestAdminCDRsOverLimit(t *testing.T) {
	n := openDemo(t)
	short := callFlow(t, n, "40", "short@host", "30.000")
	long := callFlow(t, n, "50", "long@host", "518400") // 6 days: over any time limit
	type cdrPage struct {
		CDRs  []ledger.Usage `json:"cdrs"`
		Count int            `json:"count"`
	}
	tests := []struct {
		query string
		want  int // records, each for transaction long
	}{
		{"over_limit=true", 2},
		{"over_limit=true&member=carrier-a", 2},
		{"over_limit=true&number=" + called, 2},
		{"over_limit=true&unmatched=true", 0},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			p := admJSON[cdrPage](t, adm(t, n, 200, "GET", "/v1/cdrs?"+tc.query, ""))
			if p.Count != tc.want || len(p.CDRs) != tc.want {
				t.Fatalf("count %d, %d records, want %d", p.Count, len(p.CDRs), tc.want)
			}
			for _, u := range p.CDRs {
				if u.TransactionID != long || !u.OverLimit {
					t.Fatalf("listed %+v, want only over-limit usage of transaction %d", u, long)
				}
			}
		})
	}
	all := admJSON[cdrPage](t, adm(t, n, 200, "GET", "/v1/cdrs?over_limit=false", ""))
	if all.Count != 4 {
		t.Fatalf("over_limit=false lists %d records, want all 4 (short %d, long %d)", all.Count, short, long)
	}
	adm(t, n, 400, "GET", "/v1/cdrs?over_limit=maybe", "")
}
