package node

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/ledger/money"
	"github.com/ospnode/ospnode/osp"
)

const (
	calling = "14048724799"
	called  = "16785551234"
)

func authRequest(msgID, callID, to string, maxDest int) *osp.Message {
	return &osp.Message{MessageID: msgID, Random: "1", Components: []osp.Component{{ID: msgID + "0",
		AuthorizationRequest: &osp.AuthorizationRequest{
			Timestamp: time.Now().UTC().Truncate(time.Second),
			CallIDs:   []osp.Binary{osp.Binary(callID)},
			CallInfo: osp.CallInfo{
				SourceInfo:      osp.TypedValues{{Type: osp.TypeE164, Value: calling}},
				DeviceInfo:      osp.TypedValues{{Type: osp.TypeTransport, Value: "[127.0.0.1]:5060"}},
				DestinationInfo: osp.TypedValues{{Type: osp.TypeE164, Value: to}},
			},
			Service:             &osp.Service{},
			MaximumDestinations: maxDest,
		}}}}
}

func usageIndication(msgID, compID, role string, tx uint64, callID, to, seconds string) *osp.Message {
	return &osp.Message{MessageID: msgID, Components: []osp.Component{{ID: compID,
		UsageIndication: &osp.UsageIndication{
			Timestamp:     time.Now().UTC().Truncate(time.Second),
			Role:          role,
			TransactionID: tx,
			CallID:        osp.Binary(callID),
			CallInfo: osp.CallInfo{
				SourceInfo:      osp.TypedValues{{Type: osp.TypeE164, Value: calling}},
				DestinationInfo: osp.TypedValues{{Type: osp.TypeE164, Value: to}},
			},
			UsageDetail: &osp.UsageDetail{Amount: seconds, Increment: 1, Unit: osp.UnitSeconds},
		}}}}
}

func authResponse(t testing.TB, m *osp.Message) *osp.AuthorizationResponse {
	t.Helper()
	if len(m.Components) != 1 || m.Components[0].AuthorizationResponse == nil {
		t.Fatalf("not one AuthorizationResponse: %+v", m)
	}
	return m.Components[0].AuthorizationResponse
}

func usageStatus(t testing.TB, m *osp.Message) int {
	t.Helper()
	if len(m.Components) != 1 || m.Components[0].UsageConfirmation == nil {
		t.Fatalf("not one UsageConfirmation: %+v", m)
	}
	return m.Components[0].UsageConfirmation.Status.Code
}

func balance(t testing.TB, s *ledger.Store, account string) string {
	t.Helper()
	a, err := s.Balance(account, "USD")
	if err != nil {
		t.Fatalf("balance %s: %v", account, err)
	}
	r, err := a.Round(4, money.HalfUp)
	if err != nil {
		t.Fatal(err)
	}
	return r.Text()
}

// TestCallFlow: carrier-a authorises a call to 1678…, the terminating side
// validates the token as its toolkit would, both sides report 30 s of
// usage; the ledger holds a rated CDR per side and balanced postings.
func TestCallFlow(t *testing.T) {
	n := openDemo(t)
	a, b := client("127.0.0.1"), client("127.0.0.3")
	const callID = "call-1@a.example"

	resp := authResponse(t, exchange(t, a, n.OSPURL(), authRequest("100", callID, called, 5)))
	if resp.Status.Code != osp.StatusOK || len(resp.Destinations) != 1 {
		t.Fatalf("authorisation: %+v", resp)
	}
	d := resp.Destinations[0]
	if d.SignalAddress != "[127.0.0.3]" || d.TimeLimit() <= 0 || string(d.CallID) != callID {
		t.Fatalf("destination: %+v", d)
	}

	// The terminating proxy validates locally with the network CA.
	roots := x509.NewCertPool()
	for _, c := range n.CACertificates() {
		roots.AddCert(c)
	}
	claims, err := osp.VerifyToken(d.Token, osp.TokenVerifyOptions{Roots: roots, Calling: calling, Called: called, CallID: []byte(callID)})
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	if claims.TransactionID != resp.TransactionID || claims.AuthorisedSeconds != d.TimeLimit() {
		t.Fatalf("claims %+v vs response tx %d limit %d", claims, resp.TransactionID, d.TimeLimit())
	}
	if _, err := osp.VerifyToken(d.Token, osp.TokenVerifyOptions{Roots: roots, Calling: calling, Called: "16785550000", CallID: []byte(callID)}); err == nil {
		t.Fatal("token validated for another called number")
	}
	// The server validates it too (AuthorizationIndication).
	ind := &osp.Message{MessageID: "101", Components: []osp.Component{{ID: "1", AuthorizationIndication: &osp.AuthorizationIndication{
		Role: osp.RoleDestination, TransactionID: resp.TransactionID, CallID: osp.Binary(callID), Token: d.Token,
		CallInfo: osp.CallInfo{SourceInfo: osp.TypedValues{{Type: osp.TypeE164, Value: calling}},
			DestinationInfo: osp.TypedValues{{Type: osp.TypeE164, Value: called}}}}}}}
	if st := exchange(t, b, n.OSPURL(), ind).Components[0].AuthorizationConfirmation.Status; st.Code != osp.StatusOK {
		t.Fatalf("server-side validation: %+v", st)
	}

	// A retry of the same request: the same transaction.
	again := authResponse(t, exchange(t, a, n.OSPURL(), authRequest("100", callID, called, 5)))
	if again.TransactionID != resp.TransactionID || again.Status.Code != osp.StatusOK {
		t.Fatalf("retry got tx %d (%+v), want %d", again.TransactionID, again.Status, resp.TransactionID)
	}

	// Usage from both sides, each sent twice (toolkit retry).
	for i := 0; i < 2; i++ {
		if c := usageStatus(t, exchange(t, a, n.OSPURL(), usageIndication("200", "1", osp.RoleSource, resp.TransactionID, callID, called, "30.000"))); c != osp.StatusOK {
			t.Fatalf("source usage: %d", c)
		}
		if c := usageStatus(t, exchange(t, b, n.OSPURL(), usageIndication("300", "7", osp.RoleDestination, resp.TransactionID, callID, called, "30.000"))); c != osp.StatusOK {
			t.Fatalf("destination usage: %d", c)
		}
	}

	s := n.Store()
	us, err := s.ListUsage(ledger.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 2 {
		t.Fatalf("%d usage records, want 2: %+v", len(us), us)
	}
	for _, u := range us {
		if u.Unmatched || u.Rating == nil || u.Rating.BillableSeconds != 60 || u.PostingID == 0 {
			t.Fatalf("usage %+v (rating %+v)", u, u.Rating)
		}
	}
	// 1678 at 60/60: sell 0.0300/min to carrier-a, buy 0.0180/min from carrier-b.
	want := map[string]string{
		ledger.MemberAccount(DemoCarrierA): "0.0300",
		ledger.AccountRevenue:              "-0.0300",
		ledger.AccountCost:                 "0.0180",
		ledger.MemberAccount(DemoCarrierB): "-0.0180",
	}
	for acct, w := range want {
		if got := balance(t, s, acct); got != w {
			t.Errorf("balance %s = %s, want %s", acct, got, w)
		}
	}
	rep, err := s.Audit()
	if err != nil || !rep.OK {
		t.Fatalf("audit: %+v %v", rep, err)
	}
}
