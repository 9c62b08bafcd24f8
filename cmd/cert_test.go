package cmd

import (
	"strings"
	"testing"
)

func TestCertRevokeCLI(t *testing.T) {
	n := openTestNode(t)
	if code, _, errb := adminCLI(t, n, []string{"cert", "revoke"}, "not-hex"); code != 1 || !strings.Contains(errb, "hexadecimal") {
		t.Fatalf("bad serial: %d %s", code, errb)
	}
	out := mustCLI(t, n, []string{"cert", "revoke"}, "--reason", "key-compromise", "0A:FF")
	if !strings.Contains(out, "revoked serial aff") {
		t.Fatalf("revoke: %s", out)
	}
	if ok, err := n.Store().IsRevoked("aff"); err != nil || !ok {
		t.Fatalf("not revoked in the ledger: %v %v", ok, err)
	}
}
