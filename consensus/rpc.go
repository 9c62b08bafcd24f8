package consensus

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// The internal channel is a small multiplexed request/response protocol on
// connections of type connInternal. Frames:
//
//	request:  uint32 length | type byte | uint64 id | body
//	response: uint32 length | status byte | uint64 id | body
//
// Many requests share one connection per peer; the server answers each in its
// own goroutine, so a slow barrier never blocks a forwarded batch. Message
// types and status codes are never renumbered.
const (
	rpcPropose   byte = 1 // body: uvarint timeout ns, cmds → results
	rpcReadIndex byte = 2 // body: uvarint timeout ns → uvarint applied index
	rpcJoin      byte = 3 // body: uvarint timeout ns, id, addr → -
	rpcRemove    byte = 4 // body: uvarint timeout ns, id → -
	rpcTransfer  byte = 5 // body: uvarint timeout ns, id → -
)

// Response status codes; every non-OK status carries a message string first.
const (
	stOK          byte = 0
	stNotAppended byte = 1 // not the leader or never submitted: safe to retry elsewhere
	stNoQuorum    byte = 2
	stTimeout     byte = 3
	stClosed      byte = 4
	stError       byte = 5
)

// rpcHello is the byte a server writes when it starts serving a connection
// (the protocol version of the internal channel).
const rpcHello byte = 1

func readHello(c net.Conn, timeout time.Duration) error {
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return err
	}
	if b[0] != rpcHello {
		return fmt.Errorf("unsupported internal channel version %d", b[0])
	}
	return c.SetReadDeadline(time.Time{})
}

// maxFrame bounds a frame so that a corrupt length cannot allocate gigabytes.
const maxFrame = 256 << 20

// errNotAppended marks failures that guarantee the request had no effect
// (the peer was not the leader, could not be dialled, or never took the
// command): Propose retries them against the current leader.
var errNotAppended = errors.New("consensus: request not applied")

// errRemote is a remote failure that maps to no sentinel.
type errRemote struct{ msg string }

func (e *errRemote) Error() string { return "consensus: remote: " + e.msg }

func statusOf(err error) (byte, string) {
	switch {
	case err == nil:
		return stOK, ""
	case errors.Is(err, errNotAppended), errors.Is(err, ErrNotLeader):
		return stNotAppended, err.Error()
	case errors.Is(err, ErrNoQuorum):
		return stNoQuorum, err.Error()
	case errors.Is(err, ErrTimeout):
		return stTimeout, err.Error()
	case errors.Is(err, ErrClosed):
		return stClosed, err.Error()
	default:
		return stError, err.Error()
	}
}

func errOf(status byte, msg string) error {
	switch status {
	case stOK:
		return nil
	case stNotAppended:
		return fmt.Errorf("%w: leader says: %s", errNotAppended, msg)
	case stNoQuorum:
		return fmt.Errorf("%w: leader says: %s", ErrNoQuorum, msg)
	case stTimeout:
		return fmt.Errorf("%w: leader says: %s", ErrTimeout, msg)
	case stClosed:
		// The leader is shutting down; to us that is a lost leader.
		return fmt.Errorf("%w: leader says: %s", ErrNoQuorum, msg)
	default:
		return &errRemote{msg: msg}
	}
}

func writeFrame(w *bufio.Writer, head byte, id uint64, body []byte) error {
	var h [13]byte
	binary.BigEndian.PutUint32(h[:4], uint32(9+len(body)))
	h[4] = head
	binary.BigEndian.PutUint64(h[5:], id)
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	return w.Flush()
}

func readFrame(r *bufio.Reader) (head byte, id uint64, body []byte, err error) {
	var l [4]byte
	if _, err = io.ReadFull(r, l[:]); err != nil {
		return
	}
	n := binary.BigEndian.Uint32(l[:])
	if n < 9 || n > maxFrame {
		err = fmt.Errorf("%w: frame length %d", errMalformed, n)
		return
	}
	buf := make([]byte, n)
	if _, err = io.ReadFull(r, buf); err != nil {
		return
	}
	return buf[0], binary.BigEndian.Uint64(buf[1:9]), buf[9:], nil
}

// rpcClient keeps one multiplexed connection per peer address.
type rpcClient struct {
	m           *mux
	dialTimeout time.Duration

	mu     sync.Mutex
	conns  map[string]*clientConn
	closed bool
}

type rpcResp struct {
	status byte
	body   []byte
}

type clientConn struct {
	c   net.Conn
	wmu sync.Mutex
	w   *bufio.Writer

	mu      sync.Mutex
	next    uint64
	pending map[uint64]chan rpcResp
	dead    error
}

func (rc *rpcClient) conn(addr string) (*clientConn, error) {
	rc.mu.Lock()
	if rc.closed {
		rc.mu.Unlock()
		return nil, ErrClosed
	}
	if cc := rc.conns[addr]; cc != nil {
		rc.mu.Unlock()
		return cc, nil
	}
	rc.mu.Unlock()
	// Dial outside the lock; a concurrent dial to the same peer may win, in
	// which case ours is closed.
	c, err := rc.m.dial(addr, connInternal, rc.dialTimeout)
	if err != nil {
		return nil, fmt.Errorf("%w: dial %s: %w", errNotAppended, addr, err)
	}
	// Wait for the server's hello before sending anything: a connection
	// accepted by something in between (a proxy, a dying process) but never
	// served must count as "not sent", so that the request can safely go to
	// the next leader instead of ending with an unknown outcome.
	if err := readHello(c, rc.dialTimeout); err != nil {
		c.Close()
		return nil, fmt.Errorf("%w: dial %s: no hello: %w", errNotAppended, addr, err)
	}
	cc := &clientConn{c: c, w: bufio.NewWriterSize(c, 64<<10), pending: map[uint64]chan rpcResp{}}
	rc.mu.Lock()
	if rc.closed {
		rc.mu.Unlock()
		c.Close()
		return nil, ErrClosed
	}
	if old := rc.conns[addr]; old != nil {
		rc.mu.Unlock()
		c.Close()
		return old, nil
	}
	rc.conns[addr] = cc
	rc.mu.Unlock()
	go rc.readLoop(addr, cc)
	return cc, nil
}

func (rc *rpcClient) readLoop(addr string, cc *clientConn) {
	r := bufio.NewReaderSize(cc.c, 64<<10)
	var err error
	for {
		var status byte
		var id uint64
		var body []byte
		status, id, body, err = readFrame(r)
		if err != nil {
			break
		}
		cc.mu.Lock()
		ch := cc.pending[id]
		delete(cc.pending, id)
		cc.mu.Unlock()
		if ch != nil {
			ch <- rpcResp{status: status, body: body}
		}
	}
	rc.mu.Lock()
	if rc.conns[addr] == cc {
		delete(rc.conns, addr)
	}
	rc.mu.Unlock()
	cc.c.Close()
	cc.mu.Lock()
	cc.dead = fmt.Errorf("%w: connection to %s lost: %w", ErrNoQuorum, addr, err)
	pend := cc.pending
	cc.pending = nil
	cc.mu.Unlock()
	for _, ch := range pend {
		close(ch)
	}
}

// call sends one request and waits for its response. A failure before any
// byte was sent wraps errNotAppended; after that, the outcome is unknown
// (ErrNoQuorum for a lost connection, ErrTimeout for ctx).
func (rc *rpcClient) call(ctx context.Context, addr string, typ byte, body []byte) ([]byte, error) {
	cc, err := rc.conn(addr)
	if err != nil {
		return nil, err
	}
	ch := make(chan rpcResp, 1)
	cc.mu.Lock()
	if cc.dead != nil {
		cc.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", errNotAppended, cc.dead)
	}
	cc.next++
	id := cc.next
	cc.pending[id] = ch
	cc.mu.Unlock()

	cc.wmu.Lock()
	if dl, ok := ctx.Deadline(); ok {
		_ = cc.c.SetWriteDeadline(dl)
	} else {
		_ = cc.c.SetWriteDeadline(time.Time{})
	}
	err = writeFrame(cc.w, typ, id, body)
	cc.wmu.Unlock()
	if err != nil {
		cc.c.Close() // the read loop fails every pending call
		return nil, fmt.Errorf("%w: send to %s: %w", ErrNoQuorum, addr, err)
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			cc.mu.Lock()
			dead := cc.dead
			cc.mu.Unlock()
			return nil, dead
		}
		r := rbuf{b: resp.body}
		if resp.status != stOK {
			return nil, errOf(resp.status, r.str())
		}
		return resp.body, nil
	case <-ctx.Done():
		cc.mu.Lock()
		if cc.pending != nil {
			delete(cc.pending, id)
		}
		cc.mu.Unlock()
		return nil, ctxErr(ctx)
	}
}

func (rc *rpcClient) close() {
	rc.mu.Lock()
	rc.closed = true
	conns := rc.conns
	rc.conns = map[string]*clientConn{}
	rc.mu.Unlock()
	for _, cc := range conns {
		cc.c.Close()
	}
}

// caller is who sent an internal-channel request: when checked, the node
// identity of its TLS certificate (Config.PeerID), or why it has none.
type caller struct {
	checked bool
	id      string
	err     error
	state   tls.ConnectionState
}

// rpcServer answers internal-channel requests.
type rpcServer struct {
	ln      *subListener
	handle  func(ctx context.Context, caller caller, typ byte, body []byte) ([]byte, error)
	peerID  func(tls.ConnectionState) (string, error) // nil: callers are not identified
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	stopped bool
}

func (s *rpcServer) serve() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.stopped {
				s.mu.Unlock()
				c.Close()
				return
			}
			s.conns[c] = struct{}{}
			s.wg.Add(1)
			s.mu.Unlock()
			go s.serveConn(c)
		}
	}()
}

func (s *rpcServer) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	if err := c.SetWriteDeadline(time.Now().Add(handshakeTimeout)); err != nil {
		return
	}
	if _, err := c.Write([]byte{rpcHello}); err != nil {
		return
	}
	if err := c.SetWriteDeadline(time.Time{}); err != nil {
		return
	}
	who := caller{}
	if s.peerID != nil {
		who.checked = true
		if tc, ok := c.(*tls.Conn); ok {
			who.state = tc.ConnectionState()
			who.id, who.err = s.peerID(who.state)
		} else {
			who.err = errors.New("not a TLS connection")
		}
		if who.err == nil && who.id == "" {
			who.err = errors.New("no node identity")
		}
	}
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriterSize(c, 64<<10)
	var wmu sync.Mutex
	var reqs sync.WaitGroup
	defer reqs.Wait()
	for {
		typ, id, body, err := readFrame(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("consensus: internal channel read failed", "remote", c.RemoteAddr().String(), "err", err)
			}
			return
		}
		reqs.Add(1)
		go func() {
			defer reqs.Done()
			out, herr := s.handle(s.ctx, who, typ, body)
			st, msg := statusOf(herr)
			var resp wbuf
			if st != stOK {
				resp.str(msg)
			} else {
				resp = out
			}
			wmu.Lock()
			werr := writeFrame(w, st, id, resp)
			wmu.Unlock()
			if werr != nil {
				c.Close()
			}
		}()
	}
}

func (s *rpcServer) close() {
	s.ln.Close()
	s.mu.Lock()
	s.stopped = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// ctxErr converts a finished context into this package's errors.
func ctxErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
	return fmt.Errorf("%w: %w", ErrTimeout, context.Cause(ctx))
}
