package cmd

import (
	"encoding/pem"
	"strings"
	"testing"
)

func TestPeerCLI(t *testing.T) {
	n := openTestNode(t)
	var ca []byte
	for _, c := range n.CACertificates() {
		ca = append(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	caFile := writeTemp(t, "yellow-ca.pem", string(ca))
	if code, _, errb := adminCLI(t, n, []string{"peer", "add"}, "--service-point", "https://y.example/osp,x", "YELLOW"); code != 2 || !strings.Contains(errb, "URL,WEIGHT") {
		t.Fatalf("bad weight: %d %s", code, errb)
	}
	if code, _, errb := adminCLI(t, n, []string{"peer", "add"}, "--service-point", "gopher://y", "YELLOW"); code != 1 || !strings.Contains(errb, "gopher") {
		t.Fatalf("bad url: %d %s", code, errb)
	}
	mustCLI(t, n, []string{"peer", "add"}, "--name", "Yellow", "--service-point", "https://y1.example/osp,2",
		"--service-point", "https://y2.example/osp", "--trusted-ca", caFile, "--client-cert", "/etc/ospnode/yellow.crt",
		"--client-key", "/etc/ospnode/yellow.key", "--our-member-id", "purple", "--buy-deck", "buy-yellow", "YELLOW")
	out := mustCLI(t, n, []string{"peer", "list"}, "--output", "csv")
	if !strings.Contains(out, "YELLOW,Yellow,active,https://y1.example/osp w2 https://y2.example/osp w0,1,purple,buy-yellow") {
		t.Fatalf("peer list: %s", out)
	}
	if out := mustCLI(t, n, []string{"outbox", "list"}, "--peer", "YELLOW"); !strings.HasPrefix(out, "ID") || strings.Count(out, "\n") != 1 {
		t.Fatalf("outbox: %q", out)
	}
	mustCLI(t, n, []string{"peer", "remove"}, "YELLOW")
	if code, _, _ := adminCLI(t, n, []string{"peer", "remove"}, "YELLOW"); code != 1 {
		t.Fatalf("removing a missing peer exited %d", code)
	}
}
