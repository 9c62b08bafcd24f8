package consensus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Connection types: the first byte a dialler writes on a new connection (after
// the TLS handshake, when TLS is on) says which service it wants. Values are
// never renumbered.
const (
	connRaft     byte = 1 // hashicorp/raft NetworkTransport
	connInternal byte = 2 // internal channel: forwarding, read index, join
)

// handshakeTimeout bounds TLS and type-byte exchange on an accepted connection
// so that a silent client cannot pin a goroutine.
const handshakeTimeout = 10 * time.Second

// mux demultiplexes the node's one listener by the first byte of each
// connection (like rqlite's tcp.Mux or Consul's RPC types). One address per
// node keeps configuration, firewalls and the join flow simple.
type mux struct {
	ln     net.Listener
	tls    *tls.Config
	log    *slog.Logger
	subs   map[byte]*subListener
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	advert net.Addr
	dialFn func(ctx context.Context, network, addr string) (net.Conn, error)
}

func newMux(ln net.Listener, tlsCfg *tls.Config, advertise net.Addr, log *slog.Logger) *mux {
	m := &mux{ln: ln, tls: tlsCfg, log: log, subs: map[byte]*subListener{}, done: make(chan struct{}), advert: advertise}
	for _, t := range []byte{connRaft, connInternal} {
		m.subs[t] = &subListener{m: m, ch: make(chan net.Conn, 16), done: make(chan struct{})}
	}
	return m
}

func (m *mux) serve() {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		var backoff time.Duration
		for {
			c, err := m.ln.Accept()
			if err != nil {
				select {
				case <-m.done:
					return
				default:
				}
				if errors.Is(err, net.ErrClosed) {
					return
				}
				// Transient (e.g. EMFILE): back off instead of spinning.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				m.log.Warn("consensus: accept failed", "err", err, "retry_in", backoff)
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-m.done:
					t.Stop()
					return
				}
				continue
			}
			backoff = 0
			m.wg.Add(1)
			go func() { defer m.wg.Done(); m.route(c) }()
		}
	}()
}

// route completes TLS, reads the type byte and hands the connection to the
// matching sub-listener.
func (m *mux) route(c net.Conn) {
	if err := c.SetDeadline(time.Now().Add(handshakeTimeout)); err != nil {
		c.Close()
		return
	}
	if m.tls != nil {
		tc := tls.Server(c, m.tls)
		if err := tc.Handshake(); err != nil {
			m.log.Warn("consensus: tls handshake failed", "remote", c.RemoteAddr().String(), "err", err)
			c.Close()
			return
		}
		c = tc
	}
	var b [1]byte
	if _, err := c.Read(b[:]); err != nil {
		c.Close()
		return
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		c.Close()
		return
	}
	sub, ok := m.subs[b[0]]
	if !ok {
		m.log.Warn("consensus: unknown connection type", "type", b[0], "remote", c.RemoteAddr().String())
		c.Close()
		return
	}
	select {
	case sub.ch <- c:
	case <-sub.done:
		c.Close()
	case <-m.done:
		c.Close()
	}
}

// dial opens a connection of type t to addr: TCP, then TLS if configured,
// then the type byte.
func (m *mux) dial(addr string, t byte, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var c net.Conn
	var err error
	if m.dialFn != nil {
		c, err = m.dialFn(ctx, "tcp", addr)
	} else {
		var d net.Dialer
		c, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	if m.tls != nil {
		cfg := m.tls.Clone()
		if cfg.ServerName == "" {
			if host, _, herr := net.SplitHostPort(addr); herr == nil {
				cfg.ServerName = host
			}
		}
		tc := tls.Client(c, cfg)
		if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
			c.Close()
			return nil, err
		}
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
		}
		if err := c.SetDeadline(time.Time{}); err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	if _, err := c.Write([]byte{t}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (m *mux) close() error {
	var err error
	m.once.Do(func() {
		close(m.done)
		err = m.ln.Close()
		m.wg.Wait()
		// Drain connections routed but never accepted.
		for _, s := range m.subs {
			for {
				select {
				case c := <-s.ch:
					c.Close()
					continue
				default:
				}
				break
			}
		}
	})
	return err
}

// subListener is the net.Listener view of one connection type.
type subListener struct {
	m    *mux
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func (s *subListener) Accept() (net.Conn, error) {
	select {
	case c := <-s.ch:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	case <-s.m.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept; connections of this type arriving later are closed.
// The mux owns the real listener and closes it in close().
func (s *subListener) Close() error {
	s.once.Do(func() { close(s.done) })
	return nil
}

func (s *subListener) Addr() net.Addr { return s.m.advert }

// raftStream is raft's StreamLayer over the mux.
type raftStream struct {
	*subListener
}

func (r raftStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return r.m.dial(string(address), connRaft, timeout)
}

// tcpAddr is a net.Addr for an advertised host:port that need not be local.
type tcpAddr string

func (a tcpAddr) Network() string { return "tcp" }
func (a tcpAddr) String() string  { return string(a) }
