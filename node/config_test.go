package node

import (
	"errors"
	"strings"
	"testing"
)

// TestConfigMinMargin: MinMargin is parsed once, when the node starts; a
// value that does not parse (which used to disable the margin check on
// every candidate) or a margin of 1 or more is refused with ErrConfig.
func TestConfigMinMargin(t *testing.T) {
	tests := []struct {
		margin string
		ok     bool
	}{
		{"", true}, {"0", true}, {"0.05", true}, {"-0.02", true},
		{"0.o5", false}, {"5%", false}, {"1", false}, {"NaN", false},
	}
	for _, tc := range tests {
		cfg := Config{NodeID: "n1", DataDir: t.TempDir(), MinMargin: tc.margin}
		err := cfg.fill()
		if tc.ok {
			if err != nil {
				t.Errorf("MinMargin %q: %v", tc.margin, err)
			}
			continue
		}
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "MinMargin") {
			t.Errorf("MinMargin %q: %v, want ErrConfig naming MinMargin", tc.margin, err)
		}
	}
}
