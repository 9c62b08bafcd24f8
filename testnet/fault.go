package testnet

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/ospnode/ospnode/internal/faultnet"
)

// Fault injection on a running Network. Node slots are 0-based.
//
// What a partition cuts: each node advertises the address of a faultnet
// proxy in front of its cluster listener, so every connection *to* node i
// (Raft from the leader, votes, forwarded proposals, joins) passes through
// proxy i. Partition(i) cuts those connections and refuses new ones; node
// i can still dial out. A partitioned follower therefore stops hearing the
// leader, loses it after an election timeout and refuses writes (pre-vote
// keeps it from disturbing the majority); a partitioned *leader* still
// reaches its followers over its own connections, so it is not isolated.
// Cutting a node off in both directions needs a dial hook per node
// (consensus.Config.Dial, not yet exposed by node.Config): see DESIGN.md.

func (nw *Network) slot(i int) (*server, error) {
	if i < 0 || i >= len(nw.servers) {
		return nil, fmt.Errorf("testnet: %s: no node %d", nw.spec.Name, i)
	}
	return nw.servers[i], nil
}

func (nw *Network) proxy(i int) (*faultnet.Proxy, error) {
	s, err := nw.slot(i)
	if err != nil {
		return nil, err
	}
	if s.proxy == nil {
		return nil, ErrNoProxy
	}
	return s.proxy, nil
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
// id and addresses, joining the running members. The leader then brings
// it up to date: by InstallSnapshot when the entries it lacks have been
// compacted away, else by replaying the log.
func (nw *Network) Wipe(ctx context.Context, i int) error {
	s, err := nw.slot(i)
	if err != nil {
		return err
	}
	if nw.Node(i) != nil {
		if err := nw.Kill(i); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(s.dataDir); err != nil {
		return fmt.Errorf("testnet: wipe %s: %w", s.id, err)
	}
	join := nw.liveClusterAddrs(i)
	if len(join) == 0 {
		return fmt.Errorf("testnet: wipe %s: no running member to rejoin", s.id)
	}
	return nw.open(ctx, s, false, join)
}

// Partition cuts every connection to node i and refuses new ones until
// Heal(i) (see the note above on what that isolates).
func (nw *Network) Partition(i int) error {
	p, err := nw.proxy(i)
	if err != nil {
		return err
	}
	p.Partition()
	return nil
}

// Heal ends Partition(i) and Pause(i).
func (nw *Network) Heal(i int) error {
	p, err := nw.proxy(i)
	if err != nil {
		return err
	}
	p.Heal()
	p.Resume()
	return nil
}

// Pause black-holes the connections to node i (bytes are held, not
// refused) until Heal(i).
func (nw *Network) Pause(i int) error {
	p, err := nw.proxy(i)
	if err != nil {
		return err
	}
	p.Pause()
	return nil
}

// SetDelay slows the connections to node i: every chunk is delayed by d
// in each direction (0 removes the delay).
func (nw *Network) SetDelay(i int, d time.Duration) error {
	p, err := nw.proxy(i)
	if err != nil {
		return err
	}
	p.SetDelay(d)
	return nil
}
