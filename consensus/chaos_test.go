package consensus

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentProposalsSurviveLeaderKill proposes commands concurrently
// through all three nodes, closes the leader in the middle, and checks that
// every acknowledged command is on every surviving node exactly once, then
// that the restarted node catches up to the same digest.
func TestConcurrentProposalsSurviveLeaderKill(t *testing.T) {
	total := 20000
	if testing.Short() {
		total = 3000
	}
	c := newTestCluster(t, func(cfg *Config) { cfg.LeaderWait = 10 * time.Second })
	ids := []string{"a", "b", "c"}
	c.boot(ids...)
	leader := c.waitLeader()

	nodes := map[string]*Node{}
	for _, tn := range c.running() {
		nodes[tn.id] = tn.n
	}
	var killed atomic.Value // id of the closed leader
	killed.Store("")

	const workers = 96
	var (
		next     atomic.Int64
		acked    = make([][][]byte, workers)
		failures atomic.Int64
		killOnce sync.Once
		stopped  = make(chan struct{})
		wg       sync.WaitGroup
		errMu    sync.Mutex
		errKinds = map[string]int{}
		errMsgs  = map[string]int{}
	)
	ctx := ctxT(t, 120*time.Second)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(total) {
					return
				}
				if i == int64(total/2) {
					killOnce.Do(func() {
						killed.Store(leader.id)
						// Close concurrently with the other proposers.
						go func() { defer close(stopped); c.stop(leader.id) }()
					})
				}
				id := ids[(w+int(i))%3]
				if id == killed.Load().(string) {
					id = ids[(w+int(i)+1)%3]
					if id == killed.Load().(string) {
						id = ids[(w+int(i)+2)%3]
					}
				}
				cmd := fmt.Appendf(nil, "w%d-%d", w, i)
				_, err := nodes[id].Propose(ctx, cmd)
				if err != nil {
					failures.Add(1)
					kind := "other"
					for _, s := range []error{ErrClosed, ErrNoQuorum, ErrTimeout, ErrNotLeader} {
						if errors.Is(err, s) {
							kind = s.Error()
							break
						}
					}
					msg := err.Error()
					if len(msg) > 90 {
						msg = msg[:90]
					}
					errMu.Lock()
					if errMsgs[msg] == 0 {
						t.Logf("first error of its kind: %v", err)
					}
					errMsgs[msg]++
					errKinds[kind]++
					errMu.Unlock()
					continue
				}
				acked[w] = append(acked[w], cmd)
			}
		}()
	}
	wg.Wait()
	var all [][]byte
	for _, a := range acked {
		all = append(all, a...)
	}
	t.Logf("%d proposed, %d acknowledged, %d failed %v", total, len(all), failures.Load(), errKinds)
	if errKinds["other"] > 0 {
		t.Errorf("untyped errors: %d", errKinds["other"])
	}
	if len(all) < total*8/10 {
		t.Errorf("only %d of %d acknowledged", len(all), total)
	}

	check := func(stage string) {
		v := c.converged(60 * time.Second)
		if v.dups != 0 {
			t.Fatalf("%s: %d commands applied twice", stage, v.dups)
		}
		for _, tn := range c.running() {
			if m := tn.sm.missing(all); len(m) > 0 {
				t.Fatalf("%s: %s lacks %d acknowledged commands, e.g. %s", stage, tn.id, len(m), m[0])
			}
		}
		if v.keys < len(all) {
			t.Fatalf("%s: %d keys < %d acknowledged", stage, v.keys, len(all))
		}
		t.Logf("%s: converged at applied=%d keys=%d digest=%s…", stage, v.applied, v.keys, v.digest[:12])
	}
	c.waitLeader()
	check("survivors")

	// The old leader restarts from its data directory and catches up.
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("closing the old leader did not finish")
	}
	c.start(leader.id, false)
	check("after restart")
}
