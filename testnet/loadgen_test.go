package testnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ospnode/ospnode/osp"
)

func baseOptions(url string, p *testPKI) LoadOptions {
	return LoadOptions{
		URLs:        []string{url},
		Concurrency: 8,
		Calls:       200,
		Duration:    time.Minute, // a bound only: the count ends the run
		Seed:        42,
		FailRatio:   0.2,
		Source:      Party{CustomerID: "1000", DeviceID: "2000", Address: "[127.0.0.1]:5060"},
		Destination: Party{CustomerID: "3000", DeviceID: "4000"},
		TokenRoots:  p.pool,
		Timeout:     10 * time.Second,
		// The responder gives each destination's token its own id.
		PerDestinationTxID: true,
	}
}

// expectedFailures recomputes, from the seeded call model, how many of the
// first n calls fail.
func expectedFailures(t *testing.T, o LoadOptions, n int) int {
	t.Helper()
	plan, err := NewNumberPlan()
	if err != nil {
		t.Fatal(err)
	}
	m := CallModel{Calling: plan, Called: plan, FailRatio: o.FailRatio, Seed: o.Seed}
	f := 0
	for i := range n {
		if c := m.NewCall(uint64(i)); c.Fail {
			f++
		}
	}
	return f
}

func typeByName(t *testing.T, r *LoadResult, name string) MessageResult {
	t.Helper()
	for _, m := range r.Types {
		if m.Type == name {
			return m
		}
	}
	t.Fatalf("no message type %s in result", name)
	return MessageResult{}
}

func TestClosedLoopCounts(t *testing.T) {
	p := newTestPKI(t, "purple")
	s := newResponder(t, p)
	s.maxDest = 8
	o := baseOptions(s.start(t), p)
	res, err := RunLoad(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	wantFail := expectedFailures(t, o, n)
	if wantFail < 25 || wantFail > 55 { // 0.2·200 = 40, sd 5.7
		t.Fatalf("seeded model draws %d failures of %d at ratio 0.2", wantFail, n)
	}
	if res.Calls != n || res.Completed != uint64(n-wantFail) || res.FailedAttempts != uint64(wantFail) || res.CallErrors != 0 {
		t.Fatalf("calls %d completed %d failed %d errors %d; want %d, %d, %d, 0",
			res.Calls, res.Completed, res.FailedAttempts, res.CallErrors, n, n-wantFail, wantFail)
	}
	auth, src, dst := typeByName(t, res, MsgAuthorization), typeByName(t, res, MsgUsageSource), typeByName(t, res, MsgUsageDestination)
	if auth.Sent != n || auth.OK != n || src.Sent != n || src.OK != n || dst.Sent != res.Completed || dst.OK != res.Completed {
		t.Fatalf("messages auth %d/%d source %d/%d destination %d/%d", auth.OK, auth.Sent, src.OK, src.Sent, dst.OK, dst.Sent)
	}
	if res.Messages != auth.Sent+src.Sent+dst.Sent || s.reqs.Load() != res.Messages {
		t.Fatalf("messages %d, responder saw %d", res.Messages, s.reqs.Load())
	}
	if !res.TokensChecked || res.TokenChecks != n || res.TokenFailures != 0 {
		t.Fatalf("tokens checked %d failed %d", res.TokenChecks, res.TokenFailures)
	}
	if auth.Latency.Count != n || auth.Latency.P50 <= 0 || auth.Latency.P99 < auth.Latency.P50 || auth.Latency.Max < auth.Latency.P99 {
		t.Fatalf("auth latency %+v", auth.Latency)
	}
	// Every confirmed usage is in the responder's ledger, once, and every
	// usage matched what was authorised (destination usage with the
	// token's TransactionId).
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.badUsages) > 0 {
		t.Fatalf("responder saw %d bad usages, first: %s", len(s.badUsages), s.badUsages[0])
	}
	if len(res.Confirmed) != n+int(res.Completed) || len(s.ledger) != len(res.Confirmed) {
		t.Fatalf("confirmed %d, ledger %d, want %d", len(res.Confirmed), len(s.ledger), n+int(res.Completed))
	}
	for _, u := range res.Confirmed {
		if !s.ledger[u] {
			t.Fatalf("confirmed usage %+v not in the ledger", u)
		}
	}
}

func TestUnsignedTokensNeedAcceptUnsigned(t *testing.T) {
	p := newTestPKI(t, "purple")
	for _, tc := range []struct {
		name   string
		accept bool
		fails  uint64
	}{{"accepted", true, 0}, {"refused", false, 30}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newResponder(t, p)
			s.tokenKind = osp.TokenText
			o := baseOptions(s.start(t), p)
			o.Calls, o.FailRatio, o.AcceptUnsigned = 30, 0, tc.accept
			res, err := RunLoad(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if res.TokenFailures != tc.fails || res.Completed != 30-tc.fails || res.FailedAttempts != tc.fails {
				t.Fatalf("token failures %d completed %d failed %d", res.TokenFailures, res.Completed, res.FailedAttempts)
			}
			if tc.fails > 0 && res.TokenFailuresByCheck[osp.TokenCheckSignature] != tc.fails {
				t.Fatalf("by check %v", res.TokenFailuresByCheck)
			}
		})
	}
}

func TestUntrustedCACountsTokenFailures(t *testing.T) {
	trusted, rogue := newTestPKI(t, "purple"), newTestPKI(t, "rogue")
	s := newResponder(t, rogue)
	o := baseOptions(s.start(t), trusted)
	o.Calls, o.FailRatio = 40, 0
	res, err := RunLoad(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.TokenChecks != 40 || res.TokenFailures != 40 || res.TokenFailuresByCheck[osp.TokenCheckTrust] != 40 {
		t.Fatalf("token checks %d failures %d by check %v", res.TokenChecks, res.TokenFailures, res.TokenFailuresByCheck)
	}
	// The terminating side refuses the call: the source reports a failed
	// attempt and nobody reports destination usage.
	if res.Completed != 0 || res.FailedAttempts != 40 || typeByName(t, res, MsgUsageDestination).Sent != 0 {
		t.Fatalf("completed %d failed %d", res.Completed, res.FailedAttempts)
	}
}

func TestOpenLoopAtRate(t *testing.T) {
	p := newTestPKI(t, "purple")
	s := newResponder(t, p)
	o := baseOptions(s.start(t), p)
	o.Calls, o.Rate, o.Duration, o.FailRatio = 0, 200, 250*time.Millisecond, 0
	var progress bytes.Buffer
	o.Progress, o.ProgressInterval = &syncWriter{w: &progress}, 20*time.Millisecond
	res, err := RunLoad(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	// The schedule is start + i/200 for i/200 < 0.25 s: exactly 50 calls.
	if res.Mode != "open" || res.Calls != 50 || res.Completed != 50 {
		t.Fatalf("mode %s calls %d completed %d", res.Mode, res.Calls, res.Completed)
	}
	if res.Elapsed < 245*time.Millisecond {
		t.Fatalf("an open-loop run at 200/s for 250ms took %s", res.Elapsed)
	}
	if !regexp.MustCompile(`(?m)^elapsed +[0-9.]+s  calls/s +[0-9.]+  completed \d+  in-flight \d+  errors 0$`).MatchString(progress.String()) {
		t.Fatalf("progress output:\n%s", progress.String())
	}
}

// syncWriter serialises writes for a buffer read after the run.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func TestErrorsCountedByStatusAndTransport(t *testing.T) {
	p := newTestPKI(t, "purple")
	s := newResponder(t, p)
	s.authStatus = func(n uint64) int {
		switch n % 5 {
		case 1:
			return osp.StatusUnavailable
		case 3:
			return osp.StatusNoRoute
		}
		return 0
	}
	s.httpError = func(n uint64) int {
		if n%7 == 6 {
			return http.StatusInternalServerError
		}
		return 0
	}
	o := baseOptions(s.start(t), p)
	o.Calls, o.Concurrency, o.FailRatio = 100, 1, 0 // one caller: the fault pattern is deterministic
	res, err := RunLoad(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	auth := typeByName(t, res, MsgAuthorization)
	var answered uint64 = auth.Sent - auth.Transport["http 500 Internal Server Error"]
	if auth.Status[osp.StatusUnavailable] != s.auths.Load()/5+boolU(s.auths.Load()%5 > 1) ||
		auth.Status[osp.StatusNoRoute] != s.auths.Load()/5+boolU(s.auths.Load()%5 > 3) {
		t.Fatalf("status counts %v after %d answered authorisations", auth.Status, s.auths.Load())
	}
	if answered != s.auths.Load() {
		t.Fatalf("answered %d, responder authorised %d", answered, s.auths.Load())
	}
	var httpErrs uint64
	for _, m := range res.Types {
		httpErrs += m.Transport["http 500 Internal Server Error"]
	}
	if httpErrs != s.reqs.Load()/7 {
		t.Fatalf("http 500s counted %d, injected %d (transport %v)", httpErrs, s.reqs.Load()/7, auth.Transport)
	}
	if res.Completed+res.FailedAttempts+res.CallErrors != res.Calls || res.CallErrors == 0 {
		t.Fatalf("calls %d = completed %d + failed %d + errors %d?", res.Calls, res.Completed, res.FailedAttempts, res.CallErrors)
	}
	var text bytes.Buffer
	if err := res.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"AuthorizationRequest: OSP status 503 (service unavailable):", "http 500 Internal Server Error:"} {
		if !strings.Contains(text.String(), want) {
			t.Fatalf("summary lacks %q:\n%s", want, text.String())
		}
	}
}

func boolU(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func TestTransportErrorClass(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/osp"
	srv.Close() // nothing listens there any more
	p := newTestPKI(t, "purple")
	o := baseOptions(url, p)
	o.Calls = 5
	res, err := RunLoad(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := typeByName(t, res, MsgAuthorization).Transport["connection refused"]; got != 5 || res.CallErrors != 5 {
		t.Fatalf("connection refused %d, call errors %d", got, res.CallErrors)
	}
}

func TestSummaryTextAndJSON(t *testing.T) {
	p := newTestPKI(t, "purple")
	s := newResponder(t, p)
	o := baseOptions(s.start(t), p)
	o.Calls = 20
	res, err := RunLoad(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := res.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(text.String(), "\n"), "\n")
	if !regexp.MustCompile(`^completed calls/s: [0-9]+\.[0-9]$`).MatchString(lines[len(lines)-1]) {
		t.Fatalf("last line %q", lines[len(lines)-1])
	}
	for _, want := range []string{MsgAuthorization, MsgUsageSource, MsgUsageDestination, "client cpu:", "tokens: 20 checked, 0 failed"} {
		if !strings.Contains(text.String(), want) {
			t.Fatalf("summary lacks %q:\n%s", want, text.String())
		}
	}
	var js bytes.Buffer
	if err := res.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back LoadResult
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("json does not parse: %v\n%s", err, js.String())
	}
	if back.Completed != res.Completed || len(back.Types) != 3 || back.Types[0].Latency.P99 != res.Types[0].Latency.P99 ||
		back.ConfirmedCount != len(res.Confirmed) || back.CallsPerSecond != res.CallsPerSecond {
		t.Fatalf("json round trip: %+v", back)
	}
}

func TestVerifyHook(t *testing.T) {
	p := newTestPKI(t, "purple")
	for _, tc := range []struct {
		name    string
		lose    func(uint64) bool
		token   string
		missing int
		wantErr error
	}{
		{"all present", nil, "secret", 0, nil},
		{"lost usages", func(n uint64) bool { return n == 3 || n == 11 }, "secret", 2, ErrVerify},
		{"bad admin token", nil, "wrong", 0, ErrAdminUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newResponder(t, p)
			s.lose = tc.lose
			admin := httptest.NewServer(s.adminHandler("secret"))
			t.Cleanup(admin.Close)
			o := baseOptions(s.start(t), p)
			o.Calls = 30
			o.Verify = VerifyUsages(&AdminLedger{BaseURL: admin.URL, Token: tc.token}, 4)
			res, err := RunLoad(context.Background(), o)
			if res == nil {
				t.Fatalf("no result: %v", err)
			}
			if tc.wantErr == nil {
				if err != nil || !res.Verified {
					t.Fatalf("err %v verified %v", err, res.Verified)
				}
				return
			}
			if !errors.Is(err, ErrVerify) || !errors.Is(err, tc.wantErr) || res.Verified || res.VerifyError == "" {
				t.Fatalf("err %v, verified %v", err, res.Verified)
			}
			var me *MissingUsageError
			if tc.missing > 0 && (!errors.As(err, &me) || me.Count != tc.missing || len(me.Missing) != tc.missing) {
				t.Fatalf("err %v: want %d missing", err, tc.missing)
			}
		})
	}
}

func TestAdminLedgerURL(t *testing.T) {
	a := &AdminLedger{BaseURL: "http://127.0.0.1:8080/"}
	got := a.UsageURL(ConfirmedUsage{TransactionID: 42, Role: "source", ComponentID: "7"})
	if got != "http://127.0.0.1:8080/v1/usage/42?component=7&role=source" {
		t.Fatal(got)
	}
}

func TestLoadOptionsRejected(t *testing.T) {
	ok := LoadOptions{URLs: []string{"http://127.0.0.1:1/osp"}, Calls: 1}
	for _, tc := range []struct {
		name string
		mod  func(*LoadOptions)
	}{
		{"no url", func(o *LoadOptions) { o.URLs = nil }},
		{"unbounded", func(o *LoadOptions) { o.Calls = 0 }},
		{"weights", func(o *LoadOptions) { o.Weights = []int{1, 2} }},
		{"zero weight", func(o *LoadOptions) { o.Weights = []int{0} }},
		{"fail ratio", func(o *LoadOptions) { o.FailRatio = 1.5 }},
		{"negative rate", func(o *LoadOptions) { o.Rate = -1 }},
		{"distribution", func(o *LoadOptions) { o.Durations.Kind = "pareto" }},
		{"country", func(o *LoadOptions) { o.CalledCountries = []string{"999"} }},
		{"scheme", func(o *LoadOptions) { o.URLs = []string{"ftp://127.0.0.1/osp"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.mod(&o)
			if _, err := RunLoad(context.Background(), o); !errors.Is(err, ErrLoadOptions) {
				t.Fatalf("err %v, want ErrLoadOptions", err)
			}
		})
	}
}

func TestWeightedPicker(t *testing.T) {
	p := newPicker([]int{5, 1, 1}, 3)
	var seq []int
	counts := make([]int, 3)
	for range 70 {
		i := p.next()
		counts[i]++
		if len(seq) < 7 {
			seq = append(seq, i)
		}
	}
	if counts[0] != 50 || counts[1] != 10 || counts[2] != 10 {
		t.Fatalf("counts %v", counts)
	}
	if got := seq; got[0] != 0 || got[1] != 0 || got[3] != 0 { // smooth: a a b a c a a
		t.Fatalf("sequence %v is not smooth", got)
	}
}

func TestWeightedURLsShareLoad(t *testing.T) {
	p := newTestPKI(t, "purple")
	a, b := newResponder(t, p), newResponder(t, p)
	o := baseOptions(a.start(t), p)
	o.URLs = append(o.URLs, b.start(t))
	o.Weights = []int{3, 1}
	// Every call fails: the destination usage, which takes its own pick
	// (the terminating proxy has its own service point), is not sent, so
	// the authorisations alone show the 3:1 split.
	o.Calls, o.Concurrency, o.FailRatio = 40, 1, 1
	res, err := RunLoad(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if a.auths.Load() != 30 || b.auths.Load() != 10 || res.Calls != 40 {
		t.Fatalf("auths a %d b %d", a.auths.Load(), b.auths.Load())
	}
}

func TestContextCancelEndsRun(t *testing.T) {
	p := newTestPKI(t, "purple")
	s := newResponder(t, p)
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	s.authStatus = func(n uint64) int {
		if n == 10 {
			once.Do(cancel)
		}
		return 0
	}
	o := baseOptions(s.start(t), p)
	o.Calls, o.Rate, o.Duration = 0, 50, time.Minute
	res, err := RunLoad(ctx, o)
	if !errors.Is(err, context.Canceled) || res == nil || res.Calls >= 3000 {
		t.Fatalf("err %v res %+v", err, res)
	}
}

func TestNoDestinationIsAnError(t *testing.T) {
	p := newTestPKI(t, "purple")
	s := newResponder(t, p)
	s.maxDest = 0
	o := baseOptions(s.start(t), p)
	o.Calls, o.NewConnections = 5, true
	res, err := RunLoad(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	auth := typeByName(t, res, MsgAuthorization)
	if auth.OK != 0 || auth.Transport["2xx without destination"] != 5 || res.CallErrors != 5 || typeByName(t, res, MsgUsageSource).Sent != 0 {
		t.Fatalf("auth %+v errors %d", auth, res.CallErrors)
	}
}

// BenchmarkLoadLoopback runs b.N calls closed loop against the in-test
// responder (unsigned tokens, keep-alive) over loopback: the ceiling of
// generator + codec + net/http on this machine, both sides in one process.
func BenchmarkLoadLoopback(b *testing.B) {
	p := newTestPKI(b, "purple")
	s := newResponder(b, p)
	s.tokenKind = osp.TokenText
	o := baseOptions(s.start(b), p)
	o.Calls, o.Concurrency, o.FailRatio, o.AcceptUnsigned, o.TokenRoots = b.N, 16, 0, true, nil
	b.ReportAllocs()
	b.ResetTimer()
	res, err := RunLoad(context.Background(), o)
	if err != nil {
		b.Fatal(err)
	}
	if res.Completed != uint64(b.N) {
		b.Fatalf("completed %d of %d", res.Completed, b.N)
	}
	b.ReportMetric(res.CallsPerSecond, "calls/s")
	b.ReportMetric(float64(res.Types[0].Latency.P99.Microseconds()), "auth-p99-µs")
}

func TestRolesDialFromTheirBindAddress(t *testing.T) {
	p := newTestPKI(t, "purple")
	s := newResponder(t, p)
	o := baseOptions(s.start(t), p)
	o.Calls, o.FailRatio = 10, 0
	o.Source.Bind, o.Destination.Bind = "127.0.0.1", "127.0.0.2"
	res, err := RunLoad(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if res.Completed != 10 || s.from["source 127.0.0.1"] != 10 || s.from["destination 127.0.0.2"] != 10 || len(s.from) != 2 {
		t.Fatalf("completed %d, usages by role and address %v", res.Completed, s.from)
	}
	o.Destination.Bind = "not-an-ip"
	if _, err := RunLoad(context.Background(), o); !errors.Is(err, ErrLoadOptions) {
		t.Fatalf("bad bind: %v", err)
	}
}
