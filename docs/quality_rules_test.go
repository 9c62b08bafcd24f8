package docs

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestQualityRules: monitoring/quality-rules.yml (route quality, issue 17)
// parses as Prometheus rule groups, every rule has a name, an expression,
// a severity and a summary, and every metric it names is one a node
// exposes.
func TestQualityRules(t *testing.T) {
	known := knownFamilies(t)
	raw, err := os.ReadFile("monitoring/quality-rules.yml")
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
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("quality-rules.yml: %v", err)
	}
	count := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			count++
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %q lacks a name, an expression or a summary", r.Alert)
			}
			if s := r.Labels["severity"]; s != "page" && s != "warn" {
				t.Errorf("rule %s: severity %q (page or warn)", r.Alert, s)
			}
			if n := checkRefs(t, "quality-rules.yml rule "+r.Alert, r.Expr, known); n == 0 {
				t.Errorf("rule %s names no metric", r.Alert)
			}
		}
	}
	if count < 4 {
		t.Fatalf("quality-rules.yml has %d rules", count)
	}
}
