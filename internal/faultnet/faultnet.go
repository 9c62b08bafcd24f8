// Package faultnet is a TCP proxy between cluster nodes for tests and for
// testnet's fault injection: nodes advertise the proxy's address, so peers
// reach them through it, and a test partitions, pauses or slows the link while
// the real transport keeps running (the "bridge" of etcd's and hashicorp/raft's
// test kits).
//
// A proxy covers one direction of dialling: connections made TO the target
// through Addr. Bytes flow both ways on those connections. To isolate a node
// completely, put a proxy in front of every node and partition the proxies on
// both sides of the cut (or every connection's dial side).
package faultnet

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Proxy forwards every TCP connection accepted on Addr to a target address.
// All methods are safe for concurrent use.
type Proxy struct {
	target string
	ln     net.Listener

	mu          sync.Mutex
	conns       map[net.Conn]struct{} // both halves of every live pair
	partitioned bool
	gate        chan struct{} // nil when not paused; closed by Resume
	delay       time.Duration
	closed      bool
	done        chan struct{}
	wg          sync.WaitGroup
}

// New starts a proxy listening on 127.0.0.1:0 that forwards to target.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultnet: listen: %w", err)
	}
	p := &Proxy{target: target, ln: ln, conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the proxy's listening address (host:port).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-p.done:
				return
			default:
				continue
			}
		}
		p.mu.Lock()
		refuse := p.partitioned || p.closed
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(in net.Conn) {
	defer p.wg.Done()
	out, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		in.Close()
		return
	}
	p.mu.Lock()
	if p.partitioned || p.closed {
		p.mu.Unlock()
		in.Close()
		out.Close()
		return
	}
	p.conns[in] = struct{}{}
	p.conns[out] = struct{}{}
	p.mu.Unlock()

	var pair sync.WaitGroup
	pair.Add(2)
	go func() { defer pair.Done(); p.pipe(out, in) }()
	go func() { defer pair.Done(); p.pipe(in, out) }()
	pair.Wait()

	p.mu.Lock()
	delete(p.conns, in)
	delete(p.conns, out)
	p.mu.Unlock()
}

// pipe copies src to dst, honouring pause and delay, and closes both ends when
// either fails so that the peer sees the cut at once.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.hold() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// hold blocks while the link is paused and sleeps the configured delay; it
// reports false when the proxy closed or the link was partitioned meanwhile.
func (p *Proxy) hold() bool {
	for {
		p.mu.Lock()
		gate, delay, dead := p.gate, p.delay, p.partitioned || p.closed
		p.mu.Unlock()
		if dead {
			return false
		}
		if gate != nil {
			select {
			case <-gate:
				continue
			case <-p.done:
				return false
			}
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-p.done:
				t.Stop()
				return false
			}
		}
		return true
	}
}

// Partition cuts every live connection and refuses (closes at once) new ones
// until Heal.
func (p *Proxy) Partition() {
	p.mu.Lock()
	p.partitioned = true
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// Heal ends a Partition.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.partitioned = false
	p.mu.Unlock()
}

// Partitioned reports whether the proxy is partitioned.
func (p *Proxy) Partitioned() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.partitioned
}

// Pause stops moving bytes in both directions (connections stay open and new
// ones are accepted, as on a black-holed link) until Resume.
func (p *Proxy) Pause() {
	p.mu.Lock()
	if p.gate == nil {
		p.gate = make(chan struct{})
	}
	p.mu.Unlock()
}

// Resume ends a Pause; held bytes then flow.
func (p *Proxy) Resume() {
	p.mu.Lock()
	if p.gate != nil {
		close(p.gate)
		p.gate = nil
	}
	p.mu.Unlock()
}

// SetDelay delays every forwarded chunk by d in each direction (0 = none).
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// Close stops the proxy, closes all its connections and waits for its
// goroutines. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	p.wg.Wait()
	return err
}

var _ io.Closer = (*Proxy)(nil)
