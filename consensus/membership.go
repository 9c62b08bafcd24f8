package consensus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Join adds (or re-addresses) voter id at addr; a follower forwards it to the
// leader. Joining an existing voter with the same address is a no-op.
// Errors: ErrNoQuorum, ErrTimeout, ErrClosed, or raft's configuration error.
func (n *Node) Join(ctx context.Context, id, addr string) error {
	if id == "" || addr == "" {
		return errors.New("consensus: join: id and addr are required")
	}
	return n.leaderOp(ctx, rpcJoin, []string{id, addr}, idempotent, func(timeout time.Duration) error {
		cf := n.raft.GetConfiguration()
		if err := cf.Error(); err != nil {
			return mapRaftErr(err)
		}
		for _, s := range cf.Configuration().Servers {
			if string(s.ID) == id || string(s.Address) == addr {
				if string(s.ID) == id && string(s.Address) == addr && s.Suffrage == raft.Voter {
					return nil
				}
				if err := n.raft.RemoveServer(s.ID, 0, timeout).Error(); err != nil {
					return fmt.Errorf("consensus: join %s: remove stale %s: %w", id, s.ID, mapRaftErr(err))
				}
			}
		}
		if err := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout).Error(); err != nil {
			return fmt.Errorf("consensus: join %s: %w", id, mapRaftErr(err))
		}
		n.log.Info("consensus: member joined", "id", id, "addr", addr)
		return nil
	})
}

// JoinCluster asks the member at seedAddr (any member; it forwards to the
// leader) to add this node as a voter, retrying transient failures until ctx
// ends (ErrTimeout) or ApplyTimeout passes. This is how `ospnode serve --join
// ADDR` works. Then the leader replicates its log (or a snapshot) here.
func (n *Node) JoinCluster(ctx context.Context, seedAddr string) error {
	ctx, cancel := n.opContext(ctx)
	defer cancel()
	backoff := 10 * time.Millisecond
	for {
		var body wbuf
		body.uvarint(uint64(remaining(ctx, n.cfg.ApplyTimeout)))
		body.str(n.id)
		body.str(n.advert)
		_, err := n.rpcc.call(ctx, seedAddr, rpcJoin, body)
		if err == nil {
			return nil
		}
		var rem *errRemote
		if errors.As(err, &rem) || errors.Is(err, ErrClosed) {
			return fmt.Errorf("consensus: join via %s: %w", seedAddr, err)
		}
		n.log.Debug("consensus: join attempt failed", "seed", seedAddr, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("consensus: join via %s: %w (last error: %w)", seedAddr, ctxErr(ctx), err)
		case <-n.closing:
			t.Stop()
			return ErrClosed
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// Remove removes server id from the cluster; a follower forwards it.
// Removing an unknown id is a no-op.
func (n *Node) Remove(ctx context.Context, id string) error {
	return n.leaderOp(ctx, rpcRemove, []string{id}, idempotent, func(timeout time.Duration) error {
		if err := n.raft.RemoveServer(raft.ServerID(id), 0, timeout).Error(); err != nil {
			return fmt.Errorf("consensus: remove %s: %w", id, mapRaftErr(err))
		}
		return nil
	})
}

// TransferLeadership hands leadership to id ("" = any up-to-date voter); a
// follower forwards it to the leader.
func (n *Node) TransferLeadership(ctx context.Context, id string) error {
	return n.leaderOp(ctx, rpcTransfer, []string{id}, notAppended, func(time.Duration) error {
		var f raft.Future
		if id == "" {
			f = n.raft.LeadershipTransfer()
		} else {
			cf := n.raft.GetConfiguration()
			if err := cf.Error(); err != nil {
				return mapRaftErr(err)
			}
			var addr raft.ServerAddress
			for _, s := range cf.Configuration().Servers {
				if string(s.ID) == id {
					addr = s.Address
				}
			}
			if addr == "" {
				return fmt.Errorf("consensus: transfer leadership: unknown server %q", id)
			}
			if id == n.id {
				return nil
			}
			f = n.raft.LeadershipTransferToServer(raft.ServerID(id), addr)
		}
		if err := f.Error(); err != nil {
			return fmt.Errorf("consensus: transfer leadership: %w", mapRaftErr(err))
		}
		return nil
	})
}

// leaderOp runs local on the leader, or sends the request to the leader,
// until it succeeds or fails in a way retry does not accept (untilLeader).
func (n *Node) leaderOp(ctx context.Context, typ byte, args []string, retry retryable, local func(time.Duration) error) error {
	ctx, cancel := n.opContext(ctx)
	defer cancel()
	return n.untilLeader(ctx, retry, func(leaderID, leaderAddr string) error {
		if leaderID == n.id {
			return local(remaining(ctx, n.cfg.ApplyTimeout))
		}
		var body wbuf
		body.uvarint(uint64(remaining(ctx, n.cfg.ApplyTimeout)))
		for _, a := range args {
			body.str(a)
		}
		_, err := n.rpcc.call(ctx, leaderAddr, typ, body)
		return err
	})
}
