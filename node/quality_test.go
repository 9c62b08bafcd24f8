package node

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
	"github.com/ospnode/ospnode/settlement"
	"github.com/ospnode/ospnode/settlement/quality"
)

// qualityRoute puts route 1555 with candidates b-1 (first when healthy)
// and b-2 at 127.0.0.14, and route quality q.
func qualityRoute(t *testing.T, n *Node, q *ledger.RouteQuality) {
	t.Helper()
	ma, err := n.Store().Member(DemoCarrierA)
	if err != nil {
		t.Fatal(err)
	}
	ma.ConcurrentLimit = 0
	mustPropose(t, n,
		ledger.PutMember{Member: ma},
		ledger.PutTrunk{Trunk: ledger.Trunk{ID: "b-2", MemberID: DemoCarrierB, Address: "[127.0.0.14]", Protocol: "udp", Weight: 1}},
		ledger.PutRoutes{Routes: []ledger.Route{{Prefix: "1555", Quality: q, Candidates: []ledger.RouteCandidate{
			{Kind: ledger.CandidateTrunk, ID: "b-1", Weight: 1}, {Kind: ledger.CandidateTrunk, ID: "b-2", Priority: 1, Weight: 1}}}}},
	)
}

// attempt authorises one call from proxy A to 15551234567 and returns its
// transaction and the signal addresses offered, in order.
func attempt(t *testing.T, n *Node, a *http.Client, id string) (uint64, []string) {
	t.Helper()
	m := authRequest("q-"+id, "call-"+id, "15551234567", 5)
	m.Components[0].AuthorizationRequest.DeviceInfo = osp.TypedValues{{Type: osp.TypeTransport, Value: "[127.0.0.11]"}}
	code, c := postStatus(t, a, n.OSPURL(), mustEncode(t, m))
	ar := c.AuthorizationResponse
	if code != osp.StatusOK || ar == nil {
		t.Fatalf("authorisation %s: %d", id, code)
	}
	var addrs []string
	for _, d := range ar.Destinations {
		addrs = append(addrs, d.SignalAddress)
	}
	return ar.TransactionID, addrs
}

// report sends proxy A's record of the attempt of call id on the trunk at
// dest: answered (a final of secs seconds) or failed with SIP status
// code, as Kamailio sends them (the status in the q850-typed element).
func report(t *testing.T, n *Node, a *http.Client, id string, tx uint64, dest string, secs int, code int) {
	t.Helper()
	start := time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
	m := usageIndication("u-"+id, "1", osp.RoleSource, tx, "call-"+id, "15551234567", fmt.Sprint(secs))
	ui := m.Components[0].UsageIndication
	ui.DestinationAlternate = osp.TypedValues{{Type: osp.TypeTransport, Value: dest}}
	ud := ui.UsageDetail
	ud.StartTime, ud.AlertTime = start, start.Add(2*time.Second)
	if secs > 0 {
		ud.ConnectTime, ud.EndTime = start.Add(5*time.Second), start.Add(5*time.Second+time.Duration(secs)*time.Second)
		ud.TerminationCause = []osp.TerminationCause{{Type: "q850", Code: 10016}}
	} else {
		ud.Amount = "0"
		ud.EndTime = start.Add(3 * time.Second)
		ud.TerminationCause = []osp.TerminationCause{{Type: "q850", Code: code}}
	}
	if c, _ := postStatus(t, a, n.OSPURL(), mustEncode(t, m)); c != osp.StatusOK {
		t.Fatalf("usage of %s: %d", id, c)
	}
}

func keyStats(t *testing.T, n *Node, cand, prefix string) quality.KeyStats {
	t.Helper()
	for _, ks := range n.quality.tr.Snapshot(time.Now()) {
		if ks.Candidate == cand && ks.Prefix == prefix {
			return ks
		}
	}
	t.Fatalf("no quality series for %s under %s", cand, prefix)
	return quality.KeyStats{}
}

// TestQualityFromKamailioCaptures: the call the Kamailio proxies made
// (setup and final records of both sides) counts as one answered attempt
// of trunk b-1, which the source's final names by address
// (DestinationAlternate [127.0.0.13]); setup records and the destination's
// report of the same call are not counted again. A failed attempt
// reported with SIP 486 counts as a user-caused failure with its PDD.
func TestQualityFromKamailioCaptures(t *testing.T) {
	n := kamailioNetwork(t, ledger.BasisOwn)
	url := n.OSPURL()
	a, b := client("127.0.0.11"), client("127.0.0.13")
	_, ac := postStatus(t, a, url, kamailioCapture(t, "01-AuthorizationRequest.from-proxy-A.http", 0))
	tx := ac.AuthorizationResponse.TransactionID
	for _, s := range []struct {
		file string
		from *http.Client
	}{
		{"02-UsageIndication.source.setup-at-connect.http", a},
		{"04-UsageIndication.destination.setup-at-connect.http", b},
		{"03-UsageIndication.source.final-at-bye.http", a},
		{"05-UsageIndication.destination.final-at-bye.http", b},
		{"03-UsageIndication.source.final-at-bye.http", a}, // a retry
	} {
		if c, _ := postStatus(t, s.from, url, kamailioCapture(t, s.file, tx)); c != osp.StatusOK {
			t.Fatalf("%s: %d", s.file, c)
		}
	}
	var final *ledger.Usage
	for _, u := range txUsage(t, n, DemoCarrierA, tx) {
		if u.Role == ledger.RoleSource && u.Phase == ledger.PhaseFinal {
			final = &u
		}
	}
	if final == nil || final.Quality == nil {
		t.Fatalf("the source's final record has no quality block: %+v", final)
	}
	if want := (ledger.UsageQuality{Candidate: "trunk:b-1", PDDMillis: -1, LossPPM: 0, JitterMicros: -1}); *final.Quality != want {
		t.Fatalf("quality %+v, want %+v", *final.Quality, want)
	}
	st := keyStats(t, n, "trunk:b-1", "1555").Last
	if st.Attempts != 1 || st.Answered != 1 || st.ACD != 2*time.Second || st.LossSamples != 1 || st.LossPPM != 0 {
		t.Fatalf("window after the captured call: %+v, want one answered 2 s attempt, loss 0%% reported", st)
	}

	ma, _ := n.Store().Member(DemoCarrierA)
	ma.ConcurrentLimit = 0
	mustPropose(t, n, ledger.PutMember{Member: ma})
	tx2, _ := attempt(t, n, a, "busy")
	report(t, n, a, "busy", tx2, "[127.0.0.13]", 0, 486)
	st = keyStats(t, n, "trunk:b-1", "1555").Last
	if st.Attempts != 2 || st.UserFailures != 1 || st.NERBps != 10000 || st.ASRBps != 5000 || st.PDDSamples != 1 || st.PDD50 != 2*time.Second {
		t.Fatalf("window after a busy attempt: %+v", st)
	}
}

// TestQualityRoutingDemotesAndRecovers: trunk b-1, first by priority,
// fails its calls; after the sample size it is demoted (offered after
// b-2), route lookup says why, a quarter of the authorisations still
// offer it first (the probe share), and once its answered calls bring ASR
// to the recovery threshold it is first again. Hysteresis: between the
// minimum and the recovery threshold it stays demoted.
func TestQualityRoutingDemotesAndRecovers(t *testing.T) {
	n := kamailioNetwork(t, ledger.BasisOwn)
	qualityRoute(t, n, &ledger.RouteQuality{MinSamples: 10, MinASRBps: 5000, RecoverASRBps: 6000, ProbeBps: 2500})
	a := client("127.0.0.11")
	call := 0
	next := func() (uint64, []string, string) {
		call++
		id := fmt.Sprint(call)
		tx, addrs := attempt(t, n, a, id)
		return tx, addrs, id
	}
	for range 10 {
		tx, addrs, id := next()
		if addrs[0] != "[127.0.0.13]" {
			t.Fatalf("call %s while b-1 is healthy: offered %v, want b-1 first", id, addrs)
		}
		report(t, n, a, id, tx, "[127.0.0.13]", 0, 503)
	}
	ex, err := n.explainRoute("15551234567", DemoCarrierA)
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Offered) != 2 || ex.Offered[1].ID != "b-1" ||
		!strings.HasPrefix(ex.Offered[1].Quality, "demoted: ASR 0% < 50% over the last 10 attempts") {
		t.Fatalf("route lookup after 10 failures: %+v", ex.Offered)
	}
	firsts := map[string]int{}
	for range 8 {
		_, addrs, _ := next()
		firsts[addrs[0]]++
	}
	if firsts["[127.0.0.13]"] != 2 || firsts["[127.0.0.14]"] != 6 {
		t.Fatalf("8 calls with b-1 demoted at a 25%% probe share: first offers %v, want b-1 twice", firsts)
	}
	// 10 answered calls on b-1: 10/20 = 50% (the window is the node's
	// default, 200 attempts), not below the minimum but below recovery
	// (60%): still demoted.
	for range 10 {
		tx, _, id := next()
		report(t, n, a, id, tx, "[127.0.0.13]", 30, 0)
	}
	if v := n.quality.tr.Judge(quality.Key{Candidate: "trunk:b-1", Prefix: "1555"}, n.mustView(t).quality["1555"], false); !v.Demoted ||
		v.Reason != "ASR 50% < 60% to recover over the last 20 attempts" {
		t.Fatalf("at 50%% ASR: %+v, want still demoted (hysteresis)", v)
	}
	for range 5 { // 15/25 = 60%: recovered
		tx, _, id := next()
		report(t, n, a, id, tx, "[127.0.0.13]", 30, 0)
	}
	for range 4 {
		if _, addrs, id := next(); addrs[0] != "[127.0.0.13]" {
			t.Fatalf("call %s after b-1 recovered: offered %v, want b-1 first", id, addrs)
		}
	}
}

// TestQualityExcludes: with exclude, a demoted candidate is not offered
// outside its probe share; when every candidate is excluded they are all
// offered, demoted, rather than none.
func TestQualityExcludes(t *testing.T) {
	n := kamailioNetwork(t, ledger.BasisOwn)
	qualityRoute(t, n, &ledger.RouteQuality{MinSamples: 5, MinASRBps: 5000, Exclude: true})
	a := client("127.0.0.11")
	for i := range 5 {
		id := fmt.Sprint("x", i)
		tx, _ := attempt(t, n, a, id)
		report(t, n, a, id, tx, "[127.0.0.13]", 0, 503)
	}
	if _, addrs := attempt(t, n, a, "after"); len(addrs) != 1 || addrs[0] != "[127.0.0.14]" {
		t.Fatalf("b-1 excluded: offered %v, want only b-2", addrs)
	}
	ex, err := n.explainRoute("15551234567", DemoCarrierA)
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Excluded) != 1 || ex.Excluded[0].Reason != "excluded: ASR 0% < 50% over the last 5 attempts" {
		t.Fatalf("route lookup: excluded %+v", ex.Excluded)
	}
	for i := range 5 {
		id := fmt.Sprint("y", i)
		tx, _ := attempt(t, n, a, id)
		report(t, n, a, id, tx, "[127.0.0.14]", 0, 503)
	}
	if _, addrs := attempt(t, n, a, "all-bad"); len(addrs) != 2 {
		t.Fatalf("every candidate excluded: offered %v, want both (demoted) rather than none", addrs)
	}
}

// A member cannot push a competitor's trunk down by reporting one
// failed attempt many times (retries, other component ids): one attempt
// per transaction and candidate counts.
func TestQualityOneAttemptPerTransaction(t *testing.T) {
	n := kamailioNetwork(t, ledger.BasisOwn)
	qualityRoute(t, n, &ledger.RouteQuality{MinSamples: 5, MinASRBps: 5000})
	a := client("127.0.0.11")
	tx, _ := attempt(t, n, a, "dup")
	for i := range 10 {
		m := usageIndication(fmt.Sprint("dup-", i), fmt.Sprint(i), osp.RoleSource, tx, "call-dup", "15551234567", "0")
		ui := m.Components[0].UsageIndication
		ui.DestinationAlternate = osp.TypedValues{{Type: osp.TypeTransport, Value: "[127.0.0.13]"}}
		ui.UsageDetail.EndTime = time.Now().UTC().Truncate(time.Second)
		ui.UsageDetail.TerminationCause = []osp.TerminationCause{{Type: "q850", Code: 503 + i}}
		if c, _ := postStatus(t, a, n.OSPURL(), mustEncode(t, m)); c != osp.StatusOK {
			t.Fatalf("usage %d: %d", i, c)
		}
	}
	if st := keyStats(t, n, "trunk:b-1", "1555").Last; st.Attempts != 1 {
		t.Fatalf("10 reports of one transaction counted %d attempts, want 1", st.Attempts)
	}
}

// A restarted node rebuilds its windows from the ledger: the same numbers
// and the same demotion as before, and its first authorisation already
// offers the degraded b-1 after b-2.
func TestQualityRebuiltOnRestart(t *testing.T) {
	cfg := testConfig(t, "n1")
	cfg.Bootstrap, cfg.Demo = true, true
	n := openNode(t, cfg)
	// kamailioNetwork's setup on this node.
	setupKamailio(t, n, ledger.BasisOwn)
	qualityRoute(t, n, &ledger.RouteQuality{MinSamples: 5, MinASRBps: 5000})
	a := client("127.0.0.11")
	for i := range 6 {
		id := fmt.Sprint("r", i)
		tx, _ := attempt(t, n, a, id)
		report(t, n, a, id, tx, "[127.0.0.13]", 0, 503)
	}
	before := keyStats(t, n, "trunk:b-1", "1555")
	if !before.Demoted {
		t.Fatalf("not demoted before the restart: %+v", before)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.Bootstrap, cfg.Demo = false, false
	n2 := openNode(t, cfg)
	after := keyStats(t, n2, "trunk:b-1", "1555")
	if after.Last != before.Last || !after.Demoted {
		t.Fatalf("after restart %+v, want %+v", after, before)
	}
	waitFor(t, "the restarted node to catch up", 20*time.Second, n2.CaughtUp)
	if _, addrs := attempt(t, n2, a, "after-restart"); len(addrs) != 2 || addrs[0] != "[127.0.0.14]" {
		t.Fatalf("first call after the restart offered %v, want b-2 ([127.0.0.14]) before the demoted b-1", addrs)
	}
}

func (n *Node) mustView(t *testing.T) *view {
	t.Helper()
	v, err := n.state.get()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The metrics carry route quality per trunk (never per prefix), both
// windows, and the demotion.
func TestQualityMetrics(t *testing.T) {
	n := kamailioNetwork(t, ledger.BasisOwn)
	qualityRoute(t, n, &ledger.RouteQuality{MinSamples: 4, MinASRBps: 5000})
	a := client("127.0.0.11")
	for i, secs := range []int{0, 0, 0, 40} {
		id := fmt.Sprint("m", i)
		tx, _ := attempt(t, n, a, id)
		report(t, n, a, id, tx, "[127.0.0.13]", secs, 503)
	}
	var b strings.Builder
	n.writeMetrics(&b)
	out := b.String()
	for _, want := range []string{
		`ospnode_route_quality_attempts{id="b-1",kind="trunk",window="last"} 4`,
		`ospnode_route_quality_attempts{id="b-1",kind="trunk",window="hour"} 4`,
		`ospnode_route_quality_asr_ratio{id="b-1",kind="trunk",window="last"} 0.25`,
		`ospnode_route_quality_acd_seconds{id="b-1",kind="trunk",window="last"} 40`,
		`ospnode_route_quality_pdd_seconds{id="b-1",kind="trunk",quantile="0.95",window="hour"} 2`,
		`ospnode_route_quality_demoted_series{id="b-1",kind="trunk"} 1`,
		"ospnode_route_quality_series 1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "ospnode_route_quality") && strings.Contains(line, "1555") {
			t.Errorf("a prefix is a metric label (unbounded cardinality): %s", line)
		}
	}
}

func TestHostOf(t *testing.T) {
	for in, want := range map[string]string{"[127.0.0.3]:5060": "127.0.0.3", "[127.0.0.3]": "127.0.0.3", "127.0.0.3:5060": "127.0.0.3",
		"127.0.0.3": "127.0.0.3", "[2001:db8::1]:5061": "2001:db8::1", "[::ffff:192.0.2.1]": "192.0.2.1", "sip.example.com:5060": "invalid IP", "": "invalid IP"} {
		if got := hostOf(in).String(); got != want {
			t.Errorf("hostOf(%q) = %s, want %s", in, got, want)
		}
	}
}

// FuzzUsageQuality: whatever a reporter writes in its delays, loss and
// jitter, the quality block stays in the ranges the ledger accepts (a
// block out of range would make the ledger refuse the whole usage, and
// the call's record would be lost).
func FuzzUsageQuality(f *testing.F) {
	f.Add("0", "1.5", "20", "[127.0.0.3]", int64(2000))
	f.Add("NaN", "-1", "Inf", "[::1]:5060", int64(-5))
	f.Add("1e308", "86400.0001", "1e7", "x", int64(1<<62))
	f.Fuzz(func(t *testing.T, frac, pdd, jitter, addr string, alertMs int64) {
		start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
		ui := &osp.UsageIndication{UsageDetail: &osp.UsageDetail{
			StartTime: start, AlertTime: start.Add(time.Duration(alertMs%(48*3600*1000)) * time.Millisecond),
			PostDialDelay: osp.TypedValues{{Type: "source", Value: pdd}},
			Statistics: &osp.Statistics{LossReceived: &osp.Loss{Fraction: frac},
				Metrics: []osp.Metrics{{Jitter: []osp.Dispersion{{Mean: jitter}}}}},
		}}
		ui.DestinationAlternate = osp.TypedValues{{Type: osp.TypeTransport, Value: addr}}
		tx := &ledger.Transaction{Destinations: []ledger.Destination{{Kind: ledger.DestTrunk, ID: "t", Address: addr}, {Kind: ledger.DestTrunk, ID: "u"}}}
		q := usageQuality(&view{}, tx, ui, ledger.RoleSource, "member:m")
		if q.PDDMillis < -1 || q.PDDMillis > 24*3600*1000 || q.LossPPM < -1 || q.LossPPM > 1_000_000 || q.JitterMicros < -1 {
			t.Fatalf("out of range: %+v", q)
		}
		if q.Candidate != "" && q.Candidate != "trunk:t" {
			t.Fatalf("candidate %q", q.Candidate)
		}
	})
}

// BenchmarkQualityFeed is what the apply path pays per usage record for
// route quality: the candidate's route by longest prefix in the view, the
// outcome, the windows' update and the route's thresholds (500 routes,
// 50 trunks, a quarter of the routes with a policy).
func BenchmarkQualityFeed(b *testing.B) {
	var routes []ledger.Route
	for i := range 500 {
		r := ledger.Route{Prefix: fmt.Sprint(4400 + i)}
		if i%4 == 0 {
			r.Quality = &ledger.RouteQuality{MinASRBps: 3000, RecoverASRBps: 4000, MaxPDDMillis: 5000}
		}
		routes = append(routes, r)
	}
	ix, err := settlement.NewPrefixIndex(routes, func(r *ledger.Route) string { return r.Prefix })
	if err != nil {
		b.Fatal(err)
	}
	v := &view{routes: ix, quality: routeThresholds(routes, slog.New(slog.DiscardHandler))}
	f := newQualityFeed(quality.Config{}, slog.New(slog.DiscardHandler))
	us := make([]ledger.Usage, 1024)
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for i := range us {
		us[i] = ledger.Usage{TransactionID: uint64(i + 1), Role: ledger.RoleSource, Phase: ledger.PhaseFinal, DurationMillis: 60_000,
			Called: fmt.Sprint(4400+i%500, "5550100"), RecordedAt: at.Add(time.Duration(i) * time.Millisecond),
			Quality: &ledger.UsageQuality{Candidate: fmt.Sprint("trunk:t", i%50), PDDMillis: 1200, LossPPM: -1, JitterMicros: -1}}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		u := &us[i%len(us)]
		u.TransactionID += uint64(len(us)) // a new transaction each time round
		f.observe(v, u)
	}
}

// TestUsageCandidate: which route candidate a usage report is about.
func TestUsageCandidate(t *testing.T) {
	v := &view{trunks: map[string]*ledger.Trunk{"b-1": {ID: "b-1", MemberID: "b"}, "c-1": {ID: "c-1", MemberID: "c"}}}
	two := &ledger.Transaction{Destinations: []ledger.Destination{
		{Kind: ledger.DestTrunk, ID: "b-1", Address: "[192.0.2.1]:5060"}, {Kind: ledger.DestTrunk, ID: "c-1", Address: "192.0.2.2:5060"}}}
	one := &ledger.Transaction{Destinations: two.Destinations[:1]}
	fwd := &ledger.Transaction{UpstreamPeer: "yellow", Destinations: []ledger.Destination{{Kind: ledger.DestPeer, ID: "yellow"}}}
	mixed := &ledger.Transaction{UpstreamPeer: "yellow", Destinations: []ledger.Destination{{Kind: ledger.DestPeer, ID: "yellow"}, two.Destinations[1]}}
	ui := func(dest string) *osp.UsageIndication {
		u := &osp.UsageIndication{}
		if dest != "" {
			u.DestinationAlternate = osp.TypedValues{{Type: osp.TypeTransport, Value: dest}}
		}
		return u
	}
	for _, tc := range []struct {
		name     string
		t        *ledger.Transaction
		ui       *osp.UsageIndication
		role     ledger.Role
		reporter string
		want     string
	}{
		{"source names the second trunk's address", two, ui("[192.0.2.2]"), ledger.RoleSource, "member:a", "trunk:c-1"},
		{"source names the first, with its port", two, ui("[192.0.2.1]:5060"), ledger.RoleSource, "member:a", "trunk:b-1"},
		{"source names nothing, two destinations: unknown", two, ui(""), ledger.RoleSource, "member:a", ""},
		{"source names an address not offered: unknown", two, ui("[198.51.100.9]"), ledger.RoleSource, "member:a", ""},
		{"source names nothing, one destination", one, ui(""), ledger.RoleSource, "member:a", "trunk:b-1"},
		{"forwarded call: the upstream peer", fwd, ui("[203.0.113.5]"), ledger.RoleSource, "member:a", "peer:yellow"},
		{"mixed answer, the local trunk named", mixed, ui("192.0.2.2"), ledger.RoleSource, "member:a", "trunk:c-1"},
		{"destination: the reporter's own trunk", two, ui(""), ledger.RoleDestination, "member:c", "trunk:c-1"},
		{"destination from a non-party", two, ui(""), ledger.RoleDestination, "member:z", ""},
	} {
		if got := usageCandidate(v, tc.t, tc.ui, tc.role, tc.reporter); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestQualityWeightedCost: two trunks at the same priority and rate; with
// weight_cost the one answering its calls is first on every call once
// both have their sample size (cost per answered call), and route
// quality demotes nobody (no thresholds).
func TestQualityWeightedCost(t *testing.T) {
	n := kamailioNetwork(t, ledger.BasisOwn)
	ma, _ := n.Store().Member(DemoCarrierA)
	ma.ConcurrentLimit = 0
	mustPropose(t, n, ledger.PutMember{Member: ma},
		ledger.PutTrunk{Trunk: ledger.Trunk{ID: "b-2", MemberID: DemoCarrierB, Address: "[127.0.0.14]", Protocol: "udp", Weight: 1}},
		ledger.PutRoutes{Routes: []ledger.Route{{Prefix: "1555", Quality: &ledger.RouteQuality{MinSamples: 5, WeightCost: true},
			Candidates: []ledger.RouteCandidate{{Kind: ledger.CandidateTrunk, ID: "b-1", Weight: 1}, {Kind: ledger.CandidateTrunk, ID: "b-2", Weight: 1}}}}})
	a := client("127.0.0.11")
	for i := range 5 {
		id := fmt.Sprint("w1-", i)
		tx, _ := attempt(t, n, a, id)
		report(t, n, a, id, tx, "[127.0.0.13]", 0, 503) // b-1 answers 1 in 5
		if i == 0 {
			id = fmt.Sprint("w1a-", i)
			tx, _ = attempt(t, n, a, id)
			report(t, n, a, id, tx, "[127.0.0.13]", 30, 0)
		}
		id = fmt.Sprint("w2-", i)
		tx, _ = attempt(t, n, a, id)
		report(t, n, a, id, tx, "[127.0.0.14]", 30, 0) // b-2 answers all
	}
	for i := range 10 {
		if _, addrs := attempt(t, n, a, fmt.Sprint("w-after-", i)); len(addrs) != 2 || addrs[0] != "[127.0.0.14]" {
			t.Fatalf("call %d: offered %v, want b-2 (cost per answered call 1×) before b-1 (6×)", i, addrs)
		}
	}
	ex, err := n.explainRoute("15551234567", DemoCarrierA)
	if err != nil {
		t.Fatal(err)
	}
	for _, cv := range ex.Offered {
		if cv.Quality != "" {
			t.Fatalf("weight_cost alone demoted %s: %s", cv.ID, cv.Quality)
		}
	}
}
