package node_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/node"
	"github.com/ospnode/ospnode/osp"
	"github.com/ospnode/ospnode/testnet"
)

// fraudNet is a three-node network whose fraud settings watch UK
// personal numbers (4470, an operator-edited high-risk list) with no
// learning period, so the shipped high_risk rule (10 calls in a window,
// block) decides.
func fraudNet(t *testing.T) *testnet.Network {
	t.Helper()
	nw := testnet.NewTestNetwork(t, testnet.NetworkSpec{Name: "fraud", Nodes: 3}, testnet.Options{})
	ctx := stepCtx(t)
	if _, err := nw.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	net, err := nw.Leader().Store().Network()
	if err != nil {
		t.Fatal(err)
	}
	zero := 0
	net.Fraud = &ledger.FraudSettings{LearnSeconds: &zero,
		HighRiskRanges: []ledger.FraudRange{{Prefix: "4470", Name: "UK personal numbers", Source: "test"}}}
	if err := nw.Seed(ctx, []ledger.Command{ledger.SetNetwork{Network: net}}); err != nil {
		t.Fatal(err)
	}
	if _, err := nw.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	// The detectors load the settings off the FSM: wait for each.
	for i, n := range nw.Nodes() {
		waitFor(t, fmt.Sprintf("node %d to load the fraud settings", i), 20*time.Second, func() bool {
			var cfg node.FraudConfigView
			return adminJSON(t, nw, i, http.MethodGet, "/v1/fraud/config", nil, &cfg) == http.StatusOK &&
				len(cfg.Ranges) == 1 && cfg.Ranges[0].Prefix == "4470" && n != nil
		})
	}
	return nw
}

var carrierB = testnet.Party{Address: "[" + testnet.CarrierBSource + "]:5060", Bind: testnet.CarrierBSource}

// authStatus authorises one call at node i and returns the answer's
// status code and description.
//
// A 503 is answered as a proxy answers it, by asking again (a leadership
// change on a loaded machine costs a commit its quorum for a moment); a
// fraud block is a 403 and is never retried.
func authStatus(t *testing.T, nw *testnet.Network, i int, src testnet.Party, calling, called string) (int, string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ar, err := testnet.Authorize(stepCtx(t), nw.Node(i).OSPURL(), src, calling, called)
		if ar == nil {
			t.Fatalf("authorize at node %d: %v", i, err)
		}
		if ar.Status.Code != osp.StatusUnavailable || time.Now().After(deadline) {
			return ar.Status.Code, ar.Status.Description
		}
		t.Logf("authorize at node %d: 503 %s; asking again", i, ar.Status.Description)
	}
}

// adminJSON calls node i's admin API with its token and decodes the
// answer into out (when not nil); it returns the HTTP status.
func adminJSON(t *testing.T, nw *testnet.Network, i int, method, path string, body, out any) int {
	t.Helper()
	return adminCall(t, nw.AdminURL(i)+path, nw.AdminToken(i), method, body, out)
}

func adminCall(t *testing.T, url, token, method string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, url, err, b)
		}
	}
	return resp.StatusCode
}

// activeBlocks returns node i's ledger's active fraud blocks.
func activeBlocks(t *testing.T, n *node.Node) []ledger.FraudBlockRecord {
	t.Helper()
	bs, err := n.Store().FraudBlocks()
	if err != nil {
		t.Fatal(err)
	}
	var out []ledger.FraudBlockRecord
	for _, b := range bs {
		if b.Active() {
			out = append(out, b)
		}
	}
	return out
}

// TestFraudIRSFBurstBlocked: a burst of calls from carrier A to a
// high-risk range, spread over the three nodes, is blocked cluster-wide
// within seconds of the 10th call, while carrier A's other destinations
// and carrier B's calls to the same range keep getting tokens; the block
// is in every node's ledger with its rule, proposer and evidence; carrier
// A cannot release it (the admin API is not open to members); it
// survives a leader change and a restart; an operator's release restores
// service, and a late proposal of the released finding does not block
// again.
func TestFraudIRSFBurstBlocked(t *testing.T) {
	nw := fraudNet(t)
	a := testnet.CarrierAParty()
	const premium, legit, ukFixed = "447012345678", "12125550100", "442075550100"

	// Legitimate traffic first: B to the range (under its threshold), A
	// elsewhere.
	for i := range 4 {
		if code, desc := authStatus(t, nw, i%3, carrierB, "15550002", premium); code != osp.StatusOK {
			t.Fatalf("carrier B to %s: %d %s", premium, code, desc)
		}
		if code, desc := authStatus(t, nw, i%3, a, "15550001", legit); code != osp.StatusOK {
			t.Fatalf("carrier A to %s: %d %s", legit, code, desc)
		}
	}

	// The burst: 10 calls reach the threshold, sent round the nodes.
	for i := range 10 {
		if code, desc := authStatus(t, nw, i%3, a, fmt.Sprintf("1555%07d", i), premium); code != osp.StatusOK {
			t.Fatalf("burst call %d before any block: %d %s", i, code, desc)
		}
	}
	fired := time.Now()
	for i, n := range nw.Nodes() {
		waitFor(t, fmt.Sprintf("the block on node %d", i), 20*time.Second, func() bool { return len(activeBlocks(t, n)) == 1 })
	}
	t.Logf("blocked on every node %s after the 10th call", time.Since(fired).Round(time.Millisecond))

	blocks := activeBlocks(t, nw.Node(0))
	b := blocks[0]
	if b.Member != testnet.CarrierA || b.Prefix != "4470" || b.Calling != "" || b.Rule != "high_risk" ||
		!strings.HasPrefix(b.By, "node:") || !strings.Contains(b.Evidence, "4470") || b.At.IsZero() {
		t.Fatalf("block %+v: want carrier-a × 4470 by a node's high_risk rule with evidence", b)
	}
	for i, n := range nw.Nodes() {
		if got := activeBlocks(t, n); len(got) != 1 || got[0] != b {
			t.Fatalf("node %d's ledger has %+v, node 0's %+v", i, got, b)
		}
	}

	// checkService checks that the block holds (or not) on every running
	// node and that legitimate traffic gets tokens. Carrier B calls the
	// range only when bRange: its own calls there count toward its own
	// threshold (10 in the window), which the test must not reach.
	checkService := func(when string, blocked, bRange bool) {
		t.Helper()
		for i := range nw.Nodes() {
			if nw.Node(i) == nil {
				continue
			}
			code, desc := authStatus(t, nw, i, a, "15559999", premium)
			switch {
			case blocked && (code != osp.StatusRouteBlocked || !strings.Contains(desc, b.ID)):
				t.Fatalf("%s: carrier A to %s at node %d: %d %q, want 403 naming %s", when, premium, i, code, desc, b.ID)
			case !blocked && code != osp.StatusOK:
				t.Fatalf("%s: carrier A to %s at node %d: %d %q, want tokens", when, premium, i, code, desc)
			}
			for _, c := range []struct {
				who     testnet.Party
				to      string
				what    string
				calling string
			}{{a, legit, "carrier A elsewhere", "15550001"}, {a, ukFixed, "carrier A to another UK range", "15550001"},
				{carrierB, premium, "carrier B to the range", "15550002"}} {
				if c.to == premium && !bRange {
					continue
				}
				if code, desc := authStatus(t, nw, i, c.who, c.calling, c.to); code != osp.StatusOK {
					t.Fatalf("%s: %s at node %d: %d %q: legitimate traffic refused", when, c.what, i, code, desc)
				}
			}
		}
	}
	checkService("blocked", true, true) // carrier B: 4 + 3 calls to the range

	// Events and metrics: the finding is reported with its outcome.
	var evs node.FraudEvents
	if code := adminJSON(t, nw, 0, http.MethodGet, "/v1/fraud/events", nil, &evs); code != http.StatusOK || len(evs.Events) == 0 ||
		evs.Events[len(evs.Events)-1].Rule != "high_risk" {
		t.Fatalf("events: %d %+v", code, evs)
	}

	// Hostile: carrier A (a member: OSP credentials, no admin token)
	// cannot release its block.
	if code := adminCall(t, nw.AdminURL(0)+"/v1/fraud/blocks/"+b.ID+"/release", "", http.MethodPost,
		map[string]string{"reason": "it's fine"}, nil); code != http.StatusUnauthorized {
		t.Fatalf("release without the admin token: HTTP %d, want 401", code)
	}
	if code := adminCall(t, nw.AdminURL(0)+"/v1/fraud/blocks/"+b.ID+"/release", "not-the-token", http.MethodPost,
		map[string]string{"reason": "it's fine"}, nil); code != http.StatusUnauthorized {
		t.Fatalf("release with a wrong token: HTTP %d, want 401", code)
	}

	// A leader change, then a restart of a follower: the block holds.
	ctx := stepCtx(t)
	li, err := nw.WaitForLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := nw.Kill(li); err != nil {
		t.Fatal(err)
	}
	if _, err := nw.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	checkService("after the leader was killed", true, false)
	if err := nw.Restart(ctx, li); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the restarted node to serve", 20*time.Second, func() bool {
		ar, _ := testnet.Authorize(ctx, nw.Node(li).OSPURL(), a, "15550001", legit)
		return ar != nil && ar.Status.Code == osp.StatusOK
	})
	if got := activeBlocks(t, nw.Node(li)); len(got) != 1 || got[0] != b {
		t.Fatalf("restarted node's blocks %+v", got)
	}
	checkService("after the old leader restarted", true, false)

	// An operator releases it (through another node than the one that
	// answers next): service is back everywhere, and the record keeps
	// both decisions.
	var rel ledger.FraudBlockRecord
	if code := adminJSON(t, nw, (li+1)%3, http.MethodPost, "/v1/fraud/blocks/"+b.ID+"/release",
		node.FraudReleaseRequest{Reason: "customer confirmed the campaign", By: "alice"}, &rel); code != http.StatusOK {
		t.Fatalf("release: HTTP %d", code)
	}
	if rel.Active() || rel.ReleasedBy != "admin-token (alice)" || rel.By != b.By {
		t.Fatalf("released record %+v", rel)
	}
	if code := adminJSON(t, nw, li, http.MethodPost, "/v1/fraud/blocks/"+b.ID+"/release",
		node.FraudReleaseRequest{Reason: "again"}, nil); code != http.StatusConflict {
		t.Fatalf("second release: HTTP %d, want 409", code)
	}
	for i, n := range nw.Nodes() {
		waitFor(t, fmt.Sprintf("the release on node %d", i), 20*time.Second, func() bool { return len(activeBlocks(t, n)) == 0 })
	}
	checkService("released", false, false)

	// A node proposing the released finding late does not block again.
	res, err := nw.Propose(ctx, &ledger.FraudBlock{ID: b.ID, At: b.At, Member: b.Member, Prefix: b.Prefix, Rule: b.Rule, By: "node:late"})
	if err != nil || res.Code != ledger.Duplicate {
		t.Fatalf("late proposal of the released block: %+v %v", res, err)
	}
	if _, err := nw.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestFraudOperatorBlockCalling: an operator blocks a calling number for
// every member through the admin API; calls from it are refused on every
// node, other numbers are not, and bad requests are refused with 4xx.
func TestFraudOperatorBlockCalling(t *testing.T) {
	nw := fraudNet(t)
	a := testnet.CarrierAParty()
	var rec ledger.FraudBlockRecord
	if code := adminJSON(t, nw, 1, http.MethodPost, "/v1/fraud/blocks",
		node.FraudBlockRequest{Calling: "+15550001234", Reason: "spoofed CLI campaign", By: "bob"}, &rec); code != http.StatusCreated {
		t.Fatalf("block: HTTP %d", code)
	}
	if rec.Calling != "15550001234" || rec.Member != "" || rec.Rule != "operator" || rec.By != "admin-token (bob)" {
		t.Fatalf("record %+v", rec)
	}
	for _, bad := range []node.FraudBlockRequest{
		{Calling: "15550001234", Reason: "same scope again"},
		{Prefix: "44", Reason: "a prefix for every member"},
		{Member: testnet.CarrierA, Prefix: "44"},
		{Member: "nobody", Prefix: "44", Reason: "x"},
		{Calling: "not a number", Reason: "x"},
	} {
		if code := adminJSON(t, nw, 0, http.MethodPost, "/v1/fraud/blocks", bad, nil); code < 400 || code >= 500 {
			t.Errorf("%+v: HTTP %d, want 4xx", bad, code)
		}
	}
	for i, n := range nw.Nodes() {
		waitFor(t, "the block", 20*time.Second, func() bool { return len(activeBlocks(t, n)) == 1 })
		if code, _ := authStatus(t, nw, i, a, "15550001234", "12125550100"); code != osp.StatusRouteBlocked {
			t.Fatalf("node %d: blocked calling number got %d", i, code)
		}
		if code, _ := authStatus(t, nw, i, carrierB, "15550001234", "12125550100"); code != osp.StatusRouteBlocked {
			t.Fatalf("node %d: blocked calling number from carrier B got %d", i, code)
		}
		// Formatting the number differently does not step around it.
		if code, _ := authStatus(t, nw, i, a, "+1-555-000-1234", "12125550100"); code == osp.StatusOK {
			t.Fatalf("node %d: the blocked number reformatted got tokens", i)
		}
		if code, _ := authStatus(t, nw, i, a, "15550001235", "12125550100"); code != osp.StatusOK {
			t.Fatalf("node %d: another calling number got %d", i, code)
		}
	}
	var list []ledger.FraudBlockRecord
	if code := adminJSON(t, nw, 2, http.MethodGet, "/v1/fraud/blocks", nil, &list); code != http.StatusOK || len(list) != 1 || list[0].ID != rec.ID {
		t.Fatalf("list: %d %+v", code, list)
	}
}
