package node

import (
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// closedByPeer reports whether the server closed c: a read that returns
// EOF or a reset within d (the server never writes first).
func closedByPeer(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func dialFrom(t *testing.T, addr, src string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestPerSourceListener: a source over its cap has the extra connection
// closed at once, other sources are unaffected, and closing a connection
// frees its slot.
func TestPerSourceListener(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Uint64
	ln := limitPerSource(raw, 2, &refused).(*perSourceListener)
	defer ln.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	addr := raw.Addr().String()
	next := func() net.Conn {
		select {
		case c := <-accepted:
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("no connection accepted")
			return nil
		}
	}
	c1 := dialFrom(t, addr, "127.0.0.1")
	s1 := next()
	dialFrom(t, addr, "127.0.0.1")
	next()
	over := dialFrom(t, addr, "127.0.0.1")
	if !closedByPeer(over, 5*time.Second) {
		t.Fatal("third connection from one source not closed")
	}
	if refused.Load() != 1 {
		t.Errorf("refused %d, want 1", refused.Load())
	}
	other := dialFrom(t, addr, "127.0.0.2")
	next()
	if closedByPeer(other, 100*time.Millisecond) {
		t.Error("another source refused")
	}
	// The server closes its side (twice: released once).
	c1.Close()
	s1.Close()
	s1.Close()
	if got := ln.open("127.0.0.1"); got != 1 {
		t.Fatalf("open %d after a close, want 1", got)
	}
	again := dialFrom(t, addr, "127.0.0.1")
	next()
	if closedByPeer(again, 100*time.Millisecond) {
		t.Error("freed slot not reusable")
	}
}

// TestNodeConnsPerSource: the OSP listener of a node applies
// HTTP.MaxConnsPerSource, and the server timeouts follow HTTP.
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
	// Both held: wait until the server has accepted them (a good request
	// on each is answered).
	for _, c := range []*rawConn{a, b} {
		c.send(frameXML(goodAuthBody("7000", "held@host", "")))
		if ans, err := c.readAnswer(10 * time.Second); err != nil || ans == nil || ans.status != 200 {
			t.Fatalf("held connection: %+v %v", ans, err)
		}
	}
	over := dialRaw(t, addr, "127.0.0.1")
	over.send(frameXML(goodAuthBody("7001", "over@host", "")))
	if ans, err := over.readAnswer(5 * time.Second); err != nil || ans != nil {
		t.Fatalf("third connection answered %+v (%v), want closed", ans, err)
	}
	if n.met.connsRefused.Load() == 0 {
		t.Error("refusal not counted")
	}
	// Another source is served.
	ok := dialRaw(t, addr, "127.0.0.3")
	ok.send(frameXML(goodAuthBody("7002", "other@host", "")))
	if ans, err := ok.readAnswer(10 * time.Second); err != nil || ans == nil || ans.status != 200 {
		t.Fatalf("other source: %+v %v", ans, err)
	}
	// Closing a held connection frees its slot once the server sees it.
	a.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dialRaw(t, addr, "127.0.0.1")
		c.send(frameXML(goodAuthBody("7003", "freed@host", "")))
		ans, err := c.readAnswer(5 * time.Second)
		if err == nil && ans != nil && ans.status == 200 {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("slot never freed: %+v %v", ans, err)
		}
	}
}
