package consensus

import (
	"context"
	"fmt"
	"time"
)

// handleRPC serves the internal channel.
func (n *Node) handleRPC(ctx context.Context, typ byte, body []byte) ([]byte, error) {
	r := rbuf{b: body}
	timeout := time.Duration(r.uvarint())
	if timeout <= 0 || timeout > n.cfg.ApplyTimeout {
		timeout = n.cfg.ApplyTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch typ {
	case rpcPropose:
		cmds := r.cmds()
		if r.err != nil {
			return nil, r.err
		}
		if !n.IsLeader() {
			return nil, fmt.Errorf("%w: %s is not the leader", errNotAppended, n.id)
		}
		n.forwardedIn.Add(uint64(len(cmds)))
		res, err := n.propose(ctx, cmds, true)
		if err != nil {
			return nil, err
		}
		return appendCmds(nil, res), nil
	case rpcReadIndex:
		if !n.IsLeader() {
			return nil, fmt.Errorf("%w: %s is not the leader", errNotAppended, n.id)
		}
		idx, err := n.leaderBarrier(ctx)
		if err != nil {
			return nil, err
		}
		var out wbuf
		out.uvarint(idx)
		return out, nil
	case rpcJoin:
		id, addr := r.str(), r.str()
		if r.err != nil {
			return nil, r.err
		}
		return nil, n.Join(ctx, id, addr)
	case rpcRemove:
		id := r.str()
		if r.err != nil {
			return nil, r.err
		}
		return nil, n.Remove(ctx, id)
	case rpcTransfer:
		id := r.str()
		if r.err != nil {
			return nil, r.err
		}
		return nil, n.TransferLeadership(ctx, id)
	default:
		return nil, fmt.Errorf("consensus: unknown internal request type %d", typ)
	}
}
