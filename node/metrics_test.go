package node

import (
	"io"
	"net/http"
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
		`ospnode_osp_requests_total{type="AuthorizationRequest",code="200"} 1`,
		`ospnode_osp_requests_total{type="AuthorizationRequest",code="404"} 1`,
		`ospnode_osp_request_duration_seconds_count{type="AuthorizationRequest"} 2`,
		`ospnode_raft_state{state="Leader"} 1`,
		"ospnode_raft_term ",
		"ospnode_raft_commit_index ",
		"ospnode_consensus_batch_size_bucket{le=\"+Inf\"}",
		"# TYPE ospnode_consensus_batch_size histogram",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
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
