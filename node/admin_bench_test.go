package node

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
)

// seedUsage records n usage reports (transactions 1..n, role source,
// component "1") straight through Propose.
func seedUsage(b *testing.B, nd *Node, n int) {
	b.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for i := 1; i <= n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			res, err := nd.Propose(context.Background(), &ledger.RecordUsage{At: time.Now().UTC(), TransactionID: uint64(i),
				Role: ledger.RoleSource, ComponentID: "1", Reporter: ledger.MemberAccount(DemoCarrierA), Called: "16785551234", DurationMillis: 30000})
			if err != nil || res.Err() != nil {
				b.Errorf("seed %d: %v %v", i, err, res)
			}
		}()
	}
	wg.Wait()
}

// BenchmarkAdminUsageLookup is the load generator's verification request
// (GET /v1/usage/{txid}) against a ledger of 20,000 usage records, over
// loopback HTTP with keep-alive. Each lookup is one read of the ledger's
// usage idempotency index (Store.UsageByKey); µs-first-lookup is the
// first request alone (it once built an in-memory index of every key).
func BenchmarkAdminUsageLookup(b *testing.B) {
	cfg := testConfig(b, "n1")
	cfg.Bootstrap, cfg.Demo = true, true
	nd := openNode(b, cfg)
	const records = 20000
	seedUsage(b, nd, records)
	c := &http.Client{}
	get := func(tx int) int {
		req, _ := http.NewRequest(http.MethodGet, nd.AdminURL()+"/v1/usage/"+strconv.Itoa(tx)+"?role=source&component=1", nil)
		req.Header.Set("Authorization", "Bearer "+nd.AdminToken())
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	start := time.Now()
	if code := get(1); code != http.StatusOK {
		b.Fatalf("first lookup: %d", code)
	}
	build := time.Since(start)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if code := get(1 + i%records); code != http.StatusOK {
			b.Fatalf("lookup %d: %d", i, code)
		}
	}
	b.ReportMetric(float64(build.Microseconds()), "µs-first-lookup")
}
