package node

// Hostile cases whose expected answer is in the ledger: replays must not
// create a second transaction or usage record, usage nobody authorised is
// kept (unmatched), and unknown sources are refused before their body is
// read.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

// hostileExchange sends body (framed as the toolkit does) from src over a
// raw connection and returns the decoded answer, checked against the
// toolkit's rules.
func hostileExchange(t *testing.T, n *hostileNode, src string, body []byte) *osp.Message {
	t.Helper()
	conn := dialRaw(t, n.ospAddr(t), src)
	conn.send(frameXML(body))
	a, err := conn.readAnswer(10 * time.Second)
	if err != nil || a == nil {
		t.Fatalf("no answer: %v", err)
	}
	if err := checkAnswerLoose(a); err != nil {
		t.Fatal(err)
	}
	m, err := osp.Decode(a.body, osp.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Components) != 1 {
		t.Fatalf("%d components", len(m.Components))
	}
	return m
}

// checkAnswerLoose checks an HTTP 200 OSP answer without expecting a code.
func checkAnswerLoose(a *rawAnswer) error {
	if a.status != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", a.status, a.body)
	}
	if err := osp.CheckToolkitRules(a.body); err != nil {
		return fmt.Errorf("answer breaks the toolkit's rules: %v\n%s", err, a.body)
	}
	return nil
}

func usageBody(msgID, compID, role string, tx uint64, callID, amount, increment string) []byte {
	return fmt.Appendf(nil, `<?xml version="1.0"?><Message messageId="%s" random="7">
<UsageIndication componentId="%s">
<Timestamp>
2026-11-26T10:37:35Z</Timestamp>
<Role>
%s</Role>
<TransactionId>
%d</TransactionId>
<CallId encoding="cdata">
%s</CallId>
<SourceInfo type="e164">
%s</SourceInfo>
<DestinationInfo type="e164">
%s</DestinationInfo>
<UsageDetail>
<Service/>
<Amount>
%s</Amount>
<Increment>
%s</Increment>
<Unit>
s</Unit>
</UsageDetail>
</UsageIndication>
</Message>
`, msgID, compID, role, tx, callID, calling, called, amount, increment)
}

func listUsage(t *testing.T, n *hostileNode, f ledger.UsageFilter) []ledger.Usage {
	t.Helper()
	us, err := n.Store().ListUsage(f)
	if err != nil {
		t.Fatal(err)
	}
	return us
}

// usageFor returns the usage records of transaction tx.
func usageFor(t *testing.T, n *hostileNode, tx uint64) []ledger.Usage {
	var out []ledger.Usage
	for _, u := range listUsage(t, n, ledger.UsageFilter{Limit: 100000}) {
		if u.TransactionID == tx {
			out = append(out, u)
		}
	}
	return out
}

func authorizeOK(t *testing.T, n *hostileNode, msgID, callID string) *osp.AuthorizationResponse {
	t.Helper()
	ar := hostileExchange(t, n, "127.0.0.1", goodAuthBody(msgID, callID, "")).Components[0].AuthorizationResponse
	if ar == nil || ar.Status.Code != osp.StatusOK || len(ar.Destinations) == 0 || ar.TransactionID == 0 {
		t.Fatalf("authorisation refused: %+v", ar)
	}
	return ar
}

func usageCode(t *testing.T, m *osp.Message) int {
	t.Helper()
	uc := m.Components[0].UsageConfirmation
	if uc == nil {
		t.Fatalf("not a UsageConfirmation: %+v", m.Components[0])
	}
	return uc.Status.Code
}

func TestHostileLedger(t *testing.T) {
	n := openHostileNode(t)

	t.Run("replayed-authorization", func(t *testing.T) {
		body := goodAuthBody("3001", "replay-auth@host", "")
		first := hostileExchange(t, n, "127.0.0.1", body).Components[0].AuthorizationResponse
		again := hostileExchange(t, n, "127.0.0.1", body).Components[0].AuthorizationResponse
		if first.Status.Code != osp.StatusOK || again.Status.Code != osp.StatusOK {
			t.Fatalf("status %d then %d", first.Status.Code, again.Status.Code)
		}
		if first.TransactionID != again.TransactionID {
			t.Fatalf("replay got transaction %d, first %d: a second transaction", again.TransactionID, first.TransactionID)
		}
		tx, err := n.Store().TransactionByKey(DemoCarrierA, "3001", "replay-auth@host")
		if err != nil || tx.ID != first.TransactionID {
			t.Fatalf("ledger key: %v %+v", err, tx)
		}
		// The same Call-ID under another messageId is another request.
		other := hostileExchange(t, n, "127.0.0.1", goodAuthBody("3002", "replay-auth@host", "")).Components[0].AuthorizationResponse
		if other.TransactionID == first.TransactionID {
			t.Fatal("a new messageId reused the transaction")
		}
	})

	t.Run("replayed-usage", func(t *testing.T) {
		ar := authorizeOK(t, n, "3010", "replay-usage@host")
		body := usageBody("3011", "30110", osp.RoleSource, ar.TransactionID, "replay-usage@host", "30.000", "1")
		for i := range 3 {
			if c := usageCode(t, hostileExchange(t, n, "127.0.0.1", body)); c != osp.StatusOK {
				t.Fatalf("send %d: usage status %d", i+1, c)
			}
		}
		us := usageFor(t, n, ar.TransactionID)
		if len(us) != 1 {
			t.Fatalf("%d usage records for one replayed indication, want 1: %+v", len(us), us)
		}
		if us[0].DurationMillis != 30_000 || us[0].Unmatched {
			t.Fatalf("record %+v", us[0])
		}
	})

	t.Run("replayed-two-component-usage", func(t *testing.T) {
		// Capture 07: two components in one message, sent three times.
		ar := authorizeOK(t, n, "3015", "two-comp@host")
		one := string(usageBody("3016", "a1", osp.RoleSource, ar.TransactionID, "two-comp@host", "10", "1"))
		two := string(usageBody("3016", "a2", osp.RoleSource, ar.TransactionID, "two-comp@host", "20", "1"))
		i, j := strings.Index(one, "<UsageIndication"), strings.Index(one, "</Message>")
		body := []byte(one[:j] + two[i:j] + one[j:])
		for k := range 3 {
			conn := dialRaw(t, n.ospAddr(t), "127.0.0.1")
			conn.send(frameXML(body))
			a, err := conn.readAnswer(10 * time.Second)
			if err != nil || a == nil {
				t.Fatalf("send %d: %v", k+1, err)
			}
			if err := checkAnswerLoose(a); err != nil {
				t.Fatal(err)
			}
			m, err := osp.Decode(a.body, osp.Limits{})
			if err != nil || len(m.Components) != 2 {
				t.Fatalf("send %d: %v %+v", k+1, err, m)
			}
			for _, c := range m.Components {
				if c.UsageConfirmation == nil || c.UsageConfirmation.Status.Code != osp.StatusOK {
					t.Fatalf("send %d: %+v", k+1, c)
				}
			}
		}
		if us := usageFor(t, n, ar.TransactionID); len(us) != 2 {
			t.Fatalf("%d records, want 2 (one per component): %+v", len(us), us)
		}
	})

	t.Run("unknown-transaction-kept-unmatched", func(t *testing.T) {
		for _, tx := range []uint64{4242424242, 1<<63 + 5} {
			id := fmt.Sprint(tx % 100000)
			body := usageBody("3020"+id, "c"+id, osp.RoleSource, tx, "nobody@host", "12", "1")
			if c := usageCode(t, hostileExchange(t, n, "127.0.0.1", body)); c != osp.StatusOK {
				t.Fatalf("tx %d: usage status %d, want 200 (kept as unmatched)", tx, c)
			}
			us := usageFor(t, n, tx)
			if len(us) != 1 || !us[0].Unmatched {
				t.Fatalf("tx %d: records %+v, want one unmatched", tx, us)
			}
			found := false
			for _, u := range listUsage(t, n, ledger.UsageFilter{UnmatchedOnly: true, Limit: 100000}) {
				found = found || u.ID == us[0].ID
			}
			if !found {
				t.Fatalf("tx %d: not listed as unmatched", tx)
			}
		}
	})

	t.Run("usage-beyond-authorised-time", func(t *testing.T) {
		// The terminating carrier reports 6 days for a call authorised
		// for at most MaxTimeLimit: what it is paid must not follow.
		ar := authorizeOK(t, n, "3030", "long-call@host")
		limit := ar.Destinations[0].UsageDetail
		body := usageBody("3031", "30310", osp.RoleDestination, ar.TransactionID, "long-call@host", "518400", "1") // 6 days
		code := usageCode(t, hostileExchange(t, n, "127.0.0.3", body))
		us := usageFor(t, n, ar.TransactionID)
		if len(us) != 1 {
			t.Fatalf("code %d, %d records", code, len(us))
		}
		u := us[0]
		max := int64(n.Config().MaxTimeLimit)
		billable := int64(-1)
		if u.Rating != nil {
			billable = int64(u.Rating.BillableSeconds)
		}
		t.Logf("answer %d; authorised %s s; recorded %d ms, billable %d s", code, limit.Amount, u.DurationMillis, billable)
		// Confirmed and recorded as reported, flagged for review, rated at
		// most the time limit plus the grace (rounded up to the deck's
		// 60 s increment).
		if code != osp.StatusOK || u.DurationMillis != 518_400_000 || !u.OverLimit {
			t.Fatalf("answer %d, record %+v: want 200, the reported duration and OverLimit", code, u)
		}
		capped := max + int64(overLimitGrace/time.Second)
		if billable < 0 || billable > capped+60 {
			t.Fatalf("carrier-b is paid for %d s, want at most the time limit %d s + grace", billable, max)
		}
		// Within the limit: not flagged, rated as reported.
		ar2 := authorizeOK(t, n, "3032", "short-call@host")
		if c := usageCode(t, hostileExchange(t, n, "127.0.0.3", usageBody("3033", "30330", osp.RoleDestination, ar2.TransactionID, "short-call@host", "120", "1"))); c != osp.StatusOK {
			t.Fatalf("usage %d", c)
		}
		us2 := usageFor(t, n, ar2.TransactionID)
		if len(us2) != 1 || us2[0].OverLimit || us2[0].Rating == nil || us2[0].Rating.BillableSeconds != 120 {
			t.Fatalf("record within the limit %+v", us2)
		}
	})

	t.Run("reauthorization-refused", func(t *testing.T) {
		ar := authorizeOK(t, n, "3040", "reauth@host")
		body := []byte(strings.NewReplacer("<UsageIndication", "<ReauthorizationRequest", "</UsageIndication", "</ReauthorizationRequest").
			Replace(string(usageBody("NULL", "NULL", osp.RoleSource, ar.TransactionID, "reauth@host", "30", "1"))))
		before := len(usageFor(t, n, ar.TransactionID))
		m := hostileExchange(t, n, "127.0.0.1", body)
		rr := m.Components[0].ReauthorizationResponse
		if rr == nil || rr.Status.OK() || rr.Status.Code != osp.StatusReauthorizationRefused {
			t.Fatalf("reauthorisation answer %+v, want refusal %d", m.Components[0], osp.StatusReauthorizationRefused)
		}
		if after := len(usageFor(t, n, ar.TransactionID)); after != before {
			t.Fatalf("reauthorisation recorded usage: %d -> %d", before, after)
		}
	})
	assertServes(t, n)
}

// TestHostileUnknownSource: a sender no member can be identified by is
// refused before its body is read: the answer comes at once although the
// announced body never arrives.
func TestHostileUnknownSource(t *testing.T) {
	n := openHostileNode(t)
	ma, err := n.Store().Member(DemoCarrierA)
	if err != nil {
		t.Fatal(err)
	}
	// Only 127.0.0.1 and no self-declared ids: nothing else can match.
	ma.Credentials = ledger.Credentials{SourceAddrs: []string{"127.0.0.1"}}
	res, err := n.Propose(t.Context(), ledger.PutMember{Member: ma})
	if err != nil || res.Err() != nil {
		t.Fatalf("put member: %v %v", err, res)
	}
	// The node's view of the members follows the ledger: wait until an
	// unknown address is refused.
	raw := []byte("POST /osp HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: text/plain\r\nContent-Length: 1000000\r\n\r\n<?xml")
	var a *rawAnswer
	waitFor(t, "unknown source refused", 10*time.Second, func() bool {
		conn := dialRaw(t, n.ospAddr(t), "127.0.0.9")
		conn.send(raw)
		a, err = conn.readAnswer(3 * time.Second)
		return err == nil && a != nil && a.status == http.StatusForbidden
	})
	// Known again: a good request from 127.0.0.1 still works.
	ar := authorizeOK(t, n, "3100", "known@host")
	if ar.TransactionID == 0 {
		t.Fatal("no transaction")
	}
	// carrier-b's address is still known too; 127.0.0.9 sending a full
	// well-formed request is still refused with 403 before decoding.
	conn := dialRaw(t, n.ospAddr(t), "127.0.0.9")
	conn.send(frameXML(goodAuthBody("3101", "unknown@host", "")))
	a, err = conn.readAnswer(5 * time.Second)
	if err != nil || a == nil || a.status != http.StatusForbidden {
		t.Fatalf("unknown source with a full request: %+v %v", a, err)
	}
	if _, err := n.Store().TransactionByKey(DemoCarrierA, "3101", "unknown@host"); err == nil {
		t.Fatal("a transaction was created for an unknown source")
	}
}
