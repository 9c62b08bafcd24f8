package node

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

// benchNode is a demo node with five more terminating members on route 1,
// whose proxies take tokens of the given kind (and one token per call when
// shared: ledger.Member.SharedToken).
func benchNode(b *testing.B, tokenKind string, shared bool) *Node {
	cfg := testConfig(b, "bench")
	cfg.Bootstrap, cfg.Demo = true, true
	n := openNode(b, cfg)
	var cands []ledger.RouteCandidate
	var cmds []ledger.Command
	for i := 1; i <= 5; i++ {
		id := fmt.Sprintf("term-%d", i)
		cmds = append(cmds,
			ledger.PutMember{Member: ledger.Member{ID: id, Status: ledger.MemberActive, TokenKind: tokenKind, SharedToken: shared, BuyDeckID: "buy-carrier-b",
				Credentials: ledger.Credentials{SourceAddrs: []string{fmt.Sprintf("192.0.2.%d", i)}}}},
			ledger.PutTrunk{Trunk: ledger.Trunk{ID: id + "-t", MemberID: id, Address: fmt.Sprintf("[192.0.2.%d]:5060", i), Weight: i}})
		cands = append(cands, ledger.RouteCandidate{Kind: ledger.CandidateTrunk, ID: id + "-t", Weight: 1})
	}
	cmds = append(cmds, ledger.PutRoutes{Routes: []ledger.Route{{Prefix: "1", Candidates: cands}}})
	for _, c := range cmds {
		res, err := n.Propose(b.Context(), c)
		if err != nil || res.Err() != nil {
			b.Fatal(err, res)
		}
	}
	return n
}

// BenchmarkAuthorize5 measures one AuthorizationRequest with five
// destinations through the real HTTP server on loopback: decode, route,
// Raft commit (group commit across 16 concurrent callers), five tokens,
// encode. Each call is new (a new transaction). signed-shared: the five
// terminating members take one shared token per call (one signature).
func BenchmarkAuthorize5(b *testing.B) {
	for _, kind := range []string{ledger.TokenText, ledger.TokenSigned, "signed-shared"} {
		b.Run(kind, func(b *testing.B) {
			tokenKind, shared := kind, kind == "signed-shared"
			if shared {
				tokenKind = ledger.TokenSigned
			}
			n := benchNode(b, tokenKind, shared)
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			var seq atomic.Uint64
			url := n.OSPURL()
			b.ReportAllocs()
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := strconv.FormatUint(seq.Add(1), 10)
					body, err := osp.Encode(authRequest(id, "bench-"+id, "14045551234", 5))
					if err != nil {
						b.Fatal(err)
					}
					resp, err := c.Post(url, "text/plain", bytes.NewReader(body))
					if err != nil {
						b.Fatal(err)
					}
					out, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					m, err := osp.Decode(out, osp.Limits{})
					if err != nil {
						b.Fatal(err)
					}
					if ar := m.Components[0].AuthorizationResponse; ar.Status.Code != osp.StatusOK || len(ar.Destinations) != 5 {
						b.Fatalf("answer %s", out)
					}
				}
			})
		})
	}
}
