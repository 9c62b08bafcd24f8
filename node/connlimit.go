package node

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// HTTPLimits bounds the node's HTTP servers (OSP and admin). A zero field
// takes its default (see withDefaults).
type HTTPLimits struct {
	// ReadHeaderTimeout bounds reading a request's header block (default
	// 5s): a client that sends headers a byte at a time is cut off.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included (default
	// 15s): a body announced longer than it is ends the read.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing the answer (default 30s).
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle that long (default
	// 2m).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's header block (default 16 KiB;
	// larger is answered 431).
	MaxHeaderBytes int
	// MaxConnsPerSource bounds the concurrent connections one source IP
	// address may hold open to an OSP listener (default 256; a proxy pool
	// behind one address needs a few dozen). A connection over the bound
	// is closed at once, before anything is read.
	MaxConnsPerSource int
}

// DefaultHTTPLimits returns the values used for zero fields of HTTPLimits.
func DefaultHTTPLimits() HTTPLimits {
	return HTTPLimits{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		MaxConnsPerSource: 256,
	}
}

func (l HTTPLimits) withDefaults() HTTPLimits {
	d := DefaultHTTPLimits()
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = d.ReadTimeout
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = d.WriteTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxConnsPerSource <= 0 {
		l.MaxConnsPerSource = d.MaxConnsPerSource
	}
	return l
}

// applyTo sets the server's timeouts and header bound.
func (l HTTPLimits) applyTo(s *http.Server) {
	s.ReadHeaderTimeout = l.ReadHeaderTimeout
	s.ReadTimeout = l.ReadTimeout
	s.WriteTimeout = l.WriteTimeout
	s.IdleTimeout = l.IdleTimeout
	s.MaxHeaderBytes = l.MaxHeaderBytes
}

// perSourceListener caps the concurrent connections per source IP of the
// listener it wraps: Accept closes a connection over the cap at once and
// goes on accepting, so that one sender cannot hold every connection (and
// goroutine) of the OSP server. Safe for concurrent use.
type perSourceListener struct {
	net.Listener
	max     int
	refused *atomic.Uint64 // connections closed over the cap

	mu    sync.Mutex
	conns map[string]int // open connections by source IP
}

// limitPerSource wraps ln so that each source IP holds at most max
// connections at a time; refused counts the connections closed over it.
func limitPerSource(ln net.Listener, max int, refused *atomic.Uint64) net.Listener {
	return &perSourceListener{Listener: ln, max: max, refused: refused, conns: map[string]int{}}
}

func (l *perSourceListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := sourceIP(c.RemoteAddr())
		l.mu.Lock()
		ok := l.conns[src] < l.max
		if ok {
			l.conns[src]++
		}
		l.mu.Unlock()
		if ok {
			return &countedConn{Conn: c, release: func() { l.release(src) }}, nil
		}
		l.refused.Add(1)
		_ = c.Close()
	}
}

func (l *perSourceListener) release(src string) {
	l.mu.Lock()
	if l.conns[src]--; l.conns[src] <= 0 {
		delete(l.conns, src)
	}
	l.mu.Unlock()
}

// open returns the connections src holds (for tests).
func (l *perSourceListener) open(src string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conns[src]
}

func sourceIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// countedConn releases its slot once, on the first Close.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite half-closes the connection when the wrapped one can (a TCP
// connection): net/http half-closes before closing a connection it
// refuses (431, 400), so that the client reads the answer instead of a
// reset; hiding the method would turn every such answer into a reset.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
