package node

// The hostile-input corpus: malformed, oversized, tricky and replayed OSP
// requests sent to a live node over raw TCP, so that broken framing reaches
// the server as it is. Every case names its expected answer (HTTP status,
// OSP Status code, component) in testdata/hostile/expect.json; after the
// corpus the node must still answer a good request and must not have
// logged a recovered handler panic.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ospnode/ospnode/osp"
)

// hostileCase is one entry of testdata/hostile/expect.json.
type hostileCase struct {
	Name string `json:"name"`
	// File is a corpus file: *.xml is sent as a well-framed toolkit POST,
	// *.http as raw bytes ({{LEN}} replaced by the body length). Gen names
	// a generator of hostileGens instead (large inputs).
	File string `json:"file,omitempty"`
	Gen  string `json:"gen,omitempty"`
	// HTTP is the expected HTTP status; 0 means the server closes the
	// connection without answering.
	HTTP int `json:"http"`
	// OSP is the expected OSP Status code of the one component of an HTTP
	// 200 answer, and Answer its component name.
	OSP    int    `json:"osp,omitempty"`
	Answer string `json:"answer,omitempty"`
	// Closed: the server must close the connection within WithinSeconds
	// (default 3) after answering (or instead of answering).
	Closed        bool    `json:"closed,omitempty"`
	WithinSeconds float64 `json:"within_seconds,omitempty"`
	// ThenHTTP is the status of a second response read from the same
	// connection (the bytes left over after a short Content-Length).
	ThenHTTP int `json:"then_http,omitempty"`
	// Bug, when set, names a known bug: a case that does not get its
	// expected answer is skipped with this text instead of failing.
	Bug string `json:"bug,omitempty"`
	// Crashes: the known bug takes the whole process down, so the case is
	// not sent at all until it is fixed.
	Crashes bool   `json:"crashes,omitempty"`
	Note    string `json:"note,omitempty"`
}

func loadHostileCases(t *testing.T) []hostileCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "hostile", "expect.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cs []hostileCase
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cs); err != nil {
		t.Fatalf("expect.json: %v", err)
	}
	return cs
}

// panicLog is a slog handler that keeps every record mentioning a panic
// (net/http logs a recovered handler panic to the server's ErrorLog, which
// the node routes to its logger) and forwards everything to next.
type panicLog struct {
	next   slog.Handler
	mu     *sync.Mutex
	panics *[]string
}

func newPanicLog(next slog.Handler) panicLog {
	return panicLog{next: next, mu: new(sync.Mutex), panics: new([]string)}
}

func (h panicLog) Enabled(context.Context, slog.Level) bool { return true }

func (h panicLog) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(strings.ToLower(r.Message), "panic") {
		h.mu.Lock()
		*h.panics = append(*h.panics, r.Message)
		h.mu.Unlock()
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h panicLog) WithAttrs(as []slog.Attr) slog.Handler {
	h.next = h.next.WithAttrs(as)
	return h
}

func (h panicLog) WithGroup(g string) slog.Handler {
	h.next = h.next.WithGroup(g)
	return h
}

func (h panicLog) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), *h.panics...)
}

// offsetClock is the node's clock: real time plus a settable offset, so a
// test can move the node past a token's validity.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) now() time.Time      { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) set(d time.Duration) { c.off.Store(int64(d)) }

// hostileNode is a demo node with a panic-watching logger and a movable
// clock.
type hostileNode struct {
	*Node
	log   panicLog
	clock *offsetClock
}

func openHostileNode(t *testing.T) *hostileNode {
	t.Helper()
	cfg := testConfig(t, "n1")
	cfg.Bootstrap, cfg.Demo = true, true
	// Short read timeouts so that the slowloris cases end quickly; the
	// largest body (2 MB over loopback) is read well within them.
	cfg.HTTP.ReadHeaderTimeout, cfg.HTTP.ReadTimeout = 2*time.Second, 4*time.Second
	pl := newPanicLog(cfg.Logger.Handler())
	cfg.Logger = slog.New(pl)
	clk := &offsetClock{}
	cfg.Clock = clk.now
	h := &hostileNode{Node: openNode(t, cfg), log: pl, clock: clk}
	t.Cleanup(func() { h.assertNoPanic(t) })
	return h
}

func (h *hostileNode) ospAddr(t testing.TB) string {
	t.Helper()
	u := strings.TrimPrefix(h.OSPURL(), "http://")
	return strings.TrimSuffix(u, "/osp")
}

func (h *hostileNode) assertNoPanic(t testing.TB) {
	t.Helper()
	if p := h.log.list(); len(p) > 0 {
		t.Errorf("the node logged %d recovered panic(s), first: %s", len(p), p[0])
	}
}

// rawConn is one raw TCP connection to the OSP listener.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

// dialRaw connects from the loopback address src ("" = 127.0.0.1).
func dialRaw(t testing.TB, addr, src string) *rawConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %q: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

// send writes raw in the background: the server may answer (and close)
// before it has read everything, so the write error is ignored.
func (c *rawConn) send(raw []byte) {
	go func() { _, _ = c.Write(raw) }()
}

// rawAnswer is one HTTP response read off a raw connection.
type rawAnswer struct {
	status int
	header http.Header
	head   int // bytes of the status line and header block
	body   []byte
	close  bool // Connection: close
}

// readAnswer reads one response within d. It returns nil (and no error)
// when the server closed the connection without answering.
func (c *rawConn) readAnswer(d time.Duration) (*rawAnswer, error) {
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		return nil, err
	}
	// Measure the header block: the toolkit wants it under 1024 bytes.
	var head bytes.Buffer
	tee := bufio.NewReader(io.TeeReader(c.br, &head))
	resp, err := http.ReadResponse(tee, nil)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err) {
			return nil, nil
		}
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	// What tee buffered beyond this response belongs to the next one.
	rest, _ := tee.Peek(tee.Buffered())
	c.br = bufio.NewReader(io.MultiReader(bytes.NewReader(append([]byte(nil), rest...)), c.br))
	h := bytes.Index(head.Bytes(), []byte("\r\n\r\n"))
	return &rawAnswer{status: resp.StatusCode, header: resp.Header, head: h + 4, body: body, close: resp.Close}, nil
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

// closedWithin reports whether the server closes the connection within d:
// a read that returns EOF or a reset before the deadline. Bytes the server
// still sends (an answer to leftover bytes) are drained.
func (c *rawConn) closedWithin(d time.Duration) error {
	deadline := time.Now().Add(d)
	if err := c.SetReadDeadline(deadline); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	for {
		_, err := c.br.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("connection still open after %v", d)
		}
		return nil // EOF or reset: closed
	}
}

// frameXML wraps a bare body as the toolkit frames it.
func frameXML(body []byte) []byte {
	h := fmt.Sprintf("POST /osp HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: text/plain\r\nContent-Length: %d\r\nConnection: Keep-Alive\r\n\r\n", len(body))
	return append([]byte(h), body...)
}

// fillLen replaces {{LEN}} with the length of what follows the header
// block (CRLF or bare-LF framed).
func fillLen(raw []byte) []byte {
	if !bytes.Contains(raw, []byte("{{LEN}}")) {
		return raw
	}
	i, sep := bytes.Index(raw, []byte("\r\n\r\n")), 4
	if j := bytes.Index(raw, []byte("\n\n")); i < 0 || (j >= 0 && j < i) {
		i, sep = j, 2
	}
	n := len(raw) - i - sep
	return bytes.Replace(raw, []byte("{{LEN}}"), []byte(fmt.Sprint(n)), 1)
}

func hostileBytes(t *testing.T, c hostileCase) []byte {
	t.Helper()
	if c.Gen != "" {
		g, ok := hostileGens[c.Gen]
		if !ok {
			t.Fatalf("no generator %q", c.Gen)
		}
		return g()
	}
	b, err := os.ReadFile(filepath.Join("testdata", "hostile", c.File))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(c.File, ".xml") {
		return frameXML(b)
	}
	return fillLen(b)
}

// goodAuthBody is a toolkit-like AuthorizationRequest from carrier-a for
// a routed number, with its own messageId and Call-ID.
func goodAuthBody(msgID, callID string, extra string) []byte {
	return fmt.Appendf(nil, `<?xml version="1.0"?><Message messageId="%s" random="1">
<AuthorizationRequest componentId="%s0">
<Timestamp>
2026-11-26T10:36:35Z</Timestamp>
<CallId encoding="cdata">
%s</CallId>
<SourceInfo type="e164">
%s</SourceInfo>
<DeviceInfo type="transport">
[127.0.0.1]:5060</DeviceInfo>
<DestinationInfo type="e164">
%s</DestinationInfo>
<Service/>
<MaximumDestinations>
5</MaximumDestinations>
%s</AuthorizationRequest>
</Message>
`, msgID, msgID, callID, calling, called, extra)
}

func goodAuthWith(msgID, callID, calling, called, extra string) []byte {
	b := goodAuthBody(msgID, callID, extra)
	b = bytes.Replace(b, []byte("\n14048724799<"), []byte("\n"+calling+"<"), 1)
	return bytes.Replace(b, []byte("\n16785551234<"), []byte("\n"+called+"<"), 1)
}

// hostileGens build the large inputs of expect.json.
var hostileGens = map[string]func() []byte{
	"huge-attribute": func() []byte {
		b := goodAuthBody("2001", "g1", "")
		return frameXML(bytes.Replace(b, []byte(`componentId="20010"`), []byte(`componentId="20010" x="`+strings.Repeat("A", 100_000)+`"`), 1))
	},
	"huge-message-id": func() []byte {
		return frameXML(bytes.Replace(goodAuthBody("2002", "g2", ""), []byte(`messageId="2002"`), []byte(`messageId="`+strings.Repeat("7", 100_000)+`"`), 1))
	},
	"huge-text-calling": func() []byte {
		return frameXML(goodAuthWith("2003", "g3", strings.Repeat("1", 500_000), called, ""))
	},
	"huge-text-called": func() []byte {
		return frameXML(goodAuthWith("2004", "g4", calling, strings.Repeat("1", 500_000), ""))
	},
	"huge-text-noncritical": func() []byte {
		return frameXML(goodAuthBody("2005", "g5", `<OspnodeJunk critical="false">`+strings.Repeat("x", 900_000)+"</OspnodeJunk>\n"))
	},
	"calling-with-space": func() []byte {
		return frameXML(goodAuthWith("2012", "g12", "1404 8724799", called, ""))
	},
	"callid-too-long-for-token": func() []byte {
		return frameXML(goodAuthBody("2013", strings.Repeat("c", 1000), ""))
	},
	"huge-callid": func() []byte {
		return frameXML(goodAuthBody("2006", strings.Repeat("c", 500_000), ""))
	},
	"deep-nesting-10k": func() []byte {
		var b strings.Builder
		for range 10_000 {
			b.WriteString(`<X critical="false">`)
		}
		for range 10_000 {
			b.WriteString(`</X>`)
		}
		return frameXML(goodAuthBody("2007", "g7", b.String()))
	},
	"deep-nesting-10k-unclosed": func() []byte {
		return frameXML(goodAuthBody("2008", "g8", strings.Repeat("<X>", 10_000)))
	},
	"element-bomb": func() []byte {
		return frameXML(goodAuthBody("2009", "g9", strings.Repeat(`<X critical="false"/>`, 30_000)))
	},
	"elements-under-limit": func() []byte {
		return frameXML(goodAuthBody("2010", "g10", strings.Repeat(`<X critical="false"/>`, 19_000)))
	},
	"components-65": func() []byte {
		one := goodAuthBody("2011", "g11", "")
		s := string(one)
		i := strings.Index(s, "<AuthorizationRequest")
		j := strings.Index(s, "</Message>")
		var b strings.Builder
		b.WriteString(s[:i])
		for k := range 65 {
			b.WriteString(strings.Replace(s[i:j], `componentId="20110"`, fmt.Sprintf(`componentId="c%d"`, k), 1))
		}
		b.WriteString(s[j:])
		return frameXML([]byte(b.String()))
	},
	"body-over-limit": func() []byte {
		body := bytes.Repeat([]byte("A"), 2<<20)
		return frameXML(body)
	},
	"body-at-limit-not-xml": func() []byte {
		return frameXML(bytes.Repeat([]byte("A"), 1<<20))
	},
	"content-length-huge": func() []byte {
		return []byte("POST /osp HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: text/plain\r\nContent-Length: 99999999999999\r\n\r\n<?xml")
	},
	"header-bomb": func() []byte {
		return append([]byte("POST /osp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Junk: "+strings.Repeat("j", 64<<10)+"\r\nContent-Length: 0\r\n\r\n"), nil...)
	},
}

// checkAnswer compares one answer with c, returning what differs.
func checkAnswer(c hostileCase, a *rawAnswer) error {
	if a == nil {
		if c.HTTP != 0 {
			return fmt.Errorf("connection closed without an answer, want HTTP %d", c.HTTP)
		}
		return nil
	}
	if a.status != c.HTTP {
		return fmt.Errorf("HTTP %d, want %d (body %.300q)", a.status, c.HTTP, a.body)
	}
	// net/http's own refusals (malformed framing, 431) carry no length
	// but close the connection; every answer of the node has one.
	if len(a.header.Values("Transfer-Encoding")) > 0 ||
		a.header.Get("Content-Length") == "" && !a.close {
		return fmt.Errorf("answer without Content-Length, or chunked: %v", a.header)
	}
	if a.status != http.StatusOK {
		return nil
	}
	// An OSP answer: what the toolkit can read.
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		return fmt.Errorf("content type %q", ct)
	}
	if a.head >= 1024 {
		return fmt.Errorf("header block of %d bytes, the toolkit wants < 1024", a.head)
	}
	if err := osp.CheckToolkitRules(a.body); err != nil {
		return fmt.Errorf("answer breaks the toolkit's rules: %v\n%s", err, a.body)
	}
	m, err := osp.Decode(a.body, osp.Limits{})
	if err != nil {
		return fmt.Errorf("answer does not decode: %v", err)
	}
	if len(m.Components) != 1 {
		return fmt.Errorf("%d components in the answer, want 1", len(m.Components))
	}
	comp := &m.Components[0]
	st, _ := comp.Status()
	if got := comp.Kind().String(); c.Answer != "" && got != c.Answer {
		return fmt.Errorf("answer %s, want %s", got, c.Answer)
	}
	if st.Code != c.OSP {
		return fmt.Errorf("OSP status %d (%s), want %d", st.Code, st.Description, c.OSP)
	}
	if ar := comp.AuthorizationResponse; ar != nil && !st.OK() && len(ar.Destinations) > 0 {
		return fmt.Errorf("refusal %d with %d destinations", st.Code, len(ar.Destinations))
	}
	return nil
}

// runHostile sends one case and checks the answer and the connection's fate.
func runHostile(t *testing.T, addr string, c hostileCase) error {
	raw := hostileBytes(t, c)
	conn := dialRaw(t, addr, "127.0.0.1")
	conn.send(raw)
	within := 3 * time.Second
	if c.WithinSeconds > 0 {
		within = time.Duration(c.WithinSeconds * float64(time.Second))
	}
	// The read bound: the hostile node's slowest timeout (ReadTimeout
	// 4 s) plus a margin; cases that expect a timeout say so in
	// within_seconds.
	a, err := conn.readAnswer(within + 10*time.Second)
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if err := checkAnswer(c, a); err != nil {
		return err
	}
	if c.ThenHTTP != 0 {
		b, err := conn.readAnswer(within)
		if err != nil {
			return fmt.Errorf("reading the second answer: %w", err)
		}
		if b == nil || b.status != c.ThenHTTP {
			return fmt.Errorf("second answer %+v, want HTTP %d", b, c.ThenHTTP)
		}
	}
	if c.Closed {
		if err := conn.closedWithin(within); err != nil {
			return err
		}
	}
	// The node still serves a good request right after this case.
	alive := dialRaw(t, addr, "127.0.0.1")
	id := fmt.Sprintf("%d", time.Now().UnixNano())
	alive.send(frameXML(goodAuthBody(id, "alive-"+c.Name, "")))
	a, err = alive.readAnswer(10 * time.Second)
	if err != nil {
		return fmt.Errorf("good request after the case: %w", err)
	}
	if err := checkAnswer(hostileCase{HTTP: 200, OSP: osp.StatusOK, Answer: "AuthorizationResponse"}, a); err != nil {
		return fmt.Errorf("good request after the case: %w", err)
	}
	return nil
}

// TestHostileCorpus runs every case of testdata/hostile/expect.json against
// one live demo node, concurrently, then checks the node still serves a
// good request and recovered no panic.
func TestHostileCorpus(t *testing.T) {
	cases := loadHostileCases(t)
	n := openHostileNode(t)
	addr := n.ospAddr(t)
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.Name] {
			t.Fatalf("duplicate case %q", c.Name)
		}
		seen[c.Name] = true
	}
	t.Run("cases", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.Name, func(t *testing.T) {
				t.Parallel()
				if c.Crashes {
					t.Skipf("known bug (crashes the node, not sent): %s", c.Bug)
				}
				err := runHostile(t, addr, c)
				switch {
				case err != nil && c.Bug != "":
					t.Skipf("known bug: %s (%v)", c.Bug, err)
				case err != nil:
					t.Error(err)
				case c.Bug != "":
					t.Errorf("case marked as known bug %q now passes: remove the mark", c.Bug)
				}
			})
		}
	})
	assertServes(t, n)
}

// assertServes checks that the node still answers a good request with a
// route and a token.
func assertServes(t *testing.T, n *hostileNode) {
	t.Helper()
	conn := dialRaw(t, n.ospAddr(t), "127.0.0.1")
	id := fmt.Sprint(time.Now().UnixNano())
	conn.send(frameXML(goodAuthBody(id, "alive-"+id, "")))
	a, err := conn.readAnswer(10 * time.Second)
	if err != nil {
		t.Fatalf("good request after the corpus: %v", err)
	}
	if err := checkAnswer(hostileCase{HTTP: 200, OSP: osp.StatusOK, Answer: "AuthorizationResponse"}, a); err != nil {
		t.Fatalf("good request after the corpus: %v", err)
	}
	n.assertNoPanic(t)
}

// TestHostileServerLimits records the limits of the node's HTTP servers:
// header size, timeouts, body size.
func TestHostileServerLimits(t *testing.T) {
	n := openHostileNode(t)
	for name, s := range map[string]*http.Server{"osp": n.ospSrv, "admin": n.adminSrv} {
		if s == nil {
			t.Fatalf("%s server not running", name)
		}
		if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 {
			t.Errorf("%s server: a timeout is unset: header %v read %v write %v idle %v",
				name, s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout)
		}
		if s.MaxHeaderBytes <= 0 || s.MaxHeaderBytes > 64<<10 {
			t.Errorf("%s server: MaxHeaderBytes %d", name, s.MaxHeaderBytes)
		}
		t.Logf("%s server: ReadHeaderTimeout %v ReadTimeout %v WriteTimeout %v IdleTimeout %v MaxHeaderBytes %d",
			name, s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout, s.MaxHeaderBytes)
	}
	lim := n.Config().Limits
	d := osp.DefaultLimits()
	t.Logf("osp decode limits (zero = default): configured %+v, defaults %+v", lim, d)
}
