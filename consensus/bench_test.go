package consensus

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCommit measures committed commands per second and commit latency
// on a 3-node loopback cluster with the Raft log fsynced (raft-boltdb's
// default), for 200-byte commands proposed on the leader (or a follower),
// with group commit on and off. sm=mem applies to an in-memory state machine
// (the consensus layer's own cost); sm=bolt to the bbolt kvSM, which defers
// its fsynced commits by 20 ms as ledger does (ledger/commit.go);
// sm=bolt-every commits and fsyncs one bbolt transaction per log entry (the
// ledger before deferred commit). All three nodes share one disk and two
// cores here. sm=bolt-nosync is the deferring kvSM without fsync: the state
// machine cost of a ledger opened Unsynced.
//
//	go test -run '^$' -bench BenchmarkCommit -benchtime 3s ./consensus/
func BenchmarkCommit(b *testing.B) {
	for _, sm := range []string{"mem", "bolt", "bolt-every", "bolt-nosync"} {
		for _, batching := range []bool{true, false} {
			for _, conc := range []int{1, 64, 128, 256, 512} {
				name := fmt.Sprintf("sm=%s/group=%s/conc=%d", sm, map[bool]string{true: "on", false: "off"}[batching], conc)
				b.Run(name, func(b *testing.B) { benchCommit(b, sm, !batching, conc, false) })
			}
		}
		b.Run("sm="+sm+"/group=on/conc=64/via=follower", func(b *testing.B) { benchCommit(b, sm, false, 64, true) })
	}
}

func benchCommit(b *testing.B, sm string, disabled bool, conc int, viaFollower bool) {
	c := newTestCluster(b, func(cfg *Config) {
		cfg.Batch.Disabled = disabled
		if v, err := strconv.Atoi(os.Getenv("CONSENSUS_BENCH_INFLIGHT")); err == nil {
			cfg.Batch.MaxInFlight = v
		}
		if v, err := strconv.Atoi(os.Getenv("CONSENSUS_BENCH_MAXCMDS")); err == nil {
			cfg.Batch.MaxCommands = v
		}
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
		cfg.CommitTimeout = 50 * time.Millisecond
		cfg.ApplyTimeout = time.Minute
		cfg.LeaderWait = 10 * time.Second
	})
	c.direct = true
	c.mem = sm == "mem"
	c.noSync = sm == "bolt-nosync"
	c.everyEntry = sm == "bolt-every"
	c.boot("a", "b", "c")
	target := c.waitLeader()
	if viaFollower {
		for _, tn := range c.running() {
			if tn.id != target.id {
				target = tn
				break
			}
		}
	}
	pad := bytes.Repeat([]byte("u"), 200)
	lat := make([]time.Duration, b.N)
	ctx := ctxT(b, 10*time.Minute)
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := slices.Clone(pad)
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				// A unique 200-byte command: the state machine keys on it.
				copy(cmd, fmt.Sprintf("%d-%d-", w, i))
				t0 := time.Now()
				if _, err := target.n.Propose(ctx, cmd); err != nil {
					failed.Add(1)
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d proposals failed", f)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "cmds/s")
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	st := c.leader().n.Stats()
	if st.Entries > 0 {
		b.ReportMetric(float64(st.Commands)/float64(st.Entries), "cmds/entry")
	}
}
