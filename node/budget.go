package node

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// budget bounds what clients of one listener can hold: connections (in all
// and per source) and, for the OSP listeners, bytes of request bodies read
// but not yet decoded (in all and per source). A source is an IPv4 address
// or an IPv6 /64 (sourceKey): one host gets a whole /64, so counting its
// addresses apart would give it 2^64 shares.
//
// When a limit is reached the budget does not refuse the newcomer: it takes
// the room back from the *slowest* client of the heaviest source — the
// connection of that source (or, for bytes, the request still being read)
// that has been in its current phase (idle, reading headers, reading the
// body) longest. A client that sends its request at once spends
// milliseconds in those phases, a slowloris seconds, so slow clients are
// starved before fast ones, and a legitimate client that shares an address
// (an SBC pool behind NAT) with one is served. A connection whose request
// is being processed is never taken; when nothing can be taken, the
// newcomer is refused (closed at once, or its request answered 503).
//
// Safe for concurrent use.
type budget struct {
	maxConns, perSource int
	maxBytes, srcBytes  int64
	refused, evicted    *atomic.Uint64
	bytesRefused        *atomic.Uint64

	mu    sync.Mutex
	conns int
	bytes int64
	srcs  map[string]*sourceUse
}

// sourceUse is what one source holds.
type sourceUse struct {
	conns map[*budgetConn]struct{}
	bytes int64
}

// errOverBudget is returned by a body read that the budget refused.
var errOverBudget = errors.New("node: request bytes over budget")

// newBudget returns a budget of maxConns connections, perSource per
// source, and (maxBytes > 0) maxBytes body bytes, srcBytes per source; the
// counters count refusals, evictions and requests refused for bytes.
func newBudget(maxConns, perSource int, maxBytes, srcBytes int64, refused, evicted, bytesRefused *atomic.Uint64) *budget {
	if bytesRefused == nil {
		bytesRefused = new(atomic.Uint64)
	}
	return &budget{maxConns: maxConns, perSource: perSource, maxBytes: maxBytes, srcBytes: srcBytes,
		refused: refused, evicted: evicted, bytesRefused: bytesRefused, srcs: map[string]*sourceUse{}}
}

// sourceKey groups a remote address into its source: the IPv4 address, or
// the IPv6 /64.
func sourceKey(a net.Addr) string {
	var ip net.IP
	if ta, ok := a.(*net.TCPAddr); ok {
		ip = ta.IP
	} else if host, _, err := net.SplitHostPort(a.String()); err == nil {
		ip = net.ParseIP(host)
	}
	if ip == nil {
		return a.String()
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// listener wraps ln: every accepted connection is admitted by the budget
// or closed at once.
func (b *budget) listener(ln net.Listener) net.Listener { return &budgetListener{Listener: ln, b: b} }

type budgetListener struct {
	net.Listener
	b *budget
}

func (l *budgetListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if bc := l.b.admit(c); bc != nil {
			return bc, nil
		}
		l.b.refused.Add(1)
		_ = c.Close()
	}
}

// budgetConn is an admitted connection. Fields below the mutex line are
// guarded by budget.mu.
type budgetConn struct {
	net.Conn
	b   *budget
	src string

	busy  bool      // its request is being processed: never taken
	since time.Time // start of its current phase
	bytes int64     // body bytes it holds
	gone  bool      // released (closed or taken)
}

func (c *budgetConn) Close() error {
	err := c.Conn.Close()
	c.b.mu.Lock()
	c.b.releaseLocked(c)
	c.b.mu.Unlock()
	return err
}

// CloseWrite half-closes when the wrapped connection can: net/http
// half-closes before closing a connection it refuses (431, 400), so that the
// client reads the answer instead of a reset.
func (c *budgetConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// admit takes a slot for c, taking one from the slowest connection of its
// source (or of the heaviest source) when full; nil: refused.
func (b *budget) admit(c net.Conn) *budgetConn {
	bc := &budgetConn{Conn: c, b: b, src: sourceKey(c.RemoteAddr()), since: time.Now()}
	var victims []*budgetConn
	defer func() { closeAll(victims) }()
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.srcs[bc.src]
	if s != nil && len(s.conns) >= b.perSource {
		v := oldest(s, false)
		if v == nil {
			return nil
		}
		victims = append(victims, b.takeLocked(v))
	}
	if b.conns >= b.maxConns {
		v := b.slowestOfHeaviestLocked(func(u *sourceUse) int64 { return int64(len(u.conns)) }, false)
		if v == nil {
			return nil
		}
		victims = append(victims, b.takeLocked(v))
	}
	if s = b.srcs[bc.src]; s == nil {
		s = &sourceUse{conns: map[*budgetConn]struct{}{}}
		b.srcs[bc.src] = s
	}
	s.conns[bc] = struct{}{}
	b.conns++
	return bc
}

// charge accounts k more body bytes read by c; over a limit it takes bytes
// back from the slowest request of the source over its share, or of the
// heaviest source. errOverBudget: c itself is that slowest request (or
// nothing could be taken) and must give up.
func (b *budget) charge(c *budgetConn, k int) error {
	if c == nil || k <= 0 || b.maxBytes <= 0 {
		return nil
	}
	var victims []*budgetConn
	defer func() { closeAll(victims) }()
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.gone {
		return errOverBudget
	}
	s := b.srcs[c.src]
	c.bytes += int64(k)
	s.bytes += int64(k)
	b.bytes += int64(k)
	for s.bytes > b.srcBytes || b.bytes > b.maxBytes {
		var v *budgetConn
		if s.bytes > b.srcBytes {
			v = oldest(s, true)
		} else {
			v = b.slowestOfHeaviestLocked(func(u *sourceUse) int64 { return u.bytes }, true)
		}
		if v == nil || v == c {
			b.bytesRefused.Add(1)
			return errOverBudget
		}
		victims = append(victims, b.takeLocked(v))
	}
	return nil
}

// done marks the end of c's body: its bytes are released and, with busy,
// its request is being processed (not to be taken).
func (b *budget) done(c *budgetConn, busy bool) {
	if c == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.gone {
		return
	}
	b.dropBytesLocked(c)
	c.busy = busy
	c.since = time.Now()
}

// connState is http.Server.ConnState: a connection going idle, or starting
// a new request, starts a new phase.
func (b *budget) connState(c net.Conn, st http.ConnState) {
	bc := unwrapBudgetConn(c)
	if bc == nil || (st != http.StateIdle && st != http.StateActive) {
		return
	}
	b.done(bc, false)
}

// connContext is http.Server.ConnContext: it puts the connection where the
// handler finds it (budgetConnOf).
func (b *budget) connContext(ctx context.Context, c net.Conn) context.Context {
	if bc := unwrapBudgetConn(c); bc != nil {
		return context.WithValue(ctx, budgetConnKey{}, bc)
	}
	return ctx
}

type budgetConnKey struct{}

func budgetConnOf(r *http.Request) *budgetConn {
	bc, _ := r.Context().Value(budgetConnKey{}).(*budgetConn)
	return bc
}

func unwrapBudgetConn(c net.Conn) *budgetConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	bc, _ := c.(*budgetConn)
	return bc
}

// oldest is s's connection longest in its phase, not busy; withBytes: only
// one holding body bytes.
func oldest(s *sourceUse, withBytes bool) *budgetConn {
	var v *budgetConn
	for c := range s.conns {
		if c.busy || (withBytes && c.bytes == 0) {
			continue
		}
		if v == nil || c.since.Before(v.since) {
			v = c
		}
	}
	return v
}

// slowestOfHeaviestLocked is the slowest takeable connection (oldest,
// withBytes) of the heaviest source that has one.
func (b *budget) slowestOfHeaviestLocked(weight func(*sourceUse) int64, withBytes bool) *budgetConn {
	var v *budgetConn
	var w int64
	for _, s := range b.srcs {
		if sw := weight(s); v == nil || sw > w {
			if c := oldest(s, withBytes); c != nil {
				v, w = c, sw
			}
		}
	}
	return v
}

// takeLocked releases v for a newcomer; the caller closes it after
// unlocking (its handler's reads fail and it gives up).
func (b *budget) takeLocked(v *budgetConn) *budgetConn {
	b.releaseLocked(v)
	b.evicted.Add(1)
	return v
}

func (b *budget) dropBytesLocked(c *budgetConn) {
	if s := b.srcs[c.src]; s != nil {
		s.bytes -= c.bytes
	}
	b.bytes -= c.bytes
	c.bytes = 0
}

func (b *budget) releaseLocked(c *budgetConn) {
	if c.gone {
		return
	}
	c.gone = true
	b.dropBytesLocked(c)
	b.conns--
	if s := b.srcs[c.src]; s != nil {
		delete(s.conns, c)
		if len(s.conns) == 0 {
			delete(b.srcs, c.src)
		}
	}
}

func closeAll(cs []*budgetConn) {
	for _, c := range cs {
		_ = c.Conn.Close()
	}
}

// use reports the connections and body bytes a source holds, and the
// totals (for tests and metrics).
func (b *budget) use(src string) (conns int, bytes int64, totalConns int, totalBytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.srcs[src]; s != nil {
		conns, bytes = len(s.conns), s.bytes
	}
	return conns, bytes, b.conns, b.bytes
}
