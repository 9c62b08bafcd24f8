package node

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ospnode/ospnode/osp"
)

// TestAnswerRecovered: a component whose answer panics is answered 500
// in its own type, counted in /metrics, and does not disturb the other
// components answered concurrently (as handleOSP answers a multi-component
// message). The panic is real, not injected through a production hook: a
// request without a state view dereferences nil in identify, while a
// ReauthorizationRequest never reads the view and is answered normally.
func TestAnswerRecovered(t *testing.T) {
	n := openDemo(t)
	rq := &request{n: n, v: nil, msg: &osp.Message{MessageID: "1"}, now: time.Now().UTC()}
	comps := []osp.Component{
		{ID: "u1", UsageIndication: &osp.UsageIndication{Role: osp.RoleSource, TransactionID: 1}},
		{ID: "r1", ReauthorizationRequest: &osp.ReauthorizationRequest{TransactionID: 7}},
		{ID: "a1", AuthorizationRequest: &osp.AuthorizationRequest{}},
		{ID: "i1", AuthorizationIndication: &osp.AuthorizationIndication{}},
	}
	out := make([]osp.Component, len(comps))
	var wg sync.WaitGroup
	for i := range comps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], _ = rq.answerRecovered(context.Background(), &comps[i])
		}()
	}
	wg.Wait()
	want := []struct {
		kind osp.Kind
		code int
	}{
		{osp.KindUsageConfirmation, osp.StatusInternalError},
		{osp.KindReauthorizationResponse, osp.StatusReauthorizationRefused},
		{osp.KindAuthorizationResponse, osp.StatusInternalError},
		{osp.KindAuthorizationConfirmation, osp.StatusInternalError},
	}
	for i, w := range want {
		st, _ := out[i].Status()
		if out[i].Kind() != w.kind || st.Code != w.code || out[i].ID != comps[i].ID {
			t.Errorf("component %s: %s %d, want %s %d", comps[i].ID, out[i].Kind(), st.Code, w.kind, w.code)
		}
	}
	if got := n.met.panics.Load(); got != 3 {
		t.Errorf("panics counted %d, want 3", got)
	}
	code, body := get(t, n.AdminURL()+"/metrics", "")
	if code != http.StatusOK || !strings.Contains(body, "ospnode_osp_panics_total 3\n") {
		t.Errorf("metrics %d lack the panic counter", code)
	}
}
