package faultnet

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echoServer echoes lines back until the connection closes.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(c net.Conn, msg string, timeout time.Duration) (string, error) {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return line, err
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestProxyForwardsPartitionsAndHeals(t *testing.T) {
	p, err := New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := dial(t, p)
	if got, err := roundTrip(c, "hello", 5*time.Second); err != nil || got != "hello\n" {
		t.Fatalf("through proxy: %q, %v", got, err)
	}

	p.Partition()
	if !p.Partitioned() {
		t.Fatal("Partitioned() = false")
	}
	// The live connection is cut…
	if _, err := roundTrip(c, "again", 5*time.Second); err == nil {
		t.Fatal("live connection survived a partition")
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("live connection hung instead of being cut: %v", err)
	}
	// …and new ones are refused.
	c2 := dial(t, p)
	if _, err := roundTrip(c2, "new", 5*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("new connection during partition: %v", err)
	}

	p.Heal()
	c3 := dial(t, p)
	if got, err := roundTrip(c3, "healed", 5*time.Second); err != nil || got != "healed\n" {
		t.Fatalf("after heal: %q, %v", got, err)
	}
}

func TestProxyPauseResumeAndDelay(t *testing.T) {
	p, err := New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := dial(t, p)
	if _, err := roundTrip(c, "warm", 5*time.Second); err != nil {
		t.Fatal(err)
	}

	p.Pause()
	// While paused nothing comes back (the deadline, not the proxy, ends the read).
	if _, err := roundTrip(c, "held", 100*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("paused link delivered: %v", err)
	}
	p.Resume()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "held\n" {
		t.Fatalf("held bytes after resume: %q, %v", line, err)
	}

	const d = 30 * time.Millisecond
	p.SetDelay(d)
	c2 := dial(t, p)
	start := time.Now()
	if _, err := roundTrip(c2, "slow", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 2*d { // delayed each way
		t.Fatalf("round trip took %v with a %v delay", took, d)
	}
	p.SetDelay(0)
}

func TestProxyClose(t *testing.T) {
	p, err := New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p)
	if _, err := roundTrip(c, "x", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := roundTrip(c, "y", 5*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection survived Close: %v", err)
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("proxy still listening after Close")
	}
}

func TestProxyUnreachableTarget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	p, err := New(dead)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Target() != dead {
		t.Fatalf("Target() = %s", p.Target())
	}
	c := dial(t, p)
	if _, err := roundTrip(c, "x", 5*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("dead target: %v", err)
	}
}
