package node

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestFraudMetricsAndAlertRules: the fraud metrics are on /metrics with a
// fixed set of labels (rule × action, no member or number), and every
// metric the example alert rules (docs/monitoring/fraud-rules.yml) use
// exists.
func TestFraudMetricsAndAlertRules(t *testing.T) {
	n := openDemo(t)
	var b strings.Builder
	n.writeMetrics(&b)
	text := b.String()
	for _, want := range []string{
		`ospnode_fraud_findings_total{action="block",rule="high_risk"} 0`,
		`ospnode_fraud_findings_total{action="alert",rule="simultaneous"} 0`,
		"ospnode_fraud_refused_total 0", "ospnode_fraud_blocks_active 0", `ospnode_fraud_tracked{table="calls"}`,
		"ospnode_fraud_learning 1", // no event yet
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if n := strings.Count(text, "\nospnode_fraud_findings_total{"); n != 8 {
		t.Errorf("%d findings series, want 8 (4 rules × alert, block)", n)
	}
	rules, err := os.ReadFile("../docs/monitoring/fraud-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`ospnode_fraud_[a-z_]+`).FindAllString(string(rules), -1)
	if len(used) == 0 {
		t.Fatal("the alert rules use no fraud metric")
	}
	for _, m := range used {
		if !strings.Contains(text, "# TYPE "+m+" ") {
			t.Errorf("fraud-rules.yml uses %s, which /metrics does not have", m)
		}
	}
}
