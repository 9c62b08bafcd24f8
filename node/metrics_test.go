package node

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsAndHealth: /metrics reports OSP traffic by type and code and
// the Raft and group-commit figures; /healthz follows the leader; the
// admin API wants its token.
func TestMetricsAndHealth(t *testing.T) {
	n := openDemo(t)
	a := client("127.0.0.1")
	exchange(t, a, n.OSPURL(), authRequest("1", "m-1", called, 5))
	exchange(t, a, n.OSPURL(), authRequest("2", "m-2", "33123", 5))

	code, body := get(t, n.AdminURL()+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("metrics %d", code)
	}
	for _, want := range []string{
		`ospnode_osp_requests_total{code="200",type="AuthorizationRequest"} 1`,
		`ospnode_osp_requests_total{code="404",type="AuthorizationRequest"} 1`,
		`ospnode_osp_request_duration_seconds_count{type="AuthorizationRequest"} 2`,
		`ospnode_raft_state{state="Leader"} 1`,
		"ospnode_raft_term ",
		"ospnode_raft_commit_index ",
		"ospnode_consensus_batch_size_bucket{le=\"+Inf\"}",
		"# TYPE ospnode_consensus_batch_size histogram",
		// What Prometheus users expect of a Go service.
		"# TYPE go_goroutines gauge",
		"# TYPE process_resident_memory_bytes gauge",
		// Latency histograms beside the OSP one: Raft apply and commit
		// (the demo's seeding proposed commands), admin requests.
		"# TYPE ospnode_raft_apply_duration_seconds histogram",
		`ospnode_raft_commit_duration_seconds_count{command="PutMember"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// The first scrape is timed once it is answered: the second shows it,
	// labelled by its route pattern (never by the raw path).
	if _, body := get(t, n.AdminURL()+"/metrics?x=1", ""); !strings.Contains(body, `ospnode_admin_request_duration_seconds_count{route="GET /metrics"} 1`) ||
		!strings.Contains(body, `ospnode_admin_requests_total{code="200",route="GET /metrics"} 1`) {
		t.Errorf("metrics lack the admin latency of the first scrape:\n%s", linesWith(body, "ospnode_admin_request"))
	}
	for _, u := range []string{n.AdminURL() + "/healthz", strings.TrimSuffix(n.OSPURL(), "/osp") + "/healthz"} {
		if code, body := get(t, u, ""); code != http.StatusOK {
			t.Errorf("%s: %d %s", u, code, body)
		}
	}
	if code, _ := get(t, n.AdminURL()+"/v1/status", ""); code != http.StatusUnauthorized {
		t.Errorf("status without token: %d", code)
	}
	if code, body := get(t, n.AdminURL()+"/v1/status", n.AdminToken()); code != http.StatusOK || !strings.Contains(body, `"Leader"`) {
		t.Errorf("status: %d %s", code, body)
	}
	n.Close()
	if ok, _ := n.healthy(); ok {
		t.Error("closed node healthy")
	}
}

// linesWith returns the lines of s that contain sub (for failure messages).
func linesWith(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestMetricsLabelsBounded: a client cannot grow the series count — 200
// admin requests to distinct made-up paths (with and without the token)
// and 50 distinct undecodable OSP bodies add a handful of series, not one
// per request.
func TestMetricsLabelsBounded(t *testing.T) {
	n := openDemo(t)
	series := func() int {
		_, body := get(t, n.AdminURL()+"/metrics", "")
		c := 0
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "ospnode_") {
				c++
			}
		}
		return c
	}
	for i := range 100 {
		get(t, n.AdminURL()+"/v1/made-up-"+strconv.Itoa(i), "")
		get(t, n.AdminURL()+"/v1/members/made-up-"+strconv.Itoa(i), n.AdminToken())
	}
	for i := range 50 {
		resp, err := http.Post(n.OSPURL(), "text/plain", strings.NewReader("<Message messageId=\""+strconv.Itoa(i)+"\"><Junk"+strconv.Itoa(i)+"/>"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	series() // the first scrape's own latency series appear from the second on
	before := series()
	for i := range 100 {
		get(t, n.AdminURL()+"/v1/other-"+strconv.Itoa(i), "")
		get(t, n.AdminURL()+"/v1/members/other-"+strconv.Itoa(i), n.AdminToken())
		resp, err := http.Post(n.OSPURL(), "text/plain", strings.NewReader("<Message messageId=\"x"+strconv.Itoa(i)+"\"><Other"+strconv.Itoa(i)+"/>"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if after := series(); after != before {
		t.Fatalf("300 more distinct hostile requests grew /metrics from %d to %d ospnode_ series", before, after)
	}
}
