package osp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ospServer answers every request with a UsageConfirmation or
// AuthorizationResponse built from the decoded request, and records the
// decoding errors.
type ospServer struct {
	mu   sync.Mutex
	errs []error
}

func (s *ospServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m, err := ReadRequest(r, Limits{MaxBodyBytes: 64 << 10})
	if err != nil {
		s.mu.Lock()
		s.errs = append(s.errs, err)
		s.mu.Unlock()
		// An OSP failure is HTTP 200 with an OSP status.
		_ = WriteMessage(w, &Message{MessageID: "0", Components: []Component{{ID: "0",
			UsageConfirmation: &UsageConfirmation{Timestamp: t0, Status: NewStatus(ErrorStatus(err))}}}})
		return
	}
	resp := &Message{MessageID: m.MessageID, Random: "7"}
	for _, c := range m.Components {
		resp.Components = append(resp.Components, Component{ID: c.ID,
			UsageConfirmation: &UsageConfirmation{Timestamp: t0, Status: NewStatus(StatusOK)}})
	}
	if err := WriteMessage(w, resp); err != nil {
		panic(err)
	}
}

func (s *ospServer) lastErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) == 0 {
		return nil
	}
	return s.errs[len(s.errs)-1]
}

// rawExchange sends raw bytes on a fresh TCP connection, as the toolkit
// does, and returns the raw response head and body.
func rawExchange(t *testing.T, addr string, req []byte) (head string, body []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	var h strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading head: %v (so far %q)", err, h.String())
		}
		h.WriteString(line)
		if line == "\r\n" {
			break
		}
	}
	head = h.String()
	var n int
	for _, l := range strings.Split(head, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "Content-Length") {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	body = make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		t.Fatal(err)
	}
	return head, body
}

// TestServerFramingWithToolkitBytes replays every toolkit request capture
// byte for byte and checks the response head against the toolkit's
// requirements.
func TestServerFramingWithToolkitBytes(t *testing.T) {
	srv := &ospServer{}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	addr := ts.Listener.Addr().String()
	for _, name := range captureNames(t) {
		c := loadCapture(t, name)
		if !c.isRequest || !isOSP(name) {
			continue
		}
		t.Run(name, func(t *testing.T) {
			head, body := rawExchange(t, addr, c.raw)
			checkToolkitHead(t, head)
			if err := srv.lastErr(); err != nil {
				t.Fatalf("server could not read the request: %v", err)
			}
			m, err := Decode(body, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			req, _ := DecodeBody(c.contentType, c.body, Limits{})
			if len(m.Components) != len(req.Components) || m.MessageID != req.MessageID {
				t.Fatalf("answered %d components for %d", len(m.Components), len(req.Components))
			}
			if err := CheckToolkitRules(body); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func checkToolkitHead(t *testing.T, head string) {
	t.Helper()
	if !strings.HasPrefix(head, "HTTP/1.1 200 OK\r\n") {
		t.Fatalf("status line: %q", head)
	}
	if len(head) >= 1024 {
		t.Fatalf("header block of %d bytes", len(head))
	}
	lower := strings.ToLower(head)
	if !strings.Contains(lower, "\r\ncontent-length: ") || strings.Contains(lower, "transfer-encoding") {
		t.Fatalf("no Content-Length or chunked: %q", head)
	}
	if !strings.Contains(lower, "\r\ncontent-type: text/plain") {
		t.Fatalf("content type: %q", head)
	}
}

func TestServerRefusesBadFraming(t *testing.T) {
	srv := &ospServer{}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	addr := ts.Listener.Addr().String()
	body := loadCapture(t, "01-AuthorizationRequest.minimal.http").body

	var chunked bytes.Buffer
	chunked.WriteString("POST /osp HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
	chunked.WriteString(strconv.FormatInt(int64(len(body)), 16) + "\r\n")
	chunked.Write(body)
	chunked.WriteString("\r\n0\r\n\r\n")

	big := "POST /osp HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n"
	xmlType := "POST /osp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
	tests := []struct {
		name  string
		raw   []byte
		cause error
	}{
		{"chunked", chunked.Bytes(), ErrFraming},
		{"oversized", []byte(big), ErrLimit},
		{"wrong content type", []byte(xmlType), ErrFraming},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			head, resp := rawExchange(t, addr, tt.raw)
			checkToolkitHead(t, head)
			if err := srv.lastErr(); !errors.Is(err, tt.cause) {
				t.Fatalf("server error %v, want %v", err, tt.cause)
			}
			m, err := Decode(resp, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if st := m.Components[0].UsageConfirmation.Status; st.Code != StatusBadRequest {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

func TestMultipartSigned(t *testing.T) {
	c := loadCapture(t, "11-AuthorizationResponse.multipart-signed.accepted-by-toolkit.http")
	x, sig, err := SplitSigned(c.contentType, c.body)
	if err != nil {
		t.Fatal(err)
	}
	if string(sig) != "Signature placeholder" || !bytes.HasPrefix(x, []byte("<?xml")) || !bytes.HasSuffix(x, []byte("</Message>")) {
		t.Fatalf("parts: %q / %q", x[:20], sig)
	}
	// Our own multipart/signed writer, read back by the same path.
	rec := httptest.NewRecorder()
	if err := WriteSignedMessage(rec, okResponse(), []byte("sig")); err != nil {
		t.Fatal(err)
	}
	res := rec.Result()
	if res.Header.Get("Content-Length") != strconv.Itoa(rec.Body.Len()) {
		t.Fatalf("content length %q for %d", res.Header.Get("Content-Length"), rec.Body.Len())
	}
	m, err := DecodeBody(res.Header.Get("Content-Type"), rec.Body.Bytes(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Components[0].AuthorizationResponse.Destinations[0].NetworkID != "YELLOW" {
		t.Fatal("multipart round trip")
	}
	_, sig, err = SplitSigned(res.Header.Get("Content-Type"), rec.Body.Bytes())
	if err != nil || string(sig) != "sig" {
		t.Fatalf("signature part %q %v", sig, err)
	}
	for _, bad := range []struct{ ct, body string }{
		{"multipart/signed", "x"},
		{"multipart/signed; boundary=b", "no parts here"},
		{"multipart/signed; boundary=b", "--b\r\n\r\n\r\n--b\r\n\r\nsig\r\n--b--\r\n"},
		{"text/plain", "x"},
	} {
		if _, _, err := SplitSigned(bad.ct, []byte(bad.body)); !errors.Is(err, ErrFraming) {
			t.Errorf("SplitSigned(%q, %q) = %v", bad.ct, bad.body, err)
		}
	}
}

func TestWriteMessageRefusesUnencodable(t *testing.T) {
	rec := httptest.NewRecorder()
	m := okResponse()
	m.Components[0].AuthorizationResponse.Timestamp = time.Time{}
	if err := WriteMessage(rec, m); !errors.Is(err, ErrEncode) {
		t.Fatalf("got %v", err)
	}
	if rec.Body.Len() != 0 {
		t.Fatal("wrote a body for an unencodable message")
	}
}
