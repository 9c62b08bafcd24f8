package node

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/osp"
)

// kamailioNetwork opens a demo node set up like the network behind the
// Kamailio captures (testdata/kamailio-5.8.8): proxy A (carrier-a) at
// 127.0.0.11/12, proxy B (carrier-b) at 127.0.0.13 with its trunk there,
// calls to 1555 routed to B, rated per second (1/1) so the two sides'
// durations show in the amounts: A buys at 0.0600/min, B is paid
// 0.0300/min. carrier-a may have one call in progress.
func kamailioNetwork(t *testing.T, basis ledger.BillingBasis) *Node {
	t.Helper()
	n := openDemo(t)
	setupKamailio(t, n, basis)
	return n
}

// setupKamailio configures demo node n as kamailioNetwork describes.
func setupKamailio(t *testing.T, n *Node, basis ledger.BillingBasis) {
	t.Helper()
	nw, err := n.Store().Network()
	if err != nil {
		t.Fatal(err)
	}
	nw.BillingBasis = basis
	usd := func(s string) money.Amount { return money.MustNew(s, "USD") }
	deck := func(id, counterparty, dir, rate string) ledger.Command {
		return ledger.PutDeckVersion{Version: ledger.DeckVersion{DeckID: id, Counterparty: counterparty, Direction: dir,
			Currency: "USD", Decimals: 4, RoundingMode: money.HalfUp, EffectiveFrom: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
			Rows: []ledger.DeckRow{{Prefix: "1555", Description: "US 555", Rate: usd(rate), ConnectFee: usd("0"), FirstIncrement: 1, NextIncrement: 1}}}}
	}
	ma, err := n.Store().Member(DemoCarrierA)
	if err != nil {
		t.Fatal(err)
	}
	ma.Credentials = ledger.Credentials{SourceAddrs: []string{"127.0.0.11", "127.0.0.12"}}
	ma.SellDeckID, ma.ConcurrentLimit = "sell-kam", 1
	mb, err := n.Store().Member(DemoCarrierB)
	if err != nil {
		t.Fatal(err)
	}
	mb.Credentials = ledger.Credentials{SourceAddrs: []string{"127.0.0.13"}}
	mb.BuyDeckID = "buy-kam"
	mustPropose(t, n,
		ledger.SetNetwork{Network: nw},
		deck("sell-kam", ledger.MemberAccount(DemoCarrierA), ledger.DirectionSell, "0.0600"),
		deck("buy-kam", ledger.MemberAccount(DemoCarrierB), ledger.DirectionBuy, "0.0300"),
		ledger.PutMember{Member: ma}, ledger.PutMember{Member: mb},
		ledger.PutTrunk{Trunk: ledger.Trunk{ID: "b-1", MemberID: DemoCarrierB, Address: "[127.0.0.13]", Protocol: "udp", Weight: 1}},
		ledger.PutRoutes{Routes: []ledger.Route{{Prefix: "1555", Candidates: []ledger.RouteCandidate{{Kind: ledger.CandidateTrunk, ID: "b-1", Weight: 1}}}}},
	)
}

// kamailioCapture returns the body of capture name with the TransactionId
// the node issued in the capture's run replaced by tx.
func kamailioCapture(t *testing.T, name string, tx uint64) []byte {
	t.Helper()
	body := readCapture(t, "kamailio-5.8.8/"+name)
	if tx != 0 {
		body = bytes.Replace(body, []byte(">\n1441792<"), []byte(">\n"+strconv.FormatUint(tx, 10)+"<"), 1)
	}
	return body
}

// postStatus posts body and returns the OSP status of its one component.
func postStatus(t *testing.T, c *http.Client, url string, body []byte) (int, *osp.Component) {
	t.Helper()
	code, out, _ := post(t, c, url, body)
	if code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", code, out)
	}
	if err := osp.CheckToolkitRules(out); err != nil {
		t.Fatalf("answer breaks toolkit rules: %v\n%s", err, out)
	}
	m, err := osp.Decode(out, osp.Limits{})
	if err != nil || len(m.Components) != 1 {
		t.Fatalf("answer %s (%v)", out, err)
	}
	st, _ := m.Components[0].Status()
	return st.Code, &m.Components[0]
}

// txUsage returns the usage records of transaction tx, oldest first.
func txUsage(t *testing.T, n *Node, member string, tx uint64) []ledger.Usage {
	t.Helper()
	all, err := n.Store().ListUsage(ledger.UsageFilter{Member: member})
	if err != nil {
		t.Fatal(err)
	}
	var out []ledger.Usage
	for _, u := range all {
		if u.TransactionID == tx {
			out = append(out, u)
		}
	}
	return out
}

// TestKamailioCallFlow replays the call the two Kamailio proxies made
// (captures 01–05, in the order they arrived, plus the retries a toolkit
// makes): one authorisation, a setup record and a final record per role
// under shared messageId/componentId. It must yield one paid source record
// (2 s reported) and one paid destination record (3 s reported), each
// rated on its own side's deck for the duration the network's billing
// basis settles on, balanced postings, and the caller's concurrent-call
// slot held from the authorisation until its final record.
func TestKamailioCallFlow(t *testing.T) {
	for _, tc := range []struct {
		basis    ledger.BillingBasis
		src, dst string // settled amounts: A at 0.06/min, B at 0.03/min
	}{
		{ledger.BasisOwn, "0.0020 USD", "0.0015 USD"},         // 2 s and 3 s
		{ledger.BasisShorter, "0.0020 USD", "0.0010 USD"},     // both 2 s
		{ledger.BasisDestination, "0.0030 USD", "0.0015 USD"}, // both 3 s: A's record adjusted when B's arrives
		{ledger.BasisSource, "0.0020 USD", "0.0010 USD"},      // both 2 s
	} {
		t.Run(string(tc.basis), func(t *testing.T) { kamailioCallFlow(t, tc.basis, tc.src, tc.dst) })
	}
}

func kamailioCallFlow(t *testing.T, basis ledger.BillingBasis, srcAmount, dstAmount string) {
	n := kamailioNetwork(t, basis)
	url := n.OSPURL()
	a, b := client("127.0.0.11"), client("127.0.0.13")

	code, ac := postStatus(t, a, url, kamailioCapture(t, "01-AuthorizationRequest.from-proxy-A.http", 0))
	ar := ac.AuthorizationResponse
	if code != osp.StatusOK || ar == nil || len(ar.Destinations) != 1 || ar.Destinations[0].SignalAddress != "[127.0.0.13]" {
		t.Fatalf("authorisation: %d %+v", code, ar)
	}
	tx := ar.TransactionID
	secondCall := func() int {
		m := authRequest("kam-second-"+strconv.FormatInt(time.Now().UnixNano(), 10), "second-call", "15551234567", 5)
		m.Components[0].AuthorizationRequest.DeviceInfo = osp.TypedValues{{Type: osp.TypeTransport, Value: "[127.0.0.11]"}}
		c, _ := postStatus(t, a, url, mustEncode(t, m))
		return c
	}
	if c := secondCall(); c != codeConcurrent {
		t.Fatalf("second call while the first is authorised: %d, want %d (limit 1)", c, codeConcurrent)
	}

	steps := []struct {
		file   string
		from   *http.Client
		inCall bool // the call still holds the caller's slot afterwards
	}{
		{"02-UsageIndication.source.setup-at-connect.http", a, true},
		{"04-UsageIndication.destination.setup-at-connect.http", b, true},
		{"02-UsageIndication.source.setup-at-connect.http", a, true}, // a toolkit retry
		{"03-UsageIndication.source.final-at-bye.http", a, false},
		{"05-UsageIndication.destination.final-at-bye.http", b, false},
		{"03-UsageIndication.source.final-at-bye.http", a, false}, // retries of the finals
		{"05-UsageIndication.destination.final-at-bye.http", b, false},
	}
	for _, s := range steps {
		if c, _ := postStatus(t, s.from, url, kamailioCapture(t, s.file, tx)); c != osp.StatusOK {
			t.Fatalf("%s: status %d", s.file, c)
		}
		if !s.inCall {
			// Store.Admission reads the committed file (at most one commit
			// interval behind): wait for the release to reach it.
			waitFor(t, "the call's release after "+s.file, 5*time.Second, func() bool {
				ad, err := n.Store().Admission(DemoCarrierA, "", time.Now())
				return err == nil && ad.Calls == 0
			})
		} else {
			// The ledger refuses a second call against its live state.
			if c := secondCall(); c != codeConcurrent {
				t.Fatalf("after %s: a second call was answered %d: the setup record released the slot", s.file, c)
			}
		}
	}
	if c := secondCall(); c != osp.StatusOK {
		t.Fatalf("a call after the first one's final record: %d", c)
	}

	recs := txUsage(t, n, DemoCarrierA, tx)
	recs = append(recs, txUsage(t, n, DemoCarrierB, tx)...)
	type want struct {
		phase  ledger.UsagePhase
		ms     int64
		amount string
	}
	got := map[ledger.Role][]want{}
	seen := map[uint64]bool{}
	for _, u := range recs {
		if seen[u.ID] {
			continue
		}
		seen[u.ID] = true
		if u.Unmatched || u.Conflict {
			t.Fatalf("usage %d unmatched=%v conflict=%v (%s)", u.ID, u.Unmatched, u.Conflict, u.Mismatch)
		}
		w := want{phase: u.Phase, ms: u.DurationMillis}
		if u.Rating != nil {
			if u.Role == ledger.RoleSource {
				w.amount = u.Rating.Sell.String()
			} else {
				w.amount = u.Rating.Buy.String()
			}
		}
		if (u.PostingID != 0) != (u.Phase == ledger.PhaseFinal) {
			t.Fatalf("usage %d (%s) posting %d", u.ID, u.Phase, u.PostingID)
		}
		got[u.Role] = append(got[u.Role], w)
	}
	for role, ws := range map[ledger.Role][]want{
		ledger.RoleSource:      {{ledger.PhaseSetup, 0, ""}, {ledger.PhaseFinal, 2000, srcAmount}},
		ledger.RoleDestination: {{ledger.PhaseSetup, 0, ""}, {ledger.PhaseFinal, 3000, dstAmount}},
	} {
		if len(got[role]) != len(ws) {
			t.Fatalf("%s records %+v, want %+v", role, got[role], ws)
		}
		for i := range ws {
			if got[role][i] != ws[i] {
				t.Fatalf("%s record %d: %+v, want %+v", role, i, got[role][i], ws[i])
			}
		}
	}
	rep, err := n.Store().Audit()
	if err != nil || !rep.OK {
		t.Fatalf("audit %+v: %v", rep, err)
	}
	// The postings, adjustments included, add up to the settled amounts.
	if got := balance(t, n.Store(), ledger.MemberAccount(DemoCarrierA)); got+" USD" != srcAmount {
		t.Fatalf("carrier-a owes %s, want %s", got, srcAmount)
	}
	if got := balance(t, n.Store(), ledger.MemberAccount(DemoCarrierB)); "-"+dstAmount != got+" USD" {
		t.Fatalf("carrier-b is owed %s, want %s", got, dstAmount)
	}
}

// TestSignalAddressForm: a destination on SIP's default port is offered
// as "[ip]" (the Kamailio osp module strips the first and last character
// of the address it gets), unless the calling member keeps ports; another
// port is always kept.
func TestSignalAddressForm(t *testing.T) {
	keep := &ledger.Member{SignalAddressPort: true}
	for _, tc := range []struct {
		addr   string
		caller *ledger.Member
		want   string
	}{
		{"[192.0.2.7]:5060", nil, "[192.0.2.7]"},
		{"[192.0.2.7]:5060", &ledger.Member{}, "[192.0.2.7]"},
		{"[192.0.2.7]:5060", keep, "[192.0.2.7]:5060"},
		{"[192.0.2.7]:5070", nil, "[192.0.2.7]:5070"},
		{"[2001:db8::7]:5060", nil, "[2001:db8::7]"},
		{"[192.0.2.7]", nil, "[192.0.2.7]"},
		{"sip.example.net:5060", nil, "sip.example.net:5060"},
	} {
		if got := signalAddress(tc.addr, tc.caller); got != tc.want {
			t.Errorf("signalAddress(%q, %+v) = %q, want %q", tc.addr, tc.caller, got, tc.want)
		}
	}
}
