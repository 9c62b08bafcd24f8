package testnet

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

// TestUsageOnRestartedNodeFarBehind: a follower is stopped while calls
// are authorised through the leader, restarted, and at once receives the
// final usage of every one of those calls, before it has applied their
// transactions. Each usage must end up matched, rated and posted exactly
// once on every node: the restarted node waits for the entry or answers
// 503 (the toolkit then retries), and never records a matched call
// unrated (the 36 unrated usages after kill -9 and restart).
func TestUsageOnRestartedNodeFarBehind(t *testing.T) {
	ctx := ctxFor(t, 150*time.Second)
	nw := NewTestNetwork(t, NetworkSpec{Name: "BEHIND", Nodes: 3}, testOpts())
	l := nw.LeaderIndex()
	f := (l + 1) % 3
	if err := nw.Kill(f); err != nil {
		t.Fatal(err)
	}
	calls := 400
	if testing.Short() {
		calls = 150
	}
	type call struct {
		tx             uint64
		callID, called string
	}
	cs := make([]call, calls)
	a := CarrierAParty()
	live := nw.OSPURLs() // the leader and the other follower
	parallel(t, calls, 8, func(i int) error {
		called := "44" + fmt.Sprintf("%09d", i)
		ar, err := authorizeAsToolkit(ctx, live, a, "14048724799", called)
		if err != nil {
			return err
		}
		cs[i] = call{ar.TransactionID, string(ar.Destinations[0].CallID), called}
		return nil
	})

	// Restarted cut off from the cluster, the node cannot catch up: it
	// must refuse the usage it cannot rate (503: the toolkit tries its
	// next service point) rather than record it unrated.
	if err := nw.Partition(f); err != nil {
		t.Fatal(err)
	}
	if err := nw.Restart(ctx, f); err != nil {
		t.Fatal(err)
	}
	behindURL := nw.AllOSPURLs()[f]
	parallel(t, 8, 8, func(i int) error {
		c := cs[i]
		m := lifecycleUsage(c.tx, c.callID, c.called, lifeEvent{role: osp.RoleSource, kind: "final", ms: 61_000, msgID: "behind" + strconv.Itoa(i)})
		// Not caught up since its restart, it answers HTTP 503 (the
		// toolkit's cue to try its next service point), or OSP 503.
		code, err := sendOnce(ctx, behindURL, a, m)
		if err == nil && code != osp.StatusUnavailable {
			return fmt.Errorf("call %d: a node that has not applied its transaction answered %d, want 503", i, code)
		}
		if err != nil && !strings.Contains(err.Error(), "503") {
			return fmt.Errorf("call %d: %v, want a 503", i, err)
		}
		return nil
	})
	// Then reconnected over a slow link: it catches up slowly while its
	// proposals reach the leader at once, the window in which a usage
	// used to be recorded unrated (its transaction not applied here yet,
	// matched where it was applied).
	if err := nw.SetDelay(f, 150*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := nw.Heal(f); err != nil {
		t.Fatal(err)
	}
	var unavailable atomic.Int64
	parallel(t, calls, 8, func(i int) error {
		c := cs[i]
		m := lifecycleUsage(c.tx, c.callID, c.called, lifeEvent{role: osp.RoleSource, kind: "final", ms: 61_000, msgID: "behind" + strconv.Itoa(i)})
		for try := 0; ; try++ {
			url := behindURL
			if try >= 20 {
				url = live[try%len(live)] // the toolkit's next service points
			}
			code, err := sendOnce(ctx, url, a, m)
			if err == nil && code/100 == 2 {
				return nil
			}
			if err == nil && code != osp.StatusUnavailable {
				return fmt.Errorf("call %d: usage answered %d", i, code)
			}
			if err != nil && !strings.Contains(err.Error(), "503") {
				return fmt.Errorf("call %d: %v", i, err)
			}
			unavailable.Add(1)
			if err := pause(ctx, 20*time.Millisecond); err != nil {
				return fmt.Errorf("call %d: not confirmed: %v", i, err)
			}
		}
	})
	t.Logf("%d usages answered 503 by the restarted node before it caught up", unavailable.Load())
	if err := nw.SetDelay(f, 0); err != nil {
		t.Fatal(err)
	}

	if _, err := nw.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range nw.Nodes() {
		rep, err := n.Store().Audit()
		if err != nil || !rep.OK {
			t.Fatalf("%s: audit %+v: %v", n.ID(), rep, err)
		}
		for i, c := range cs {
			u, err := n.Store().UsageByKey(c.tx, ledger.RoleSource, "behind"+strconv.Itoa(i)+"0")
			if err != nil {
				t.Fatalf("%s: call %d: %v", n.ID(), i, err)
			}
			if u.Unmatched || u.Rating == nil || u.Rating.Sell.IsZero() || u.PostingID == 0 {
				t.Fatalf("%s: call %d recorded unmatched, unrated or unposted: %+v", n.ID(), i, u)
			}
		}
	}
}

// parallel runs fn(0..n-1) on workers goroutines and fails t on the first
// error.
func parallel(t *testing.T, n, workers int, fn func(i int) error) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// authorizeAsToolkit authorises a call as the OSP Toolkit would: an
// answer 503 (on a busy machine a follower's election timer can fire and
// the leader steps down for a moment) sends it to the next service point
// of urls, until ctx ends.
func authorizeAsToolkit(ctx context.Context, urls []string, src Party, calling, called string) (*osp.AuthorizationResponse, error) {
	for i := 0; ; i++ {
		ar, err := Authorize(ctx, urls[i%len(urls)], src, calling, called)
		if err == nil || ar == nil || ar.Status.Code != osp.StatusUnavailable {
			return ar, err
		}
		if perr := pause(ctx, 20*time.Millisecond); perr != nil { // the cluster is electing a leader
			return nil, err
		}
	}
}

// sendOnce sends m from src to url and returns the usage confirmation's
// status code.
func sendOnce(ctx context.Context, url string, src Party, m *osp.Message) (int, error) {
	c, done, err := partyClient(url, src)
	if err != nil {
		return 0, err
	}
	defer done()
	resp, err := c.Do(ctx, m)
	if err != nil {
		return 0, err
	}
	if len(resp.Components) != 1 || resp.Components[0].UsageConfirmation == nil {
		return 0, fmt.Errorf("answer is not one UsageConfirmation")
	}
	return resp.Components[0].UsageConfirmation.Status.Code, nil
}
