package consensus

import (
	"context"
	"fmt"
	"time"
)

// handleRPC serves the internal channel.
func (n *Node) handleRPC(ctx context.Context, from caller, typ byte, body []byte) ([]byte, error) {
	r := rbuf{b: body}
	if err := n.admitCaller(from, typ, body); err != nil {
		n.log.Warn("consensus: internal request refused", "type", typ, "err", err)
		return nil, err
	}
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

// admitCaller applies Config.PeerID's rule: with identities checked, only a
// server of the Raft configuration may use the internal channel, except that
// a node may ask to join as itself.
func (n *Node) admitCaller(from caller, typ byte, body []byte) error {
	if !from.checked {
		return nil
	}
	if from.err != nil {
		return fmt.Errorf("%w: internal request from an unidentified node: %v", ErrRefused, from.err)
	}
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return mapRaftErr(err)
	}
	if typ == rpcJoin {
		r := rbuf{b: body}
		r.uvarint()
		if id, addr := r.str(), r.str(); r.err == nil && id == from.id {
			if n.cfg.JoinAddr != nil {
				if err := n.cfg.JoinAddr(from.state, addr); err != nil {
					return fmt.Errorf("%w: node %q may not join at %s: %v", ErrRefused, id, addr, err)
				}
			}
			for _, s := range cf.Configuration().Servers {
				if string(s.Address) == addr && string(s.ID) != id {
					return fmt.Errorf("%w: node %q may not join at %s, the address of %q (remove %q first)", ErrRefused, id, addr, s.ID, s.ID)
				}
			}
			return nil
		}
	}
	for _, s := range cf.Configuration().Servers {
		if string(s.ID) == from.id {
			return nil
		}
	}
	return fmt.Errorf("%w: internal request from node %q, which is not in the Raft configuration", ErrRefused, from.id)
}
