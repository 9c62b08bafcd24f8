package node

import (
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
)

// BenchmarkRevocationCheck is the per-handshake (and per-request on TLS
// keep-alive) cost of asking whether a client certificate is revoked, with
// 1,000 revoked serials in the ledger and no change since the last check.
func BenchmarkRevocationCheck(b *testing.B) {
	cfg := testConfig(b, "n1")
	cfg.Bootstrap = true
	n := openNode(b, cfg)
	cmds := make([]ledger.Command, 0, 1000)
	for i := range 1000 {
		cmds = append(cmds, ledger.RevokeCert{Serial: fmt.Sprintf("%x", 1000+i), At: time.Now().UTC()})
	}
	for _, c := range cmds {
		if _, err := n.Propose(b.Context(), c); err != nil {
			b.Fatal(err)
		}
	}
	serial := big.NewInt(424242)
	if n.trust.rev.revoked(big.NewInt(1000)) != true || n.trust.rev.revoked(serial) {
		b.Fatal("revocation set wrong")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n.trust.rev.revoked(serial)
	}
}
