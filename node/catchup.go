package node

import (
	"context"
	"time"
)

// A node that has just started (or restarted) holds what its own disk
// has, which can be thousands of entries behind its cluster: the routes,
// members and transactions it would answer from are old. Until it has
// caught up once — a read barrier succeeded, so it has applied everything
// its leader had committed when it asked — it answers OSP requests 503,
// which sends the toolkit to its next service point, instead of answering
// as if it were current (a restarted node once recorded usage unrated for
// calls it had not applied yet). From then on it lags by the normal
// replication delay only, and a usage whose transaction is not applied
// here yet waits for it (usage.go).

// watchCatchUp sets n.caughtUp after the first successful read barrier,
// retrying until then; it stops when the node closes.
func (n *Node) watchCatchUp() {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-n.closed:
		case <-ctx.Done():
		}
		cancel()
	}()
	go func() {
		defer cancel()
		backoff := 10 * time.Millisecond
		for ctx.Err() == nil {
			bctx, bcancel := context.WithTimeout(ctx, 5*time.Second)
			err := n.cons.Barrier(bctx)
			bcancel()
			if err == nil {
				n.caughtUp.Store(true)
				n.log.Info("node caught up with its cluster", "applied", n.store.AppliedIndex())
				return
			}
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			backoff = min(2*backoff, time.Second)
		}
	}()
}

// CaughtUp reports whether the node has caught up with its cluster since
// it started (and so answers OSP requests).
func (n *Node) CaughtUp() bool { return n.caughtUp.Load() }

// waitCaughtUp waits until the node has caught up (watchCatchUp) or ctx
// ends.
func (n *Node) waitCaughtUp(ctx context.Context) error {
	backoff := time.Millisecond
	for !n.caughtUp.Load() {
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		backoff = min(2*backoff, 20*time.Millisecond)
	}
	return nil
}
