package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ospnode/ospnode/consensus"
	"github.com/ospnode/ospnode/ledger"
	"github.com/ospnode/ospnode/osp"
)

// ErrUnavailable is wrapped by every error Propose returns when the cluster
// could not commit (no quorum, not the leader and no forwarding, timeout,
// node closed). The OSP handlers answer it with osp.StatusUnavailable (503),
// the status that makes the OSP Toolkit try its next service point. After
// such an error the command may still commit later; the idempotency keys
// inside ledger commands make the toolkit's retry harmless.
var ErrUnavailable = errors.New("node: cluster unavailable")

// Propose encodes cmd, replicates it through consensus and returns the
// ledger's result. A business rejection is a *ledger.Result with a non-OK
// code and a nil error (see Result.Err). Errors: an encoding error, or an
// error wrapping ErrUnavailable (and the consensus sentinel: ErrNoQuorum,
// ErrNotLeader, ErrTimeout, ErrClosed). Safe for concurrent use; concurrent
// calls share Raft log entries (group commit).
func (n *Node) Propose(ctx context.Context, cmd ledger.Command) (*ledger.Result, error) {
	b, err := ledger.Encode(cmd)
	if err != nil {
		return nil, fmt.Errorf("node: encode %s: %w", cmd.Type(), err)
	}
	start := time.Now()
	out, err := n.cons.Propose(ctx, b)
	n.met.proposed(cmd.Type().String(), time.Since(start))
	if err != nil {
		return nil, fmt.Errorf("%w: propose %s: %w", ErrUnavailable, cmd.Type(), err)
	}
	res, err := ledger.DecodeResult(out)
	if err != nil {
		// Only a skipped (already applied) entry has no result: the outcome
		// is unknown to us, so it is treated like a lost quorum.
		return nil, fmt.Errorf("%w: %s result: %w", ErrUnavailable, cmd.Type(), err)
	}
	return res, nil
}

// unavailable reports whether err means "try another server".
func unavailable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, consensus.ErrNoQuorum) ||
		errors.Is(err, consensus.ErrNotLeader) || errors.Is(err, consensus.ErrTimeout) ||
		errors.Is(err, consensus.ErrClosed) || errors.Is(err, consensus.ErrHalted) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, ledger.ErrClosed)
}

// StatusFor maps an error of Propose (or of a handler step) to the OSP status
// code to answer with: 503 for an unavailable cluster, the code of an
// *osp.Error, else 500.
func StatusFor(err error) int {
	if err == nil {
		return osp.StatusOK
	}
	if unavailable(err) {
		return osp.StatusUnavailable
	}
	return osp.ErrorStatus(err)
}
