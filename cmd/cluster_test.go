package cmd

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestClusterCLI(t *testing.T) {
	n := openTestNode(t)
	out := mustCLI(t, n, []string{"cluster", "status"})
	if !strings.Contains(out, "node n1: Leader, leader n1") || !strings.Contains(out, "leader (this node)") {
		t.Fatalf("status: %s", out)
	}
	var st clusterStatus
	if err := json.Unmarshal([]byte(mustCLI(t, n, []string{"cluster", "status"}, "--output", "json")), &st); err != nil || st.NodeID != "n1" || len(st.Members) != 1 {
		t.Fatalf("status json: %+v %v", st, err)
	}
	if code, _, errb := adminCLI(t, n, []string{"cluster", "remove"}, "n9"); code != 1 || !strings.Contains(errb, "not a cluster member") {
		t.Fatalf("remove unknown: %d %s", code, errb)
	}
	if code, _, _ := adminCLI(t, n, []string{"cluster", "join"}, "n2"); code != 2 {
		t.Fatalf("join without ADDR exited %d", code)
	}
	mustCLI(t, n, []string{"cluster", "transfer"}, "n1")
}
