package node

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

// fakeClock is a settable clock for the limits tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func mustPropose(t *testing.T, n *Node, cmds ...ledger.Command) {
	t.Helper()
	for _, cmd := range cmds {
		res, err := n.Propose(context.Background(), cmd)
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Err(); err != nil {
			t.Fatalf("%s: %v", cmd.Type(), err)
		}
	}
}

// TestRefusals: every kind of bad or refused request gets its defined
// answer, and the node keeps serving.
func TestRefusals(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	cfg := testConfig(t, "n1")
	cfg.Bootstrap, cfg.Demo, cfg.Clock = true, true, clk.now
	cfg.Limits = osp.Limits{MaxBodyBytes: 8 << 10}
	n := openNode(t, cfg)

	// carrier-a: only 127.0.0.1 (no self-declared ids), 3 calls per second,
	// 2 concurrent calls, 49 blocked; route 4420 blocked; carrier-x suspended.
	ma, err := n.Store().Member(DemoCarrierA)
	if err != nil {
		t.Fatal(err)
	}
	ma.Credentials = ledger.Credentials{SourceAddrs: []string{"127.0.0.1"}}
	ma.CPSLimit, ma.ConcurrentLimit, ma.BlockedPrefixes = 3, 2, []string{"49"}
	mustPropose(t, n,
		ledger.PutMember{Member: ma},
		ledger.PutMember{Member: ledger.Member{ID: "carrier-x", Status: ledger.MemberSuspended,
			Credentials: ledger.Credentials{SourceAddrs: []string{"127.0.0.5"}}}},
		ledger.PutRoutes{Routes: []ledger.Route{{Prefix: "4420", Blocked: true}}},
	)
	a := client("127.0.0.1")
	url := n.OSPURL()
	authCode := func(c *http.Client, msgID, callID, to string) (int, uint64) {
		ar := authResponse(t, exchange(t, c, url, authRequest(msgID, callID, to, 5)))
		if ar.Status.Code != osp.StatusOK && len(ar.Destinations) > 0 {
			t.Fatalf("refusal with destinations: %+v", ar)
		}
		return ar.Status.Code, ar.TransactionID
	}

	t.Run("malformed", func(t *testing.T) {
		body := []byte(`<?xml version="1.0"?><Message messageId="77"><AuthorizationRequest componentId="5"><Timestamp>yesterday</Timestamp></AuthorizationRequest></Message>`)
		code, out, _ := post(t, a, url, body)
		if code != http.StatusOK {
			t.Fatalf("HTTP %d", code)
		}
		if err := osp.CheckToolkitRules(out); err != nil {
			t.Fatal(err)
		}
		m, err := osp.Decode(out, osp.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		ar := m.Components[0].AuthorizationResponse
		if m.MessageID != "77" || m.Components[0].ID != "5" || ar == nil || ar.Status.OK() || len(ar.Destinations) != 0 {
			t.Fatalf("answer %s", out)
		}
	})
	t.Run("not-osp", func(t *testing.T) {
		if code, _, _ := post(t, a, url, []byte("hello, world")); code != http.StatusBadRequest {
			t.Fatalf("HTTP %d", code)
		}
	})
	t.Run("unknown-critical-element", func(t *testing.T) {
		body := []byte(`<?xml version="1.0"?><Message messageId="78"><UsageIndication componentId="6"><Bogus>1</Bogus></UsageIndication></Message>`)
		code, out, _ := post(t, a, url, body)
		m, err := osp.Decode(out, osp.Limits{})
		if code != http.StatusOK || err != nil || m.Components[0].UsageConfirmation == nil ||
			m.Components[0].UsageConfirmation.Status.Code != osp.StatusUnsupportedCriticalElement {
			t.Fatalf("HTTP %d %s (%v)", code, out, err)
		}
	})
	t.Run("oversized", func(t *testing.T) {
		body := []byte(`<?xml version="1.0"?><Message messageId="79">` + strings.Repeat(" ", 9<<10) + `</Message>`)
		if code, _, _ := post(t, a, url, body); code != http.StatusBadRequest {
			t.Fatalf("HTTP %d", code)
		}
	})
	t.Run("chunked", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/osp"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprint(conn, "POST /osp HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("HTTP %d", resp.StatusCode)
		}
	})
	t.Run("unknown-source", func(t *testing.T) {
		body, _ := osp.Encode(authRequest("80", "x", called, 5))
		code, out, _ := post(t, client("127.0.0.9"), url, body)
		if code != http.StatusForbidden {
			t.Fatalf("HTTP %d %s", code, out)
		}
	})
	t.Run("suspended", func(t *testing.T) {
		if code, _ := authCode(client("127.0.0.5"), "81", "x", called); code != osp.StatusMayNotOriginate {
			t.Fatalf("code %d", code)
		}
	})
	t.Run("no-route", func(t *testing.T) {
		if code, _ := authCode(a, "82", "x", "33123456789"); code != osp.StatusNoRoute {
			t.Fatalf("code %d", code)
		}
	})
	t.Run("blocked", func(t *testing.T) {
		clk.add(time.Second)
		if code, _ := authCode(a, "83", "x", "4930123456"); code != osp.StatusRouteBlocked {
			t.Fatalf("member block: code %d", code)
		}
		if code, _ := authCode(a, "84", "x", "442071234567"); code != osp.StatusRouteBlocked {
			t.Fatalf("route block: code %d", code)
		}
	})
	t.Run("limits-and-replay", func(t *testing.T) {
		clk.add(time.Second) // a full bucket: 3 calls this second
		code, tx1 := authCode(a, "90", "call-90", called)
		if code != osp.StatusOK {
			t.Fatalf("first call %d", code)
		}
		// A replay is answered from the ledger: same transaction, and it
		// takes neither a CPS token nor a concurrent-call slot.
		for i := 0; i < 3; i++ {
			if code, tx := authCode(a, "90", "call-90", called); code != osp.StatusOK || tx != tx1 {
				t.Fatalf("replay %d: code %d tx %d, want tx %d", i, code, tx, tx1)
			}
		}
		if code, _ := authCode(a, "91", "call-91", called); code != osp.StatusOK {
			t.Fatalf("second call %d", code)
		}
		if code, _ := authCode(a, "92", "call-92", called); code != osp.StatusDecline {
			t.Fatalf("third concurrent call %d, want %d", code, osp.StatusDecline)
		}
		if code, _ := authCode(a, "93", "call-93", called); code != osp.StatusCallRateExceeded {
			t.Fatalf("fourth call in one second %d, want %d", code, osp.StatusCallRateExceeded)
		}
		// Usage ends call 90: a new call fits again, next second.
		if c := usageStatus(t, exchange(t, a, url, usageIndication("95", "1", osp.RoleSource, tx1, "call-90", called, "10"))); c != osp.StatusOK {
			t.Fatalf("usage %d", c)
		}
		clk.add(time.Second)
		if code, _ := authCode(a, "94", "call-94", called); code != osp.StatusOK {
			t.Fatalf("call after usage %d", code)
		}
	})
	t.Run("usage-unknown-transaction", func(t *testing.T) {
		if c := usageStatus(t, exchange(t, a, url, usageIndication("96", "1", osp.RoleSource, 1<<40, "nope", called, "10"))); c != osp.StatusOK {
			t.Fatalf("usage %d", c)
		}
		us, err := n.Store().ListUsage(ledger.UsageFilter{UnmatchedOnly: true})
		if err != nil || len(us) != 1 || us[0].TransactionID != 1<<40 || us[0].PostingID != 0 {
			t.Fatalf("unmatched: %+v %v", us, err)
		}
	})
	t.Run("still-up", func(t *testing.T) {
		resp, err := http.Get(strings.TrimSuffix(url, "/osp") + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("healthz %d", resp.StatusCode)
		}
	})
}

// TestNotReadyIsUnavailable: a node whose ledger holds no network yet (it
// has not caught up, here because it never had a leader) answers OSP
// requests 503, which makes the toolkit try its next service point, not
// 403, which would refuse the call for good.
func TestNotReadyIsUnavailable(t *testing.T) {
	n := openNode(t, testConfig(t, "lonely")) // neither bootstrapped nor joined
	body := mustEncode(t, authRequest("1", "call-1@a", called, 5))
	resp, err := client("127.0.0.1").Post(n.OSPURL(), "text/plain", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := make([]byte, 200)
	k, _ := resp.Body.Read(b)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b[:k]), "not ready") {
		t.Fatalf("HTTP %d %q, want 503 not ready", resp.StatusCode, b[:k])
	}
}
