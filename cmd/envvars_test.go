package cmd

import "testing"

func TestEnvVars(t *testing.T) {
	tests := []struct{ prefix, name, want string }{
		{"MEMBER", "source-addr", "OSPNODE_MEMBER_SOURCE_ADDR"},
		{"PEER", "SERVICE_POINT", "OSPNODE_PEER_SERVICE_POINT"},
		{"RATE", "name", "OSPNODE_RATE_NAME"},
	}
	for _, tc := range tests {
		if got := envVars(tc.prefix)(tc.name); len(got) != 1 || got[0] != tc.want {
			t.Errorf("envVars(%q)(%q) = %q, want [%s]", tc.prefix, tc.name, got, tc.want)
		}
	}
}
