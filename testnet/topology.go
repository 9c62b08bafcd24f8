package testnet

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ospnode/ospnode/ledger"
)

// Topology is several running in-process networks wired by links. Create
// it with StartTopology; Close it. Safe for concurrent use.
type Topology struct {
	spec     TopologySpec
	networks []*Network
}

// StartTopology boots every network of spec (normalised first) in order,
// then seeds each with its own commands plus the commands of the links it
// takes part in (LinkCommands: a peer on the downstream side, a member on
// the upstream side, decks both ways, routes). Every node's OSP port is
// fixed at boot, so the peers' service points stay valid across restarts.
// On error everything started is closed.
//
// The links are recorded in the ledgers; whether a call is actually
// forwarded across them is node's and federation's business.
func StartTopology(ctx context.Context, spec TopologySpec, opts Options) (_ *Topology, err error) {
	if err := spec.Normalize(); err != nil {
		return nil, err
	}
	tp := &Topology{spec: spec}
	defer func() {
		if err != nil {
			tp.Close()
		}
	}()
	for _, ns := range spec.Networks {
		nw, err := bootNetwork(ctx, ns, opts)
		if err != nil {
			return nil, err
		}
		tp.networks = append(tp.networks, nw)
	}
	cmds := make([][]ledger.Command, len(spec.Networks))
	for i := range spec.Networks {
		cmds[i] = spec.Networks[i].Commands()
	}
	for _, l := range spec.Links {
		from, fi := spec.network(l.From)
		to, ti := spec.network(l.To)
		up := tp.networks[ti]
		var cas [][]byte
		for _, name := range spec.Beyond(l.To) {
			_, bi := spec.network(name)
			cas = append(cas, tp.networks[bi].CACertPEM())
		}
		down, upc := LinkCommands(l, up.AllOSPURLs(), cas, from.Currency, to.Currency)
		cmds[fi] = append(cmds[fi], down...)
		cmds[ti] = append(cmds[ti], upc...)
	}
	for i, nw := range tp.networks {
		if err := nw.seedAndSettle(ctx, cmds[i]); err != nil {
			return nil, err
		}
	}
	return tp, nil
}

// Networks returns the networks in spec order.
func (tp *Topology) Networks() []*Network { return append([]*Network(nil), tp.networks...) }

// Network returns the network named name (case-insensitive), or nil.
func (tp *Topology) Network(name string) *Network {
	for _, nw := range tp.networks {
		if strings.EqualFold(nw.Name(), name) {
			return nw
		}
	}
	return nil
}

// Spec returns the normalised topology.
func (tp *Topology) Spec() TopologySpec { return tp.spec }

// Close closes every network.
func (tp *Topology) Close() error {
	var errs []error
	for _, nw := range tp.networks {
		errs = append(errs, nw.Close())
	}
	return errors.Join(errs...)
}

// NewTestNetwork starts spec for a test: data under t.TempDir() (unless
// opts.Dir is set), closed at the end of t; a failure ends the test.
func NewTestNetwork(t testing.TB, spec NetworkSpec, opts Options) *Network {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	nw, err := StartNetwork(t.Context(), spec, opts)
	if err != nil {
		t.Fatalf("start network %s: %v", spec.Name, err)
	}
	t.Cleanup(func() {
		if err := nw.Close(); err != nil {
			t.Errorf("close network %s: %v", nw.Name(), err)
		}
	})
	return nw
}

// NewTestTopology is StartTopology for a test (see NewTestNetwork).
func NewTestTopology(t testing.TB, spec TopologySpec, opts Options) *Topology {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = filepath.Join(t.TempDir(), "topology")
	}
	tp, err := StartTopology(t.Context(), spec, opts)
	if err != nil {
		t.Fatalf("start topology: %v", err)
	}
	t.Cleanup(func() {
		if err := tp.Close(); err != nil {
			t.Errorf("close topology: %v", err)
		}
	})
	return tp
}
