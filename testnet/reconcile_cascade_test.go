package testnet

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
	"github.com/ospnode/ospnode/settlement"
)

// cascadeCall is one call driven through PURPLE → HUB → YELLOW.
type cascadeCall struct {
	purpleTx, hubTx, yellowTx uint64
	callID                    string
	seconds                   int
}

// TestCascadeReconciles drives calls PURPLE → HUB → YELLOW, exports each
// network's CDRs for its neighbour (GET /v1/cdrs?counterparty=) and
// reconciles every pair, both ways round, through the node
// (POST /v1/reconcile) and offline: 0 differences, every pair matched on
// the ids the two networks know each other's call by. PURPLE's member is
// sold on 60/60 while HUB bills PURPLE on 30/6: PURPLE's export and
// statement for HUB show HUB's seconds, not its member's. Then the
// hostile exports: HUB's with altered durations is a mismatch and a
// dispute, and a third network's whose ids collide with PURPLE's pairs
// nothing.
func TestCascadeReconciles(t *testing.T) {
	ctx := ctxFor(t, 180*time.Second)
	// PURPLE sells carrier A 33… on 60/60; everything else is the default
	// seed (30/6), so PURPLE's two sides of a call bill different seconds.
	members, trunks, routes, decks := DefaultSeed("USD")
	for i := range decks {
		if decks[i].DeckID == "sell-carrier-a" {
			for j := range decks[i].Rows {
				if decks[i].Rows[j].Prefix == "33" {
					decks[i].Rows[j].FirstIncrement, decks[i].Rows[j].NextIncrement = 60, 60
				}
			}
		}
	}
	spec := TopologySpec{
		Networks: []NetworkSpec{{Name: "PURPLE", Members: members, Trunks: trunks, Routes: routes, Decks: decks}, {Name: "HUB"}, {Name: "YELLOW"}},
		Links:    []Link{{From: "PURPLE", To: "HUB"}, {From: "HUB", To: "YELLOW"}},
	}
	tp := NewTestTopology(t, spec, testOpts())
	purple, hub, yellow := tp.Network("PURPLE"), tp.Network("HUB"), tp.Network("YELLOW")

	// Every network numbers its transactions apart.
	for _, nw := range tp.Networks() {
		got, err := nw.Node(0).Store().Network()
		if err != nil {
			t.Fatal(err)
		}
		if want := ledger.DeriveTxIDNetwork(nw.Name()); got.TxIDNetwork != want {
			t.Fatalf("%s: txid network %d, want %d", nw.Name(), got.TxIDNetwork, want)
		}
	}

	const calling = "14048724799"
	durations := []int{1, 29, 31, 61, 95, 120, 7, 360}
	calls := make([]cascadeCall, 0, len(durations))
	for i, secs := range durations {
		called := fmt.Sprintf("3314555%04d", i)
		ar, err := Authorize(ctx, purple.OSPURLs()[0], CarrierAParty(), calling, called)
		if err != nil {
			t.Fatal(err)
		}
		d := ar.Destinations[0]
		ptx, err := purple.Node(0).Store().Transaction(ar.TransactionID)
		if err != nil {
			t.Fatal(err)
		}
		htx, err := hub.Node(0).Store().Transaction(ptx.UpstreamTransactionID)
		if err != nil {
			t.Fatal(err)
		}
		c := cascadeCall{purpleTx: ptx.ID, hubTx: htx.ID, yellowTx: htx.UpstreamTransactionID, callID: string(d.CallID), seconds: secs}
		if ledger.TransactionNetwork(c.purpleTx) != ledger.DeriveTxIDNetwork("PURPLE") || ledger.TransactionNetwork(c.hubTx) != ledger.DeriveTxIDNetwork("HUB") {
			t.Fatalf("ids %d, %d do not carry their networks' numbers", c.purpleTx, c.hubTx)
		}
		if err := ReportUsage(ctx, purple.OSPURLs()[0], CarrierAParty(), osp.RoleSource, c.purpleTx, c.callID, calling, called, secs); err != nil {
			t.Fatal(err)
		}
		dst := Party{Bind: CarrierBSource}
		if d.SignalAddress == "["+CarrierASource+"]" {
			dst = CarrierAParty()
		}
		if err := ReportUsage(ctx, yellow.OSPURLs()[0], dst, osp.RoleDestination, c.yellowTx, c.callID, calling, called, secs); err != nil {
			t.Fatal(err)
		}
		calls = append(calls, c)
	}
	// The source usage cascades hop by hop.
	waitUsage(t, ctx, hub, calls, func(c cascadeCall) uint64 { return c.hubTx })
	waitUsage(t, ctx, yellow, calls, func(c cascadeCall) uint64 { return c.yellowTx })
	for _, nw := range tp.Networks() {
		mustConverge(t, ctx, nw)
	}

	now := time.Now().UTC()
	period := now.Add(-24*time.Hour).Format("2006-01-02") + "/" + now.Add(48*time.Hour).Format("2006-01-02")
	type side struct {
		nw           *Network
		counterparty string // its id for the neighbour
	}
	pairs := []struct {
		name     string
		down, up side
	}{
		{"PURPLE-HUB", side{purple, "hub"}, side{hub, NetworkMemberID("PURPLE")}},
		{"HUB-YELLOW", side{hub, "yellow"}, side{yellow, NetworkMemberID("HUB")}},
	}
	var want30x6 int64
	for _, c := range calls {
		want30x6 += settlement.BillableSeconds(int64(c.seconds), 30, 6)
	}
	for _, p := range pairs {
		down := export(t, ctx, p.down.nw, p.down.counterparty)
		up := export(t, ctx, p.up.nw, p.up.counterparty)
		checkExport(t, p.down.nw.Name(), down, len(calls), want30x6, true)
		checkExport(t, p.up.nw.Name(), up, len(calls), want30x6, false)
		for _, dir := range []struct {
			ours, theirs side
			file         []byte
		}{{p.down, p.up, up}, {p.up, p.down, down}} {
			rep := reconcileOnNode(t, ctx, dir.ours.nw, dir.ours.counterparty, period, dir.file)
			if rep.count(settlement.ClassExact) != len(calls) || rep.AmountDiffs != 0 || rep.Disputed {
				t.Fatalf("%s: %s against %s's export: %+v", p.name, dir.ours.nw.Name(), dir.theirs.nw.Name(), rep.Classes)
			}
			for _, m := range rep.Matches {
				if m.Key != settlement.KeyPeerTransactionID {
					t.Fatalf("%s: %s paired by %s, want the peer's transaction id", p.name, dir.ours.nw.Name(), m.Key)
				}
			}
			// The same files offline give the same answer.
			off := reconcileFiles(t, export(t, ctx, dir.ours.nw, dir.ours.counterparty), dir.file)
			if off.Summary(settlement.ClassExact).Count != len(calls) || off.Decision.Disputed() {
				t.Fatalf("%s offline: %+v", p.name, off.Classes)
			}
		}
	}

	// PURPLE's statement for HUB (what it owes HUB) shows HUB's minutes,
	// and they are the minutes HUB's statement for PURPLE shows; PURPLE's
	// member, on 60/60, is billed more.
	var owe, owed, sold struct{ BillableSeconds int64 }
	adminGet(t, ctx, purple, "/v1/statements", url.Values{"counterparty": {"hub"}, "period": {period}, "direction": {"buy"}}, &owe)
	adminGet(t, ctx, hub, "/v1/statements", url.Values{"counterparty": {NetworkMemberID("PURPLE")}, "period": {period}, "direction": {"sell"}}, &owed)
	adminGet(t, ctx, purple, "/v1/statements", url.Values{"counterparty": {CarrierA}, "period": {period}, "direction": {"sell"}}, &sold)
	if owe.BillableSeconds != want30x6 || owed.BillableSeconds != want30x6 {
		t.Fatalf("PURPLE owes HUB for %d s, HUB bills PURPLE %d s, want %d on HUB's 30/6 deck", owe.BillableSeconds, owed.BillableSeconds, want30x6)
	}
	if sold.BillableSeconds <= want30x6 {
		t.Fatalf("carrier A billed %d s on 60/60, not more than HUB's %d s", sold.BillableSeconds, want30x6)
	}
	// And so does the netting, on both sides of the link.
	var pn, hn struct{ Positions []settlement.NettingLine }
	adminGet(t, ctx, purple, "/v1/netting", url.Values{"counterparty": {"hub"}, "period": {period}}, &pn)
	adminGet(t, ctx, hub, "/v1/netting", url.Values{"counterparty": {NetworkMemberID("PURPLE")}, "period": {period}}, &hn)
	if len(pn.Positions) != 1 || len(hn.Positions) != 1 || pn.Positions[0].WeOweMinutes != hn.Positions[0].TheyOweMinutes ||
		pn.Positions[0].WeOweMinutes != minutesText(want30x6) || !pn.Positions[0].WeOweThem.Equal(hn.Positions[0].TheyOweUs) {
		t.Fatalf("netting: PURPLE %+v, HUB %+v", pn.Positions, hn.Positions)
	}

	// YELLOW's own two sides (HUB's report, the terminating carrier's)
	// agree, and the report does not claim the calls are unrated.
	var internal reportJSON
	adminGet(t, ctx, yellow, "/v1/reconcile/internal", url.Values{"period": {period}, "format": {"json"}}, &internal)
	if internal.count(settlement.ClassExact) != len(calls) || !internal.DurationsOnly || internal.Disputed {
		t.Fatalf("YELLOW internal: %+v", internal.Classes)
	}

	t.Run("altered durations are a dispute", func(t *testing.T) {
		hubFile := export(t, ctx, hub, NetworkMemberID("PURPLE"))
		altered := editCSV(t, hubFile, func(rec map[string]string, i int) {
			if i == 0 {
				rec[settlement.FieldDuration] = "600.000"
				rec[settlement.FieldBillableSeconds] = "600"
				rec[settlement.FieldAmount] = "0.4500"
			}
		})
		rep := reconcileOnNode(t, ctx, purple, "hub", period, altered)
		if rep.count(settlement.ClassMismatch) != 1 || rep.count(settlement.ClassExact) != len(calls)-1 || !rep.Disputed {
			t.Fatalf("altered: %+v", rep.Classes)
		}
	})
	t.Run("another network's colliding ids pair nothing", func(t *testing.T) {
		// GREEN numbers its calls as PURPLE does (the same log positions,
		// no network number): its ids are PURPLE's own ids, its numbers
		// and durations HUB's, its Call-IDs and times its own.
		hubFile := export(t, ctx, hub, NetworkMemberID("PURPLE"))
		i := 0
		green := editCSV(t, hubFile, func(rec map[string]string, _ int) {
			rec[settlement.FieldNetwork] = "GREEN"
			rec[settlement.FieldTransactionID] = strconv.FormatUint(calls[i].purpleTx, 10)
			rec[settlement.FieldPeerTransactionID] = ""
			rec[settlement.FieldCallID] = "green-" + strconv.Itoa(i)
			ct, err := time.Parse(time.RFC3339, rec[settlement.FieldConnectTime])
			if err != nil {
				t.Fatal(err)
			}
			rec[settlement.FieldConnectTime] = ct.Add(-2 * time.Hour).Format(time.RFC3339)
			i++
		})
		// PURPLE's lines for its member carry PURPLE's ids and no peer id.
		rep := reconcileOnNode(t, ctx, purple, CarrierA, period, green)
		if rep.count(settlement.ClassOursOnly) != len(calls) || rep.count(settlement.ClassTheirsOnly) != len(calls) {
			t.Fatalf("colliding ids paired: %+v", rep.Classes)
		}
	})
}

// minutesText is secs as minutes with 2 decimals, half-up (statements).
func minutesText(secs int64) string {
	cents := (secs*100 + 30) / 60
	return fmt.Sprintf("%d.%02d", cents/100, cents%100)
}

// waitUsage waits until nw holds the source usage of every call's id.
func waitUsage(t *testing.T, ctx context.Context, nw *Network, calls []cascadeCall, id func(cascadeCall) uint64) {
	t.Helper()
	for {
		us, err := nw.Node(0).Store().ListUsage(ledger.UsageFilter{})
		if err != nil {
			t.Fatal(err)
		}
		have := map[uint64]bool{}
		for _, u := range us {
			if u.Role == ledger.RoleSource && u.Rating != nil {
				have[u.TransactionID] = true
			}
		}
		missing := 0
		for _, c := range calls {
			if !have[id(c)] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if err := pause(ctx, 20*time.Millisecond); err != nil {
			t.Fatalf("%s: %d calls' source usage did not cascade: %v", nw.Name(), missing, err)
		}
	}
}

// adminDo sends one admin request to nw's node 0.
func adminDo(t *testing.T, ctx context.Context, nw *Network, method, path string, q url.Values, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, nw.AdminURL(0)+path+"?"+q.Encode(), body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+nw.AdminToken(0))
	if body != nil {
		req.Header.Set("Content-Type", "text/csv")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func adminGet(t *testing.T, ctx context.Context, nw *Network, path string, q url.Values, out any) {
	t.Helper()
	resp := adminDo(t, ctx, nw, http.MethodGet, path, q, nil)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s %s", nw.Name(), path, resp.Status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: %v\n%s", nw.Name(), path, err, b)
	}
}

// export is nw's CSV export for its counterparty.
func export(t *testing.T, ctx context.Context, nw *Network, counterparty string) []byte {
	t.Helper()
	resp := adminDo(t, ctx, nw, http.MethodGet, "/v1/cdrs", url.Values{"format": {"csv"}, "limit": {"0"}, "counterparty": {counterparty}}, nil)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s export for %s: %s %v %s", nw.Name(), counterparty, resp.Status, err, b)
	}
	return b
}

// checkExport: one line per call, the exporter's network id on each, the
// peer's id on a downstream network's lines (it forwarded the calls), and
// the neighbours' 30/6 seconds in total.
func checkExport(t *testing.T, name string, file []byte, calls int, wantSeconds int64, forwarded bool) {
	t.Helper()
	cdrs, err := settlement.ReadCDRs(bytes.NewReader(file), settlement.CDRFormat{})
	if err != nil {
		t.Fatalf("%s export: %v", name, err)
	}
	if len(cdrs) != calls {
		t.Fatalf("%s export: %d lines, want %d\n%s", name, len(cdrs), calls, file)
	}
	var secs int64
	for _, c := range cdrs {
		secs += c.Billable()
		if c.Network != name || (forwarded && c.PeerTransactionID == "") || (!forwarded && c.PeerTransactionID != "") {
			t.Fatalf("%s export line %d: network %q, peer transaction id %q", name, c.Line, c.Network, c.PeerTransactionID)
		}
	}
	if secs != wantSeconds {
		t.Fatalf("%s export: %d billable s, want %d (the peer deck's)\n%s", name, secs, wantSeconds, file)
	}
}

// reconcileOnNode posts their export to nw: its CDRs for counterparty
// against theirs.
// reportJSON is what a test reads of a reconciliation report's JSON.
type reportJSON struct {
	Classes       []settlement.ClassSummary
	Matches       []settlement.Match
	AmountDiffs   int
	DurationsOnly bool
	Disputed      bool
}

func (r *reportJSON) count(c settlement.Class) int {
	for _, s := range r.Classes {
		if s.Class == c {
			return s.Count
		}
	}
	return 0
}

func reconcileOnNode(t *testing.T, ctx context.Context, nw *Network, counterparty, period string, theirs []byte) *reportJSON {
	t.Helper()
	resp := adminDo(t, ctx, nw, http.MethodPost, "/v1/reconcile",
		url.Values{"counterparty": {counterparty}, "period": {period}, "format": {"json"}, "tolerance": {"0"}}, bytes.NewReader(theirs))
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s reconcile with %s: %s %s", nw.Name(), counterparty, resp.Status, b)
	}
	var rep reportJSON
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return &rep
}

func reconcileFiles(t *testing.T, ours, theirs []byte) *settlement.Report {
	t.Helper()
	o, err := settlement.ReadCDRs(bytes.NewReader(ours), settlement.CDRFormat{})
	if err != nil {
		t.Fatal(err)
	}
	th, err := settlement.ReadCDRs(bytes.NewReader(theirs), settlement.CDRFormat{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := settlement.Reconcile(o, th, settlement.ReconcileOptions{Tolerance: -1})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// editCSV rewrites every data line of file through edit (columns by name).
func editCSV(t *testing.T, file []byte, edit func(rec map[string]string, i int)) []byte {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(file)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := rows[0]
	var out bytes.Buffer
	w := csv.NewWriter(&out)
	_ = w.Write(head)
	for i, row := range rows[1:] {
		rec := map[string]string{}
		for j, h := range head {
			rec[h] = row[j]
		}
		edit(rec, i)
		for j, h := range head {
			row[j] = rec[h]
		}
		_ = w.Write(row)
	}
	w.Flush()
	return []byte(strings.TrimSpace(out.String()) + "\n")
}
