package osp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func authRequest() *Message {
	return &Message{MessageID: "1", Random: "2", Components: []Component{{ID: "3", AuthorizationRequest: &AuthorizationRequest{
		Timestamp: t0, CallIDs: []Binary{Binary("call-1")},
		CallInfo: CallInfo{SourceInfo: TypedValues{{TypeE164, "14048724799"}}, DestinationInfo: TypedValues{{TypeE164, "1678"}}},
		Service:  &Service{}, MaximumDestinations: 5, Via: []string{"PURPLE"}, HopLimit: 4,
	}}}}
}

// answering returns a handler that answers AuthorizationRequests with
// status code, counting hits.
func answering(code int, hits *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		req, err := ReadRequest(r, Limits{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ar := req.Components[0].AuthorizationRequest
		rsp := &AuthorizationResponse{Timestamp: t0, Status: NewStatus(code), TransactionID: 9}
		if code == StatusOK {
			rsp.Destinations = []Destination{{SignalAddress: "[192.0.2.1]:5060", Token: []byte("t"), CallID: ar.CallIDs[0],
				UsageDetail: TimeLimit(60), NetworkID: ar.Via[0]}}
		}
		_ = WriteMessage(w, &Message{MessageID: req.MessageID, Components: []Component{{ID: req.Components[0].ID, AuthorizationResponse: rsp}}})
	})
}

// deadAddr returns a loopback URL on which nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/osp"
}

func TestClientRetriesAcrossServicePoints(t *testing.T) {
	var h500, h503, hOK atomic.Int32
	s500 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h500.Add(1)
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer s500.Close()
	s503 := httptest.NewServer(answering(StatusUnavailable, &h503))
	defer s503.Close()
	sOK := httptest.NewServer(answering(StatusOK, &hOK))
	defer sOK.Close()

	c, err := NewClient(ClientConfig{ServicePoints: []string{deadAddr(t), s500.URL + "/osp", s503.URL + "/osp", sOK.URL + "/osp"}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	m, err := c.Do(context.Background(), authRequest())
	if err != nil {
		t.Fatal(err)
	}
	r := m.Components[0].AuthorizationResponse
	if r.Status.Code != 200 || r.Destinations[0].NetworkID != "PURPLE" || string(r.Destinations[0].CallID) != "call-1" {
		t.Fatalf("response %+v", r)
	}
	if h500.Load() != 1 || h503.Load() != 1 || hOK.Load() != 1 {
		t.Fatalf("hits 500:%d 503:%d ok:%d", h500.Load(), h503.Load(), hOK.Load())
	}
}

func TestClientRefusalIsAnAnswer(t *testing.T) {
	var h404, hOK atomic.Int32
	s404 := httptest.NewServer(answering(StatusNoRoute, &h404))
	defer s404.Close()
	sOK := httptest.NewServer(answering(StatusOK, &hOK))
	defer sOK.Close()
	c, err := NewClient(ClientConfig{ServicePoints: []string{s404.URL, sOK.URL}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Do(context.Background(), authRequest())
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := m.Components[0].Status(); st.Code != StatusNoRoute || hOK.Load() != 0 {
		t.Fatalf("a 404 must be returned, not retried (status %d, next hit %d)", st.Code, hOK.Load())
	}
}

func TestClientAllUnavailable(t *testing.T) {
	var h1, h2 atomic.Int32
	a := httptest.NewServer(answering(StatusUnavailable, &h1))
	defer a.Close()
	b := httptest.NewServer(answering(StatusUnavailable, &h2))
	defer b.Close()
	c, _ := NewClient(ClientConfig{ServicePoints: []string{a.URL, b.URL}})
	m, err := c.Do(context.Background(), authRequest())
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := m.Components[0].Status(); st.Code != StatusUnavailable || h1.Load() != 1 || h2.Load() != 1 {
		t.Fatalf("status %d hits %d %d", st.Code, h1.Load(), h2.Load())
	}
}

func TestClientAllFail(t *testing.T) {
	c, err := NewClient(ClientConfig{ServicePoints: []string{deadAddr(t), deadAddr(t)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(context.Background(), authRequest()); err == nil {
		t.Fatal("no error with every service point down")
	}
}

func TestClientTimeoutMovesOn(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer stuck.Close()
	defer once.Do(func() { close(release) })
	var hOK atomic.Int32
	sOK := httptest.NewServer(answering(StatusOK, &hOK))
	defer sOK.Close()
	c, _ := NewClient(ClientConfig{ServicePoints: []string{stuck.URL, sOK.URL}, Timeout: 100 * time.Millisecond})
	m, err := c.Do(context.Background(), authRequest())
	if err != nil || m.Components[0].AuthorizationResponse.Status.Code != 200 {
		t.Fatalf("got %v", err)
	}
	once.Do(func() { close(release) })
}

func TestClientContextCancel(t *testing.T) {
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets net/http notice the client going away.
		_, _ = io.Copy(io.Discard, r.Body)
		started <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer stuck.Close()
	defer close(release)
	c, _ := NewClient(ClientConfig{ServicePoints: []string{stuck.URL, stuck.URL}, Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	if _, err := c.Do(ctx, authRequest()); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestClientKeepAlive(t *testing.T) {
	var hits atomic.Int32
	ts := httptest.NewUnstartedServer(answering(StatusOK, &hits))
	var conns atomic.Int32
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	ts.Start()
	defer ts.Close()
	c, _ := NewClient(ClientConfig{ServicePoints: []string{ts.URL}})
	for range 5 {
		if _, err := c.Do(context.Background(), authRequest()); err != nil {
			t.Fatal(err)
		}
	}
	if conns.Load() != 1 || hits.Load() != 5 {
		t.Fatalf("%d connections for %d requests", conns.Load(), hits.Load())
	}
}

func TestClientTLS(t *testing.T) {
	var hits atomic.Int32
	ts := httptest.NewTLSServer(answering(StatusOK, &hits))
	defer ts.Close()
	c, err := NewClient(ClientConfig{ServicePoints: []string{ts.URL + "/osp"}, TLSConfig: ts.Client().Transport.(*http.Transport).TLSClientConfig})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(context.Background(), authRequest()); err != nil {
		t.Fatal(err)
	}
}

func TestNewClientValidates(t *testing.T) {
	for _, sps := range [][]string{nil, {"ftp://x/osp"}, {"not a url"}, {"http://"}} {
		if _, err := NewClient(ClientConfig{ServicePoints: sps}); err == nil {
			t.Errorf("accepted %v", sps)
		}
	}
	c, err := NewClient(ClientConfig{ServicePoints: []string{"http://127.0.0.1:1/osp"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(context.Background(), &Message{}); !errors.Is(err, ErrEncode) {
		t.Fatalf("unencodable request: %v", err)
	}
}
