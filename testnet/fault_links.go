package testnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ospnode/ospnode/internal/faultnet"
)

// Per-link proxies. Every node of a Network (unless Options.Direct) dials
// its peers through node.Config.ClusterDial = nw.dialer(i): a connection
// from node src to the advertised address of node dst goes through the
// faultnet proxy of the directed link src→dst, created on first use and
// kept across restarts (the real cluster ports do not change). Faults are
// state of the node (server.cut, paused, delay) applied to every proxy the
// node is an end of, so a proxy created later inherits them:
//
//   - cut (Partition): every link to and from the node, and its inbound
//     proxy, are partitioned; the dialer refuses at once. A partitioned
//     leader can no longer reach its followers and steps down.
//   - paused, delay (Pause, SetDelay): connections dialled to the node
//     (links *→i and its inbound proxy), as before links existed.

// linkKey is a directed link between two node slots.
type linkKey struct{ src, dst int }

// errLinkCut is what a node's dialer returns while the link is cut.
var errLinkCut = errors.New("testnet: link partitioned")

// dialer returns node src's ClusterDial.
func (nw *Network) dialer(src int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		target, err := nw.linkFor(src, addr)
		if err != nil {
			return nil, err
		}
		var d net.Dialer
		return d.DialContext(ctx, network, target)
	}
}

// linkFor returns the address node src must dial to reach addr: the link
// proxy when addr is a member's advertised address, else addr itself.
func (nw *Network) linkFor(src int, addr string) (string, error) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if nw.closed {
		return "", fmt.Errorf("testnet: %s: network closed", nw.spec.Name)
	}
	var dst *server
	for _, s := range nw.servers {
		if s.proxy != nil && s.proxy.Addr() == addr {
			dst = s
			break
		}
	}
	if dst == nil || src < 0 || src >= len(nw.servers) {
		return addr, nil
	}
	from := nw.servers[src]
	if from.cut || dst.cut {
		return "", fmt.Errorf("%w: %s→%s", errLinkCut, from.id, dst.id)
	}
	k := linkKey{src, dst.index}
	p := nw.links[k]
	if p != nil && p.Target() != dst.clusterBind {
		_ = p.Close() // the node was re-addressed before it first ran
		p = nil
	}
	if p == nil {
		var err error
		if p, err = faultnet.New(dst.clusterBind); err != nil {
			return "", err
		}
		if nw.links == nil {
			nw.links = map[linkKey]*faultnet.Proxy{}
		}
		nw.links[k] = p
		applyFault(p, false, dst.paused, dst.delay)
	}
	return p.Addr(), nil
}

// applyFault sets a proxy's state (each call is idempotent).
func applyFault(p *faultnet.Proxy, cut, paused bool, delay time.Duration) {
	if cut {
		p.Partition()
	} else {
		p.Heal()
	}
	if paused {
		p.Pause()
	} else {
		p.Resume()
	}
	p.SetDelay(delay)
}

// setFault changes node i's fault state with edit and applies it to its
// inbound proxy and to every link it is an end of.
func (nw *Network) setFault(i int, edit func(s *server)) error {
	s, err := nw.slot(i)
	if err != nil {
		return err
	}
	if s.proxy == nil {
		return ErrNoProxy
	}
	nw.mu.Lock()
	defer nw.mu.Unlock()
	edit(s)
	applyFault(s.proxy, s.cut, s.paused, s.delay)
	for k, p := range nw.links {
		if k.src != i && k.dst != i {
			continue
		}
		src, dst := nw.servers[k.src], nw.servers[k.dst]
		applyFault(p, src.cut || dst.cut, dst.paused, dst.delay)
	}
	return nil
}
