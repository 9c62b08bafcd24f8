package consensus

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The one retry loop of this package. A request that must run on the leader
// (a proposal, a read barrier, a membership change) is tried against the
// leader raft knows of now; an attempt that failed in a way that allows a
// retry (no leader known, leader moved, nothing appended) is tried again,
// with a short backoff, until Config.LeaderWait passes. Which failures allow
// a retry depends on the request: a proposal only when nothing was appended
// (anything else may still commit and is the caller's to retry with its
// idempotency key), an idempotent request (a barrier, a join, a removal) also
// when the leader lost its leadership or quorum while serving it.

// errNoLeader: raft knows no leader at the moment (an election is running).
var errNoLeader = fmt.Errorf("%w: no leader known", ErrNoQuorum)

// leaderAttempt is one try of a leader request. leaderID/leaderAddr are the
// leader raft reported just before the try (never empty).
type leaderAttempt func(leaderID, leaderAddr string) error

// retryable decides whether a failed attempt may be tried again.
type retryable func(error) bool

// notAppended allows a retry only when the request certainly had no effect:
// the rule for proposals, whose retry could apply a command twice.
func notAppended(err error) bool {
	return errors.Is(err, errNotAppended) || errors.Is(err, errNoLeader)
}

// idempotent also allows a retry after the leader lost its quorum or its
// leadership while serving the request: for a request whose repetition is
// harmless (a read barrier is a no-op entry, joining a member twice or
// removing an absent one changes nothing) that is just another leader change.
// Timeouts (ctx or ApplyTimeout used up) and a closing node end the loop.
func idempotent(err error) bool {
	return notAppended(err) || errors.Is(err, ErrNoQuorum)
}

// untilLeader runs attempt against the current leader until it succeeds,
// fails in a way retry does not accept, ctx ends, the node closes, or
// LeaderWait passes. Errors: the attempt's own error when retry refuses it;
// ErrNoQuorum (wrapping the last error, or ctx's as ErrTimeout) when the wait
// ran out; ErrClosed.
func (n *Node) untilLeader(ctx context.Context, retry retryable, attempt leaderAttempt) error {
	retryUntil := time.Now().Add(n.cfg.LeaderWait)
	backoff := time.Millisecond
	for {
		if n.isClosing() {
			return ErrClosed
		}
		var err error
		if addr, id := n.raft.LeaderWithID(); addr == "" {
			err = errNoLeader
		} else {
			err = attempt(string(id), string(addr))
		}
		if err == nil || !retry(err) {
			return err
		}
		if time.Now().After(retryUntil) {
			return noQuorum(err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %w (last error: %w)", ErrNoQuorum, ctxErr(ctx), err)
		case <-n.closing:
			t.Stop()
			return ErrClosed
		}
		backoff = min(2*backoff, 20*time.Millisecond)
	}
}

// opContext bounds ctx by ApplyTimeout.
func (n *Node) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, n.cfg.ApplyTimeout)
}

// remaining is the time left before ctx's deadline (at least 1 ms), or def.
func remaining(ctx context.Context, def time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return max(time.Until(dl), time.Millisecond)
	}
	return def
}

// noQuorum makes sure err matches ErrNoQuorum.
func noQuorum(err error) error {
	if errors.Is(err, ErrNoQuorum) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrNoQuorum, err)
}
