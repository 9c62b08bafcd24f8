package node

import (
	"testing"
	"time"
)

// BenchmarkMetricsObserve measures what the OSP hot path pays per answered
// request for /metrics: one count by (type, code) and one latency sample,
// from 8 goroutines at once (contention is the cost that matters).
func BenchmarkMetricsObserve(b *testing.B) {
	m := newMetrics()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.observe("AuthorizationRequest", 200)
			m.latencyOf("AuthorizationRequest", 1500*time.Microsecond)
		}
	})
}
