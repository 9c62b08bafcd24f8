package testnet

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Fault injection on a running Network. Node slots are 0-based. Every
// node reaches its peers through a proxy per directed link (see
// fault_links.go), so Partition isolates any node, the leader included, in
// both directions.

func (nw *Network) slot(i int) (*server, error) {
	if i < 0 || i >= len(nw.servers) {
		return nil, fmt.Errorf("testnet: %s: no node %d", nw.spec.Name, i)
	}
	return nw.servers[i], nil
}

// Kill stops node i (node.Close: listeners close, consensus and the
// ledger close; everything committed is on disk, as after a crash of a
// node whose last fsync completed). Its data directory and addresses are
// kept for Restart. Killing a node that is down is an error wrapping
// ErrNodeDown.
func (nw *Network) Kill(i int) error {
	s, err := nw.slot(i)
	if err != nil {
		return err
	}
	nw.mu.Lock()
	n := s.n
	s.n = nil
	nw.mu.Unlock()
	if n == nil {
		return fmt.Errorf("%w: %s", ErrNodeDown, s.id)
	}
	if err := n.Close(); err != nil {
		return fmt.Errorf("testnet: kill %s: %w", s.id, err)
	}
	return nil
}

// Restart opens node i again from its data directory, with the same node
// id, the same OSP, admin and cluster ports and the same advertised
// (proxy) address, so the cluster's configuration still names it. It
// fails if the node is running or a port was taken meanwhile.
func (nw *Network) Restart(ctx context.Context, i int) error {
	s, err := nw.slot(i)
	if err != nil {
		return err
	}
	if nw.Node(i) != nil {
		return fmt.Errorf("testnet: restart %s: already running", s.id)
	}
	return nw.open(ctx, s, false, nil)
}

// Wipe kills node i if it runs, deletes its data directory (ledger, Raft
// log and snapshots, admin token) and starts it again empty, with the same
// id and addresses, joining the running members. Before the node comes
// back the leader is made to snapshot (node.Snapshot), which compacts its
// log to RaftTimeouts.TrailingLogs entries: with a small TrailingLogs the
// entries the node lacks are gone and the leader must send it the snapshot
// (InstallSnapshot); with the default (10240) it usually replays the log.
// The index of that snapshot is returned: once the node holds a snapshot
// at or past it (consensus LogInfo), it was caught up by InstallSnapshot.
func (nw *Network) Wipe(ctx context.Context, i int) (snapshotIndex uint64, err error) {
	s, err := nw.slot(i)
	if err != nil {
		return 0, err
	}
	if nw.Node(i) != nil {
		if err := nw.Kill(i); err != nil {
			return 0, err
		}
	}
	if err := os.RemoveAll(s.dataDir); err != nil {
		return 0, fmt.Errorf("testnet: wipe %s: %w", s.id, err)
	}
	join := nw.liveClusterAddrs(i)
	if len(join) == 0 {
		return 0, fmt.Errorf("testnet: wipe %s: no running member to rejoin", s.id)
	}
	l, err := nw.WaitForLeader(ctx)
	if err != nil {
		return 0, fmt.Errorf("testnet: wipe %s: %w", s.id, err)
	}
	ln := nw.Node(l)
	if ln == nil {
		return 0, fmt.Errorf("testnet: wipe %s: leader went down", s.id)
	}
	if err := ln.Snapshot(); err != nil {
		return 0, fmt.Errorf("testnet: wipe %s: snapshot on %s: %w", s.id, ln.ID(), err)
	}
	li, err := ln.Consensus().LogInfo()
	if err != nil {
		return 0, fmt.Errorf("testnet: wipe %s: %w", s.id, err)
	}
	return li.SnapshotIndex, nw.open(ctx, s, false, join)
}

// Partition cuts node i off in both directions until Heal(i): every
// connection to or from it (Raft, votes, forwarded proposals, joins) is
// closed and new ones are refused. A partitioned follower loses the leader
// after an election timeout and refuses writes (pre-vote keeps it from
// disturbing the majority); a partitioned leader cannot reach a quorum,
// steps down after its lease, and the majority elects a new one.
func (nw *Network) Partition(i int) error {
	return nw.setFault(i, func(s *server) { s.cut = true })
}

// Heal ends Partition(i) and Pause(i) (a delay stays until SetDelay(i, 0)).
func (nw *Network) Heal(i int) error {
	return nw.setFault(i, func(s *server) { s.cut, s.paused = false, false })
}

// Pause black-holes the connections to node i (bytes are held, not
// refused) until Heal(i).
func (nw *Network) Pause(i int) error {
	return nw.setFault(i, func(s *server) { s.paused = true })
}

// SetDelay slows the connections to node i: every chunk is delayed by d
// in each direction (0 removes the delay).
func (nw *Network) SetDelay(i int, d time.Duration) error {
	return nw.setFault(i, func(s *server) { s.delay = d })
}
