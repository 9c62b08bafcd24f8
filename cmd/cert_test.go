package cmd

import (
	"strings"
	"testing"
)

// TestCertRevokeCLI: cert revoke reads a serial in every form ca revoke
// reads (decimal, 0x hex, colon-separated hex, bare hex with a letter)
// and stores the ledger's hex.
func TestCertRevokeCLI(t *testing.T) {
	n := openTestNode(t)
	if code, _, errb := adminCLI(t, n, []string{"cert", "revoke"}, "not-hex"); code != 2 || !strings.Contains(errb, "colon-separated hex") {
		t.Fatalf("bad serial: %d %s", code, errb)
	}
	for _, tc := range []struct{ arg, out, ledger string }{
		{"0A:FF", "revoked serial 0xaff (decimal 2815)", "aff"},
		{"4096", "revoked serial 0x1000 (decimal 4096)", "1000"},
		{"0xBEEF", "revoked serial 0xbeef (decimal 48879)", "beef"},
		{"c0de", "revoked serial 0xc0de (decimal 49374)", "c0de"},
	} {
		out := mustCLI(t, n, []string{"cert", "revoke"}, "--reason", "key-compromise", tc.arg)
		if !strings.Contains(out, tc.out) {
			t.Fatalf("revoke %s: %q, want %q", tc.arg, out, tc.out)
		}
		if ok, err := n.Store().IsRevoked(tc.ledger); err != nil || !ok {
			t.Fatalf("%s not revoked in the ledger as %s: %v %v", tc.arg, tc.ledger, ok, err)
		}
	}
	// All-digit text is decimal: 4096, never 0x4096.
	if ok, _ := n.Store().IsRevoked("4096"); ok {
		t.Fatal("4096 was read as hex")
	}
}
