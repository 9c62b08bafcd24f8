package docs

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ospnode/ospnode/node"
)

// scrapeNode starts a one-node cluster in-process and returns its /metrics.
func scrapeNode(t *testing.T) string {
	t.Helper()
	n, err := node.Open(context.Background(), node.Config{NodeID: "m1", DataDir: t.TempDir(), Bootstrap: true,
		OSPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", ClusterAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	resp, err := http.Get(n.AdminURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// knownFamilies is every family the alerts and dashboard may name: the
// ospnode_ metrics a node can expose, and the standard families a running
// node does expose.
func knownFamilies(t *testing.T) map[string]bool {
	known := map[string]bool{}
	for _, n := range node.MetricNames() {
		known[n] = true
	}
	for _, f := range exposedFamilies(scrapeNode(t)) {
		if standardMetric(f) {
			known[f] = true
		}
	}
	return known
}

// checkRefs fails for every metric text names that known lacks.
func checkRefs(t *testing.T, where, text string, known map[string]bool) int {
	t.Helper()
	refs := referencedMetrics(text)
	for _, r := range refs {
		if familyOf(r, known) == "" {
			t.Errorf("%s names %s, which a node does not expose", where, r)
		}
	}
	return len(refs)
}

// TestMonitoringArtefacts: the alert rules parse as Prometheus rule groups
// (each rule named once, with an expression, a severity and a summary),
// the dashboard is JSON with a query on every panel, and every metric
// either names is one a node exposes.
func TestMonitoringArtefacts(t *testing.T) {
	known := knownFamilies(t)
	if !known["go_goroutines"] || !known["process_resident_memory_bytes"] || !known["ospnode_raft_leader"] {
		t.Fatalf("known families lack the basics: %d", len(known))
	}

	for _, f := range []struct {
		file     string
		minRules int
	}{
		{"alerts.yml", 10},
		{"quality-rules.yml", 4},
		{"fraud-rules.yml", 1},
	} {
		checkRuleFile(t, f.file, f.minRules, known)
	}

	raw, err := os.ReadFile("monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if dash.UID == "" || len(dash.Panels) < 10 {
		t.Fatalf("dashboard %q: uid %q, %d panels", dash.Title, dash.UID, len(dash.Panels))
	}
	var ids []int
	for _, p := range dash.Panels {
		ids = append(ids, p.ID)
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if checkRefs(t, "dashboard panel "+p.Title, q.Expr, known) == 0 {
				t.Errorf("panel %q: query %q names no metric", p.Title, q.Expr)
			}
		}
	}
	slices.Sort(ids)
	if len(slices.Compact(ids)) != len(dash.Panels) {
		t.Error("dashboard panel ids are not unique")
	}
}

// TestDeployUnit: deploy/ospnode.service runs ospnode as a dedicated user,
// hardened, on its state directory, with the example configuration.
func TestDeployUnit(t *testing.T) {
	raw, err := os.ReadFile("../deploy/ospnode.service")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{} // "Section.Key" → values
	section := ""
	for _, l := range strings.Split(string(raw), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
			section = strings.Trim(l, "[]")
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				t.Fatalf("unit line %q is not Key=Value", l)
			}
			got[section+"."+k] = append(got[section+"."+k], v)
		}
	}
	for key, want := range map[string]string{
		"Service.User":                  "ospnode",
		"Service.Group":                 "ospnode",
		"Service.NoNewPrivileges":       "true",
		"Service.StateDirectory":        "ospnode",
		"Service.StateDirectoryMode":    "0700",
		"Service.ProtectSystem":         "strict",
		"Service.ProtectHome":           "true",
		"Service.PrivateTmp":            "true",
		"Service.CapabilityBoundingSet": "",
		"Service.KillSignal":            "SIGTERM",
		"Install.WantedBy":              "multi-user.target",
	} {
		if v := got[key]; len(v) != 1 || v[0] != want {
			t.Errorf("%s = %q, want %q", key, v, want)
		}
	}
	exec := strings.Join(got["Service.ExecStart"], " ")
	if !strings.Contains(exec, "ospnode serve --config /etc/ospnode/ospnode.conf") || !strings.Contains(exec, "${STATE_DIRECTORY}") {
		t.Errorf("ExecStart %q: want serve --config /etc/ospnode/ospnode.conf on the state directory", exec)
	}
}

// checkRuleFile checks monitoring/file as Prometheus rule groups: each
// rule named once, with an expression naming at least one metric a node
// exposes, a severity (page or warn) and a summary; at least minRules.
func checkRuleFile(t *testing.T, file string, minRules int, known map[string]bool) {
	t.Helper()
	raw, err := os.ReadFile("monitoring/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true) // a misspelt key is an error, as Prometheus makes it
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	names := map[string]bool{}
	count := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			count++
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s group %s: rule %q lacks a name, an expression or a summary", file, g.Name, r.Alert)
			}
			if s := r.Labels["severity"]; s != "page" && s != "warn" {
				t.Errorf("%s rule %s: severity %q (page or warn)", file, r.Alert, s)
			}
			if names[r.Alert] {
				t.Errorf("%s rule %s defined twice", file, r.Alert)
			}
			names[r.Alert] = true
			// Prometheus's own up{} is the one series a node does not export.
			if n := checkRefs(t, file+" rule "+r.Alert, r.Expr, known); n == 0 && !strings.HasPrefix(strings.TrimSpace(r.Expr), "up{") {
				t.Errorf("%s rule %s names no metric", file, r.Alert)
			}
		}
	}
	if count < minRules {
		t.Fatalf("%s has %d rules, want at least %d", file, count, minRules)
	}
}
