package node

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeConn is a connection from addr that records its closing.
type fakeConn struct {
	net.Conn
	addr   net.Addr
	closed atomic.Bool
}

func (c *fakeConn) RemoteAddr() net.Addr { return c.addr }
func (c *fakeConn) Close() error         { c.closed.Store(true); return nil }

func fake(ip string) *fakeConn {
	return &fakeConn{addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 5060}}
}

// TestSourceKey: IPv4 addresses are sources on their own, IPv6 ones are
// grouped by /64.
func TestSourceKey(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
	} {
		if got := sourceKey(&net.TCPAddr{IP: net.ParseIP(tc.a)}); got != tc.b {
			t.Errorf("sourceKey(%s) = %s, want %s", tc.a, got, tc.b)
		}
	}
}

// TestBudgetConnections: at a source's cap (and at the listener's), the
// slowest connection not processing a request makes room for the
// newcomer; when every connection is processing, the newcomer is refused.
func TestBudgetConnections(t *testing.T) {
	var refused, evicted atomic.Uint64
	b := newBudget(3, 2, 0, 0, &refused, &evicted, nil)
	a1, a2, a3, a4 := fake("192.0.2.1"), fake("192.0.2.1"), fake("192.0.2.1"), fake("192.0.2.1")
	s1, s2 := b.admit(a1), b.admit(a2)
	if s1 == nil || s2 == nil {
		t.Fatal("first two refused")
	}
	b.done(s2, false) // s2 starts a new phase: s1 is the slowest
	if b.admit(a3) == nil || !a1.closed.Load() || a2.closed.Load() || evicted.Load() != 1 {
		t.Fatalf("third from the source: a1 closed %v, a2 closed %v, evicted %d; want the oldest (a1) taken",
			a1.closed.Load(), a2.closed.Load(), evicted.Load())
	}
	// Both remaining are processing: nothing to take.
	b.mu.Lock()
	for c := range b.srcs["192.0.2.1"].conns {
		c.busy = true
	}
	b.mu.Unlock()
	if b.admit(a4) != nil {
		t.Fatal("admitted while every connection of the source is busy")
	}
	refused.Store(0)
	// The listener's cap: a newcomer takes from the heaviest source that
	// has a connection to give — not 192.0.2.1, all busy.
	c1 := fake("198.51.100.7")
	if b.admit(c1) == nil {
		t.Fatal("other source refused below the listener cap")
	}
	if b.admit(fake("203.0.113.9")) == nil || !c1.closed.Load() {
		t.Fatalf("at the listener cap: c1 closed %v; want c1 taken for the newcomer", c1.closed.Load())
	}
	if conns, _, total, _ := b.use("192.0.2.1"); conns != 2 || total != 3 || refused.Load() != 0 {
		t.Fatalf("source holds %d, listener %d, refused %d", conns, total, refused.Load())
	}
}

// TestBudgetBytes: over a source's share of body bytes, that source's
// slowest request still being read is cut off; over the listener's budget,
// the heaviest source's; a request that is itself the one to cut gets
// errOverBudget.
func TestBudgetBytes(t *testing.T) {
	var refused, evicted, bytesRefused atomic.Uint64
	b := newBudget(100, 100, 100, 60, &refused, &evicted, &bytesRefused)
	t0 := time.Now()
	var opened int
	conn := func(ip string) (*budgetConn, *fakeConn) {
		f := fake(ip)
		c := b.admit(f)
		b.mu.Lock()
		c.since = t0.Add(time.Duration(opened) * time.Millisecond) // reading its body since, in order
		b.mu.Unlock()
		opened++
		return c, f
	}
	a, af := conn("192.0.2.1")
	bb, _ := conn("192.0.2.1")
	mustCharge := func(c *budgetConn, k int) {
		t.Helper()
		if err := b.charge(c, k); err != nil {
			t.Fatalf("charge %d: %v", k, err)
		}
	}
	mustCharge(a, 50)
	mustCharge(bb, 20) // source at 70 > 60: a (slower) is cut off
	if !af.closed.Load() {
		t.Fatal("the slower request of the source over its share was not cut off")
	}
	if err := b.charge(a, 1); !errors.Is(err, errOverBudget) {
		t.Fatalf("cut-off request charged again: %v", err)
	}
	c, cf := conn("198.51.100.1")
	mustCharge(c, 55) // total 75
	d, _ := conn("203.0.113.1")
	mustCharge(d, 40) // total 115 > 100: the heaviest source (c's, 55) gives
	if !cf.closed.Load() {
		t.Fatal("the heaviest source's request was not cut off")
	}
	self, _ := conn("203.0.113.200")
	if err := b.charge(self, 61); !errors.Is(err, errOverBudget) {
		t.Fatalf("a request over its source's share on its own: %v, want errOverBudget", err)
	}
	b.done(self, true)
	if _, _, _, total := b.use(""); total != 60 {
		t.Fatalf("in flight %d, want 60 (bb 20 + d 40)", total)
	}
	if bytesRefused.Load() != 1 || evicted.Load() != 2 {
		t.Fatalf("refused %d, evicted %d", bytesRefused.Load(), evicted.Load())
	}
}

// TestNodeConnsPerSource: the OSP listener applies HTTP.MaxConnsPerSource
// by taking the source's idle connection for a newcomer, refuses one only
// when every connection of the source is busy, and the server timeouts
// follow HTTP.
func TestNodeConnsPerSource(t *testing.T) {
	cfg := testConfig(t, "n1")
	cfg.Bootstrap, cfg.Demo = true, true
	cfg.HTTP = HTTPLimits{MaxConnsPerSource: 2, ReadTimeout: 3 * time.Second, IdleTimeout: 7 * time.Second}
	n := openNode(t, cfg)
	if s := n.ospSrv; s.ReadTimeout != 3*time.Second || s.IdleTimeout != 7*time.Second ||
		s.ReadHeaderTimeout != DefaultHTTPLimits().ReadHeaderTimeout || s.MaxHeaderBytes != DefaultHTTPLimits().MaxHeaderBytes {
		t.Errorf("server limits %v %v %v %d", s.ReadTimeout, s.IdleTimeout, s.ReadHeaderTimeout, s.MaxHeaderBytes)
	}
	h := &hostileNode{Node: n}
	addr := h.ospAddr(t)
	a := dialRaw(t, addr, "127.0.0.1")
	b := dialRaw(t, addr, "127.0.0.1")
	for i, c := range []*rawConn{a, b} {
		c.send(frameXML(goodAuthBody(fmt.Sprint(7000+i), "held@host", "")))
		if ans, err := c.readAnswer(10 * time.Second); err != nil || ans == nil || ans.status != 200 {
			t.Fatalf("held connection: %+v %v", ans, err)
		}
	}
	// Both idle now: a third takes the idlest-longest (a).
	third := dialRaw(t, addr, "127.0.0.1")
	third.send(frameXML(goodAuthBody("7002", "third@host", "")))
	if ans, err := third.readAnswer(10 * time.Second); err != nil || ans == nil || ans.status != 200 {
		t.Fatalf("third connection: %+v %v", ans, err)
	}
	if err := a.closedWithin(5 * time.Second); err != nil {
		t.Fatalf("oldest idle connection: %v", err)
	}
	if n.met.connsEvicted.Load() == 0 {
		t.Error("eviction not counted")
	}
	// Another source is served.
	ok := dialRaw(t, addr, "127.0.0.3")
	ok.send(frameXML(goodAuthBody("7003", "other@host", "")))
	if ans, err := ok.readAnswer(10 * time.Second); err != nil || ans == nil || ans.status != 200 {
		t.Fatalf("other source: %+v %v", ans, err)
	}
}

// slowBody opens a connection from src that announces an OSP body of
// announced bytes and sends sent of them, then stalls.
func slowBody(t *testing.T, addr, src string, announced, sent int) *rawConn {
	t.Helper()
	c := dialRaw(t, addr, src)
	head := fmt.Sprintf("POST /osp HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", announced)
	c.send(append([]byte(head), make([]byte, sent)...))
	return c
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestSlowClientsBoundedMemory: 240 slow clients from 8 addresses each
// announce a body of 1 MiB − 1 and send 96 KiB of it, then wait (the
// attack that took a node from 36 MB to 975 MB). The node's heap grows by
// less than 24 MiB — the body budget (8 MiB here) and what its buffers
// double to, plus per-connection overhead — and a normal client on yet
// another address is answered within 5 s while they wait. (Before,
// every such request held its announced megabyte: 240 MiB.)
func TestSlowClientsBoundedMemory(t *testing.T) {
	cfg := testConfig(t, "n1")
	cfg.Bootstrap, cfg.Demo = true, true
	cfg.HTTP = HTTPLimits{MaxBodyBytesInFlight: 8 << 20, MaxSourceBodyBytes: 2 << 20}
	n := openNode(t, cfg)
	h := &hostileNode{Node: n}
	addr := h.ospAddr(t)
	base := heapInUse()
	const perSource, sources, sent = 30, 8, 96 << 10
	var conns []*rawConn
	for s := range sources {
		for range perSource {
			conns = append(conns, slowBody(t, addr, fmt.Sprintf("127.0.1.%d", s+1), 1<<20-1, sent))
		}
	}
	// Wait until the node has read what they sent: the budget is full and
	// has cut requests off.
	waitFor(t, "the slow clients to fill the body budget", 20*time.Second, func() bool {
		_, _, _, inFlight := n.ospBudget.use("")
		return inFlight > 6<<20 && n.met.connsEvicted.Load()+n.met.bytesRefused.Load() > 0
	})
	grown := int64(heapInUse()) - int64(base)
	t.Logf("%d slow clients: heap %+d KiB (budget 8 MiB), evicted %d, refused for bytes %d",
		len(conns), grown>>10, n.met.connsEvicted.Load(), n.met.bytesRefused.Load())
	if grown > 24<<20 {
		t.Errorf("heap grew by %d MiB under %d slow clients, want < 24 MiB", grown>>20, len(conns))
	}
	start := time.Now()
	good := dialRaw(t, addr, "127.0.0.1")
	good.send(frameXML(goodAuthBody("7100", "good@host", "")))
	ans, err := good.readAnswer(5 * time.Second)
	if err != nil || ans == nil || ans.status != 200 || !strings.Contains(string(ans.body), "AuthorizationResponse") {
		t.Fatalf("normal client beside the slow ones: %+v %v", ans, err)
	}
	t.Logf("normal client answered in %v", time.Since(start))
}

// TestSlowlorisSharesAddress: a slowloris holding every connection slot of
// an address (headers or body never finished) does not lock out a normal
// client at the same address (an SBC pool behind NAT): each of its
// requests is answered, the slowest slowloris connection making room.
func TestSlowlorisSharesAddress(t *testing.T) {
	cfg := testConfig(t, "n1")
	cfg.Bootstrap, cfg.Demo = true, true
	cfg.HTTP = HTTPLimits{MaxConnsPerSource: 16}
	n := openNode(t, cfg)
	h := &hostileNode{Node: n}
	addr := h.ospAddr(t)
	for i := range 16 {
		c := dialRaw(t, addr, "127.0.0.1")
		if i%2 == 0 {
			c.send([]byte("POST /osp HTTP/1.1\r\nHost: x\r\n")) // headers never end
		} else {
			c.send([]byte("POST /osp HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\n<?xml")) // body never ends
		}
	}
	waitFor(t, "the slowloris to hold every slot", 10*time.Second, func() bool {
		conns, _, _, _ := n.ospBudget.use("127.0.0.1")
		return conns == 16
	})
	served := 0
	for i := range 23 {
		c := dialRaw(t, addr, "127.0.0.1")
		c.send(frameXML(goodAuthBody(fmt.Sprint(7200+i), fmt.Sprintf("nat-%d@host", i), "")))
		if ans, err := c.readAnswer(5 * time.Second); err == nil && ans != nil && ans.status == http.StatusOK {
			served++
		}
		c.Close()
	}
	if served != 23 {
		t.Fatalf("%d of 23 requests served beside a slowloris on the same address, want all", served)
	}
}

// TestOversizedBodyAnsweredAtOnce: a body announced over the limit is
// refused without waiting for it (it used to be answered only when the
// read timeout ended the body read), and the connection closed.
func TestOversizedBodyAnsweredAtOnce(t *testing.T) {
	cfg := testConfig(t, "n1")
	cfg.Bootstrap, cfg.Demo = true, true
	n := openNode(t, cfg) // default ReadTimeout: 15 s
	h := &hostileNode{Node: n}
	c := slowBody(t, h.ospAddr(t), "127.0.0.1", 10<<20, 1000)
	start := time.Now()
	ans, err := c.readAnswer(3 * time.Second)
	if err != nil || ans == nil || ans.status != http.StatusBadRequest || !ans.close {
		t.Fatalf("oversized body: %+v %v, want 400 with Connection: close within 3 s", ans, err)
	}
	if err := c.closedWithin(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("answered in %v", time.Since(start))
}
